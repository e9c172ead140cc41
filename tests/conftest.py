"""Fixtures shared by the end-to-end tests: a real Docker Engine, never a mock."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
BASE = "python:3.11-slim"


def _docker_up() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A client for a running engine that has python:3.11-slim.

    When either is missing, scripts/setup-docker.sh installs and starts them (never a
    skip). At the end of the session no container labelled by medperf-action may be left.
    """
    import docker

    from medperf_action.docker_runner import LABEL, get_client

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
    client = get_client()
    yield client
    leftover = client.containers.list(all=True, filters={"label": LABEL})
    for container in leftover:
        container.remove(force=True)
    assert not leftover, f"containers left behind: {[x.name for x in leftover]}"
