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
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
import yaml
from click.testing import CliRunner
from conftest import OURS, REPO, SESSION

from medperf_action.adapters.docker import client, sandbox, userns
from medperf_action.adapters.docker.replay import replay_kwargs
from medperf_action.adapters.docker.userns import (
    SANDBOX_UID,
    facts_from_libpod,
    parse_probe,
    to_host,
)
from medperf_action.cli import main
from medperf_action.text import Log

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


def _as_user(user: pwd.struct_passwd, host: str, action: Callable[[Log], None]) -> str:
    """`action` in a forked child that is `user` and talks to `host`, as a fresh process
    would (no engine client, facts or note of this one); what it logged. Forked, not a new
    interpreter: it needs no file of this suite, which may sit in a home `user` cannot enter
    (a runner's /home/runner is 0750)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status, lines = 1, []
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            os.environ.update(DOCKER_HOST=host, HOME=user.pw_dir)
            client._clients.clear()  # the parent's connections are not the child's
            userns._facts.clear()
            userns._noted.clear()
            action(lines.append)
            status = 0
        except BaseException as exc:
            lines.append(f"failed: {exc!r}")
        finally:
            os.write(write_end, "\n".join(lines).encode())
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, encoding="utf-8") as handle:
        logged = handle.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, logged
    return logged


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
    spec = sandbox.SandboxSpec(
        "docker.io/library/python:3.11-slim",
        ["-c", task],
        [sandbox.Mount(inputs, "/in", True), sandbox.Mount(outputs, "/out", False)],
        "podman-own-user",
        "probe",
        entrypoint=["python3"],
    )

    def run(log: Log) -> None:
        sandbox.run_task(spec, log=log)
        log(f"replayed as {replay_kwargs(spec)['user']}")

    logged = _as_user(user, podman_host, run)
    seen = outputs / "seen.json"
    uid, gid, caps, text = json.loads(seen.read_text())
    assert (uid, gid, int(caps, 16), text) == (0, 0, 0, "private\n")
    assert (seen.stat().st_uid, seen.stat().st_gid) == (user.pw_uid, user.pw_gid)
    assert logged.count("does not enforce") <= 1
    assert "replayed as 0:0" in logged  # commands.sh names the user it ran as


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
