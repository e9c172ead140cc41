"""The same runs on rootless Podman through its Docker-compatible API (`DOCKER_HOST`): the
engine a hospital without a Docker daemon runs. Real containers on Debian's podman, set up
by scripts/setup-podman.sh (conftest's `podman_host`), run by an unprivileged user.

One end-to-end run (as root, the engine another user's) and one run by the engine's own
user, the data owner's usual case.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import yaml
from click.testing import CliRunner
from conftest import OURS, REPO, SESSION

from medperf_action.adapters.docker import sandbox
from medperf_action.adapters.docker.userns import (
    SANDBOX_UID,
    facts_from_libpod,
    parse_probe,
    to_host,
)
from medperf_action.cli import main

pytestmark = pytest.mark.docker

EXAMPLES = REPO / "examples"
PODMAN_USER = os.environ.get("PODMAN_USER", "medperf-podman")  # setup-podman.sh's too
#: This session's own names for the example's images on the Podman engine.
PREFIX = f"medperf-action-podman-{SESSION}"


@pytest.fixture
def podman(podman_host: str) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=podman_host)
    yield client
    client.close()


@pytest.fixture
def place() -> Iterator[Path]:
    """A folder the engine's user can reach (pytest's own tmp_path is root's, mode 0700)."""
    base = Path(tempfile.mkdtemp(prefix="medperf-podman-", dir="/var/tmp"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base)


def _examples_named_for_this_session(base: Path) -> Path:
    examples = base / "examples"
    for name in ("registry", "demo", "data_preparator", "evaluator", "reference_model", "model"):
        shutil.copytree(EXAMPLES / name, examples / name)
    for manifest in examples.glob("*/mlcube/mlcube.yaml"):
        text = manifest.read_text()
        assert "medperf-action-example/" in text
        manifest.write_text(text.replace("medperf-action-example/", f"{PREFIX}/"))
    return examples


def test_the_example_runs_on_rootless_podman(
    podman_host: str, podman: docker.DockerClient, place: Path
) -> None:
    examples = _examples_named_for_this_session(place)
    cache, out = place / "cache", place / "out"
    env = {"DOCKER_HOST": podman_host, "MEDPERF_ACTION_CACHE": str(cache), "GITHUB_ACTIONS": ""}
    args = ["test", "--registry", str(examples / "registry"), "--benchmark", "breast-cancer"]
    args += ["--model", str(examples / "model"), "--mlcube-id", "breast-cancer-centroid"]
    try:
        result = CliRunner().invoke(main, [*args, "--output", str(out)], env=env)
        images = {t for image in podman.images.list() for t in image.tags if PREFIX in t}
        image_ids = {podman.images.get(t).id for t in images}
    finally:
        for image in podman.images.list():
            if any(PREFIX in t for t in image.tags):
                podman.images.remove(image.id, force=True)
    assert result.exit_code == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())

    # It ran on Podman: the four cubes' images are the ones built there, under our names.
    assert len(images) == 4
    assert {c["image_id"] for c in summary["cubes"].values()} == image_ids
    assert all(not t["cached"] and t["exit_code"] == 0 for t in summary["tasks"])
    assert len(summary["tasks"]) == 7

    # The metrics are the example's own, on either engine.
    expected = yaml.safe_load((EXAMPLES / "demo" / "expected-metrics.yaml").read_text())
    for key, cube in (("candidate", "breast-cancer-centroid"), ("reference", "breast-cancer-lr")):
        assert summary["metrics"][key] == pytest.approx(expected[cube], abs=1e-12), key

    # The engine does not enforce the limits here (rootless, cgroup v1): one note says so,
    # and the tool never claims otherwise.
    info = podman.api.get(f"{podman.api.base_url}/v4.0.0/libpod/info").json()
    facts = facts_from_libpod(info)
    assert ("does not enforce" in result.stderr) == (not facts.limits_enforced)
    assert result.stderr.count("does not enforce the sandbox's memory and pids limits") <= 1
    if Path("/sys/fs/cgroup/memory").is_dir():  # cgroup v1: never enforced rootless
        assert "Podman 4" in result.stderr and "cgroup v1" in result.stderr

    # What the containers wrote (as a subordinate uid of the engine's user) is the
    # caller's again, readable; nothing is left to another uid, no scratch, no container.
    mapped = to_host(facts.uid_map, SANDBOX_UID)
    assert mapped is not None and mapped >= 100000
    wrote = list((cache / "steps").rglob("*")) + list(out.rglob("*"))
    assert any(p.name == "predictions.csv" for p in wrote)
    for path in wrote:
        st = path.lstat()
        assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid()), path
        assert st.st_mode & stat.S_IRUSR, path
    assert not (cache / "runs").exists() or not list((cache / "runs").iterdir())
    assert podman.containers.list(all=True, filters=OURS) == []


def _site_packages() -> Path:
    return next(Path(sys.prefix, "lib").glob("python3*/site-packages"))


def _python_for(user: str) -> str:
    """This suite's Python when `user` may run it (not when it lives in root's home, as a
    pyenv's does), else Debian's."""
    for python in (sys.executable, "/usr/bin/python3"):
        ran = subprocess.run(
            ["runuser", "-u", user, "--", python, "-c", "import docker"],
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(_site_packages())},
            cwd="/",
            capture_output=True,
        )
        if ran.returncode == 0:
            return python
    raise AssertionError(f"no Python that {user} may run imports the docker SDK")


def test_the_engines_own_user_runs_as_itself(podman_host: str, place: Path) -> None:
    """The data owner runs their own rootless engine: the container's user is uid 0 of its
    namespace, i.e. that unprivileged user on the host, with no capabilities; what it
    writes is theirs, and the note about limits is one line."""
    user = pwd.getpwnam(PODMAN_USER)
    inputs, outputs = place / "in", place / "out"
    inputs.mkdir()
    (inputs / "x.txt").write_text("private\n")
    (inputs / "x.txt").chmod(0o600)  # readable by its owner only
    outputs.mkdir()
    for path in (inputs, inputs / "x.txt", outputs):
        os.chown(path, user.pw_uid, user.pw_gid)
    task = textwrap.dedent(
        """
        import json, os
        caps = [l for l in open("/proc/self/status") if l.startswith("CapEff")][0].split()[1]
        text = open("/in/x.txt").read()
        open("/out/seen.json", "w").write(json.dumps([os.getuid(), os.getgid(), caps, text]))
        """
    )
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from medperf_action.adapters.docker.sandbox import Mount, SandboxSpec, run_task
        spec = SandboxSpec(
            "docker.io/library/python:3.11-slim", ["-c", {task!r}],
            [Mount(Path({str(inputs)!r}), "/in", True), Mount(Path({str(outputs)!r}), "/out", False)],
            "podman-own-user", "probe", entrypoint=["python3"],
        )
        run_task(spec, log=print)
        from medperf_action.adapters.docker.replay import replay_kwargs
        print("replayed as", replay_kwargs(spec)["user"])
        """
    )
    site = _site_packages()
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": user.pw_dir,
        "DOCKER_HOST": podman_host,
        "MEDPERF_ACTION_SESSION": SESSION,
        "PYTHONPATH": f"{REPO}:{site}",
    }
    done = subprocess.run(
        ["runuser", "-u", PODMAN_USER, "--", _python_for(PODMAN_USER), "-c", script],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    seen = outputs / "seen.json"
    uid, gid, caps, text = json.loads(seen.read_text())
    assert (uid, gid, int(caps, 16), text) == (0, 0, 0, "private\n")
    assert (seen.stat().st_uid, seen.stat().st_gid) == (user.pw_uid, user.pw_gid)
    assert done.stdout.count("does not enforce") <= 1
    assert "replayed as 0:0" in done.stdout  # commands.sh names the user it ran as


def test_the_probe_for_other_engines_reads_the_maps_podman_reports(
    podman_host: str, podman: docker.DockerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rootless Docker does not report its maps: a probe container reads them. On Podman
    both are at hand, and they agree."""
    monkeypatch.setenv("DOCKER_HOST", podman_host)
    probed = parse_probe(sandbox._probe("docker.io/library/python:3.11-slim"))
    info = podman.api.get(f"{podman.api.base_url}/v4.0.0/libpod/info").json()
    facts = facts_from_libpod(info)
    assert probed == (facts.uid_map, facts.gid_map)
    assert facts.uid_map[0][:2] == (0, pwd.getpwnam(PODMAN_USER).pw_uid)
    assert podman.containers.list(all=True, filters=OURS) == []
