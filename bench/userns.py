"""What learning the engine's user namespace costs, next to one container run.

A run that starts a container first asks the engine, once per process, whether it is
rootless and how it maps users (`adapters/docker/userns.engine_facts`): Podman answers
`GET /libpod/info`; Docker answers a 404 there, then `GET /info`. A rootless engine that
does not report its maps (rootless Docker) costs a probe container instead, once.

For each engine, from one run (these machines are noisy), medians of --rounds:

* facts ratio: the look-up divided by one bare sandboxed container (`run_task` of
  `python3 -c pass`). Goal: <= 0.1 on Docker; on Podman, whose `info` is slow, <= 0.5.
* probe ratio (the fallback, measured on Podman): the probe container divided by that same
  container run. Expect about 1: it is one container more, once per process.

    .venv/bin/python bench/userns.py [--rounds N] [--podman unix:///run/user/UID/podman.sock]

Needs Docker with python:3.11-slim; the Podman part needs scripts/setup-podman.sh.
"""

from __future__ import annotations

import argparse
import os
import pwd
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from medperf_action.adapters.docker import sandbox, userns  # noqa: E402

IMAGE = "docker.io/library/python:3.11-slim"


def median_s(action: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def facts_once() -> None:
    userns._facts.clear()
    userns.engine_facts(lambda: sandbox._probe(IMAGE))


def container_once() -> None:
    spec = sandbox.SandboxSpec(IMAGE, ["-c", "pass"], [], "bench", "noop", ["python3"])
    sandbox.run_task(spec)


def measure(host: str, rounds: int, probe: bool) -> None:
    os.environ["DOCKER_HOST"] = host
    container_once()  # warm: the client, the image's first use
    facts = median_s(facts_once, rounds)
    run = median_s(container_once, rounds)
    print(f"{host}: {userns.engine_facts(lambda: '')}")
    print(f"  facts look-up {facts * 1000:.1f} ms, one container {run * 1000:.0f} ms")
    print(f"  facts ratio {facts / run:.3f}")
    if probe:
        probed = median_s(lambda: sandbox._probe(IMAGE), rounds)
        print(f"  probe {probed * 1000:.0f} ms, probe ratio {probed / run:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    try:
        default = f"unix:///run/user/{pwd.getpwnam('medperf-podman').pw_uid}/podman.sock"
    except KeyError:
        default = ""
    parser.add_argument("--podman", default=default, help="the Podman service's DOCKER_HOST")
    args = parser.parse_args()
    os.environ.setdefault("MEDPERF_ACTION_SESSION", f"bench-userns-{os.getpid()}")
    measure("unix:///var/run/docker.sock", args.rounds, probe=False)
    if args.podman:
        measure(args.podman, args.rounds, probe=True)


if __name__ == "__main__":
    main()
