"""The registry's privileged steps: `registry report` and `registry on-label`.

Neither ever checks out or runs PR code. `report` runs under `workflow_run`, after the
unprivileged `registry verify`: it reads the verification report from the artifact as
untrusted data, re-checks what it can check cheaply itself (which files the PR changes),
posts one sticky comment (found again by `registry.VERIFY_MARKER`) and sets the verified or
verification-failed label. `on-label` runs under `pull_request_target` when a committee
member adds the approved or rejected label, and carries out the decision if it is legal.

Every write is idempotent: re-running after a failure part-way finishes the job and
leaves one comment, one merge and one status commit.

The sticky comment binds the verification to a commit: its second line is
`<!-- medperf-action:verified head=SHA passed=true|false -->`. An approval is carried out
only when that comment (written by the token's own identity) says the PR's current head
passed, and the merge itself is pinned to that head, so a push after the verification can
never be merged unverified.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medperf_action.errors import UsageError
from medperf_action.github_api import GitHubError, call, connect, whoami
from medperf_action.github_api import load_event as load_event  # the CLI's: re-exported
from medperf_action.registry import (
    VERIFY_MARKER,
    GitHubSource,
    Registry,
    RegistryConfig,
    association_path,
    dump_yaml,
)
from medperf_action.registry_github import (
    REPO_NAME,
    PullState,
    RegistryOpsError,
    Request,
    add_label,
    analyse,
    changed_files,
    comments,
    find_comment,
    on_committee,
    read_pull,
    remove_label,
    upsert_comment,
)
from medperf_action.registry_verify import ReportError, load_report, md, render_markdown

if TYPE_CHECKING:
    from github import Github
    from github.IssueComment import IssueComment
    from github.Repository import Repository

BINDING = re.compile(r"^<!-- medperf-action:verified head=([0-9a-f]{40}) passed=(true|false) -->$")
LABEL_MARKER = "<!-- medperf-action:on-label {key} -->"


def binding_line(head_sha: str, passed: bool) -> str:
    return f"<!-- medperf-action:verified head={head_sha} passed={str(passed).lower()} -->"


def check_repo_name(name: str | None, option: str = "--registry") -> str:
    name = name or os.environ.get("GITHUB_REPOSITORY")
    if not name:
        raise UsageError(f"{option} OWNER/REPO is needed (or $GITHUB_REPOSITORY)")
    if not REPO_NAME.match(name):
        raise UsageError(f"{option} {name}: not OWNER/REPO")
    return name


@dataclass
class Context:
    """The registry as the privileged commands see it: its default branch and settings."""

    gh: Github
    repo: Repository
    name: str
    default_branch: str
    base: Registry
    config: RegistryConfig
    me: str | None = None

    def identity(self) -> str:
        if self.me is None:
            self.me = whoami(self.gh, actions_fallback=True)
        return self.me


def open_context(name: str, token: str | None, default_branch: str | None = None) -> Context:
    gh = connect(token)
    repo = gh.get_repo(name)
    branch = default_branch or call(f"read {name}", lambda: repo.default_branch)
    base = Registry(GitHubSource(repo, branch))
    return Context(gh, repo, name, branch, base, base.config())


# ---------------------------------------------------------------------------------------
# Approval: merge, then commit the status on the default branch


def _approved(data: dict[str, Any], approved_by: str, approved_at: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("approved_by", "approved_at"):
            continue
        out[key] = "APPROVED" if key == "status" else value
        if key == "created_at":
            out["approved_by"], out["approved_at"] = approved_by, approved_at
    out.setdefault("approved_by", approved_by)
    out.setdefault("approved_at", approved_at)
    return out


def commit_status(
    ctx: Context, benchmark: str, mlcube: str, approved_by: str, number: int
) -> str | None:
    """Set the pair's file on the default branch to APPROVED; returns the commit's SHA, or
    None when it already says APPROVED (a re-run, or a retried write that went through)."""

    from medperf_action.validate import validate_file
    from medperf_action.workflow import now_iso
    from medperf_action.yamlload import YamlError, load_text

    path = association_path(benchmark, mlcube)
    for _attempt in range(3):
        item = call(
            f"read {path} on {ctx.default_branch}",
            lambda: ctx.repo.get_contents(path, ref=ctx.default_branch),
        )
        if isinstance(item, list):
            raise RegistryOpsError(f"{path} on {ctx.default_branch} is a folder")
        try:
            data = load_text(item.decoded_content.decode("utf-8")).data
        except (YamlError, UnicodeDecodeError) as exc:
            raise RegistryOpsError(f"{path} on {ctx.default_branch}: {exc}") from None
        status = data.get("status") if isinstance(data, dict) else None
        if status == "APPROVED":
            return None
        if status != "PENDING":
            raise RegistryOpsError(f"{path} on {ctx.default_branch} is {status!r}, not PENDING")
        text = dump_yaml(_approved(data, approved_by, now_iso()))
        report = validate_file(Path(path), "association", text=text, shown_as=path)
        if report.errors:
            raise RegistryOpsError(
                f"the approved {path} would be invalid: "
                + "; ".join(f.text() for f in report.errors)
            )
        message = (
            f"Approve the association of {mlcube} with {benchmark} (#{number})\n\n"
            f"approved_by: {approved_by}"
        )
        try:
            result = call(
                f"commit {path} on {ctx.default_branch}",
                lambda m=message, t=text, sha=item.sha: ctx.repo.update_file(
                    path, m, t, sha, branch=ctx.default_branch
                ),
            )
        except GitHubError as exc:
            # 409/422: the file changed since it was read (or a retried PUT went through).
            if exc.status in (409, 422):
                continue
            raise
        return str(result["commit"].sha)
    raise RegistryOpsError(f"{path} keeps changing on {ctx.default_branch}; run again")


def merge(ctx: Context, state: PullState, benchmark: str, mlcube: str) -> bool:
    """Merge the PR at the head that was verified; False when it was merged already."""
    if state.merged:
        return False
    try:
        call(
            f"merge #{state.number}",
            lambda: state.pull.merge(
                merge_method="squash",
                sha=state.head_sha,
                commit_title=f"Associate {mlcube} with {benchmark} (#{state.number})",
                commit_message=f"Requested by {state.author}.",
            ),
        )
    except GitHubError as exc:
        # A retried merge whose first attempt went through answers 405; look again.
        fresh = read_pull(ctx.repo, state.number)
        if fresh.merged and fresh.head_sha == state.head_sha:
            state.merged = True
            return True
        if exc.status == 409:
            raise RegistryOpsError(
                f"#{state.number}: the head moved on from {state.head_sha[:12]} during the "
                "merge; it must be verified again"
            ) from None
        raise
    state.merged = True
    return True


def approve(
    ctx: Context, state: PullState, benchmark: str, mlcube: str, approved_by: str
) -> list[str]:
    """Merge, commit APPROVED with approved_by/approved_at, drop the pending label.

    Idempotent: a PR merged already only gets its status committed; a status committed
    already is left alone."""
    done = []
    if merge(ctx, state, benchmark, mlcube):
        done.append(f"merged #{state.number}")
    sha = commit_status(ctx, benchmark, mlcube, approved_by, state.number)
    if sha:
        done.append(f"committed status APPROVED ({sha[:12]}) by {approved_by}")
    if remove_label(state, ctx.config.labels["pending"]):
        done.append(f"removed {ctx.config.labels['pending']}")
    return done


def policy_approver(ctx: Context, state: PullState, req: Request) -> str | None:
    """`policy:same-owner` / `policy:allowlist` when the registry's policy approves."""
    config = ctx.config
    if config.policy == "allowlist":
        if state.author.lower() in {u.lower() for u in config.allowlist}:
            return "policy:allowlist"
    elif config.policy == "same-owner" and req.benchmark and req.mlcube:
        bench = ctx.base.benchmark(req.benchmark)
        cube = ctx.base.mlcube(req.mlcube)
        if str(bench.get("owner", "")).lower() == str(cube.get("owner", "")).lower():
            return "policy:same-owner"
    return None


# ---------------------------------------------------------------------------------------
# registry report


@dataclass
class Reported:
    pr: int
    passed: bool
    posted: bool
    actions: list[str] = field(default_factory=list)
    message: str = ""


def _pr_from_event(ctx: Context, event: dict[str, Any]) -> tuple[int | None, str | None, str]:
    """(PR number, head SHA, conclusion) of a workflow_run event. GitHub leaves
    `pull_requests` empty for a PR from a fork, so the PR is then found by its head."""
    run = event.get("workflow_run")
    if not isinstance(run, dict):
        raise UsageError("--event: not a workflow_run event (no workflow_run)")
    head_sha = run.get("head_sha")
    conclusion = str(run.get("conclusion") or "")
    pulls = run.get("pull_requests") or []
    if pulls:
        return int(pulls[0]["number"]), head_sha, conclusion
    owner = ((run.get("head_repository") or {}).get("owner") or {}).get("login")
    branch = run.get("head_branch")
    if not owner or not branch:
        return None, head_sha, conclusion

    def find() -> int | None:
        for pull in ctx.repo.get_pulls(state="open", head=f"{owner}:{branch}"):
            if pull.head.sha == head_sha:
                return int(pull.number)
        return None

    return call(f"find the pull request of {owner}:{branch}", find), head_sha, conclusion


def report(
    ctx: Context, folder: Path, pr: int | None, event: dict[str, Any] | None = None
) -> Reported:
    """Post the verification of PR `pr` (from the event, never from the artifact)."""
    run_head, conclusion = None, "success"
    if event is not None:
        found, run_head, conclusion = _pr_from_event(ctx, event)
        if pr is not None and found is not None and found != pr:
            raise UsageError(f"--pr {pr}, but the event's run verified #{found}")
        pr = pr or found
    if pr is None:
        raise UsageError("no pull request: pass --pr N (or an --event that names one)")
    state = read_pull(ctx.repo, pr)
    if state.state != "open":
        return Reported(pr, False, False, message=f"#{pr} is {state.state}: nothing to report")
    labels = ctx.config.labels
    try:
        doc = load_report(folder)
    except ReportError as exc:
        _mark_failed(ctx, state, f"The verification report cannot be used: {exc}")
        raise
    refusal = None
    if doc["pr"] != pr:
        refusal = f"the report is about #{doc['pr']}, not #{pr}"
    elif doc["registry"].lower() != ctx.name.lower():
        refusal = f"the report is about {doc['registry']}, not {ctx.name}"
    elif run_head is not None and doc["head_sha"] != run_head:
        refusal = f"the report is about {doc['head_sha'][:12]}, the run verified {run_head[:12]}"
    if refusal:
        _mark_failed(ctx, state, f"The verification report cannot be used: {refusal}.")
        raise ReportError(f"refused: {refusal}")
    if doc["head_sha"] != state.head_sha:
        return Reported(
            pr,
            False,
            False,
            message=(
                f"#{pr}: stale report (verified {doc['head_sha'][:12]}, the head is now "
                f"{state.head_sha[:12]}); the newer run reports instead. Nothing changed."
            ),
        )
    # What can be checked without running anything is checked again here.
    req = analyse(changed_files(state), state.base_ref, ctx.default_branch)
    notes = []
    passed = bool(doc["passed"]) and all(c["passed"] for c in doc["checks"])
    passed = passed and all(r["passed"] for r in doc["metrics"]) and req.kind != "other"
    if not req.allowed or (req.kind, req.benchmark, req.mlcube) != (
        doc["kind"],
        doc["benchmark"],
        doc["mlcube"],
    ):
        passed = False
        notes.append(
            "❌ **Checked again by the registry:** "
            + (
                md("; ".join(req.problems))
                if not req.allowed
                else "the PR's files do not make the request the report describes"
            )
        )
    if conclusion not in ("success", "") and passed:
        passed = False
        notes.append(f"❌ The verify run concluded `{conclusion}`.")
    approver = None
    if passed and req.kind == "association":
        approver = policy_approver(ctx, state, req)
        if approver:
            notes.append(
                f"✅ Approved by the registry's approval policy ({approver.split(':')[1]}): "
                "merged, and the status APPROVED committed on the default branch."
            )
    shown = dict(doc, passed=passed)
    body = (
        binding_line(state.head_sha, passed)
        + "\n"
        + render_markdown(shown, ctx.config, tuple(notes))
    )
    result = Reported(pr, passed, True)
    outcome = upsert_comment(state, VERIFY_MARKER, body, ctx.identity())
    result.actions.append(f"comment {outcome}")
    good, bad = (
        (labels["verified"], labels["verification_failed"])
        if passed
        else (labels["verification_failed"], labels["verified"])
    )
    if add_label(state, good):
        result.actions.append(f"added {good}")
    if remove_label(state, bad):
        result.actions.append(f"removed {bad}")
    if req.kind == "association" and not approver and add_label(state, labels["pending"]):
        # A requester without triage access cannot label their own request: the registry
        # marks it pending here, where listings and the committee look for it.
        result.actions.append(f"added {labels['pending']}")
    if approver and req.benchmark and req.mlcube:
        add_label(state, labels["approved"])
        result.actions += approve(ctx, state, req.benchmark, req.mlcube, approver)
    result.message = f"#{pr}: verification {'passed' if passed else 'failed'}"
    return result


def _mark_failed(ctx: Context, state: PullState, why: str) -> None:
    """Fail closed: a report that cannot be trusted leaves the PR unverified."""
    body = "\n".join(
        [
            binding_line(state.head_sha, False),
            f"### medperf-action verification of #{state.number}: failed ❌",
            "",
            md(why),
            "",
        ]
    )
    upsert_comment(state, VERIFY_MARKER, body, ctx.identity())
    add_label(state, ctx.config.labels["verification_failed"])
    remove_label(state, ctx.config.labels["verified"])


# ---------------------------------------------------------------------------------------
# registry on-label


@dataclass
class Handled:
    outcome: str  # ignored | refused | approved | rejected | done
    message: str
    actions: list[str] = field(default_factory=list)


def _keyed_comment(
    ctx: Context,
    state: PullState,
    key: str,
    text: str,
    found: list[IssueComment] | None = None,
) -> bool:
    """Post `text` once per key (re-running the same workflow run never repeats it)."""
    run = os.environ.get("GITHUB_RUN_ID", "local")
    first = LABEL_MARKER.format(key=f"{key} run={run}")
    existing = found if found is not None else comments(state)
    if find_comment(existing, first, ctx.identity()) is not None:
        return False
    call(
        f"comment on pull request #{state.number}",
        lambda: state.pull.create_issue_comment(f"{first}\n{text}"),
    )
    return True


def _refuse(
    ctx: Context,
    state: PullState,
    label: str,
    sender: str,
    code: str,
    why: str,
    found: list[IssueComment] | None = None,
) -> Handled:
    actions = []
    if remove_label(state, label):
        actions.append(f"removed {label}")
    text = f"@{sender}: the label `{label}` was removed. {why}"
    if _keyed_comment(ctx, state, f"{code}:{label}:{sender}", text, found):
        actions.append("commented")
    return Handled("refused", f"#{state.number}: {why}", actions)


def _verified_head(ctx: Context, state: PullState, found: list[IssueComment]) -> str | None:
    """Why the PR's current head is not verified, or None when it is."""
    labels = ctx.config.labels
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
    comment = find_comment(found, VERIFY_MARKER, ctx.identity())
    lines = (comment.body or "").split("\n") if comment is not None else []
    match = BINDING.match(lines[1].strip()) if len(lines) > 1 else None
    if match is None or match.group(2) != "true":
        return "Its verification comment does not record a passed verification."
    if match.group(1) != state.head_sha:
        return (
            f"The verification was for {match.group(1)[:12]}, but the head is now "
            f"{state.head_sha[:12]}: it must be verified again."
        )
    return None


def on_label(event: dict[str, Any], token: str | None) -> Handled:
    """Carry out a committee member's approved/rejected label, if it is legal."""
    if event.get("action") != "labeled":
        return Handled("ignored", f"action {event.get('action')!r}: nothing to do")
    try:
        repository = event["repository"]
        name = check_repo_name(repository["full_name"], "event repository")
        number = int(event["pull_request"]["number"])
        label = str(event["label"]["name"])
        sender = str(event["sender"]["login"])
    except (KeyError, TypeError, ValueError):
        raise UsageError("--event: not a pull_request `labeled` event") from None
    ctx = open_context(name, token, repository.get("default_branch"))
    labels = ctx.config.labels
    if label.lower() not in (labels["approved"].lower(), labels["rejected"].lower()):
        return Handled("ignored", f"label {label!r}: not a decision, nothing to do")
    approving = label.lower() == labels["approved"].lower()
    if sender.lower() == ctx.identity().lower():
        return Handled("ignored", f"label {label!r} was set by this tool: nothing to do")
    state = read_pull(ctx.repo, number)
    if not state.has_label(label):
        return Handled("ignored", f"#{number} no longer carries {label!r}: nothing to do")
    req = analyse(changed_files(state), state.base_ref, ctx.default_branch)
    if req.kind != "association" or not req.allowed or not req.benchmark or not req.mlcube:
        return _refuse(
            ctx,
            state,
            label,
            sender,
            "not-a-request",
            "Only an association request (a PR that adds exactly one "
            "associations/BENCHMARK/MLCUBE.yaml) is decided by label.",
        )
    if not on_committee(ctx.gh, ctx.config.users, ctx.config.teams, sender):
        return _refuse(
            ctx,
            state,
            label,
            sender,
            "not-committee",
            f"Only the benchmark committee named in registry.yaml approves or rejects "
            f"requests, and {sender} is not on it.",
        )
    if sender.lower() == state.author.lower():
        return _refuse(
            ctx,
            state,
            label,
            sender,
            "self",
            "The person who opened a request never decides it; another committee member must.",
        )
    benchmark, mlcube = req.benchmark, req.mlcube
    current = ctx.base.association(benchmark, mlcube) if state.merged or approving else None
    status = current.get("status") if current else None
    # A decision carried out already (a re-run of this event): finish what is left.
    if approving and state.merged and status == "APPROVED":
        actions = ["removed pending"] if remove_label(state, labels["pending"]) else []
        return Handled("done", f"#{number} is approved already", actions)
    if not approving and state.state == "closed" and not state.merged:
        actions = ["removed pending"] if remove_label(state, labels["pending"]) else []
        return Handled("done", f"#{number} is rejected already", actions)
    other = labels["rejected"] if approving else labels["approved"]
    if state.has_label(other):
        return _refuse(
            ctx,
            state,
            label,
            sender,
            "both",
            f"The PR already carries `{other}`: a request is either approved or rejected.",
        )
    if state.merged and not approving:
        return _refuse(
            ctx, state, label, sender, "merged", "It is merged: an approved request stays so."
        )
    if state.state == "closed" and not state.merged:
        return _refuse(
            ctx, state, label, sender, "closed", "It is closed: only a PENDING request is decided."
        )
    if not state.merged and current is not None:
        return _refuse(
            ctx,
            state,
            label,
            sender,
            "exists",
            f"The default branch already holds this pair with status {status}: "
            "only PENDING moves to APPROVED or REJECTED.",
        )
    if not approving:
        return _reject(ctx, state, label, sender)
    found = comments(state)
    why = _verified_head(ctx, state, found)
    if why is not None:
        return _refuse(ctx, state, label, sender, "unverified", why, found)
    actions = approve(ctx, state, benchmark, mlcube, sender)
    return Handled("approved", f"#{number}: {mlcube} approved for {benchmark} by {sender}", actions)


def _reject(ctx: Context, state: PullState, label: str, sender: str) -> Handled:
    actions = []
    text = (
        f"Rejected by @{sender} (`{label}`). The request is closed; after a rejection, a "
        "new request for the pair may be opened."
    )
    if _keyed_comment(ctx, state, f"rejected:{sender}", text):
        actions.append("commented")
    if state.state == "open":
        call(f"close #{state.number}", lambda: state.pull.edit(state="closed"))
        state.state = "closed"
        actions.append(f"closed #{state.number}")
    if remove_label(state, ctx.config.labels["pending"]):
        actions.append(f"removed {ctx.config.labels['pending']}")
    return Handled("rejected", f"#{state.number} rejected by {sender}", actions)
