"""The verification report: written by `registry verify` (report.json and report.md, the
artifact), read back as untrusted data by the privileged `registry report`.

`load_report` checks it against schemas/verify-report.schema.json with a size limit, and
`render_markdown` escapes every string it shows.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from medperf_action.adapters.files.atomic import write_json, write_text
from medperf_action.domain.registry.config import RegistryConfig
from medperf_action.domain.schemas import plain_errors
from medperf_action.errors import ReportInvalid
from medperf_action.text import md, md_code, md_table, one_line

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
SCHEMA = "verify-report.schema.json"
#: The first line of a data owner's request's report (its ids as Markdown code): what the
#: registry checked is the owner's statement, never re-run on the private data.
DATA_REQUESTS = {
    "dataset": "Registration of dataset {dataset}, head {sha}.",
    "dataset-association": (
        "Dataset association request: dataset {dataset} with benchmark {benchmark}, head "
        "{sha}. The compatibility run is the data owner's own: the registry checks that it "
        "is consistent with the registry, and cannot re-run it on private data."
    ),
    "result": (
        "Result of model {mlcube} on dataset {dataset} for benchmark {benchmark}, head {sha}. "
        "The metrics are the data owner's release: the registry checks where they come "
        "from, and cannot re-run them on private data."
    ),
}
#: report.json is a few kB; an artifact larger than this is refused unread.
MAX_REPORT_BYTES = 1 << 20


def schema_errors(doc: Any, limit: int = 10) -> list[str]:
    return [one_line(line) for line in plain_errors(SCHEMA, doc, limit)]


def write_report(doc: dict[str, Any], folder: Path, config: RegistryConfig | None) -> str:
    """report.json and report.md in `folder`; returns the Markdown."""
    problems = schema_errors(doc)
    if problems:  # never hand on a report the privileged reader would refuse
        raise ReportInvalid("the verification report is malformed: " + "; ".join(problems))
    markdown = render_markdown(doc, config)
    write_json(folder / REPORT_JSON, doc)
    write_text(folder / REPORT_MD, markdown)
    return markdown


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_report(folder: Path) -> dict[str, Any]:
    """report.json from an artifact: a regular file, at most 1 MiB, valid JSON that its
    schema accepts. Anything else raises ReportInvalid saying why."""
    path = folder / REPORT_JSON
    try:
        info = path.lstat()
    except OSError:
        raise ReportInvalid(
            f"{path}: no verification report (report.json) in the artifact"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise ReportInvalid(f"{path}: not a regular file")
    if info.st_size > MAX_REPORT_BYTES:
        raise ReportInvalid(f"{path}: {info.st_size} bytes; a report is at most {MAX_REPORT_BYTES}")
    with path.open("rb") as handle:
        raw = handle.read(MAX_REPORT_BYTES + 1)
    if len(raw) > MAX_REPORT_BYTES:
        raise ReportInvalid(f"{path}: larger than {MAX_REPORT_BYTES} bytes")
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ReportInvalid(f"{path}: not valid JSON: {one_line(str(exc))}") from None
    problems = schema_errors(doc)
    if problems:
        raise ReportInvalid(f"{path} does not match schemas/{SCHEMA}: " + "; ".join(problems))
    return dict(doc)


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
    """The report as Markdown; every string from the report is escaped."""
    verdict = "passed ✅" if doc["passed"] else "failed ❌"
    lines = [f"### medperf-action verification of #{int(doc['pr'])}: {verdict}", ""]
    sha = str(doc["head_sha"])[:12]
    if doc["kind"] == "association":
        lines.append(
            f"Association request: mlcube {md_code(doc.get('mlcube'))} with benchmark "
            f"{md_code(doc.get('benchmark'))}, head {md_code(sha)}."
        )
    elif doc["kind"] == "submission":
        lines.append(f"Submission of mlcube {md_code(doc.get('mlcube'))}, head {md_code(sha)}.")
    elif doc["kind"] in DATA_REQUESTS:
        lines.append(
            DATA_REQUESTS[doc["kind"]].format(
                dataset=md_code(doc.get("dataset")),
                benchmark=md_code(doc.get("benchmark")),
                mlcube=md_code(doc.get("mlcube")),
                sha=md_code(sha),
            )
        )
    else:
        lines.append(f"Not a request medperf-action verifies (head {md_code(sha)}).")
    checks = [
        (md(c["name"]), "✅ passed" if c["passed"] else "❌ failed", md(c["detail"]))
        for c in doc["checks"]
    ]
    lines += ["", md_table(("check", "result", "detail"), checks)]
    if doc["metrics"]:
        tolerance = (
            f" (tolerance: absolute {config.tolerance_abs:g}, relative {config.tolerance_rel:g})"
            if config is not None
            else ""
        )
        rows = [
            (
                md(r["metric"]),
                _value(r["reported"]),
                _value(r["verified"]),
                "✅" if r["passed"] else "❌",
            )
            for r in doc["metrics"]
        ]
        lines += [
            "",
            f"**Metrics**: reported in the request vs. the registry's re-run{tolerance}",
            "",
            md_table(("metric", "reported", "verified", ""), rows, "lrrl"),
        ]
    for note in notes:
        lines += ["", note]
    version = md(doc["tool"]["version"])
    lines += ["", f"<sub>medperf-action {version}</sub>", ""]
    return "\n".join(lines)
