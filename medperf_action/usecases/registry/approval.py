"""Approving a pair request (an mlcube's association, or a dataset's): merge the PR at the
verified head, then commit the status APPROVED (with approved_by, approved_at, and for an
mlcube's association what the re-run verified) on the default branch.

Every step is idempotent: a PR merged already only gets its status committed; a status
committed already is left alone. So re-running after a failure part-way leaves one merge
and one status commit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medperf_action.adapters.github.contents import read_file, update_file
from medperf_action.adapters.github.pulls import PullState, merge_at, read_pull, remove_label
from medperf_action.domain.registry.layout import (
    association_path,
    dataset_association_path,
    dump_yaml,
)
from medperf_action.domain.registry.pins import changed, pins_for
from medperf_action.domain.registry.requests import Request
from medperf_action.domain.validation import validate_file
from medperf_action.domain.yamldoc import load_text
from medperf_action.errors import (
    DecisionRefused,
    GitHubError,
    MedperfError,
    RegistryInvalid,
    YamlError,
)
from medperf_action.text import now_iso
from medperf_action.usecases.registry.context import Context

#: A status commit is tried this often when the file keeps changing under it.
COMMIT_ATTEMPTS = 3


def approved(
    data: dict[str, Any], approved_by: str, approved_at: str, verified: dict[str, Any] | None
) -> dict[str, Any]:
    """The pair's file with status APPROVED; approved_by, approved_at and verified (when
    given) after created_at (the keys in the order a reader expects)."""
    decided = {"approved_by": approved_by, "approved_at": approved_at, "verified": verified}
    if verified is None:
        del decided["verified"]
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in decided:
            continue
        out[key] = "APPROVED" if key == "status" else value
        if key == "created_at":
            out.update(decided)
    for key, value in decided.items():
        out.setdefault(key, value)
    return out


def current_pins(ctx: Context, req: Request) -> tuple[dict[str, Any] | None, str | None]:
    """The pins of the cubes a re-run of the request uses, as the default branch holds
    them now; (None, why) when they cannot be read."""
    assert req.benchmark is not None and req.mlcube is not None
    try:
        return pins_for(ctx.base, req.benchmark, req.mlcube), None
    except MedperfError as exc:
        return None, f"The cubes of the re-run cannot be read on the default branch: {exc}"


def bound_pins(
    ctx: Context, req: Request, ran: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, str | None]:
    """The pins of the cubes a request's re-run used, as the default branch holds them
    now, when they are those that ran (`ran`); else (None, why)."""
    now, why = current_pins(ctx, req)
    if now is None or ran == now:
        return now, why
    ran = ran or {}
    moved = sorted(
        f"{cube} ({', '.join(changed(ran.get(cube) or {}, pin)) or 'added'})"
        for cube, pin in now.items()
        if ran.get(cube) != pin
    )
    return None, (
        "The cubes on the default branch are not those the re-run verified: "
        + (", ".join(moved) or "the re-run recorded none")
        + ". It must be verified again."
    )


def pair_path(req: Request) -> str:
    """The file a pair request adds: associations/B/M.yaml or dataset-associations/B/D.yaml."""
    assert req.benchmark is not None and req.member is not None
    if req.kind == "dataset-association":
        return dataset_association_path(req.benchmark, req.member)
    return association_path(req.benchmark, req.member)


def commit_status(
    ctx: Context, req: Request, number: int, approved_by: str, verified: dict[str, Any] | None
) -> str | None:
    """Set the pair's file on the default branch to APPROVED, recording `verified` (when
    given); returns the commit's SHA, or None when it already says APPROVED (a re-run, or a
    retried write that went through)."""
    path = pair_path(req)
    where = f"{path} on {ctx.default_branch}"
    for _attempt in range(COMMIT_ATTEMPTS):
        current = read_file(ctx.repo, path, ctx.default_branch)
        if current is None:
            raise DecisionRefused(f"{where} is missing: the merge did not add it")
        try:
            data = load_text(current.text).data
        except YamlError as exc:
            raise RegistryInvalid(f"{where}: {exc}") from None
        status = data.get("status") if isinstance(data, dict) else None
        if status == "APPROVED":
            return None
        if status != "PENDING" or not isinstance(data, dict):
            raise DecisionRefused(f"{where} is {status!r}, not PENDING")
        text = dump_yaml(approved(data, approved_by, now_iso(), verified))
        validate_file(Path(path), req.kind, text=text, shown_as=path).raise_errors(
            RegistryInvalid, f"the approved {path} would be invalid"
        )
        message = (
            f"Approve the association of {req.member} with {req.benchmark} (#{number})\n\n"
            f"approved_by: {approved_by}"
        )
        try:
            return update_file(ctx.repo, path, message, text, current.sha, ctx.default_branch)
        except GitHubError as exc:
            # 409/422: the file changed since it was read (or a retried PUT went through).
            if exc.status in (409, 422):
                continue
            raise
    raise GitHubError(f"{where} keeps changing; run again")


def merge(ctx: Context, state: PullState, req: Request) -> bool:
    """Merge the PR at the head that was verified; False when it was merged already."""
    if state.merged:
        return False
    try:
        merge_at(
            state,
            f"Associate {req.member} with {req.benchmark} (#{state.number})",
            f"Requested by {state.author}.",
        )
    except GitHubError as exc:
        # A retried merge whose first attempt went through answers 405; look again.
        fresh = read_pull(ctx.repo, state.number)
        if fresh.merged and fresh.head_sha == state.head_sha:
            state.merged = True
            return True
        if exc.status == 409:
            raise DecisionRefused(
                f"#{state.number}: the head moved on from {state.head_sha[:12]} during the "
                "merge; it must be verified again"
            ) from None
        raise
    state.merged = True
    return True


def approve(
    ctx: Context,
    state: PullState,
    req: Request,
    approved_by: str,
    pins: dict[str, Any] | None,
    attestation: dict[str, str] | None = None,
) -> list[str]:
    """Merge, commit APPROVED with approved_by/approved_at and, for an mlcube's association
    (`pins`: the registry re-ran it), what was verified (the request, its head, the pins of
    the cubes that ran, and where the verify run's result statement is, when it stated
    one); drop the pending label. A dataset's association records no `verified`: the
    registry cannot re-run on private data."""
    done = []
    if merge(ctx, state, req):
        done.append(f"merged #{state.number}")
    verified: dict[str, Any] | None = None
    if pins is not None:
        verified = {"pr": state.number, "commit": state.head_sha, "mlcubes": pins}
        if attestation is not None:
            verified["attestation"] = attestation
    sha = commit_status(ctx, req, state.number, approved_by, verified)
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
    elif config.policy == "same-owner" and req.benchmark and req.member:
        bench = ctx.base.benchmark(req.benchmark)
        member = (
            ctx.base.find_dataset(req.member)
            if req.kind == "dataset-association"
            else ctx.base.mlcube(req.member)
        )
        if member and str(bench.get("owner", "")).lower() == str(member.get("owner", "")).lower():
            return "policy:same-owner"
    return None
