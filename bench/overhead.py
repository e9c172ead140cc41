"""What medperf-action costs on top of Docker, measured against bare `docker run`s.

All figures come from one run, each next to its baseline (these machines are noisy):

* overhead ratio: the wall time of `medperf-action test` on the example benchmark with the
  images already built and the step cache cold, divided by the wall time of the same seven
  tasks run by hand as bare `docker run --rm --network none` commands, one after another.
  Goal: <= 0.6 (the critical path, prepare -> infer -> evaluate, is three of the seven).
* re-run ratio: a fully cached re-run divided by the cold run. Goal: <= 0.1.
* cached ratio: a fully cached re-run divided by `medperf-action --help` (the cost of
  starting the command line at all). Goal: <= 2.

    .venv/bin/python bench/overhead.py [--rounds N]

Needs Docker and the example images (run scripts/quickstart.sh once).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from medperf_action.domain.cube import Cube  # noqa: E402
from medperf_action.domain.invocation import build_invocation, output_location  # noqa: E402
from medperf_action.usecases.compat_test.participants import load_cube as _load  # noqa: E402

EX = ROOT / "examples"
# As users run it: with bytecode caches (some shells here set PYTHONDONTWRITEBYTECODE).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
CLI = [
    sys.executable,
    "-m",
    "medperf_action",
    "test",
    "--registry",
    str(EX / "registry"),
    "--benchmark",
    "breast-cancer",
    "--model",
    str(EX / "model"),
    "--quiet",
]


def tool_run(cache: Path) -> float:
    env = {**ENV, "MEDPERF_ACTION_CACHE": str(cache)}
    start = time.perf_counter()
    subprocess.run(
        CLI, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def help_run() -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "medperf_action", "--help"],
        cwd=ROOT,
        env=ENV,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def docker_run(cube: Cube, task: str, inputs: dict[str, Path], base: Path) -> dict[str, Path]:
    params = cube.tasks[task].outputs
    folder = base / task / cube.root.parent.name
    outputs = {n: output_location(p, folder) for n, p in params.items()}
    for where in outputs.values():
        (where.parent if where.suffix else where).mkdir(parents=True, exist_ok=True)
    full = dict(inputs)
    for name in cube.tasks[task].inputs:
        if name == "parameters_file":
            full[name] = cube.parameters_file
        elif name not in full:
            full[name] = cube.workspace / cube.tasks[task].inputs[name].path
    inv = build_invocation(cube, task, full, outputs)
    cmd = ["docker", "run", "--rm", "--network", "none"]
    for m in inv.mounts:
        cmd += ["-v", f"{m.host}:{m.container}{':ro' if m.read_only else ''}"]
    cmd += [cube.image, *inv.args]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return outputs


def bare_run(work: Path) -> float:
    prep, model, ref, ev = (
        _load(EX / name, key)
        for name, key in (
            ("data_preparator", "data_preparator"),
            ("model", "candidate"),
            ("reference_model", "reference_model"),
            ("evaluator", "evaluator"),
        )
    )
    demo = work / "demo"
    with tarfile.open(EX / "demo" / "breast-cancer-demo.tar.gz") as tar:
        tar.extractall(demo, filter="data")
    start = time.perf_counter()
    out = docker_run(
        prep, "prepare", {"data_path": demo / "data", "labels_path": demo / "labels"}, work
    )
    data, labels = out["output_path"], out["output_labels_path"]
    common = {"data_path": data, "labels_path": labels}
    docker_run(prep, "sanity_check", common, work)
    docker_run(prep, "statistics", common, work)
    for cube in (model, ref):
        preds = docker_run(cube, "infer", {"data_path": data}, work)["output_path"]
        docker_run(
            ev, "evaluate", {"predictions": preds, "labels": labels}, work / cube.root.parent.name
        )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mpa-bench-") as tmp:
        warm = Path(tmp) / "warm"
        tool_run(warm)  # builds the images (if needed) and warms the OS caches
        cold, rerun, bare, helps, cached_ratio = [], [], [], [], []
        for i in range(args.rounds):
            # Alternate the sides so that machine noise hits them alike.
            work = Path(tmp) / f"bare-{i}"
            bare.append(bare_run(work))
            shutil.rmtree(work, ignore_errors=True)
            cache = Path(tmp) / f"cache-{i}"
            cold.append(tool_run(cache))
            for _ in range(3):  # the short ones, several times, each next to its baseline
                helps.append(help_run())
                rerun.append(tool_run(cache))
                cached_ratio.append(rerun[-1] / helps[-1])
    b, c, r, h = (statistics.median(x) for x in (bare, cold, rerun, helps))
    print(f"rounds: {args.rounds} (medians)")
    print(f"bare docker run x7 (sequential)        {b:7.2f} s")
    print(f"medperf-action test, step cache cold   {c:7.2f} s")
    print(f"medperf-action test, fully cached      {r:7.3f} s")
    print(f"medperf-action --help                  {h:7.3f} s")
    print(f"overhead ratio (cold / bare)           {c / b:7.2f}   goal <= 0.6")
    print(f"re-run ratio (cached / cold)           {r / c:7.2f}   goal <= 0.1")
    cr = statistics.median(cached_ratio)
    print(f"cached ratio (cached / --help)         {cr:7.2f}   goal <= 2")


if __name__ == "__main__":
    main()
