"""Fixtures shared by the end-to-end tests: a real Docker Engine, never a mock."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["github_server.fixtures"]

REPO = Path(__file__).resolve().parents[1]
BASE = "python:3.11-slim"
#: This test session's label: every container the tool starts in it (in this process or
#: in a child) carries it, and the suite cleans up those, never a user's own run.
SESSION = f"tests-{uuid.uuid4().hex[:12]}"
os.environ["MEDPERF_ACTION_SESSION"] = SESSION
# action.yml installs into $RUNNER_TEMP/medperf-action-venv-<key of the package's files>;
# the install step reports it (output `bin`), and `installed` reads it from there.
VENV_PREFIX = "medperf-action-venv-"
#: The emulated setup-python gives the local interpreter: the action is asked for it (CI
#: runs this suite on Python 3.10 and 3.11).
LOCAL_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
#: How long `installed` took (it runs once per session), for the action tests' timings.
INSTALL_SECONDS: list[float] = []
#: A container filter for this session's medperf-action containers.
OURS = {"label": ["org.medperf-action.managed=1", f"org.medperf-action.session={SESSION}"]}


def remove_session_containers(client: Any) -> list[str]:
    """Remove this session's containers; the names of those that were left."""
    leftover = client.containers.list(all=True, filters=OURS)
    for container in leftover:
        container.remove(force=True)
    return [x.name for x in leftover]


def _docker_up() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A client for a running engine that has python:3.11-slim.

    When either is missing, scripts/setup-docker.sh installs and starts them (never a
    skip). At the end of the session none of its containers may be left (others', on the
    same engine, are not touched).
    """
    import docker

    from medperf_action.adapters.docker.client import engine

    need_setup = not _docker_up()
    if not need_setup:
        try:
            docker.from_env().images.get(BASE)
        except docker.errors.ImageNotFound:
            need_setup = True
    if need_setup:
        subprocess.run(
            ["bash", str(REPO / "scripts" / "setup-docker.sh")],
            check=True,
            stdin=subprocess.DEVNULL,
            timeout=900,
        )
    client = engine()
    yield client
    leftover = remove_session_containers(client)
    assert not leftover, f"containers left behind: {leftover}"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's docker-registry on 127.0.0.1 (scripts/setup-registry.sh installs it)."""
    import shutil
    import time
    import urllib.request

    if shutil.which("docker-registry") is None:
        subprocess.run(
            ["bash", str(REPO / "scripts" / "setup-registry.sh")],
            check=True,
            stdin=subprocess.DEVNULL,
            timeout=600,
        )
    root = tmp_path_factory.mktemp("oci-registry")
    port = _free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
    )
    log = open(root / "registry.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://{address}/v2/", timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((root / "registry.log").read_text()) from None
                time.sleep(0.1)
        yield address
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def podman_host(docker_client) -> Iterator[str]:
    """`DOCKER_HOST` of a rootless Podman service run by an unprivileged user, with
    python:3.11-slim: scripts/setup-podman.sh installs Debian's podman and starts it (never a
    skip; quick when it is there). At the end none of this session's containers may be left
    on it (others', on the same engine, are not touched)."""
    import docker

    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "setup-podman.sh")],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
    )
    host = done.stdout.strip().splitlines()[-1].split("DOCKER_HOST=", 1)[1]
    yield host
    client = docker.DockerClient(base_url=host)
    leftover = remove_session_containers(client)
    client.close()
    assert not leftover, f"containers left behind on Podman: {leftover}"


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A RUNNER_TEMP where the action's own steps installed medperf-action, once per
    session (the venv's name is a key of the package's files, which a session never
    changes); each test links it into a RUNNER_TEMP of its own."""
    import webhook_events
    from actions_runner import run_action

    temp = tmp_path_factory.mktemp("runner-temp-shared")
    workspace = tmp_path_factory.mktemp("install-workspace")
    result = run_action(
        REPO,
        event_name="push",
        event=webhook_events.load("push", ref="refs/heads/main"),
        workspace=workspace,
        runner_temp=temp,
        inputs={"python-version": LOCAL_PYTHON},
        stop_after="Install medperf-action",
    )
    INSTALL_SECONDS.append(result.seconds)
    assert result.conclusion == "success", result.report()
    assert [s.outcome for s in result.steps] == ["success", "success", "skipped"]
    binary = Path(result.step("install").outputs["bin"])
    venv = binary.parent.parent
    assert venv.parent == temp and venv.name.startswith(VENV_PREFIX)
    assert binary.is_file()
    # The venv holds this repository's code: a wheel built from it, not an editable link.
    (site,) = (venv / "lib").glob("python3.*/site-packages")
    (dist,) = site.glob("medperf_action-*.dist-info")
    assert "editable" not in (dist / "direct_url.json").read_text()
    assert not list(site.glob("__editable__*"))
    for module in (REPO / "medperf_action").glob("*.py"):
        assert (site / "medperf_action" / module.name).is_file(), module.name
    assert (site / "medperf_action" / "_schemas" / "model-repo.schema.json").is_file()
    return temp
