"""The model owner's whole path on the example, timed step by step, cold and warm.

From the tag to a request ready for the committee's label: package, publish (with the
image pushed), submit, the registry's verify and report of the submission, the
committee's merge, associate (the compatibility test runs), the registry's verify (its
own re-run) and report (the request gets `medperf/verified`). Every command runs as its
own process, as in a workflow, against the GitHub test server (tests/github_server/,
every request checked against GitHub's OpenAPI description), a local OCI registry and
real Docker.

For each step: its wall time, the time containers ran in it (the union of the lifetimes
of the session's task containers, from the engine's events), the tool's own CPU time
(its processes' user and system time, Python's start-up included) and the rest (waiting
on GitHub, the image transfers, the engine). The model owner and the registry each have
their own cache, as two runners would. Cold: both caches empty (the example's images are
there already, current by their build context, so nothing is built; the registry pulls
the pushed ones); warm: the same path again in a fresh registry, images and downloads
cached but no step (so every test runs its containers again). Goals: warm under 20 s, the
tool's own share under 10 % (its CPU time over the wall time).

PyGithub's pauses between requests are off here (MEDPERF_ACTION_GITHUB_PAUSES=0), as in
the tests: against github.com a run also waits 0.25 s between requests and 1 s between
writes, which adds about one second per write to each step's wall time (time the tool
waits, not CPU it spends).

    .venv/bin/python bench/flow.py [--rounds N]

Needs Docker, the example images and docker-registry (scripts/setup-registry.sh).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
SESSION = f"bench-flow-{uuid.uuid4().hex[:8]}"
os.environ["MEDPERF_ACTION_SESSION"] = SESSION  # before the world is made: its labels

import pytest  # noqa: E402
import registry_world as rw  # noqa: E402
from github_server.server import GitHubServer  # noqa: E402

from medperf_action.adapters.docker.client import engine  # noqa: E402
from medperf_action.adapters.docker.sandbox import SESSION_LABEL  # noqa: E402

#: As users run it: with bytecode caches (some shells here set PYTHONDONTWRITEBYTECODE).
BASE_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def start_oci_registry(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root.mkdir(parents=True, exist_ok=True)
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
    )
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).close()
            return proc, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("docker-registry did not start")


def container_seconds(since: float, until: float) -> float:
    """How long the session's containers ran between the two moments (their union)."""
    events = engine().events(
        since=int(since) - 1,
        until=int(until) + 1,
        filters={"type": "container", "label": f"{SESSION_LABEL}={SESSION}"},
        decode=True,
    )
    spans: dict[str, list[float]] = {}
    for event in events:
        moment = event["timeNano"] / 1e9
        if event.get("Action") == "create":
            spans.setdefault(event["id"], [moment, moment])[0] = moment
        elif event.get("Action") == "destroy":
            spans.setdefault(event["id"], [moment, moment])[1] = moment
    total, last = 0.0, since
    for start, end in sorted((max(s, since), min(e, until)) for s, e in spans.values()):
        if end > last:
            total += end - max(start, last)
            last = end
    return total


class Flow:
    """One pass of the path in a fresh registry; `cache` is the tool's cache."""

    def __init__(self, stage: rw.Stage, tmp: Path, cache: Path, tag: str) -> None:
        self.tmp, self.cache, self.tag = tmp, cache, tag
        self.mp = pytest.MonkeyPatch()
        self.gh = GitHubServer().start()
        self.w = rw.build_world(self.gh, self.mp, stage, tmp)  # submitted: no
        self.rows: list[tuple[str, float, float, float]] = []

    def close(self) -> None:
        self.gh.stop()
        self.mp.undo()

    def env(self, login: str) -> dict[str, str]:
        token = self.w.tokens[login]
        return {
            **BASE_ENV,
            "GITHUB_API_URL": self.gh.api_url,
            "MEDPERF_ACTION_GITHUB_PAUSES": "0",
            "MEDPERF_ACTION_INSECURE_HOSTS": "127.0.0.1",
            # The registry's workflows run on their own runner, with their own cache.
            "MEDPERF_ACTION_CACHE": str(self.cache / ("owner" if login == "alice" else "registry")),
            "GITHUB_TOKEN": token,
            "MEDPERF_REGISTRY_TOKEN": token,
        }

    def tool(self, login: str, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "medperf_action", *args],
            cwd=self.tmp,
            env=self.env(login),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def step(self, name: str, run: Callable[[], str]) -> str:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.time()
        out = run()
        end = time.time()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        self.rows.append((name, end - start, container_seconds(start, end), cpu))
        return out

    def walk(self, oci: str) -> None:
        assets = self.tmp / "assets"
        model = rw.EXAMPLES / "model"
        reg, bench, mlcube = rw.REG, rw.BENCH, rw.MODEL
        self.step(
            "package", lambda: self.tool("alice", "package", str(model), "--output", str(assets))
        )
        image = f"{oci}/{SESSION}/model:{self.tag}"
        repo = f"{self.w.owner}/wdbc-centroid"
        self.step(
            "publish (and push the image)",
            lambda: self.tool(
                "alice",
                "publish",
                "--assets",
                str(assets),
                "--tag",
                self.tag,
                "--repo",
                repo,
                "--push-image",
                image,
            ),
        )
        out = self.step(
            "submit",
            lambda: self.tool(
                "alice",
                "submit",
                "--registry",
                reg,
                "--mlcube-id",
                mlcube,
                "--name",
                "Nearest centroid",
                "--assets",
                str(assets),
            ),
        )
        number = out.strip().rsplit("/", 1)[1]
        self.registry_workflows(number, "submission")
        self.step("merge (the committee)", lambda: self.merge(int(number)))
        out = self.step(
            "associate (runs the test)",
            lambda: self.tool(
                "alice",
                "associate",
                "--registry",
                reg,
                "--benchmark",
                bench,
                "--mlcube-id",
                mlcube,
                "--yes",
                "--quiet",
            ),
        )
        self.registry_workflows(out.strip().rsplit("/", 1)[1], "request")
        number = int(out.strip().rsplit("/", 1)[1])
        ready = rw.labels(self.w, number)
        assert ready == {"medperf/pending", "medperf/verified"}, ready

    def merge(self, number: int) -> str:
        self.gh.github(self.w.tokens["carol"]).get_repo(rw.REG).get_pull(number).merge()
        return ""

    def registry_workflows(self, number: str, what: str) -> None:
        report = self.tmp / f"verify-{number}"
        self.step(
            f"registry verify ({what})",
            lambda: self.tool(
                "reader",
                "registry",
                "verify",
                "--pr",
                number,
                "--registry",
                rw.REG,
                "--report",
                str(report),
            ),
        )
        self.step(
            f"registry report ({what})",
            lambda: self.tool(
                "registry-bot",
                "registry",
                "report",
                "--report",
                str(report),
                "--registry",
                rw.REG,
                "--pr",
                number,
            ),
        )


def run_pass(stage: rw.Stage, root: Path, cache: Path, oci: str, tag: str) -> list:
    for side in ("owner", "registry"):  # images and downloads stay; every step runs
        shutil.rmtree(cache / side / "steps", ignore_errors=True)
    tmp = root / uuid.uuid4().hex[:8]
    tmp.mkdir()
    flow = Flow(stage, tmp, cache, tag)
    try:
        flow.walk(oci)
    finally:
        flow.close()
    return flow.rows


def show(title: str, passes: list[list[tuple[str, float, float, float]]]) -> tuple[float, float]:
    names = [row[0] for row in passes[0]]
    print(f"\n{title} (median of {len(passes)})")
    print(f"{'step':34} {'wall s':>7} {'containers s':>13} {'tool CPU s':>11} {'rest s':>7}")
    for i, name in enumerate(names):
        wall, cont, cpu = (statistics.median(p[i][k] for p in passes) for k in (1, 2, 3))
        print(f"{name:34} {wall:7.2f} {cont:13.2f} {cpu:11.2f} {wall - cont - cpu:7.2f}")
    total, cont, cpu = (statistics.median(sum(r[k] for r in p) for p in passes) for k in (1, 2, 3))
    print(f"{'total':34} {total:7.2f} {cont:13.2f} {cpu:11.2f} {total - cont - cpu:7.2f}")
    print(
        f"not in containers: {100 * (total - cont) / total:.0f} % of the wall time; "
        f"the tool's own CPU: {100 * cpu / total:.0f} %"
    )
    return total, cpu / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mpa-flow-") as tmp:
        root = Path(tmp)
        registry, oci = start_oci_registry(root / "oci")
        mp = pytest.MonkeyPatch()
        mp.setenv("MEDPERF_ACTION_CACHE", str(root / "stage-cache"))
        stages = rw.staged(root / "stage", oci, honest_run=False)
        try:
            (root / "stage").mkdir()
            stage = next(stages)
            cold, warm = [], []
            for i in range(args.rounds):
                cache = root / f"cache-{i}"
                cold.append(run_pass(stage, root, cache, oci, f"v2.{i}.0"))
                warm.append(run_pass(stage, root, cache, oci, f"v2.{i}.1"))
            cold_total, _ = show("cold: both caches empty (images present, nothing built)", cold)
            warm_total, warm_share = show("warm: images and downloads cached, no step", warm)
            print(f"\nwarm total {warm_total:.1f} s (goal < 20 s); cold {cold_total:.1f} s")
            print(f"warm, the tool's own CPU: {100 * warm_share:.0f} % (goal < 10 %)")
        finally:
            stages.close()
            mp.undo()
            registry.terminate()
            registry.wait(timeout=10)
            client = engine()
            for container in client.containers.list(
                all=True, filters={"label": f"{SESSION_LABEL}={SESSION}"}
            ):
                container.remove(force=True)
            for image in client.images.list():  # the names this bench's pushes gave
                for tag in image.tags:
                    if tag.startswith(f"{oci}/{SESSION}/"):
                        client.images.remove(tag)
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
