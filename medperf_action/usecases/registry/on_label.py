"""`registry on-label`: a committee member's approved / rejected label, carried out if the
registry's rules allow it, else removed with a comment saying why.

Runs under `pull_request_target` and never checks out PR code. The rules, in the order
they are asked (each a small function, listed in `WHO_RULES` and `STATE_RULES`):

| code | refused when |
|---|---|
| not-a-request | the PR is not one association request (an mlcube's or a dataset's) |
| not-committee | the labeller is not on the committee (registry.yaml users or teams) |
| self | the labeller opened the request |
| rejected | an approval of a request that was rejected (reopened, relabelled) |
| both | the PR carries the other decision's label too |
| merged | a merged (approved) request is labelled rejected |
| closed | a closed request is labelled |
| exists | the default branch holds the pair already |
| unverified | an approval, but the PR's head is not verified, or its re-run's cubes changed |
|  | (a dataset's association: it no longer passes the checks on the default branch) |

A decision carried out already (a re-run of the same event) only finishes what is left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from medperf_action.adapters.github.client import connect
from medperf_action.adapters.github.pulls import (
    PullState,
    changed_files,
    close,
    comments,
    find_comment,
    post_comment,
    read_pull,
    remove_label,
    team_member,
)
from medperf_action.domain.registry.layout import PAIR_KINDS, VERIFY_MARKER
from medperf_action.domain.registry.pins import digest
from medperf_action.domain.registry.requests import Request, analyse
from medperf_action.errors import GitHubError, UsageError
from medperf_action.settings import run_id, team_token
from medperf_action.usecases.registry.approval import approve, current_pins
from medperf_action.usecases.registry.context import Context, check_repo_name, open_context
from medperf_action.usecases.registry.data_checks import check_again
from medperf_action.usecases.registry.decisions import (
    BINDING,
    attestation_of,
    rejected_by,
    rejection_line,
)

if TYPE_CHECKING:
    from medperf_action.adapters.github.client import IssueComment

LABEL_MARKER = "<!-- medperf-action:on-label {key} -->"


@dataclass
class Handled:
    outcome: str  # ignored | refused | approved | rejected | done
    message: str
    actions: list[str] = field(default_factory=list)


@dataclass
class Decision:
    """One label event, as the rules see it."""

    ctx: Context
    state: PullState
    label: str
    sender: str
    approving: bool
    request: Request
    found: list[IssueComment] = field(default_factory=list)  # the PR's comments
    status: str | None = None  # the pair's file on the default branch, when read
    pins: dict[str, Any] | None = None  # what was verified, once checked still current
    attestation: dict[str, str] | None = None  # where the verify run's statement is

    @property
    def labels(self) -> dict[str, str]:
        return self.ctx.config.labels


Rule = Callable[[Decision], "str | None"]


def _not_a_request(d: Decision) -> str | None:
    req = d.request
    if req.kind not in PAIR_KINDS or not req.allowed or not req.benchmark or not req.member:
        merged = (
            " A dataset's registration or a result is merged by a committee member once it "
            "is verified."
            if req.kind in ("dataset", "result")
            else ""
        )
        return (
            "Only an association request (a PR that adds exactly one "
            "associations/BENCHMARK/MLCUBE.yaml or dataset-associations/BENCHMARK/DATASET.yaml)"
            f" is decided by label.{merged}"
        )
    return None


def _not_on_committee(d: Decision) -> str | None:
    """Fails closed: a membership that cannot be checked is no membership."""
    config, login = d.ctx.config, d.sender
    if login.lower() in {u.lower() for u in config.users}:
        return None
    token = team_token()
    gh = connect(token) if token and config.teams else d.ctx.gh
    try:
        if any(team_member(gh, team, login) for team in config.teams):
            return None
    except GitHubError as exc:
        return (
            f"Whether {login} is on the committee's teams could not be checked ({exc}), and "
            "a decision is carried out only when it can be. Label again once GitHub answers; "
            "a maintainer may need to give the registry's workflow a token that reads the "
            "organisation's teams (the `team-token` secret, docs/committees.md)."
        )
    hint = (
        " If they are in one of its teams, the registry's workflow cannot see it: it needs a "
        "token that reads the organisation's teams (the `team-token` secret, "
        "docs/committees.md)."
        if config.teams and not token
        else ""
    )
    return (
        "Only the benchmark committee named in registry.yaml approves or rejects requests, "
        f"and {login} is not on it.{hint}"
    )


def _own_request(d: Decision) -> str | None:
    if d.sender.lower() == d.state.author.lower():
        return "The person who opened a request never decides it; another committee member must."
    return None


def _rejected_before(d: Decision) -> str | None:
    by = rejected_by(d.found, d.ctx.identity()) if d.approving else None
    if by is not None:
        return (
            f"It was rejected by {by}, and a decision stands whatever its labels say: "
            "a new request for the pair is a new pull request."
        )
    return None


def _both_labels(d: Decision) -> str | None:
    other = d.labels["rejected"] if d.approving else d.labels["approved"]
    if d.state.has_label(other):
        return f"The PR already carries `{other}`: a request is either approved or rejected."
    return None


def _rejecting_merged(d: Decision) -> str | None:
    if d.state.merged and not d.approving:
        return "It is merged: an approved request stays so."
    return None


def _closed(d: Decision) -> str | None:
    if d.state.state == "closed" and not d.state.merged:
        return "It is closed: only a PENDING request is decided."
    return None


def _pair_exists(d: Decision) -> str | None:
    if not d.state.merged and d.status is not None:
        return (
            f"The default branch already holds this pair with status {d.status}: "
            "only PENDING moves to APPROVED or REJECTED."
        )
    return None


WHO_RULES: tuple[tuple[str, Rule], ...] = (
    ("not-a-request", _not_a_request),
    ("not-committee", _not_on_committee),
    ("self", _own_request),
)
STATE_RULES: tuple[tuple[str, Rule], ...] = (
    ("rejected", _rejected_before),
    ("both", _both_labels),
    ("merged", _rejecting_merged),
    ("closed", _closed),
    ("exists", _pair_exists),
)


def _parse(event: dict[str, Any]) -> tuple[str, int, str, str, str | None]:
    try:
        repository = event["repository"]
        name = check_repo_name(repository["full_name"], "event repository")
        number = int(event["pull_request"]["number"])
        label = str(event["label"]["name"])
        sender = str(event["sender"]["login"])
    except (KeyError, TypeError, ValueError):
        raise UsageError("--event: not a pull_request `labeled` event") from None
    return name, number, label, sender, repository.get("default_branch")


def on_label(event: dict[str, Any], token: str | None) -> Handled:
    """Carry out a committee member's approved/rejected label, if it is legal."""
    if event.get("action") != "labeled":
        return Handled("ignored", f"action {event.get('action')!r}: nothing to do")
    name, number, label, sender, branch = _parse(event)
    ctx = open_context(name, token, branch)
    labels = ctx.config.labels
    if label.lower() not in (labels["approved"].lower(), labels["rejected"].lower()):
        return Handled("ignored", f"label {label!r}: not a decision, nothing to do")
    if sender.lower() == ctx.identity().lower():
        return Handled("ignored", f"label {label!r} was set by this tool: nothing to do")
    state = read_pull(ctx.repo, number)
    if not state.has_label(label):
        return Handled("ignored", f"#{number} no longer carries {label!r}: nothing to do")
    req = analyse(changed_files(ctx.repo, state), state.base_ref, ctx.default_branch)
    d = Decision(ctx, state, label, sender, label.lower() == labels["approved"].lower(), req)
    for code, rule in WHO_RULES:
        if (why := rule(d)) is not None:
            return _refuse(d, code, why)
    assert req.benchmark is not None and req.member is not None
    if state.merged or d.approving:
        current = ctx.base.pair(req.kind, req.benchmark, req.member)
        d.status = current.get("status") if current else None
    finished = _already_done(d)
    if finished is not None:
        return finished
    d.found = comments(state)
    for code, rule in STATE_RULES:
        if (why := rule(d)) is not None:
            return _refuse(d, code, why, d.found)
    if not d.approving:
        return _reject(d)
    why = _unverified(d, d.found)
    if why is not None:
        return _refuse(d, "unverified", why, d.found)
    actions = approve(ctx, state, req, sender, d.pins, d.attestation)
    return Handled(
        "approved", f"#{number}: {req.member} approved for {req.benchmark} by {sender}", actions
    )


def _already_done(d: Decision) -> Handled | None:
    """A decision carried out already (a re-run of this event): finish what is left."""
    state = d.state
    if d.approving and state.merged and d.status == "APPROVED":
        actions = ["removed pending"] if remove_label(state, d.labels["pending"]) else []
        return Handled("done", f"#{state.number} is approved already", actions)
    if not d.approving and state.state == "closed" and not state.merged:
        actions = ["removed pending"] if remove_label(state, d.labels["pending"]) else []
        return Handled("done", f"#{state.number} is rejected already", actions)
    return None


def _unverified(d: Decision, found: list[IssueComment]) -> str | None:
    """Why the PR's current head is not verified as passed, or None when it is."""
    labels, state = d.labels, d.state
    if state.has_label(labels["verification_failed"]):
        return (
            f"Its verification failed (`{labels['verification_failed']}`): the reported "
            "metrics were not reproduced by the registry's re-run, which blocks approval."
        )
    if not state.has_label(labels["verified"]):
        return (
            f"It is not verified yet (no `{labels['verified']}` label): approval waits for "
            "the registry's re-run to reproduce the reported metrics."
        )
    comment = find_comment(found, VERIFY_MARKER, d.ctx.identity())
    lines = (comment.body or "").split("\n") if comment is not None else []
    match = BINDING.match(lines[1].strip()) if len(lines) > 1 else None
    if match is None or match.group(2) != "true":
        return "Its verification comment does not record a passed verification."
    if match.group(1) != state.head_sha:
        return (
            f"The verification was for {match.group(1)[:12]}, but the head is now "
            f"{state.head_sha[:12]}: it must be verified again."
        )
    if d.request.kind == "dataset-association":
        # the registry re-ran nothing: its verification is those checks, and the dataset
        # or the benchmark may have changed since (a merged update)
        return check_again(d.ctx, d.state, d.request)
    now, why = current_pins(d.ctx, d.request)
    if now is None:
        return why
    if match.group(3) != digest(now):
        return (
            "The cubes on the default branch are not those the verification ran (an mlcube "
            "entry changed since, or the verification recorded none): it must be verified "
            "again."
        )
    d.pins, d.attestation = now, attestation_of(match)
    return None


def _keyed_comment(
    d: Decision, key: str, text: str, found: list[IssueComment] | None = None
) -> bool:
    """Post `text` once per key (re-running the same workflow run never repeats it)."""
    first = LABEL_MARKER.format(key=f"{key} run={run_id()}")
    existing = found if found is not None else comments(d.state)
    if find_comment(existing, first, d.ctx.identity()) is not None:
        return False
    post_comment(d.state, f"{first}\n{text}")
    return True


def _refuse(d: Decision, code: str, why: str, found: list[IssueComment] | None = None) -> Handled:
    actions = []
    if remove_label(d.state, d.label):
        actions.append(f"removed {d.label}")
    text = f"@{d.sender}: the label `{d.label}` was removed. {why}"
    if _keyed_comment(d, f"{code}:{d.label}:{d.sender}", text, found):
        actions.append("commented")
    return Handled("refused", f"#{d.state.number}: {why}", actions)


def _reject(d: Decision) -> Handled:
    """Record the decision (the registry's own comment, which no label undoes), close."""
    state, actions = d.state, []
    record = rejection_line(d.sender)
    if find_comment(d.found, record, d.ctx.identity()) is None:
        text = (
            f"Rejected by @{d.sender} (`{d.label}`). The request is closed, and stays "
            "rejected; after a rejection, a new request for the pair may be opened."
        )
        post_comment(state, f"{record}\n{text}")
        actions.append("commented")
    if state.state == "open":
        close(state)
        actions.append(f"closed #{state.number}")
    if remove_label(state, d.labels["pending"]):
        actions.append(f"removed {d.labels['pending']}")
    return Handled("rejected", f"#{state.number} rejected by {d.sender}", actions)
