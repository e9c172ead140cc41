"""What the listings and `registry verify` cost in GitHub REST calls, by registry size.

Builds a registry of N mlcubes and N approved associations (N = 10, 100, 1000 by default)
plus two open submissions and two open association requests on the GitHub test server
(tests/github_server), then runs `benchmark ls`, `mlcube ls`, `association ls` and
`registry verify` of a submission, each twice with one cache folder: cold (an empty
cache) and warm (the registry's commit already cached). Prints the REST calls of each;
the goal is at most 10 at every size. Calls are counted by the server, so the figures do
not depend on the machine.

    .venv/bin/python bench/registry_calls.py [--sizes 10 100 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from big_registry import REG, build  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from github_server import GitHubServer  # noqa: E402

from medperf_action.cli import main  # noqa: E402

GOAL = 10


def commands(numbers: dict[str, list[int]], report: Path) -> list[tuple[str, list[str]]]:
    verify = ["registry", "verify", "--pr", str(numbers["submissions"][0]), "--registry", REG]
    return [
        ("benchmark ls", ["benchmark", "ls", "--registry", REG]),
        ("mlcube ls", ["mlcube", "ls", "--registry", REG]),
        ("association ls", ["association", "ls", "--registry", REG]),
        ("registry verify (submission)", [*verify, "--report", str(report)]),
    ]


def measure(size: int) -> list[tuple[str, int, int, float, float]]:
    rows = []
    with GitHubServer(validate=False) as gh, tempfile.TemporaryDirectory() as tmp:
        built = build(gh, size)
        env = {
            "GITHUB_API_URL": gh.api_url,
            "GITHUB_TOKEN": built["tokens"]["carol"],
            "MEDPERF_ACTION_GITHUB_PAUSES": "0",
            "MEDPERF_ACTION_INSECURE_HOSTS": "127.0.0.1",
            "MEDPERF_ACTION_CACHE": str(Path(tmp) / "cache"),
            "GITHUB_ACTIONS": "",
            "GITHUB_REPOSITORY": "",
            "MEDPERF_REGISTRY": "",
        }
        for label, args in commands(built, Path(tmp) / "report"):
            counts, times = [], []
            for _ in ("cold", "warm"):
                gh.reset_counters()
                start = time.perf_counter()
                result = CliRunner().invoke(main, args, env=env)
                times.append(time.perf_counter() - start)
                allowed = (0, 1) if label.startswith("registry verify") else (0,)
                crashed = result.exception is not None and not isinstance(
                    result.exception, SystemExit
                )
                if result.exit_code not in allowed or crashed:
                    raise SystemExit(f"{label} failed ({result.exit_code}): {result.output}")
                counts.append(gh.api_calls)
            rows.append((label, counts[0], counts[1], times[0], times[1]))
            # the next command starts from an empty cache again
            os.system(f"rm -rf {Path(tmp) / 'cache'}")
    return rows


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    args = parser.parse_args()
    print(f"{'entries':>7}  {'command':30} {'cold':>5} {'warm':>5}  {'cold s':>6} {'warm s':>6}")
    worst = 0
    for size in args.sizes:
        for label, cold, warm, t_cold, t_warm in measure(size):
            worst = max(worst, cold, warm)
            print(f"{size:>7}  {label:30} {cold:>5} {warm:>5}  {t_cold:>6.2f} {t_warm:>6.2f}")
    verdict = "met" if worst <= GOAL else "missed"
    print(f"most REST calls of any command: {worst} (goal <= {GOAL}: {verdict})")


if __name__ == "__main__":
    main_()
