"""What the user gets from a compatibility test: a table for the terminal, one for the
step summary, and the files of `--output`."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from medperf_action.adapters.files.atomic import write_json
from medperf_action.domain.metrics import flatten
from medperf_action.text import md, md_code, md_table, table


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def metric_rows(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    cand = flatten(summary["metrics"]["candidate"])
    ref = flatten(summary["metrics"]["reference"])
    names = list(dict.fromkeys([*cand, *ref]))
    return [(n, _cell(cand.get(n, "-")), _cell(ref.get(n, "-"))) for n in names]


def task_rows(summary: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    for t in summary["tasks"]:
        what = t["task"] + (f" ({t['subject'].replace('_', ' ')})" if t.get("subject") else "")
        rows.append((t["cube"], what, f"{t['duration_s']:.2f}", "yes" if t["cached"] else "no"))
    return rows


def _names(summary: dict[str, Any]) -> tuple[str, str]:
    cubes = summary["cubes"]
    cand = cubes["candidate"]["id"] or cubes["candidate"]["name"]
    ref = cubes["reference_model"]["id"] or cubes["reference_model"]["name"]
    return str(cand), str(ref)


METRIC_HEADERS = ("metric", "candidate", "reference")
TASK_HEADERS = ("cube", "task", "time (s)", "cached")


def text_report(summary: dict[str, Any]) -> str:
    cand, ref = _names(summary)
    head = (
        f"Benchmark {summary['benchmark']['id']}: candidate {cand} vs reference {ref} "
        f"({summary['duration_s']:.1f} s)"
    )
    metrics = table(METRIC_HEADERS, metric_rows(summary), "lrr")
    tasks = table(TASK_HEADERS, task_rows(summary), "llrl")
    return f"{head}\n\n{metrics}\n\n{tasks}\n"


def markdown_report(summary: dict[str, Any]) -> str:
    cand, ref = _names(summary)
    verdict = "passed" if summary["passed"] else "failed"
    metrics = [tuple(md(c) for c in row) for row in metric_rows(summary)]
    tasks = [tuple(md(c) for c in row) for row in task_rows(summary)]
    return (
        f"### MedPerf compatibility test: {md(summary['benchmark']['id'])} ({verdict})\n\n"
        f"Candidate {md_code(cand)} next to the reference model {md_code(ref)}.\n\n"
        + md_table(METRIC_HEADERS, metrics, "lrr")
        + "\n\n<details><summary>Tasks</summary>\n\n"
        + md_table(TASK_HEADERS, tasks, "llrl")
        + "\n\n</details>\n"
    )


def failure_markdown(error: BaseException) -> str:
    return f"### MedPerf compatibility test failed\n\n```\n{error}\n```\n"


def _copy_logs(out: Path, logs: dict[str, Path]) -> None:
    (out / "logs").mkdir(parents=True, exist_ok=True)
    for name, log in logs.items():
        target = out / "logs" / f"{name}.log"
        if log.is_file() and log.resolve() != target.resolve():
            shutil.copyfile(log, target)


def write_failure(out: Path, summary: dict[str, Any], logs: dict[str, Path]) -> None:
    """What is known when a task failed: the logs so far and a summary with passed: false."""
    _copy_logs(out, logs)
    write_json(out / "summary.json", summary)


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
    _copy_logs(out, logs)
    write_json(out / "summary.json", summary)
