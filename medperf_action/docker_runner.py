"""The container layer: build, pull and run MLCube images in a sandbox, via the Docker SDK.

Every task container runs with no network, as a non-root ``uid:gid``, with its inputs
mounted read-only, all capabilities dropped, ``no-new-privileges``, a pids limit, a private
``/tmp`` tmpfs, a time limit and GPUs only when asked for; it is removed whatever happens
(non-zero exit, time-out, Ctrl-C, SIGTERM).

When the caller is root, the container runs as :data:`SANDBOX_UID`:``SANDBOX_GID``
instead: the writable mounts are handed to that uid for the run and given back to the
caller (recursively, symlinks never followed) afterwards, and the read-only mounts must be
readable by "others" (checked before the run, with a clear error).
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
import re
import signal
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

LABEL = "org.medperf-action.managed"
"""Every container started here carries this label with the value ``"1"``."""
CUBE_LABEL = "org.medperf-action.cube"
TASK_LABEL = "org.medperf-action.task"
CONTEXT_HASH_LABEL = "org.medperf-action.context-hash"
"""Images built here carry the hash of their build context under this label."""

SANDBOX_UID = 10001
"""The uid a container runs as when the caller is root (containers never run as root)."""
SANDBOX_GID = 10001

LOG_TAIL_LINES = 30
_HASH_CHUNK = 1 << 20
_READABLE_CHECK_LIMIT = 100_000
_MAX_LINE = 64 * 1024
_SETUP_HINT = "start one with: sudo bash scripts/setup-docker.sh"


class DockerError(Exception):
    """Docker could not do what was asked (engine unreachable, build failed, ...)."""


class TaskFailed(DockerError):
    """A task container exited non-zero or ran past its time limit."""

    def __init__(
        self,
        cube: str,
        task: str,
        exit_code: int | None,
        timed_out: bool,
        log_tail: list[str],
        *,
        timeout_s: float | None = None,
        oom_killed: bool = False,
        log_path: Path | None = None,
    ) -> None:
        self.cube = cube
        self.task = task
        self.exit_code = exit_code
        self.timed_out = timed_out
        self.log_tail = list(log_tail)
        self.timeout_s = timeout_s
        self.oom_killed = oom_killed
        self.log_path = log_path
        super().__init__(self._message())

    def _message(self) -> str:
        if self.timed_out:
            limit = f" of {self.timeout_s:g} s" if self.timeout_s is not None else ""
            what = f"ran past its time limit{limit} and was stopped"
        elif self.oom_killed:
            what = f"ran out of memory and was killed (exit code {self.exit_code})"
        else:
            what = f"failed with exit code {self.exit_code}"
        lines = [f"cube '{self.cube}', task '{self.task}' {what}"]
        if self.log_tail:
            lines.append("last lines of its log:")
            lines.extend(f"  | {line}" for line in self.log_tail)
        else:
            lines.append("(it wrote nothing to its log)")
        if self.log_path is not None:
            lines.append(f"full log: {self.log_path}")
        return "\n".join(lines)


@dataclass
class Mount:
    """A bind mount. ``host`` may be a file or a directory and must exist."""

    host: Path
    container: str
    read_only: bool


@dataclass
class RunResult:
    exit_code: int
    duration_s: float
    log_path: Path | None
    log_tail: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------- client


def get_client() -> docker.DockerClient:
    """A client for the local Docker Engine (``DOCKER_HOST`` etc. honoured)."""
    try:
        import docker
    except ImportError as exc:  # pragma: no cover - docker is a dependency
        raise DockerError("the Python package 'docker' is not installed") from exc
    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # DockerException, requests' connection errors and the like
        raise DockerError(
            f"cannot reach the Docker Engine ({_short(exc)}); is it running? {_SETUP_HINT}"
        ) from exc
    return client


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


# ---------------------------------------------------------------------------- images


def _dockerignore_patterns(build_context: Path) -> list[str] | None:
    path = build_context / ".dockerignore"
    if not path.is_file():
        return None
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _dockerfile_arg(build_context: Path, build_file: Path | None) -> str | None:
    """The ``dockerfile`` argument for ``APIClient.build``: relative when inside the context."""
    if build_file is None:
        return None
    ctx = build_context.resolve()
    bf = build_file if build_file.is_absolute() else ctx / build_file
    bf = bf.resolve()
    try:
        return bf.relative_to(ctx).as_posix()
    except ValueError:
        return str(bf)


def _context_files(build_context: Path, dockerfile: str | None) -> list[str]:
    """Relative paths sent to the engine: everything, minus what ``.dockerignore`` excludes.

    Uses the Docker SDK's own matcher, so the hash covers exactly what a build sends.
    """
    patterns = _dockerignore_patterns(build_context)
    if patterns is None:
        out: list[str] = []
        for dirpath, dirnames, filenames in os.walk(build_context):
            rel = os.path.relpath(dirpath, build_context)
            for name in dirnames + filenames:
                out.append(name if rel == "." else f"{rel}/{name}")
        return sorted(out)
    from docker.utils.build import exclude_paths

    if dockerfile is None:
        df = "Dockerfile"
    elif os.path.isabs(dockerfile):  # sent under a made-up name; the context's own is not
        df = ".dockerfile.outside-context"
    else:
        df = dockerfile
    return sorted(p.replace(os.sep, "/") for p in exclude_paths(str(build_context), patterns, df))


def _hash_file(h: Any, path: Path) -> None:
    with path.open("rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)


def context_hash(build_context: Path, build_file: Path | None = None) -> str:
    """SHA-256 of a build context: sorted relative paths, file types and modes, contents.

    Honours ``.dockerignore`` exactly as the Docker SDK does when it sends the context (a
    context without one is hashed whole). Symlinks are hashed as their target string, never
    followed. The Dockerfile is always included, also when it lies outside the context.
    """
    ctx = Path(build_context)
    if not ctx.is_dir():
        raise DockerError(f"build context {ctx} is not a directory")
    dockerfile = _dockerfile_arg(ctx, build_file)
    h = hashlib.sha256(b"medperf-action context v1\0")
    for rel in _context_files(ctx, dockerfile):
        full = ctx / rel
        st = full.lstat()
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            h.update(f"L\0{rel}\0{os.readlink(full)}\0".encode())
        elif stat.S_ISDIR(st.st_mode):
            h.update(f"D\0{rel}\0{mode:o}\0".encode())
        elif stat.S_ISREG(st.st_mode):
            h.update(f"F\0{rel}\0{mode:o}\0{st.st_size}\0".encode())
            _hash_file(h, full)
        else:  # sockets, fifos, devices: not sent as content
            h.update(f"O\0{rel}\0{stat.S_IFMT(st.st_mode):o}\0".encode())
    df_path = Path(build_file) if build_file is not None else ctx / "Dockerfile"
    if not df_path.is_absolute():
        df_path = ctx / df_path
    h.update(f"\0DOCKERFILE\0{dockerfile or 'Dockerfile'}\0".encode())
    if df_path.is_file():
        _hash_file(h, df_path)
    return h.hexdigest()


def _local_image(client: docker.DockerClient, image: str) -> Any | None:
    from docker.errors import ImageNotFound

    try:
        return client.images.get(image)
    except ImageNotFound:
        return None


def _engine_get(path: str, timeout: float = 10.0) -> tuple[int, Any]:
    """GET a Docker Engine API path over its unix socket, without the SDK.

    Only for the read-only look-ups on the hot path of a cached run (importing the SDK
    and requests costs more than the whole look-up). Raises OSError when the engine is
    not on a local unix socket; callers then use the SDK.
    """
    import http.client
    import json
    import socket

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


def lookup_image(
    image: str,
    build_context: Path | None,
    build_file: Path | None,
) -> dict[str, Any] | None:
    """The engine's record of ``image`` if it is present and current, else None.

    Current means: built from a context whose hash it carries (when there is a build
    context), or simply present (when there is none). None also when the engine cannot be
    asked this way; :func:`ensure_image` then does the full job through the SDK.
    """
    import urllib.parse

    try:
        status, info = _engine_get(f"/images/{urllib.parse.quote(image, safe='')}/json")
    except (OSError, ValueError):
        return None
    if status != 200 or not isinstance(info, dict):
        return None
    if build_context is not None:
        labels = (info.get("Config") or {}).get("Labels") or {}
        if labels.get(CONTEXT_HASH_LABEL) != context_hash(build_context, build_file):
            return None
    return info


def ensure_image(
    image: str,
    build_context: Path | None,
    build_file: Path | None,
    *,
    no_build: bool = False,
    pull: bool = True,
    log: Callable[[str], None] = print,
    network_mode: str | None = None,
    client: docker.DockerClient | None = None,
) -> str:
    """Make ``image`` available locally and return its ID (``sha256:...``).

    With a build context: build it unless an image tagged ``image`` already carries the
    context's hash (label :data:`CONTEXT_HASH_LABEL`). Without one: use the local image,
    else pull it (when ``pull``). ``no_build``: use what is there, fail when absent.
    ``network_mode`` is passed to the build (``None``: the engine's default).
    """
    client = client or get_client()
    local = _local_image(client, image)

    if build_context is None:
        if local is not None:
            return str(local.id)
        if no_build or not pull:
            raise DockerError(f"image {image} is not available locally (and pulling is off)")
        log(f"pulling image {image}")
        try:
            pulled = client.images.pull(image)
        except Exception as exc:  # DockerException, connection errors
            raise DockerError(
                f"image {image} is not available locally and could not be pulled: {_short(exc)}"
            ) from exc
        if isinstance(pulled, list):  # pragma: no cover - only with all_tags
            pulled = pulled[0]
        return str(pulled.id)

    if no_build:
        if local is None:
            raise DockerError(f"image {image} is not available locally and building is off")
        return str(local.id)

    ctx = Path(build_context)
    if not ctx.is_dir():
        raise DockerError(f"build context {ctx} of image {image} is not a directory")
    if build_file is not None:
        bf = build_file if Path(build_file).is_absolute() else ctx / build_file
        if not Path(bf).is_file():
            raise DockerError(f"Dockerfile {bf} of image {image} does not exist")
    elif not (ctx / "Dockerfile").is_file():
        raise DockerError(f"build context {ctx} of image {image} has no Dockerfile")

    digest = context_hash(ctx, build_file)
    if local is not None and (local.labels or {}).get(CONTEXT_HASH_LABEL) == digest:
        log(f"image {image} is up to date (context {digest[:12]})")
        return str(local.id)

    log(f"building image {image} from {ctx} (context {digest[:12]})")
    tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
    error: str | None = None
    image_id: str | None = None
    try:
        stream = client.api.build(
            path=str(ctx),
            dockerfile=_dockerfile_arg(ctx, build_file),
            tag=image,
            labels={CONTEXT_HASH_LABEL: digest},
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            network_mode=network_mode,
        )
        for chunk in stream:
            if "stream" in chunk:
                for line in str(chunk["stream"]).splitlines():
                    if line.strip():
                        tail.append(line)
                        log(line)
            if "error" in chunk:
                error = str(chunk.get("error") or "").strip()
                tail.append(error)
                log(error)
            aux = chunk.get("aux")
            if isinstance(aux, dict) and "ID" in aux:
                image_id = str(aux["ID"])
    except Exception as exc:  # DockerException, connection errors, unreadable context
        error = _short(exc)
    if error is not None:
        raise DockerError(
            f"building image {image} from {ctx} failed: {error}\n"
            + "\n".join(f"  | {line}" for line in tail)
        )
    built = _local_image(client, image)
    if built is None:
        raise DockerError(f"building image {image} finished but no image is tagged so")
    if image_id is not None and built.id != image_id:  # pragma: no cover - defensive
        log(f"warning: build reported {image_id}, tag {image} points at {built.id}")
    return str(built.id)


# ---------------------------------------------------------------------------- run


def _caller_ids() -> tuple[int, int]:
    return os.getuid(), os.getgid()


def _walk_nofollow(root: Path) -> Iterator[Path]:
    """``root`` and everything under it, never following symlinks."""
    yield root
    if root.is_symlink() or not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            yield Path(dirpath) / name


def _chown_tree(root: Path, uid: int, gid: int) -> list[str]:
    """``lchown`` ``root`` recursively; returns the problems met (never raises)."""
    problems: list[str] = []
    for path in _walk_nofollow(root):
        try:
            os.chown(path, uid, gid, follow_symlinks=False)
        except FileNotFoundError:
            continue
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror or exc}")
    return problems


def _check_readable_by_others(mounts: Iterable[Mount]) -> None:
    """Read-only mounts must be readable by the sandbox uid, i.e. by "others"."""
    for m in mounts:
        checked = 0
        for path in _walk_nofollow(m.host):
            checked += 1
            if checked > _READABLE_CHECK_LIMIT:
                break
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            if stat.S_ISLNK(st.st_mode):
                continue
            need = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(st.st_mode) else 0)
            if st.st_mode & need != need and st.st_uid != SANDBOX_UID:
                raise DockerError(
                    f"input {path} (mounted at {m.container}) is not readable by the sandbox "
                    f"user {SANDBOX_UID} (mode {stat.S_IMODE(st.st_mode):04o}); containers never "
                    f"run as root: make it readable (chmod -R o+rX {m.host}) or run as a "
                    "non-root user"
                )


class _Terminated(KeyboardInterrupt):
    """SIGTERM received while a container ran (treated like Ctrl-C)."""


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Terminated(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Ignore SIGINT/SIGTERM while cleaning up, so a second Ctrl-C cannot skip it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class _LogPump(threading.Thread):
    """Reads a container's log stream line by line: echo, file, tail."""

    def __init__(
        self,
        container: Container,
        log_file: Any | None,
        echo: Callable[[str], None] | None,
        prefix: str,
    ) -> None:
        super().__init__(name="medperf-log-pump", daemon=True)
        self.container = container
        self.log_file = log_file
        self.echo = echo
        self.prefix = prefix
        self.tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def _emit(self, raw: bytes) -> None:
        # "\r" rewrites a terminal line (progress bars): keep what a terminal would show
        line = raw.decode("utf-8", errors="replace").rstrip("\r").rsplit("\r", 1)[-1]
        with self._lock:
            self.tail.append(line)
            if self.log_file is not None:
                try:
                    self.log_file.write(line + "\n")
                    self.log_file.flush()
                except (OSError, ValueError):  # disk full, or closed after a hung stream
                    self.log_file = None
        if self.echo is not None:
            try:
                self.echo(self.prefix + line)
            except Exception:  # an echo callback must never stop the pump
                self.echo = None

    def run(self) -> None:
        buf = b""
        try:
            for chunk in self.container.logs(stream=True, follow=True):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    self._emit(line)
                if len(buf) > _MAX_LINE:  # no newline for a long while: emit what there is
                    self._emit(buf)
                    buf = b""
        except Exception as exc:  # the container was removed under us, engine gone, ...
            self.error = exc
        finally:
            if buf:
                self._emit(buf)

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self.tail)


def run_container(
    image_id: str,
    args: list[str],
    mounts: list[Mount],
    *,
    cube: str,
    task: str,
    timeout_s: float = 3600,
    gpus: bool = False,
    log_path: Path | None = None,
    log_prefix: str = "",
    echo: Callable[[str], None] | None = print,
    env: dict[str, str] | None = None,
    extra_labels: dict[str, str] | None = None,
    pids_limit: int = 512,
    shm_size: str | None = None,
    tmp_size: str = "1g",
    entrypoint: list[str] | None = None,
    client: docker.DockerClient | None = None,
) -> RunResult:
    """Run ``image_id`` with ``args`` in the sandbox; raise :class:`TaskFailed` unless it exits 0.

    Log lines are echoed (with ``log_prefix``) and written in full to ``log_path``.
    ``HOME`` defaults to ``/tmp`` (the container user has no home directory) and
    ``PYTHONUNBUFFERED`` to ``1`` (so Python tasks' logs arrive line by line); ``env``
    overrides both.
    """
    import docker as docker_sdk
    import requests
    from docker.errors import APIError, DockerException, ImageNotFound

    client = client or get_client()
    mounts = [Mount(Path(m.host).resolve(), m.container, m.read_only) for m in mounts]
    for m in mounts:
        if not m.host.exists():
            kind = "input" if m.read_only else "output"
            raise DockerError(f"{kind} {m.host} (for {m.container}) does not exist")
        if not m.container.startswith("/"):
            raise DockerError(f"container path {m.container!r} must be absolute")

    caller_uid, caller_gid = _caller_ids()
    as_root = caller_uid == 0
    if as_root:
        run_uid, run_gid = SANDBOX_UID, SANDBOX_GID
        group_add: list[str] = []
        _check_readable_by_others(m for m in mounts if m.read_only)
    else:
        run_uid, run_gid = caller_uid, caller_gid
        group_add = [str(g) for g in os.getgroups() if g not in (0, caller_gid)]
    outputs = [m.host for m in mounts if not m.read_only]

    labels = {LABEL: "1", CUBE_LABEL: cube, TASK_LABEL: task}
    labels.update(extra_labels or {})
    environment = {"HOME": "/tmp", "PYTHONUNBUFFERED": "1"}
    environment.update(env or {})
    kwargs: dict[str, Any] = {
        "command": list(args) or None,
        "user": f"{run_uid}:{run_gid}",
        "group_add": group_add or None,
        "network_mode": "none",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "pids_limit": pids_limit,
        "tmpfs": {"/tmp": f"rw,exec,nosuid,nodev,size={tmp_size},mode=1777"},
        "mounts": [
            docker_sdk.types.Mount(
                target=m.container, source=str(m.host), type="bind", read_only=m.read_only
            )
            for m in mounts
        ],
        "labels": labels,
        "environment": environment,
        "name": _container_name(cube, task),
        "detach": True,
    }
    if shm_size is not None:
        kwargs["shm_size"] = shm_size
    if entrypoint:
        kwargs["entrypoint"] = entrypoint
    if gpus:
        kwargs["device_requests"] = [
            docker_sdk.types.DeviceRequest(count=-1, capabilities=[["gpu"]])
        ]

    container: Container | None = None
    created_name: str | None = None
    pump: _LogPump | None = None
    log_file: Any | None = None
    timed_out = False
    exit_code: int | None = None
    oom_killed = False
    started = time.monotonic()
    try:
        with _sigterm_as_interrupt():
            try:
                if as_root:
                    for out in outputs:
                        _chown_tree(out, run_uid, run_gid)
                if log_path is not None:
                    log_path.parent.mkdir(parents=True, exist_ok=True)
                    log_file = log_path.open("w", encoding="utf-8")
                try:
                    created_name = kwargs["name"]
                    container = client.containers.create(image_id, **kwargs)
                except ImageNotFound as exc:
                    raise DockerError(
                        f"cube '{cube}', task '{task}': image {image_id} not found"
                    ) from exc
                started = time.monotonic()
                try:
                    container.start()
                except APIError as exc:
                    hint = (
                        " (GPUs were requested: is the NVIDIA Container Toolkit installed?)"
                        if gpus
                        else ""
                    )
                    raise DockerError(
                        f"cube '{cube}', task '{task}': the container did not start: "
                        f"{_short(exc)}{hint}"
                    ) from exc
                pump = _LogPump(container, log_file, echo, log_prefix)
                pump.start()
                exit_code, timed_out = _wait(container, timeout_s)
                if timed_out:
                    with contextlib.suppress(DockerException):
                        container.kill()
                    exit_code, _ = _wait(container, 30)
                pump.join(timeout=10)
                with contextlib.suppress(DockerException):
                    container.reload()
                    oom_killed = bool(container.attrs.get("State", {}).get("OOMKilled"))
            except (DockerException, requests.exceptions.RequestException) as exc:
                raise DockerError(f"cube '{cube}', task '{task}': {_short(exc)}") from exc
    finally:
        with _signals_deferred():
            if created_name is not None:  # by name: also when create() was interrupted
                with contextlib.suppress(Exception):
                    client.api.remove_container(created_name, force=True, v=True)
            if pump is not None:
                pump.join(timeout=5)
            if log_file is not None:
                with contextlib.suppress(OSError):
                    log_file.close()
            if as_root:
                for out in outputs:
                    _chown_tree(out, caller_uid, caller_gid)
    duration = time.monotonic() - started
    tail = pump.snapshot() if pump is not None else []
    if timed_out or exit_code != 0:
        raise TaskFailed(
            cube,
            task,
            None if timed_out else exit_code,
            timed_out,
            tail,
            timeout_s=timeout_s,
            oom_killed=oom_killed,
            log_path=log_path,
        )
    return RunResult(exit_code=0, duration_s=duration, log_path=log_path, log_tail=tail)


def _container_name(cube: str, task: str) -> str:
    def slug(text: str) -> str:
        cleaned = re.sub(r"[^a-zA-Z0-9_.-]+", "-", text).strip("-.")
        return cleaned[:40] or "x"

    return f"medperf-{slug(cube)}-{slug(task)}-{uuid.uuid4().hex[:10]}"


def _wait(container: Container, timeout_s: float) -> tuple[int | None, bool]:
    """Wait for the container to stop: ``(exit code, timed out)``.

    Polls in short slices so signals are handled promptly on the main thread.
    """
    import requests

    deadline = time.monotonic() + max(timeout_s, 0.0)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None, True
        try:
            result = container.wait(timeout=min(remaining, 5.0))
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError) as exc:
            # urllib3 reports a read time-out on a unix socket as either of these.
            if "timed out" in str(exc).lower() or isinstance(exc, requests.exceptions.ReadTimeout):
                continue
            raise
        code = result.get("StatusCode")
        return (int(code) if code is not None else None), False
