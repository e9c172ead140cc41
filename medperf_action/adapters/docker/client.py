"""The Docker Engine: a client through the Docker SDK, and raw look-ups over its socket.

The SDK (with `requests`) costs about 95 ms to import, more than a whole cached
`medperf-action test` spends in look-ups (bench/overhead.py). So the SDK is imported at
the first call that needs it (`engine()`), and the read-only look-ups on the hot path of a
cached run (`engine_get`) speak HTTP over the engine's unix socket directly.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from medperf_action.errors import DockerError

if TYPE_CHECKING:
    import docker

SETUP_HINT = "start one with: sudo bash scripts/setup-docker.sh"


def engine() -> docker.DockerClient:
    """A client for the local Docker Engine (`DOCKER_HOST` etc. honoured), pinged."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # DockerException, requests' connection errors and the like
        raise DockerError(
            f"cannot reach the Docker Engine ({short(exc)}); is it running? {SETUP_HINT}"
        ) from exc
    return client


def short(exc: BaseException) -> str:
    """The first line of an error's text, at most 300 characters."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


@contextmanager
def sdk_errors(action: str) -> Iterator[None]:
    """The SDK's and its transport's exceptions as a DockerError naming `action`."""
    import docker.errors
    import requests

    try:
        yield
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise DockerError(f"{action}: {short(exc)}") from exc


def engine_get(path: str, timeout: float = 10.0) -> tuple[int, Any]:
    """GET a Docker Engine API path over its unix socket, without the SDK.

    Raises OSError when the engine is not on a local unix socket or does not answer;
    callers then use the SDK.
    """
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        raise OSError(f"DOCKER_HOST {host} is not a unix socket")
    sock_path = host[len("unix://") :]

    class _UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(sock_path)

    conn = _UnixConnection("localhost", timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": "docker"})
        response = conn.getresponse()
        body = response.read()
    except http.client.HTTPException as exc:
        raise OSError(str(exc)) from exc
    finally:
        conn.close()
    return response.status, json.loads(body) if body else None
