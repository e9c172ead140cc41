"""What the user gets from a compatibility test: tables, files, Actions outputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any


def flatten(metrics: Any, prefix: str = "") -> dict[str, Any]:
    """Nested metrics as `a.b` keys, so any evaluator's results fit one table."""
    if not isinstance(metrics, dict):
        return {prefix or "value": metrics}
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def metric_rows(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    cand = flatten(summary["metrics"]["candidate"] or {})
    ref = flatten(summary["metrics"]["reference"] or {})
    names = list(dict.fromkeys([*cand, *ref]))
    return [(n, _fmt(cand.get(n, "-")), _fmt(ref.get(n, "-"))) for n in names]


def task_rows(summary: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    for t in summary["tasks"]:
        what = t["task"] + (f" ({t['subject'].replace('_', ' ')})" if t.get("subject") else "")
        rows.append((t["cube"], what, f"{t['duration_s']:.2f}", "yes" if t["cached"] else "no"))
    return rows


def _numeric(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return cell == "-"
    return True


def _table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    for row in rows:
        cells = [
            c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(row, widths, strict=True)
        ]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def text_report(summary: dict[str, Any]) -> str:
    cubes = summary["cubes"]
    cand = cubes["candidate"]["id"] or cubes["candidate"]["name"]
    ref = cubes["reference_model"]["id"] or cubes["reference_model"]["name"]
    head = (
        f"Benchmark {summary['benchmark']['id']}: candidate {cand} vs reference {ref} "
        f"({summary['duration_s']:.1f} s)"
    )
    metrics = _table(("metric", "candidate", "reference"), metric_rows(summary))
    tasks = _table(("cube", "task", "time (s)", "cached"), task_rows(summary))
    return f"{head}\n\n{metrics}\n\n{tasks}\n"


def _md_table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return "\n".join(out)


def markdown_report(summary: dict[str, Any]) -> str:
    cubes = summary["cubes"]
    cand = cubes["candidate"]["id"] or cubes["candidate"]["name"]
    ref = cubes["reference_model"]["id"] or cubes["reference_model"]["name"]
    verdict = "passed" if summary["passed"] else "failed"
    return (
        f"### MedPerf compatibility test: {summary['benchmark']['id']} ({verdict})\n\n"
        f"Candidate `{cand}` next to the reference model `{ref}`.\n\n"
        + _md_table(("metric", "candidate", "reference"), metric_rows(summary))
        + "\n\n<details><summary>Tasks</summary>\n\n"
        + _md_table(("cube", "task", "time (s)", "cached"), task_rows(summary))
        + "\n\n</details>\n"
    )


def write_failure(out: Path, summary: dict[str, Any], logs: dict[str, Path]) -> None:
    """What is known when a task failed: the logs so far and a summary with passed: false."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    for name, log in logs.items():
        target = out / "logs" / f"{name}.log"
        if log.is_file() and log.resolve() != target.resolve():
            shutil.copyfile(log, target)
    tmp = out / ".summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out / "summary.json")


def write_output(
    out: Path,
    summary: dict[str, Any],
    results: dict[str, Path],
    logs: dict[str, Path],
    statistics: Path | None,
) -> None:
    """`results.yaml`, `reference-results.yaml`, `summary.json`, `statistics.yaml`, logs/."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(results["candidate"], out / "results.yaml")
    shutil.copyfile(results["reference_model"], out / "reference-results.yaml")
    if statistics is not None and statistics.is_file():
        shutil.copyfile(statistics, out / "statistics.yaml")
    (out / "logs").mkdir(exist_ok=True)
    for name, log in logs.items():
        if log.is_file():
            shutil.copyfile(log, out / "logs" / f"{name}.log")
    tmp = out / ".summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out / "summary.json")
