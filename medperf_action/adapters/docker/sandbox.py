"""The sandbox every task runs in: one container, created, run and always removed.

Every task container runs with no network, as a non-root `uid:gid`, with its inputs
mounted read-only, a read-only root file system (a private `/tmp` tmpfs is where it may
write, and `HOME` points there), all capabilities dropped, `no-new-privileges`, a pids
limit, a memory limit, a time limit, a cap on how much of its log is kept, and GPUs only
when asked for; it is removed whatever happens (non-zero exit, time-out, Ctrl-C, SIGTERM),
and a removal that fails is logged.

`container_kwargs` is the sandbox as data (what goes to the Docker SDK), unit-tested
without an engine; `Sandbox` is the container as a context manager; `run_task` runs one
task in it and raises `TaskFailed` unless it exits 0.

When the caller is root, the container runs as `SANDBOX_UID`:`SANDBOX_GID` instead: the
writable mounts are handed to that uid for the run and given back to the caller
(recursively, symlinks never followed) afterwards, and the read-only mounts must be
readable by "others" (checked before the run, with a clear error). On a rootless engine
(Podman, rootless Docker) the container's user is mapped to another host user: `userns`
says which, and the hand-over goes to that host user.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from medperf_action.adapters.docker import hostfs, userns
from medperf_action.adapters.docker.client import engine, sdk_errors, short
from medperf_action.adapters.docker.hostfs import check_readable_by_others, chown_tree, log_file
from medperf_action.adapters.docker.logs import LogPump
from medperf_action.adapters.docker.userns import SANDBOX_GID as SANDBOX_GID
from medperf_action.adapters.docker.userns import SANDBOX_UID as SANDBOX_UID
from medperf_action.adapters.docker.userns import RunAs as RunAs
from medperf_action.errors import CubeFailed, DockerError, InvalidInput, TaskFailed
from medperf_action.settings import DEFAULT_LOG_LIMIT, DEFAULT_MEMORY, session
from medperf_action.text import Log, silent

if TYPE_CHECKING:
    from docker.models.containers import Container

LABEL = "org.medperf-action.managed"
"""Every container started here carries this label with the value `"1"`."""
CUBE_LABEL = "org.medperf-action.cube"
TASK_LABEL = "org.medperf-action.task"
SESSION_LABEL = "org.medperf-action.session"
"""With $MEDPERF_ACTION_SESSION set, every container carries it under this label."""


@dataclass(frozen=True)
class Mount:
    """A bind mount. `host` may be a file or a directory and must exist."""

    host: Path
    container: str
    read_only: bool


@dataclass(frozen=True)
class SandboxSpec:
    """One task's container, as data."""

    image_id: str
    args: list[str]
    mounts: list[Mount]
    cube: str
    task: str
    entrypoint: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    gpus: str | None = None
    """GPUs as `docker run --gpus` takes them: "all", a count ("2"), or "device=0,1"."""
    pids_limit: int = 512
    shm_size: str | None = None
    tmp_size: str = "1g"
    memory: str = DEFAULT_MEMORY
    log_limit: int = DEFAULT_LOG_LIMIT


@dataclass(frozen=True)
class RunResult:
    exit_code: int
    duration_s: float
    log_path: Path | None
    log_tail: list[str] = field(default_factory=list)


def container_name(cube: str, task: str) -> str:
    def slug(text: str) -> str:
        cleaned = re.sub(r"[^a-zA-Z0-9_.-]+", "-", text).strip("-.")
        return cleaned[:40] or "x"

    return f"medperf-{slug(cube)}-{slug(task)}-{uuid.uuid4().hex[:10]}"


def container_kwargs(
    spec: SandboxSpec, run_as: RunAs, name: str, session: str | None = None
) -> dict[str, Any]:
    """The keyword arguments of `containers.create` for the sandbox: pure data.

    Mounts appear as `(target, source, read_only)` triples under `"mounts"`; `Sandbox`
    turns them into the SDK's Mount objects. GPUs, when asked for, are a device request,
    as `docker run --gpus` makes it.
    """
    environment = {"HOME": "/tmp", "PYTHONUNBUFFERED": "1", **spec.env}
    kwargs: dict[str, Any] = {
        "command": list(spec.args) or None,
        "user": f"{run_as.uid}:{run_as.gid}",
        "group_add": list(run_as.group_add) or None,
        "network_mode": "none",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "pids_limit": spec.pids_limit,
        "mem_limit": spec.memory,
        "memswap_limit": spec.memory,  # no swap beyond the limit either
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,exec,nosuid,nodev,size={spec.tmp_size},mode=1777"},
        "mounts": [(m.container, str(m.host), m.read_only) for m in spec.mounts],
        "labels": {
            LABEL: "1",
            CUBE_LABEL: spec.cube,
            TASK_LABEL: spec.task,
            **({SESSION_LABEL: session} if session else {}),
            **spec.labels,
        },
        "environment": environment,
        "name": name,
        "detach": True,
    }
    if spec.gpus:
        kwargs["device_requests"] = [device_request(spec.gpus)]
    if spec.shm_size is not None:
        kwargs["shm_size"] = spec.shm_size
    if spec.entrypoint is not None:
        kwargs["entrypoint"] = list(spec.entrypoint)
    return kwargs


def device_request(gpus: str) -> dict[str, Any]:
    """The device request `docker run --gpus GPUS` sends: all GPUs (count -1), a count, or
    the listed devices."""
    request: dict[str, Any] = {"driver": "", "capabilities": [["gpu"]]}
    if gpus == "all":
        request["count"] = -1
    elif gpus.isdecimal():
        request["count"] = int(gpus)
    elif gpus.startswith("device=") and gpus.removeprefix("device="):
        request["device_ids"] = gpus.removeprefix("device=").split(",")
    else:
        raise InvalidInput(f"GPUs {gpus!r}: expected all, a count, or device=ID[,ID...]")
    return request


def _sdk_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    import docker.types

    out = dict(kwargs)
    out["mounts"] = [
        docker.types.Mount(target=target, source=source, type="bind", read_only=read_only)
        for target, source, read_only in kwargs["mounts"]
    ]
    return out


def _exec_failure(exc: BaseException) -> str | None:
    """The cube's own fault in a start that failed: its command cannot be executed (not
    found, or not executable); None for any other failure."""
    found = re.search(r'exec: "([^"]*)": ([^:"]+)', str(exc))
    if found is None:
        return None
    path, why = found.group(1), found.group(2).strip()
    hint = ""
    if why == "permission denied":
        hint = " (it is not executable: run it through its interpreter, e.g. entrypoint: python3)"
    return f"{path}: {why}{hint}"


# --------------------------------------------------------------------------- the container


class Sandbox:
    """The container of one task: created and started on entering, removed on leaving.

    A start that fails half-way is undone inside `__enter__`. `__exit__` removes the
    container whatever happened (also when create() itself was interrupted: removal is by
    name) with signals deferred, so a second Ctrl-C cannot skip it; a removal that fails is
    logged, never swallowed.
    """

    def __init__(self, spec: SandboxSpec, run_as: RunAs, log: Log = silent) -> None:
        self.spec = spec
        self.run_as = run_as
        self.log = log
        self.name = container_name(spec.cube, spec.task)
        self.container: Container | None = None
        self._client: Any = None
        self._created = False

    def __enter__(self) -> Sandbox:
        import docker.errors

        self._client = engine()
        kwargs = _sdk_kwargs(container_kwargs(self.spec, self.run_as, self.name, session()))
        where = f"cube '{self.spec.cube}', task '{self.spec.task}'"
        self._created = True  # from here on, a container of that name may exist
        try:
            with sdk_errors(where):
                try:
                    self.container = self._client.containers.create(self.spec.image_id, **kwargs)
                except docker.errors.ImageNotFound as exc:
                    raise DockerError(f"{where}: image {self.spec.image_id} not found") from exc
                try:
                    self.container.start()
                except docker.errors.APIError as exc:
                    not_run = _exec_failure(exc)
                    if not_run is not None:
                        raise CubeFailed(
                            f"{where}: the container's command could not be run: {not_run}"
                        ) from exc
                    hint = (
                        " (GPUs were requested: is the NVIDIA Container Toolkit installed?)"
                        if self.spec.gpus
                        else ""
                    )
                    raise DockerError(
                        f"{where}: the container did not start: {short(exc)}{hint}"
                    ) from exc
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._remove()

    def _remove(self) -> None:
        if not self._created:
            return
        with _signals_deferred():
            try:
                self._client.api.remove_container(self.name, force=True, v=True)
            except Exception as exc:
                if "No such container" not in str(exc):
                    self.log(f"warning: could not remove container {self.name}: {short(exc)}")
        self._created = False

    def wait(self, timeout_s: float) -> tuple[int | None, bool]:
        """Wait for the container to stop: `(exit code, timed out)`.

        Polls in short slices so signals are handled promptly on the main thread.
        """
        import requests

        assert self.container is not None
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, True
            try:
                result = self.container.wait(timeout=min(remaining, 5.0))
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError) as exc:
                # urllib3 reports a read time-out on a unix socket as either of these.
                if "timed out" in str(exc).lower() or isinstance(
                    exc, requests.exceptions.ReadTimeout
                ):
                    continue
                raise
            code = result.get("StatusCode")
            return (int(code) if code is not None else None), False

    def kill(self) -> None:
        import docker.errors

        assert self.container is not None
        with contextlib.suppress(docker.errors.DockerException):
            self.container.kill()

    def oom_killed(self) -> bool:
        import docker.errors

        assert self.container is not None
        try:
            self.container.reload()
        except docker.errors.DockerException:
            return False
        return bool(self.container.attrs.get("State", {}).get("OOMKilled"))


@dataclass(frozen=True)
class _Watched:
    """How a container ended."""

    exit_code: int | None
    timed_out: bool
    oom_killed: bool
    duration_s: float


def run_task(
    spec: SandboxSpec,
    *,
    timeout_s: float = 3600,
    log_path: Path | None = None,
    log_prefix: str = "",
    echo: Log | None = None,
    log: Log = silent,
) -> RunResult:
    """Run one task in the sandbox; raise `TaskFailed` unless it exits 0.

    Log lines are echoed (with `log_prefix`) and written in full to `log_path`. `HOME`
    defaults to `/tmp` (the container user has no home directory) and
    `PYTHONUNBUFFERED` to `1` (so Python tasks' logs arrive line by line); `spec.env`
    overrides both. `log` gets the tool's own notes (a container that was not removed).
    """
    spec = _resolved(spec)
    run_as = engine_run_as(spec, log)
    if run_as.hand_over:
        check_readable_by_others((m for m in spec.mounts if m.read_only), run_as.owner[0])
    if run_as.engine_uid not in (None, os.getuid()):
        hostfs.check_reachable(spec.mounts, run_as.engine_uid)
    with _sigterm_as_interrupt(), _handed_over(spec, run_as), log_file(log_path) as handle:
        with Sandbox(spec, run_as, log) as box:
            assert box.container is not None
            pump = LogPump(box.container, handle, echo, log_prefix, spec.log_limit)
            watched = _watch(box, pump, timeout_s)
        pump.join(timeout=5)  # the container is gone: its log stream has ended
    if watched.timed_out or watched.exit_code != 0:
        enforced = userns.engine_facts(lambda: _probe(spec.image_id)).limits_enforced
        raise TaskFailed(
            spec.cube,
            spec.task,
            None if watched.timed_out else watched.exit_code,
            watched.timed_out,
            pump.snapshot(),
            timeout_s=timeout_s,
            oom_killed=watched.oom_killed,
            log_path=log_path,
            memory=spec.memory,
            limits_enforced=enforced,
        )
    return RunResult(0, watched.duration_s, log_path, pump.snapshot())


def _watch(box: Sandbox, pump: LogPump, timeout_s: float) -> _Watched:
    """Wait for the container (killing it at its time limit) while its log is read."""
    where = f"cube '{box.spec.cube}', task '{box.spec.task}'"
    started = time.monotonic()
    with sdk_errors(where):
        pump.start()
        exit_code, timed_out = box.wait(timeout_s)
        if timed_out:
            box.kill()
            exit_code, _ = box.wait(30)
        pump.join(timeout=10)
        oom_killed = exit_code != 0 and box.oom_killed()  # one look-up less when it passed
    return _Watched(exit_code, timed_out, oom_killed, time.monotonic() - started)


@contextlib.contextmanager
def _handed_over(spec: SandboxSpec, run_as: RunAs) -> Iterator[None]:
    """When the caller is root: the outputs belong to the sandbox uid for the run, and to
    the caller again afterwards, whatever happens."""
    outputs = [m.host for m in spec.mounts if not m.read_only]
    if not run_as.hand_over:
        yield
        return
    try:
        for out in outputs:
            chown_tree(out, *run_as.owner)
        yield
    finally:
        with _signals_deferred():
            for out in outputs:
                chown_tree(out, os.getuid(), os.getgid())


def engine_run_as(spec: SandboxSpec, log: Log = silent) -> RunAs:
    """Who the container of `spec` runs as on this engine (`userns`); `log` gets the one
    note on the limits the engine ignores (`silent` leaves it to the next caller)."""
    facts = userns.engine_facts(lambda: _probe(spec.image_id))
    if log is not silent and (note := userns.limits_note(facts)):
        log(note)
    return userns.run_as_for(facts, os.getuid(), os.getgid(), os.getgroups())


def _probe(image_id: str) -> str:
    """What `head /proc/self/uid_map /proc/self/gid_map` prints in a sandbox of the image:
    the user namespace's maps, for an engine that does not report them."""
    maps = ["/proc/self/uid_map", "/proc/self/gid_map"]
    probe = SandboxSpec(image_id, maps, [], "userns", "probe", ["head"], memory="64m")
    try:
        with Sandbox(probe, RunAs(SANDBOX_UID, SANDBOX_GID)) as box:
            assert box.container is not None
            exit_code, _ = box.wait(60)
            text = box.container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
    except CubeFailed:  # the image has no `head`
        return ""
    return text if exit_code == 0 else ""


def _resolved(spec: SandboxSpec) -> SandboxSpec:
    """The spec with its mounts' host paths resolved and checked."""
    mounts = [Mount(Path(m.host).resolve(), m.container, m.read_only) for m in spec.mounts]
    for m in mounts:
        if not m.host.exists():
            kind = "input" if m.read_only else "output"
            raise InvalidInput(f"{kind} {m.host} (for {m.container}) does not exist")
        if not m.container.startswith("/"):
            raise InvalidInput(f"container path {m.container!r} must be absolute")
    return dataclasses.replace(spec, mounts=mounts)


def remove_containers(label: str, value: str, log: Log = silent) -> int:
    """Remove every container carrying `label=value` (a cancelled run's); how many."""
    try:
        client = engine()
        found = client.containers.list(all=True, filters={"label": f"{label}={value}"})
    except Exception as exc:  # never hide the error that made us clean up
        log(f"warning: could not list the run's containers: {short(exc)}")
        return 0
    removed = 0
    for container in found:
        try:
            container.remove(force=True)
            removed += 1
        except Exception as exc:  # already gone, or the engine is going away
            if "No such container" not in str(exc):
                log(f"warning: could not remove container {container.name}: {short(exc)}")
    return removed


# --------------------------------------------------------------------------- signals


class _Terminated(KeyboardInterrupt):
    """SIGTERM received while a container ran (treated like Ctrl-C)."""


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (GitHub cancelling a job) ends the run like Ctrl-C, on the main thread."""
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
