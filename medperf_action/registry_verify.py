"""`registry verify --pr N`: a registry PR checked without trusting anything in it.

Runs under `pull_request` in the registry repository: a read-only token, no secrets. Every
file the PR changes is read at the PR's head through the API (never checked out, never
imported or run); a submission's assets are downloaded and hash-checked; an association's
compatibility test is run again by the registry, in the sandboxed containers, with the
benchmark and the mlcube from the default branch, and every reported metric is compared
with the re-run's within the registry's tolerance. The execution summary, which the PR
shows and an approval commits, must agree with the reported result (`summary_problems`).

The verdict goes to `report.json` (schemas/verify-report.schema.json) and `report.md` in
the report folder, uploaded as an artifact for the privileged `registry report` job, which
treats it as untrusted data: `load_report` checks it against its schema with a size limit,
and `render_markdown` escapes everything it shows.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medperf_action import __version__
from medperf_action.errors import MedperfError, exit_code
from medperf_action.registry import (
    GitHubSource,
    Registry,
    RegistryConfig,
    RegistryError,
    mlcube_path,
)
from medperf_action.registry_github import (
    Request,
    RequestPull,
    analyse,
    changed_files,
    list_requests,
    pair_requests,
    read_pull,
)

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
#: report.json is a few kB; an artifact larger than this is refused unread.
MAX_REPORT_BYTES = 1 << 20
MAX_DETAIL = 4000
MAX_VALUE = 200
MAX_ROWS = 500
SCHEMA_KINDS = {
    "mlcube": "mlcube-entry",
    "association": "association",
    "benchmark": "benchmark",
    "registry": "registry",
}


class ReportError(MedperfError):
    """A verification report (the artifact) that cannot be trusted or read."""


@dataclass
class Check:
    name: str
    passed: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        detail = self.detail if len(self.detail) <= MAX_DETAIL else self.detail[: MAX_DETAIL - 1]
        return {"name": self.name, "passed": self.passed, "detail": detail}


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

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks) and all(r["passed"] for r in self.rows)

    def as_dict(self) -> dict[str, Any]:
        from medperf_action.workflow import now_iso

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
            "checks": [c.as_dict() for c in self.checks],
            "metrics": self.rows,
            "passed": self.passed,
            "created_at": now_iso(),
        }


# ---------------------------------------------------------------------------------------
# Metrics


def flatten(metrics: Any, prefix: str = "") -> dict[str, Any]:
    """Nested metrics as {dotted.name: value}."""
    out: dict[str, Any] = {}
    if isinstance(metrics, dict):
        for key, value in metrics.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict) and value:
                out.update(flatten(value, name + "."))
            else:
                out[name] = value
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def same(config: RegistryConfig, reported: Any, verified: Any) -> bool:
    a, b = _number(reported), _number(verified)
    if a is not None and b is not None:
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if math.isinf(a) or math.isinf(b):
            return a == b
        return config.within_tolerance(a, b)
    return bool(reported == verified) and a is None and b is None


def json_value(value: Any) -> Any:
    """A metric value as report.json holds it: finite numbers, booleans, short strings."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else str(value)
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def compare(
    config: RegistryConfig, reported: Any, verified: Any
) -> tuple[list[dict[str, Any]], Check]:
    """One row per reported metric, and the check that sums them up."""
    got, want = flatten(reported), flatten(verified)
    if len(got) > MAX_ROWS:
        return [], Check(
            "metrics", False, f"the request reports {len(got)} metrics; at most {MAX_ROWS}"
        )
    rows = []
    failed = []
    for name, value in got.items():
        present = name in want
        ok = present and same(config, value, want[name])
        rows.append(
            {
                "metric": name[:MAX_VALUE],
                "reported": json_value(value),
                "verified": json_value(want.get(name)),
                "passed": ok,
            }
        )
        if not present:
            failed.append(f"{name}: reported {value!r}, but the re-run did not produce it")
        elif not ok:
            failed.append(f"{name}: reported {value!r}, the re-run gave {want[name]!r}")
    tolerance = f"tolerance: absolute {config.tolerance_abs:g}, relative {config.tolerance_rel:g}"
    if not got:
        return rows, Check("metrics", False, "the request reports no metrics to reproduce")
    extra = [n for n in want if n not in got]
    note = f"; the re-run also gave {', '.join(extra)} (not reported)" if extra else ""
    if failed:
        return rows, Check(
            "metrics",
            False,
            "reported metrics the re-run does not reproduce ("
            + tolerance
            + "): "
            + "; ".join(failed)
            + note,
        )
    return rows, Check(
        "metrics", True, f"all {len(got)} reported metric(s) reproduced ({tolerance}){note}"
    )


# ---------------------------------------------------------------------------------------
# The checks


def _findings_text(findings: list[Any], limit: int = 20) -> str:
    lines = [f.text() for f in findings[:limit]]
    if len(findings) > limit:
        lines.append(f"... and {len(findings) - limit} more")
    return "\n".join(lines)


def _check_schema(
    head: GitHubSource, req: Request, sha: str
) -> tuple[Check, dict[str, dict[str, Any]]]:
    """Every changed file, read at the PR's head, against its schema and the id rules."""
    from medperf_action.registry import classify
    from medperf_action.validate import validate_file
    from medperf_action.yamlload import load_text

    errors: list[Any] = []
    missing: list[str] = []
    data: dict[str, dict[str, Any]] = {}
    checked = 0
    for change in req.changes:
        if change.status == "removed":
            continue
        kind = SCHEMA_KINDS.get(classify(change.path).kind)
        if kind is None:
            continue
        try:
            text = head.read(change.path)
        except RegistryError as exc:
            missing.append(str(exc))
            continue
        if text is None:
            missing.append(f"{change.path}: not found at the PR's head {sha[:12]}")
            continue
        checked += 1
        report = validate_file(Path(change.path), kind, text=text, shown_as=change.path)
        errors.extend(report.errors)
        if not report.errors:
            loaded = load_text(text).data
            if isinstance(loaded, dict):
                data[change.path] = loaded
    if errors or missing:
        detail = "\n".join([*missing, _findings_text(errors)]).strip()
        return Check("schema", False, detail), data
    return Check("schema", True, f"{checked} file(s) valid at {sha[:12]}"), data


def _exactly(a: Any, b: Any) -> bool:
    """Equal values, NaN equal to NaN (the same run, written twice)."""
    x, y = _number(a), _number(b)
    if x is not None and y is not None:
        return x == y or (math.isnan(x) and math.isnan(y))
    return bool(a == b) and x is None and y is None


def differences(a: Any, b: Any, name: str = "") -> list[str]:
    """The dotted names where two nested values differ (a key on one side only, too)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in [*a, *(k for k in b if k not in a)]:
            inner = f"{name}.{key}" if name else str(key)
            out += differences(a[key], b[key], inner) if key in a and key in b else [inner]
        return out
    return [] if _exactly(a, b) else [name or "(the whole value)"]


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def summary_problems(entry: dict[str, Any], benchmark_id: str, mlcube_id: str) -> list[str]:
    """Where the execution summary disagrees with the request it is part of.

    Only `result.metrics` is compared with the registry's re-run, but the summary is shown
    in the PR and committed on approval, so it must say the same: `summary.metrics.candidate`
    equal to `result.metrics`, `summary.passed` to `result.passed`, and the summary's
    candidate cube and benchmark the request's own."""
    result, summary = _object(entry.get("result")), _object(entry.get("summary"))
    problems = []
    metrics = _object(summary.get("metrics"))
    differ = differences(metrics.get("candidate"), result.get("metrics"))
    if differ:
        shown = ", ".join(differ[:10]) + (f" and {len(differ) - 10} more" if differ[10:] else "")
        problems.append(
            f"summary.metrics.candidate differs from result.metrics ({shown}): the summary "
            "must report the metrics the request reports"
        )
    if summary.get("passed") != result.get("passed"):
        problems.append(
            f"summary.passed is {summary.get('passed')!r}, but result.passed is "
            f"{result.get('passed')!r}"
        )
    candidate = _object(_object(summary.get("cubes")).get("candidate"))
    if candidate.get("id") != mlcube_id:
        problems.append(
            f"summary.cubes.candidate.id is {candidate.get('id')!r}, but the request is for "
            f"the mlcube {mlcube_id!r}"
        )
    bench = _object(summary.get("benchmark"))
    if bench.get("id") != benchmark_id:
        problems.append(
            f"summary.benchmark.id is {bench.get('id')!r}, but the request is for the "
            f"benchmark {benchmark_id!r}"
        )
    return problems


def _check_association(
    base: Registry,
    req: Request,
    entry: dict[str, Any],
    author: str,
    open_requests: Callable[[], list[RequestPull]],
    number: int,
) -> tuple[Check, bool]:
    """The registry's rules for a request; also whether the pair can be re-run."""
    assert req.benchmark is not None and req.mlcube is not None
    b, m = req.benchmark, req.mlcube
    problems = []
    if entry.get("status") != "PENDING":
        problems.append(f"status is {entry.get('status')!r}; a request is PENDING")
    if str(entry.get("initiated_by", "")).lower() != author.lower():
        problems.append(
            f"initiated_by is {entry.get('initiated_by')!r}, but the PR was opened by {author}"
        )
    if (entry.get("result") or {}).get("passed") is not True:
        problems.append("the reported test did not pass (result.passed is not true)")
    problems += summary_problems(entry, b, m)
    runnable = True
    owner: str | None = None
    try:
        bench = base.benchmark(b)
        if bench.get("approval_status") != "APPROVED":
            problems.append(
                f"benchmark {b} is {bench.get('approval_status')}; "
                "models associate only with an APPROVED benchmark"
            )
    except RegistryError as exc:
        problems.append(f"benchmark {b}: {exc}")
        runnable = False
    try:
        cube = base.mlcube(m)
        owner = str(cube.get("owner", "")) or None
        if cube.get("role") != "model":
            problems.append(f"mlcube {m} has role {cube.get('role')!r}; only a model associates")
            runnable = False
        if str(cube.get("owner", "")).lower() != author.lower():
            problems.append(
                f"mlcube {m} belongs to {cube.get('owner')}; only its owner requests its "
                "associations"
            )
    except RegistryError as exc:
        problems.append(f"mlcube {m}: {exc} (submit it, and have it merged, first)")
        runnable = False
    existing = base.source.read(f"associations/{b}/{m}.yaml")
    if existing is not None:
        problems.append(
            f"the default branch already holds associations/{b}/{m}.yaml "
            "(an approved pair is never requested again)"
        )
    # Only the requests that count for the pair (the owner's) block it: anybody else's PR
    # carrying the pair's marker does not.
    others = [r.number for r in pair_requests(open_requests(), b, m, owner) if r.number != number]
    if others:
        problems.append(
            "another request for this pair is open: " + ", ".join(f"#{n}" for n in others)
        )
    if problems:
        return Check("rules", False, "; ".join(problems)), runnable
    return (
        Check(
            "rules",
            True,
            f"PENDING request by {author}; benchmark {b} is APPROVED; mlcube {m} is "
            f"{author}'s submitted model; no other request for the pair",
        ),
        runnable,
    )


def _check_submission(base: Registry, req: Request, entry: dict[str, Any], author: str) -> Check:
    assert req.mlcube is not None
    problems = []
    owner = str(entry.get("owner", ""))
    if owner.lower() != author.lower():
        problems.append(f"owner is {owner!r}, but the PR was opened by {author}")
    held = base.source.read(mlcube_path(req.mlcube))
    if held is not None:
        from medperf_action.yamlload import YamlError, load_text

        try:
            current = load_text(held).data
        except YamlError:
            current = None
        holder = current.get("owner") if isinstance(current, dict) else None
        if holder is None or str(holder).lower() != owner.lower():
            problems.append(
                f"the id {req.mlcube} is held by {holder!r} on the default branch; "
                "a submission never takes over another owner's id"
            )
    if problems:
        return Check("rules", False, "; ".join(problems))
    what = "an update of" if held is not None else "a new"
    return Check("rules", True, f"{what} mlcube owned by {owner}, the PR's author")


def _assets(entry: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    for name, asset in (entry.get("assets") or {}).items():
        yield f"assets.{name}", asset["url"], asset["sha256"]
    archive = (entry.get("image") or {}).get("archive")
    if archive:
        yield "image.archive", archive["url"], archive["sha256"]


def _check_assets(entry: dict[str, Any], log: Callable[[str], None]) -> Check:
    """Download every asset into a fresh folder (a warm cache proves nothing about what the
    URL serves) and check its SHA-256; then validate the downloaded manifest."""
    from medperf_action.fetch import fetch
    from medperf_action.validate import validate_path

    if "path" in entry:
        return Check("assets", False, "a `path:` entry works only in a local registry")
    problems, done = [], []
    with tempfile.TemporaryDirectory(prefix="medperf-verify-") as tmp:
        manifest = None
        for name, url, sha in _assets(entry):
            log(f"verify: download {name} {url}")
            try:
                got = fetch(url, sha, cache=Path(tmp) / "cache", name=name, progress=False)
            except MedperfError as exc:
                problems.append(f"{name}: {exc}")
                continue
            done.append(name)
            if name == "assets.mlcube":
                # MedPerf's two formats, told apart by the published file's name.
                is_config = url.rsplit("/", 1)[-1] == "container_config.yaml"
                where = "container_config.yaml" if is_config else "mlcube/mlcube.yaml"
                manifest = Path(tmp) / "cube" / where
                manifest.parent.mkdir(parents=True)
                shutil.copyfile(got.path, manifest)
        if manifest is not None:
            report = validate_path(manifest, role=entry.get("role"), manifest_only=True)
            for finding in report.errors:
                problems.append(f"the published mlcube.yaml: {finding.body()}")
    reference = (entry.get("image") or {}).get("reference")
    note = f"; image {reference} is pinned by digest (pulled when run)" if reference else ""
    if problems:
        return Check("assets", False, "; ".join(problems))
    return Check(
        "assets",
        True,
        f"{len(done)} asset(s) downloaded, SHA-256 matched: {', '.join(done)}" + note,
    )


def _rerun(
    base: Registry,
    req: Request,
    entry: dict[str, Any],
    config: RegistryConfig,
    token: str,
    log: Callable[[str], None],
) -> tuple[list[Check], list[dict[str, Any]]]:
    """The compatibility test, run again by the registry in the sandboxed containers, and
    its metrics next to the reported ones."""
    from medperf_action.workflow import Options, run_workflow

    reported = (entry.get("result") or {}).get("metrics")
    opts = Options(
        model_id=req.mlcube,
        registry=base,  # the default branch, already read for the checks
        benchmark=req.benchmark,
        registry_token=token,
        echo=None,
        log=log,
    )
    start = time.perf_counter()
    try:
        outcome = run_workflow(opts)
    except Exception as exc:
        if exit_code(exc) is None:
            raise
        rows, _ = compare(config, reported, {})
        return [Check("rerun", False, f"the registry's re-run failed: {exc}")], rows
    ran = Check(
        "rerun",
        True,
        f"the compatibility test ran again on benchmark {req.benchmark} with mlcube "
        f"{req.mlcube} from {base.description} in {time.perf_counter() - start:.1f} s",
    )
    rows, metrics = compare(config, reported, outcome.summary["metrics"]["candidate"])
    return [ran, metrics], rows


def verify(
    pr: int,
    registry: str,
    token: str,
    *,
    log: Callable[[str], None] = print,
) -> Verification:
    """Check PR `pr` of `registry`; never writes to GitHub."""
    from medperf_action.github_api import call, connect

    gh = connect(token)
    repo = gh.get_repo(registry)
    default = call(f"read {registry}", lambda: repo.default_branch)
    state = read_pull(repo, pr)
    req = analyse(changed_files(state), state.base_ref, default)
    base = Registry(GitHubSource(repo, default))
    result = Verification(registry, pr, state.head_sha, state.author, req, config=base.config())
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
    head = GitHubSource(gh.get_repo(state.head_repo), state.head_sha)
    schema, data = _check_schema(head, req, state.head_sha)
    result.checks.append(schema)
    entry = data.get(req.path)
    if entry is None:
        return result
    if req.kind == "submission":
        result.checks.append(_check_submission(base, req, entry, state.author))
        result.checks.append(_check_assets(entry, log))
        return result
    rules, runnable = _check_association(
        base, req, entry, state.author, lambda: list_requests(repo, default, "open"), pr
    )
    result.checks.append(rules)
    if not runnable or not req.allowed:
        why = rules.detail if not runnable else "the PR changes files a request may not change"
        result.checks.append(Check("rerun", False, "not run: " + why))
        return result
    checks, result.rows = _rerun(base, req, entry, result.config, token, log)
    result.checks.extend(checks)
    return result


# ---------------------------------------------------------------------------------------
# The report: written by verify, read back (as untrusted data) by report


def write_report(doc: dict[str, Any], folder: Path, config: RegistryConfig | None) -> str:
    """report.json and report.md in `folder`; returns the markdown."""
    problems = schema_errors(doc)
    if problems:  # our own bug: never hand on a report the reader would refuse
        raise ReportError("the verification report is malformed: " + "; ".join(problems))
    folder.mkdir(parents=True, exist_ok=True)
    markdown = render_markdown(doc, config)
    (folder / REPORT_JSON).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    (folder / REPORT_MD).write_text(markdown, encoding="utf-8")
    return markdown


def schema_errors(doc: Any, limit: int = 10) -> list[str]:
    import jsonschema

    from medperf_action.schemas import schema_dir

    schema = json.loads((schema_dir() / "verify-report.schema.json").read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    errors = sorted(cls(schema).iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    return [
        one_line(f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}")
        for e in errors[:limit]
    ]


def one_line(text: str, limit: int = 300) -> str:
    """Untrusted text for a log line: no control characters (no injected workflow
    commands on a line of their own), and short."""
    flat = re.sub(r"[\x00-\x1f\x7f]+", " ", text)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_report(folder: Path) -> dict[str, Any]:
    """report.json from an artifact: a regular file, at most 1 MiB, valid JSON that its
    schema accepts. Anything else raises ReportError saying why."""
    path = folder / REPORT_JSON
    try:
        info = path.lstat()
    except OSError:
        raise ReportError(f"{path}: no verification report (report.json) in the artifact") from None
    import stat

    if not stat.S_ISREG(info.st_mode):
        raise ReportError(f"{path}: not a regular file")
    if info.st_size > MAX_REPORT_BYTES:
        raise ReportError(f"{path}: {info.st_size} bytes; a report is at most {MAX_REPORT_BYTES}")
    with path.open("rb") as handle:
        raw = handle.read(MAX_REPORT_BYTES + 1)
    if len(raw) > MAX_REPORT_BYTES:
        raise ReportError(f"{path}: larger than {MAX_REPORT_BYTES} bytes")
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ReportError(f"{path}: not valid JSON: {one_line(str(exc))}") from None
    problems = schema_errors(doc)
    if problems:
        raise ReportError(
            f"{path} does not match schemas/verify-report.schema.json: " + "; ".join(problems)
        )
    return doc


# ---------------------------------------------------------------------------------------
# Markdown, safe for untrusted text


_ESCAPE = set("\\`*_[]<>|@&~!#:")


def md(text: Any) -> str:
    """Text shown verbatim in markdown: no links, mentions, HTML or table breaks."""
    out = []
    for ch in str(text):
        if ch == "\n":
            out.append("<br>")
        elif ch in _ESCAPE:
            out.append(f"&#{ord(ch)};")
        elif ch == "\r" or (ord(ch) < 32 and ch != "\t"):
            continue
        else:
            out.append(ch)
    return "".join(out)


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"{value:.12g}" if isinstance(value, float) else str(value)
    return md(value)


def render_markdown(
    doc: dict[str, Any], config: RegistryConfig | None = None, notes: tuple[str, ...] = ()
) -> str:
    """The report as markdown; every string from the report is escaped."""
    verdict = "passed ✅" if doc["passed"] else "failed ❌"
    lines = [f"### medperf-action verification of #{int(doc['pr'])}: {verdict}", ""]
    sha = str(doc["head_sha"])[:12]
    if doc["kind"] == "association":
        lines.append(
            f"Association request: mlcube `{md(doc.get('mlcube'))}` with benchmark "
            f"`{md(doc.get('benchmark'))}`, head `{md(sha)}`."
        )
    elif doc["kind"] == "submission":
        lines.append(f"Submission of mlcube `{md(doc.get('mlcube'))}`, head `{md(sha)}`.")
    else:
        lines.append(f"Not a request medperf-action verifies (head `{md(sha)}`).")
    lines += ["", "| check | result | detail |", "|---|---|---|"]
    for check in doc["checks"]:
        mark = "✅ passed" if check["passed"] else "❌ failed"
        lines.append(f"| {md(check['name'])} | {mark} | {md(check['detail'])} |")
    if doc["metrics"]:
        tolerance = (
            f" (tolerance: absolute {config.tolerance_abs:g}, relative {config.tolerance_rel:g})"
            if config is not None
            else ""
        )
        lines += [
            "",
            f"**Metrics**: reported in the request vs. the registry's re-run{tolerance}",
            "",
            "| metric | reported | verified | |",
            "|---|---:|---:|---|",
        ]
        for row in doc["metrics"]:
            mark = "✅" if row["passed"] else "❌"
            lines.append(
                f"| {md(row['metric'])} | {_value(row['reported'])} | "
                f"{_value(row['verified'])} | {mark} |"
            )
    for note in notes:
        lines += ["", note]
    version = md(doc["tool"]["version"])
    lines += ["", f"<sub>medperf-action {version}</sub>", ""]
    return "\n".join(lines)
