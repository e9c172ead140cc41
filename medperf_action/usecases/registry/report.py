"""`registry report`: the verification of a PR, posted by the privileged workflow.

Runs under `workflow_run`, after the unprivileged `registry verify`, and never checks out
or runs PR code. It reads the verification report from the artifact as untrusted data,
re-checks what it can check cheaply itself (which files the PR changes), posts one sticky
comment and sets the verified or verification-failed label.

The sticky comment binds the verification to a commit and to the cubes that ran: its
second line is `<!-- medperf-action:verified head=SHA passed=true|false pins=HASH -->`
(`decisions.py`). The pins the re-run reports must be those the default branch holds now,
else the verification fails. An approval is carried out only when that comment (written
by the token's own identity) says the PR's current head passed and the cubes' pins are
still the same (`on_label.py`); the merge itself is pinned to that head, so a push after
the verification can never be merged unverified, and the approval records the pins, and
where the verify run's result statement is (`provenance.py`): its SHA-256 and the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medperf_action.adapters.github.pulls import (
    PullState,
    add_label,
    changed_files,
    comments,
    open_pulls_from,
    read_pull,
    remove_label,
    upsert_comment,
)
from medperf_action.domain.registry.layout import PAIR_KINDS, VERIFY_MARKER
from medperf_action.domain.registry.pins import digest
from medperf_action.domain.registry.requests import Request, analyse
from medperf_action.errors import ReportInvalid, UsageError
from medperf_action.text import md, md_code
from medperf_action.usecases.provenance import read_statement
from medperf_action.usecases.registry.approval import approve, bound_pins, policy_approver
from medperf_action.usecases.registry.artifact import load_report, render_markdown
from medperf_action.usecases.registry.context import Context
from medperf_action.usecases.registry.data_checks import DATA_RULES, check_again
from medperf_action.usecases.registry.decisions import RUN_URL, binding_line, rejected_by


@dataclass
class Reported:
    pr: int
    passed: bool
    actions: list[str] = field(default_factory=list)
    message: str = ""
    #: The SHA-256 of the verify run's result statement, when this report checked and
    #: recorded it (what the registry's workflow may attest, and nothing else).
    statement_sha256: str | None = None


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
    found = [p.number for p in open_pulls_from(ctx.repo, owner, branch) if p.head_sha == head_sha]
    return (found[0] if found else None), head_sha, conclusion


def _untrusted(doc: dict[str, Any], ctx: Context, pr: int, run_head: str | None) -> str | None:
    """Why the report cannot be about this PR and this run, if it cannot."""
    if doc["pr"] != pr:
        return f"the report is about #{doc['pr']}, not #{pr}"
    if doc["registry"].lower() != ctx.name.lower():
        return f"the report is about {doc['registry']}, not {ctx.name}"
    if run_head is not None and doc["head_sha"] != run_head:
        return f"the report is about {doc['head_sha'][:12]}, the run verified {run_head[:12]}"
    return None


def _verdict(doc: dict[str, Any], req: Request, conclusion: str) -> tuple[bool, list[str]]:
    """Whether the verification passed, as the registry sees it, and the notes why not."""
    notes = []
    passed = bool(doc["passed"]) and all(c["passed"] for c in doc["checks"])
    passed = passed and all(r["passed"] for r in doc["metrics"]) and req.kind != "other"
    described = (doc["kind"], doc.get("benchmark"), doc.get("mlcube"), doc.get("dataset"))
    if not req.allowed or (req.kind, *req.ids) != described:
        passed = False
        why = (
            md("; ".join(req.problems))
            if not req.allowed
            else "the PR's files do not make the request the report describes"
        )
        notes.append("❌ **Checked again by the registry:** " + why)
    if conclusion not in ("success", "") and passed:
        passed = False
        notes.append(f"❌ The verify run concluded {md_code(conclusion)}.")
    return passed, notes


def _which_pr(
    ctx: Context, pr: int | None, event: dict[str, Any] | None
) -> tuple[int, str | None, str]:
    """(PR number, the head the run verified, the run's conclusion), from the event."""
    run_head, conclusion = None, "success"
    if event is not None:
        found, run_head, conclusion = _pr_from_event(ctx, event)
        if pr is not None and found is not None and found != pr:
            raise UsageError(f"--pr {pr}, but the event's run verified #{found}")
        pr = pr or found
    if pr is None:
        raise UsageError("no pull request: pass --pr N (or an --event that names one)")
    return pr, run_head, conclusion


def report(
    ctx: Context, folder: Path, pr: int | None, event: dict[str, Any] | None = None
) -> Reported:
    """Post the verification of PR `pr` (from the event, never from the artifact)."""
    pr, run_head, conclusion = _which_pr(ctx, pr, event)
    state = read_pull(ctx.repo, pr)
    if state.state != "open":
        return Reported(pr, False, message=f"#{pr} is {state.state}: nothing to report")
    try:
        doc = load_report(folder)
    except ReportInvalid as exc:
        _mark_failed(ctx, state, f"The verification report cannot be used: {exc}")
        raise
    refusal = _untrusted(doc, ctx, pr, run_head)
    if refusal:
        _mark_failed(ctx, state, f"The verification report cannot be used: {refusal}.")
        raise ReportInvalid(f"refused: {refusal}")
    if doc["head_sha"] != state.head_sha:
        return Reported(
            pr,
            False,
            message=(
                f"#{pr}: stale report (verified {doc['head_sha'][:12]}, the head is now "
                f"{state.head_sha[:12]}); the newer run reports instead. Nothing changed."
            ),
        )
    # What can be checked without running anything is checked again here.
    req = analyse(changed_files(ctx.repo, state), state.base_ref, ctx.default_branch)
    passed, notes, pins, attestation = _judged(ctx, state, req, (folder, doc, event), conclusion)
    decided = req.kind in PAIR_KINDS  # by a committee member's label, or the policy
    approver = policy_approver(ctx, state, req) if passed and decided else None
    if approver and rejected_by(comments(state), ctx.identity()):
        approver = None  # a rejected request is never approved, by a policy neither
    if approver:
        notes.append(
            f"✅ Approved by the registry's approval policy ({approver.split(':')[1]}): "
            "merged, and the status APPROVED committed on the default branch."
        )
    result = Reported(pr, passed)
    if passed and attestation is not None:
        result.statement_sha256 = attestation["statement_sha256"]
    result.actions += _post(ctx, state, dict(doc, passed=passed), notes, (pins, attestation))
    if decided and not approver and add_label(state, ctx.config.labels["pending"]):
        # A requester without triage access cannot label their own request: the registry
        # marks it pending here, where listings and the committee look for it.
        result.actions.append(f"added {ctx.config.labels['pending']}")
    if approver:
        add_label(state, ctx.config.labels["approved"])
        assert pins is not None or req.kind != "association"
        result.actions += approve(ctx, state, req, approver, pins, attestation)
    result.message = f"#{pr}: verification {'passed' if passed else 'failed'}"
    return result


def _judged(
    ctx: Context,
    state: PullState,
    req: Request,
    verified: tuple[Path, dict[str, Any], dict[str, Any] | None],
    conclusion: str,
) -> tuple[bool, list[str], dict[str, Any] | None, dict[str, str] | None]:
    """(passed, the notes why not, the pins and the result statement it is bound to)."""
    passed, notes = _verdict(verified[1], req, conclusion)
    pins, attestation = None, None
    if passed and req.kind == "association":
        passed, pins, attestation = _bound(ctx, req, verified, notes)
    elif passed and req.kind in DATA_RULES:
        # Nothing ran: the rules are the verification, so the registry checks them again
        # itself rather than trust the artifact.
        why = check_again(ctx, state, req)
        passed = why is None
        notes += [] if why is None else ["❌ **Checked again by the registry:** " + md(why)]
    return passed, notes, pins, attestation


def _bound(
    ctx: Context,
    req: Request,
    verified: tuple[Path, dict[str, Any], dict[str, Any] | None],
    notes: list[str],
) -> tuple[bool, dict[str, Any] | None, dict[str, str] | None]:
    """What a passed association's verification is bound to: (still passed, the pins of
    the cubes that ran, where its result statement is); a note for what is not."""
    # The cubes that ran must be those the default branch holds: the pins are bound.
    folder, doc, event = verified
    pins, why = bound_pins(ctx, req, doc.get("pins"))
    if why is not None:
        notes.append("❌ " + md(why))
        return False, pins, None
    attestation, note = _attestation(folder, doc, event)
    notes += [note] if note else []
    return True, pins, attestation


def _attestation(
    folder: Path, doc: dict[str, Any], event: dict[str, Any] | None
) -> tuple[dict[str, str] | None, str | None]:
    """Where the verify run's result statement is (its SHA-256 in the artifact of the run
    the event names), and a note when it cannot be recorded. The statement is untrusted:
    it must be one, and about this request's verified head."""
    run = (event or {}).get("workflow_run")
    url = run.get("html_url") if isinstance(run, dict) else None
    if not isinstance(url, str) or not RUN_URL.match(url):
        return None, None  # run by hand (--pr, no event): no run to point to
    if f"/{doc['registry']}/actions/runs/".lower() not in url.lower():
        return None, f"⚠️ No result statement is recorded: the run {md(url)} is not the registry's."
    try:
        stated, sha = read_statement(folder)
    except ReportInvalid as exc:
        return None, f"⚠️ No result statement is recorded for the approval: {md(str(exc))}"
    about = stated["predicate"].get("verification") or {}
    if (about.get("pr"), about.get("head_sha")) != (doc["pr"], doc["head_sha"]) or (
        str(about.get("registry")).lower() != str(doc["registry"]).lower()
    ):
        why = "its result statement is about another request or commit"
        return None, f"⚠️ No result statement is recorded for the approval: {why}."
    return {"statement_sha256": sha, "run_url": url}, None


def _post(
    ctx: Context,
    state: PullState,
    shown: dict[str, Any],
    notes: list[str],
    bound: tuple[dict[str, Any] | None, dict[str, str] | None],
) -> list[str]:
    """The sticky comment (bound to the head, the pins and where the result statement
    is) and the verified / verification-failed label."""
    labels = ctx.config.labels
    passed = bool(shown["passed"])
    pins, attestation = bound
    body = (
        binding_line(state.head_sha, passed, digest(pins) if pins else None, attestation)
        + "\n"
        + render_markdown(shown, ctx.config, tuple(notes))
    )
    actions = [f"comment {upsert_comment(state, VERIFY_MARKER, body, ctx.identity())}"]
    good, bad = (
        (labels["verified"], labels["verification_failed"])
        if passed
        else (labels["verification_failed"], labels["verified"])
    )
    if add_label(state, good):
        actions.append(f"added {good}")
    if remove_label(state, bad):
        actions.append(f"removed {bad}")
    return actions


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
