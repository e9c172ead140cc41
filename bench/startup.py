"""Start-up cost of the CLI, next to a bare interpreter measured in the same run.

Prints the median wall time of `python -c pass`, `medperf-action --help` and
`medperf-action validate examples/model` (goals: 0.25 s and 0.5 s), and their ratios to the
bare interpreter, so a noisy machine shows up in the baseline too.

    .venv/bin/python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# As users run it: with bytecode caches (some shells here set PYTHONDONTWRITEBYTECODE).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    py = sys.executable
    cli = [py, "-m", "medperf_action"]
    rows = [
        ("python -c pass", [py, "-c", "pass"], None),
        ("medperf-action --help", [*cli, "--help"], 0.25),
        ("medperf-action validate examples/model", [*cli, "validate", "examples/model"], 0.5),
    ]
    base = None
    print(f"{'command':42} {'median s':>9} {'x bare':>7} {'goal s':>7}")
    for label, cmd, goal in rows:
        t = timed(cmd, args.runs)
        base = base or t
        goal_text = f"{goal:.2f}" if goal else "-"
        flag = "" if goal is None or t <= goal else "  OVER GOAL"
        print(f"{label:42} {t:9.3f} {t / base:7.2f} {goal_text:>7}{flag}")


if __name__ == "__main__":
    main()
