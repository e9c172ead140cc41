"""The Docker Engine: a client through the Docker SDK, and raw look-ups over its socket.

The SDK (with `requests`) costs about 95 ms to import, more than a whole cached
`medperf-action test` spends in look-ups (bench/overhead.py). So the SDK is imported at
the first call that needs it (`engine()`), and the read-only look-ups on the hot path of a
cached run (`engine_get`) speak HTTP over the engine's unix socket directly.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from medperf_action.errors import DockerError

if TYPE_CHECKING:
    import docker

SETUP_HINT = "start one with: sudo bash scripts/setup-docker.sh"


#: Connections a client keeps to the engine: each running task holds two (its log
#: stream and its wait), so a run of --jobs tasks never has to drop one.
MAX_POOL_SIZE = 64
_clients: dict[tuple[str, ...], docker.DockerClient] = {}
_clients_lock = threading.Lock()


def engine() -> docker.DockerClient:
    """A client for the local Docker Engine (`DOCKER_HOST` etc. honoured), pinged.

    One per process and engine, shared by the threads: a new client asks the engine for
    its API version and pings it, two round trips that each container would pay again.
    """
    import docker

    key = tuple(os.environ.get(name, "") for name in _CLIENT_ENV)
    with _clients_lock:
        client = _clients.get(key)
        if client is not None:
            return client
        try:
            client = docker.from_env(max_pool_size=MAX_POOL_SIZE)
            client.ping()
        except Exception as exc:  # DockerException, requests' connection errors and the like
            raise DockerError(
                f"cannot reach the Docker Engine ({short(exc)}); is it running? {SETUP_HINT}"
            ) from exc
        _clients[key] = client
        return client


_CLIENT_ENV = ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT")


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

    One HTTP/1.0 request on a fresh connection, read to its end: no `http.client` (with
    the `email` package it loads, it costs more to import than the look-up itself).
    Raises OSError when the engine is not on a local unix socket or does not answer;
    callers then use the SDK.
    """
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if not host.startswith("unix://"):
        raise OSError(f"DOCKER_HOST {host} is not a unix socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(host[len("unix://") :])
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
        chunks = []
        while data := sock.recv(1 << 16):
            chunks.append(data)
    head, sep, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if not sep or len(status_line) < 2 or not status_line[1].isdigit():
        raise OSError(f"the Docker Engine's answer to GET {path} is not HTTP")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _unchunked(body)
    try:
        return int(status_line[1]), json.loads(body) if body else None
    except ValueError as exc:
        raise OSError(f"the Docker Engine's answer to GET {path} is not JSON") from exc


def _unchunked(body: bytes) -> bytes:
    """An HTTP body sent in chunks, joined."""
    out = []
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";", 1)[0] or b"0", 16)
        if size == 0:
            break
        out.append(rest[:size])
        body = rest[size + 2 :]
    return b"".join(out)
