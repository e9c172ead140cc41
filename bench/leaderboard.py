"""What `registry leaderboard` costs beside reading the registry it renders.

Builds a local registry of 2 benchmarks x M models x D datasets results (the test
registry's shape, tests/leaderboard_world.py, scaled up), then times, best of five:
reading and validating every file (`read_boards`, the baseline: the command cannot do
less) and the whole command (reading, rendering the Markdown, the SVG charts and the
site, writing both folders). Prints both and their ratio.

    .venv/bin/python bench/leaderboard.py [--models 50] [--datasets 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import leaderboard_world as world  # noqa: E402

from medperf_action.domain.registry.reader import LocalSource, Registry  # noqa: E402
from medperf_action.usecases.leaderboard import leaderboard, read_boards  # noqa: E402


def best(fn: Callable[[], object], rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--datasets", type=int, default=10)
    args = parser.parse_args()
    world.DATASETS = {f"site-{i:03d}": (f"Site {i}", 50 + 7 * i) for i in range(args.datasets)}
    world.MODELS = {f"model-{i:03d}": f"Model {i}" for i in range(args.models)}
    results = {
        (b, m, d): {"auc": 0.5 + (zlib.crc32(f"{m}/{d}".encode()) % 500) / 1000, "accuracy": 0.8}
        for b in world.BENCHMARKS
        for m in world.MODELS
        for d in world.DATASETS
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = world.build_registry(Path(tmp) / "registry", results)
        registry = Registry(LocalSource(root), root=root)
        read_boards(registry)  # the schemas compiled, the files in the page cache
        read = best(lambda: read_boards(registry))
        whole = best(lambda: leaderboard(root, Path(tmp) / "lb", Path(tmp) / "site"))
        read = min(read, best(lambda: read_boards(registry)))  # the machine is shared
        size = sum(p.stat().st_size for p in (Path(tmp) / "site").iterdir())
    print(f"{len(results)} results ({args.models} models x {args.datasets} datasets x 2)")
    print(f"  reading and validating the registry: {read * 1000:8.1f} ms")
    print(f"  the whole command (+ render, write):  {whole * 1000:8.1f} ms")
    print(f"  ratio: {whole / read:.2f}x the reading alone; site {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
