"""Fixtures shared by the end-to-end tests: a real Docker Engine, never a mock."""

from __future__ import annotations

import os
import subprocess
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
