"""Start-up cost of the CLI, next to a bare interpreter measured in the same run.

Prints the median wall time of `python -c pass`, `medperf-action --help`,
`medperf-action validate examples/model` (goals: 0.25 s and 0.5 s) and a fully cached
`medperf-action test` of the example (its step cache filled first), their ratios to the
bare interpreter, so a noisy machine shows up in the baseline too, and the cached test's
ratio to `--help` (goal <= 2), each run next to a `--help` run.

    .venv/bin/python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
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


def cached_test_ratio(cli: list[str], runs: int) -> tuple[float, float]:
    """(median s, median ratio to --help) of a fully cached `test` of the example."""
    with tempfile.TemporaryDirectory(prefix="mpa-startup-") as cache:
        env = {**ENV, "MEDPERF_ACTION_CACHE": cache}
        test = [*cli, "test", "--registry", "examples/registry", "--benchmark"]
        test += ["breast-cancer", "--model", "examples/model", "--quiet"]
        subprocess.run(test, cwd=ROOT, env=env, check=True, capture_output=True)  # fills it
        times, ratios = [], []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([*cli, "--help"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
            middle = time.perf_counter()
            subprocess.run(test, cwd=ROOT, env=env, check=True, capture_output=True)
            end = time.perf_counter()
            times.append(end - middle)
            ratios.append((end - middle) / (middle - start))
    return statistics.median(times), statistics.median(ratios)


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
    assert base is not None
    t, ratio = cached_test_ratio(cli, args.runs)
    print(f"{'medperf-action test (fully cached)':42} {t:9.3f} {t / base:7.2f} {'-':>7}")
    print(f"cached test / --help (each next to its own): {ratio:.2f}   goal <= 2")


if __name__ == "__main__":
    main()
