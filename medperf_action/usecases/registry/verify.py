"""`registry verify --pr N`: a registry PR checked without trusting anything in it.

Runs under `pull_request` in the registry repository: a read-only token, no secrets. Every
file the PR changes is read at the PR's head through the API (`checks.check_schema`); a
submission's assets are downloaded and hash-checked; an association's compatibility test
is run again by the registry, in the sandboxed containers, with the benchmark and the
mlcube from the default branch, and every reported metric is compared with the re-run's
within the registry's tolerance. The execution summary, which the PR shows and an
approval commits, must agree with the reported result (`checks.summary_problems`).
Everything is read from one commit of the default branch (its cached snapshot), and a
re-run that passed reports the pin of each cube it ran (`domain.registry.pins`): an entry
that does not pin its assets and image by hash is never run.

The verdict goes to the report folder (`artifact.py`) for the privileged `registry report`,
and a re-run that produced metrics states its result there too (`provenance.py`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from medperf_action import __version__
from medperf_action.adapters.files.download import Progress
from medperf_action.adapters.github.client import connect
from medperf_action.adapters.github.contents import RepoFiles, default_branch, repository
from medperf_action.adapters.github.pulls import changed_files, read_pull
from medperf_action.domain.metrics import compare
from medperf_action.domain.registry.config import RegistryConfig
from medperf_action.domain.registry.pins import pins_for
from medperf_action.domain.registry.reader import Registry
from medperf_action.domain.registry.requests import Request, analyse
from medperf_action.errors import MedperfError
from medperf_action.text import Log, now_iso, silent
from medperf_action.usecases.compat_test.engine import Outcome, run_workflow
from medperf_action.usecases.compat_test.options import Options, UntrustedLimits
from medperf_action.usecases.provenance import verify_statement
from medperf_action.usecases.registries import list_requests, snapshot_of
from medperf_action.usecases.registry.checks import (
    Asked,
    Check,
    check_assets,
    check_association,
    check_schema,
    check_submission,
    in_general_terms,
)
from medperf_action.usecases.registry.data_checks import DATA_RULES, check_data_request


@dataclass
class Verification:
    registry: str
    pr: int
    head_sha: str
    author: str
    request: Request
    checks: list[Check] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    config: RegistryConfig = field(default_factory=RegistryConfig)
    #: An association's re-run: the pin of each cube it ran (`domain.registry.pins`).
    pins: dict[str, Any] | None = None
    #: An association's re-run that produced metrics: its result statement (`provenance`).
    statement: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks) and all(r["passed"] for r in self.rows)

    def as_dict(self) -> dict[str, Any]:
        req = self.request
        return {
            "schema_version": 1,
            "tool": {"name": "medperf-action", "version": __version__},
            "registry": self.registry,
            "pr": self.pr,
            "head_sha": self.head_sha,
            "author": self.author,
            "kind": req.kind,
            "benchmark": req.benchmark,
            "mlcube": req.mlcube,
            "dataset": req.dataset,
            "checks": [c.as_dict() for c in self.checks],
            "metrics": self.rows,
            **({"pins": self.pins} if self.pins else {}),
            "passed": self.passed,
            "created_at": now_iso(),
        }


def _rerun(
    base: Registry,
    req: Request,
    entry: dict[str, Any],
    config: RegistryConfig,
    token: str,
    log: Log,
    progress: Progress | None,
) -> tuple[list[Check], list[dict[str, Any]], Outcome | None]:
    """The compatibility test, run again by the registry in the sandboxed containers, its
    metrics next to the reported ones, and its outcome (None when it failed)."""
    reported = (entry.get("result") or {}).get("metrics")
    opts = Options(
        model_id=req.mlcube,
        registry=base,  # the default branch, already read for the checks
        benchmark=req.benchmark,
        registry_token=token,
        log=log,
        progress=progress,
        memory=config.memory,
        untrusted=UntrustedLimits(config.max_asset_bytes, config.max_extract_bytes),
    )
    start = time.perf_counter()
    try:
        outcome = run_workflow(opts)
    except MedperfError as exc:
        log(f"verify: the re-run failed: {exc}")  # the details stay in the job's log
        rows, _, _ = compare(config, reported, {})
        why = in_general_terms(exc)
        return [Check("rerun", False, f"the registry's re-run failed: {why}")], rows, None
    ran = Check(
        "rerun",
        True,
        f"the compatibility test ran again on benchmark {req.benchmark} with mlcube "
        f"{req.mlcube} from {base.description} in {time.perf_counter() - start:.1f} s",
    )
    rows, passed, detail = compare(config, reported, outcome.summary["metrics"]["candidate"])
    return [ran, Check("metrics", passed, detail)], rows, outcome


def _statement(result: Verification, head: RepoFiles, outcome: Outcome) -> dict[str, Any]:
    """The result statement of a re-run that produced metrics (also when they disagree
    with the reported ones): about the association file at the PR's head."""
    path = result.request.path
    text = head.read(path) if path else None  # read already for the schema check: cached
    assert path is not None and text is not None
    verification = {
        "registry": result.registry,
        "pr": result.pr,
        "head_sha": result.head_sha,
        "association": path,
        "passed": result.passed,
        "comparison": result.rows,
    }
    return verify_statement((path, text), outcome.summary, outcome.parts, verification)


def verify(
    pr: int,
    registry: str,
    token: str,
    *,
    log: Log = silent,
    progress: Progress | None = None,
) -> Verification:
    """Check PR `pr` of `registry`; never writes to GitHub."""
    gh = connect(token)
    repo = repository(gh, registry)
    default = default_branch(repo)
    state = read_pull(repo, pr)
    req = analyse(changed_files(repo, state), state.base_ref, default)
    result = Verification(registry, pr, state.head_sha, state.author, req)
    # One state of the default branch for every check and the re-run, so the pins the
    # report records are those of the cubes that ran: its commit's snapshot (one call when
    # cached, two when not, at any registry size).
    try:
        base = Registry(snapshot_of(repo, default, shown_as_commit=True))
    except MedperfError as exc:  # GitHub, the download, an unsafe archive, the disk
        why = f"the default branch {default} could not be read: {exc}"
        result.checks.append(Check("registry", False, why))
        return result
    result.config = base.config()
    if req.kind == "other":
        result.checks.append(Check("request", False, "; ".join(req.problems)))
        return result
    detail = "; ".join(req.problems) or f"{req.path} ({req.kind}), and nothing else"
    result.checks.append(Check("allowed-changes", req.allowed, detail))
    if req.path is None:
        return result
    if state.head_repo is None:
        result.checks.append(Check("schema", False, "the PR's head repository is gone"))
        return result
    head = RepoFiles(repository(gh, state.head_repo), state.head_sha)
    schema, data = check_schema(head, req, state.head_sha)
    result.checks.append(schema)
    entry = data.get(req.path)
    if entry is None:
        return result
    asked = Asked(base, req, entry, state.author, pr, partial(list_requests, repo, default, "open"))
    if req.kind in DATA_RULES:  # the data owner's statements: checked, never re-run
        result.checks.append(check_data_request(asked))
    elif req.kind == "submission":
        result.checks.append(check_submission(base, req, entry, state.author))
        result.checks.extend(check_assets(entry, result.config, log))
    else:
        rules, runnable = check_association(asked)
        result.checks.append(rules)
        _association(result, (base, head, entry), runnable, (token, log, progress))
    return result


def _association(
    result: Verification,
    read: tuple[Registry, RepoFiles, dict[str, Any]],
    runnable: bool,
    run: tuple[str, Log, Progress | None],
) -> None:
    """An association request's re-run, when its rules allow one: its metrics, the pins of
    the cubes it ran and its result statement go into `result`."""
    (base, head, entry), req = read, result.request
    if not runnable or not req.allowed:
        why = (
            result.checks[-1].detail
            if not runnable
            else "the PR changes files a request may not change"
        )
        result.checks.append(Check("rerun", False, "not run: " + why))
        return
    token, log, progress = run
    checks, result.rows, outcome = _rerun(base, req, entry, result.config, token, log, progress)
    result.checks.extend(checks)
    if all(c.passed for c in checks):
        assert req.benchmark is not None and req.mlcube is not None
        result.pins = pins_for(base, req.benchmark, req.mlcube)
    result.statement = _statement(result, head, outcome) if outcome is not None else None
