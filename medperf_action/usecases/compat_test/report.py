"""What the user gets from a compatibility test: a table for the terminal, one for the
step summary, and the files of `--output`."""

from __future__ import annotations

import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medperf_action.adapters.docker.replay import shell_line
from medperf_action.adapters.docker.sandbox import SANDBOX_UID
from medperf_action.adapters.files.atomic import write_json, write_text
from medperf_action.domain.metrics import flatten
from medperf_action.text import md, md_code, md_table, table
from medperf_action.usecases.compat_test.participants import SUBJECT_NAMES


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def metric_rows(summary: dict[str, Any]) -> list[tuple[str, ...]]:
    """A row per metric: its name, the candidate's value, and the reference model's when
    the run had one."""
    cand = flatten(summary["metrics"]["candidate"])
    if not _has_reference(summary):
        return [(n, _cell(v)) for n, v in cand.items()]
    ref = flatten(summary["metrics"]["reference"])
    names = list(dict.fromkeys([*cand, *ref]))
    return [(n, _cell(cand.get(n, "-")), _cell(ref.get(n, "-"))) for n in names]


def _has_reference(summary: dict[str, Any]) -> bool:
    return summary["cubes"].get("reference_model") is not None


def task_rows(summary: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    for t in summary["tasks"]:
        subject = t.get("subject")
        what = t["task"] + (f" ({SUBJECT_NAMES[subject]})" if subject else "")
        rows.append((t["cube"], what, f"{t['duration_s']:.2f}", "yes" if t["cached"] else "no"))
    return rows


def _names(summary: dict[str, Any]) -> tuple[str, str | None]:
    """The candidate's name, and the reference model's (None when there was none)."""
    cubes = summary["cubes"]
    cand = cubes["candidate"]["id"] or cubes["candidate"]["name"]
    if not _has_reference(summary):
        return str(cand), None
    ref = cubes["reference_model"]["id"] or cubes["reference_model"]["name"]
    return str(cand), str(ref)


METRIC_HEADERS = ("metric", "candidate", "reference")
TASK_HEADERS = ("cube", "task", "time (s)", "cached")


def _metric_table(summary: dict[str, Any]) -> tuple[tuple[str, ...], str]:
    """The metric table's headers and alignment: without a reference, one value column."""
    if _has_reference(summary):
        return METRIC_HEADERS, "lrr"
    return METRIC_HEADERS[:2], "lr"


def text_report(summary: dict[str, Any]) -> str:
    cand, ref = _names(summary)
    against = f"vs reference {ref}" if ref else "(no reference model)"
    head = (
        f"Benchmark {summary['benchmark']['id']}: candidate {cand} {against} "
        f"({summary['duration_s']:.1f} s)"
    )
    headers, align = _metric_table(summary)
    metrics = table(headers, metric_rows(summary), align)
    tasks = table(TASK_HEADERS, task_rows(summary), "llrl")
    return f"{head}\n\n{metrics}\n\n{tasks}\n"


def markdown_report(summary: dict[str, Any]) -> str:
    cand, ref = _names(summary)
    verdict = "passed" if summary["passed"] else "failed"
    metrics = [tuple(md(c) for c in row) for row in metric_rows(summary)]
    tasks = [tuple(md(c) for c in row) for row in task_rows(summary)]
    against = f"next to the reference model {md_code(ref)}" if ref else "(no reference model)"
    headers, align = _metric_table(summary)
    return (
        f"### MedPerf compatibility test: {md(summary['benchmark']['id'])} ({verdict})\n\n"
        f"Candidate {md_code(cand)} {against}.\n\n"
        + md_table(headers, metrics, align)
        + "\n\n<details><summary>Tasks</summary>\n\n"
        + md_table(TASK_HEADERS, tasks, "llrl")
        + "\n\n</details>\n"
    )


def failure_markdown(error: BaseException) -> str:
    return f"### MedPerf compatibility test failed\n\n```\n{error}\n```\n"


@dataclass(frozen=True)
class Kept:
    """What --output keeps besides the results: each task's log, each model's
    predictions, and each task's container command (`StepRunner.commands`)."""

    logs: dict[str, Path]
    predictions: dict[str, Path] = field(default_factory=dict)
    commands: dict[str, dict[str, Any]] = field(default_factory=dict)


#: The folder each model's predictions are kept in, under --output's predictions/.
PREDICTIONS_FOLDER = SUBJECT_NAMES


def _copy_logs(out: Path, logs: dict[str, Path]) -> None:
    (out / "logs").mkdir(parents=True, exist_ok=True)
    for name, log in logs.items():
        target = out / "logs" / f"{name}.log"
        if log.is_file() and log.resolve() != target.resolve():
            shutil.copyfile(log, target)


def _copy_predictions(out: Path, predictions: dict[str, Path]) -> None:
    for key, found in predictions.items():
        target = out / "predictions" / PREDICTIONS_FOLDER.get(key, key)
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        if found.is_dir():
            shutil.copytree(found, target, symlinks=True)  # never a host file through a link
        elif found.is_file():
            target.mkdir()
            shutil.copyfile(found, target / found.name)


def commands_script(commands: dict[str, dict[str, Any]]) -> str:
    """Each task's container as a `docker run` command, to re-run it by hand: its outputs
    go to `$RERUN/<task>/` (default ./rerun), its inputs are where the run read them."""
    lines = [
        "#!/bin/sh",
        "# The containers of this compatibility test, one `docker run` per task, as they ran",
        "# (image ID, arguments, mounts, entrypoint, user, limits). Inputs are read where the",
        "# run read them (the step cache; after a --no-cache run they are gone); outputs go",
        "# to $RERUN/<task>/ (default ./rerun).",
        "# Run one by hand to reproduce a failure: copy its lines, or `sh commands.sh`.",
        "set -e",
        'mkdir -p "${RERUN:-./rerun}" && RERUN="$(cd "${RERUN:-./rerun}" && pwd)"',
    ]
    for name, command in commands.items():
        rerun = f'"$RERUN/{name}"'
        ran = str(command.get("outputs_folder") or "")
        lines += ["", _comment(f"{command['step']}: exit code {command.get('exit_code')}")]
        lines.append(_comment(f"its log: {command.get('log')}"))
        lines += [_comment(comment) for comment in command.get("comments", [])]
        for rel, kind in sorted(dict(command.get("made") or {}).items()):
            where = f"{rerun}/{shlex.quote(rel)}"
            if kind == "file":  # a file's bind mount needs the file to exist
                lines.append(f'mkdir -p "$(dirname {where})" && touch {where}')
            elif kind == "parent":  # the cube writes the file itself, in this folder
                lines.append(f'mkdir -p "$(dirname {where})"')
            else:
                lines.append(f"mkdir -p {where}")
        user = str(command["create"].get("user") or "")
        if command.get("made") and user.startswith(f"{SANDBOX_UID}:"):
            lines.append(f"chown -R {user} {rerun}  # as the run did: it ran as root")
        lines.append(shell_line(command["argv"], {ran: rerun} if ran else None))
    return "\n".join(lines) + "\n"


def _comment(text: Any) -> str:
    """A shell comment of one line, whatever `text` holds (a cube's name is free text: a
    newline in it must not start a command of the script)."""
    return "# " + " ".join(str(text).split())


def _write_commands(out: Path, commands: dict[str, dict[str, Any]]) -> None:
    if not commands:
        return
    write_json(out / "commands.json", commands)
    write_text(out / "commands.sh", commands_script(commands))


def _keep(out: Path, kept: Kept) -> None:
    out.mkdir(parents=True, exist_ok=True)
    _copy_logs(out, kept.logs)
    _copy_predictions(out, kept.predictions)
    _write_commands(out, kept.commands)


def write_failure(out: Path, summary: dict[str, Any], kept: Kept) -> None:
    """What is known when a task failed: the logs, predictions and commands so far, and a
    summary with passed: false."""
    _keep(out, kept)
    write_json(out / "summary.json", summary)


def write_output(
    out: Path,
    summary: dict[str, Any],
    results: dict[str, Path],
    kept: Kept,
    statistics: Path | None,
) -> None:
    """`results.yaml`, `reference-results.yaml`, `summary.json`, `statistics.yaml`, logs/,
    predictions/ (candidate/, reference/), commands.sh and commands.json."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(results["candidate"], out / "results.yaml")
    if "reference_model" in results:
        shutil.copyfile(results["reference_model"], out / "reference-results.yaml")
    if statistics is not None and statistics.is_file():
        shutil.copyfile(statistics, out / "statistics.yaml")
    _keep(out, kept)
    write_json(out / "summary.json", summary)
