"""Who a task's container runs as, and what the engine's user namespace makes of that user.

On a rootful engine a container's uid is a host uid: the container runs as the caller's
own `uid:gid`, or, when the caller is root, as `SANDBOX_UID`, its writable mounts handed
to that uid for the run (`sandbox._handed_over`).

A rootless engine (rootless Podman, rootless Docker) and Docker's `userns-remap` run
containers in a user namespace: container uid 0 is the engine's own user on the host and
container uids 1, 2, ... are its subordinate uids (/etc/subuid). The map is learned once per
process and engine: Podman reports it (`GET /libpod/info`, `host.idMappings`); for any other
engine a probe container from the task's own image prints its `/proc/self/uid_map` and
`gid_map`. Then:

* the caller is root: the container runs as `SANDBOX_UID` as before, and the outputs are
  handed to the host uid that `SANDBOX_UID` maps to (a subordinate uid, nobody's account);
* the caller is not root (a data owner running their own rootless engine): the container
  runs as the container uid that maps to the caller, i.e. uid 0 *inside the namespace* of
  the caller's own engine, with every capability dropped and `no-new-privileges`: on the
  host it is the caller's own unprivileged user, as on a rootful engine. When no container
  uid maps to the caller (someone else's engine) the run stops with a clear error.

A rootless engine enforces memory and pids limits only with cgroup v2 and those controllers
delegated to its user; otherwise it ignores them, and `limits_note` says so in one line.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from medperf_action.adapters.docker.client import engine, engine_get, short
from medperf_action.errors import DockerError

SANDBOX_UID = 10001
"""The uid a container runs as when the caller is root (containers never run as root)."""
SANDBOX_GID = 10001

IdRange = tuple[int, int, int]
"""One line of a user namespace's map: (first container id, first host id, count)."""


@dataclass(frozen=True)
class RunAs:
    """Who the container runs as, and whether outputs change hands around the run."""

    uid: int
    gid: int
    group_add: tuple[str, ...] = ()
    hand_over: bool = False  # the caller is root: outputs go to the sandbox user and back
    host_uid: int | None = None
    """The host uid the container's uid is (a user namespace maps it); None: the same."""
    host_gid: int | None = None
    engine_uid: int | None = None
    """A rootless engine's own host uid (it makes the mounts); None on a rootful engine."""

    @property
    def owner(self) -> tuple[int, int]:
        """The host `uid, gid` that the container's user is."""
        uid = self.uid if self.host_uid is None else self.host_uid
        return uid, self.gid if self.host_gid is None else self.host_gid

    @classmethod
    def for_caller(
        cls, uid: int | None = None, gid: int | None = None, groups: Iterable[int] | None = None
    ) -> RunAs:
        """On a rootful engine: the caller's own ids, or the sandbox uid for root."""
        uid = os.getuid() if uid is None else uid
        gid = os.getgid() if gid is None else gid
        if uid == 0:
            return cls(SANDBOX_UID, SANDBOX_GID, (), True)
        groups = os.getgroups() if groups is None else groups
        return cls(uid, gid, tuple(str(g) for g in groups if g not in (0, gid)))


@dataclass(frozen=True)
class EngineFacts:
    """What a run needs to know of the engine: its user namespace and its limits."""

    name: str
    rootless: bool
    remapped: bool  # containers run in a user namespace (rootless, or userns-remap)
    uid_map: tuple[IdRange, ...] = ()  # () with remapped: not known yet (probe)
    gid_map: tuple[IdRange, ...] = ()
    limits_enforced: bool = True
    why_not: str = ""  # why the limits are not enforced, for the note


def to_host(ranges: Iterable[IdRange], inner: int) -> int | None:
    """The host id a container id is, under `ranges`; None when it maps to nothing."""
    for first, host, count in ranges:
        if first <= inner < first + count:
            return host + inner - first
    return None


def to_container(ranges: Iterable[IdRange], outer: int) -> int | None:
    """The container id that is host id `outer`, under `ranges`; None when there is none."""
    for first, host, count in ranges:
        if host <= outer < host + count:
            return first + outer - host
    return None


def parse_proc_map(text: str) -> tuple[IdRange, ...]:
    """The lines of a `/proc/PID/uid_map` (or `gid_map`): three numbers each."""
    ranges = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 3 or not all(f.isdecimal() for f in fields):
            raise ValueError(f"not a line of a user namespace map: {line!r}")
        ranges.append((int(fields[0]), int(fields[1]), int(fields[2])))
    return tuple(ranges)


def parse_probe(text: str) -> tuple[tuple[IdRange, ...], tuple[IdRange, ...]]:
    """`head /proc/self/uid_map /proc/self/gid_map`'s output: the two maps."""
    parts = re.split(r"^==> /proc/self/(uid|gid)_map <==$", text.strip(), flags=re.M)
    found = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    if set(found) != {"uid", "gid"}:
        raise ValueError("the probe printed no uid_map and gid_map")
    return parse_proc_map(found["uid"]), parse_proc_map(found["gid"])


def _libpod_ranges(entries: Any) -> tuple[IdRange, ...]:
    return tuple((int(e["container_id"]), int(e["host_id"]), int(e["size"])) for e in entries or ())


def facts_from_libpod(info: dict[str, Any]) -> EngineFacts:
    """Podman's own `GET /libpod/info`: it names its id maps and its cgroup controllers."""
    host = info.get("host") or {}
    rootless = bool((host.get("security") or {}).get("rootless"))
    maps = host.get("idMappings") or {}
    uid_map, gid_map = _libpod_ranges(maps.get("uidmap")), _libpod_ranges(maps.get("gidmap"))
    version = (info.get("version") or {}).get("Version", "?")
    cgroup = str(host.get("cgroupVersion") or "?")
    controllers = set(host.get("cgroupControllers") or ())
    enforced = not rootless or {"memory", "pids"} <= controllers
    why = "" if enforced else f"rootless, cgroup {cgroup}"
    if not enforced and cgroup == "v2":
        why = "rootless, without the memory and pids controllers delegated to its user"
    return EngineFacts(
        f"Podman {version}", rootless, bool(uid_map), uid_map, gid_map, enforced, why
    )


def facts_from_docker(info: dict[str, Any]) -> EngineFacts:
    """Docker's `GET /info`: rootless and userns-remap show in its security options."""
    options = " ".join(info.get("SecurityOptions") or ())
    rootless = "name=rootless" in options or info.get("Rootless") is True
    remapped = rootless or "name=userns" in options
    enforced = bool(info.get("MemoryLimit", True) and info.get("PidsLimit", True))
    enforced = enforced and info.get("CgroupDriver") != "none"
    why = "without the memory and pids cgroup controllers"
    if info.get("CgroupDriver") == "none":
        why = "without cgroups"
    why = "" if enforced else f"rootless, {why}" if rootless else why
    name = f"Docker {info.get('ServerVersion', '?')}"
    return EngineFacts(name, rootless, remapped, limits_enforced=enforced, why_not=why)


def run_as_for(facts: EngineFacts, uid: int, gid: int, groups: Iterable[int]) -> RunAs:
    """Who a caller's container runs as on this engine (see the module's text)."""
    if not facts.remapped:
        return RunAs.for_caller(uid, gid, groups)
    engine_uid = to_host(facts.uid_map, 0)
    if uid == 0:
        host_uid = to_host(facts.uid_map, SANDBOX_UID)
        host_gid = to_host(facts.gid_map, SANDBOX_GID)
        if not host_uid or not host_gid:  # unmapped, or (never) root on the host
            raise DockerError(
                f"the container engine ({facts.name}) maps the sandbox user {SANDBOX_UID} to "
                "no unprivileged host user: give its user subordinate ids (/etc/subuid and "
                "/etc/subgid; scripts/setup-podman.sh does)"
            )
        return RunAs(SANDBOX_UID, SANDBOX_GID, (), True, host_uid, host_gid, engine_uid)
    inner_uid, inner_gid = to_container(facts.uid_map, uid), to_container(facts.gid_map, gid)
    if inner_uid is None or inner_gid is None:
        raise DockerError(
            f"the container engine ({facts.name}) runs as another user (host uid "
            f"{engine_uid}) and maps no container user to your uid {uid}: what its "
            "containers write would not be yours; run the engine as your own user "
            "(docs/podman.md) or medperf-action as root"
        )
    extra = (to_container(facts.gid_map, g) for g in groups if g not in (0, gid))
    added = tuple(str(g) for g in extra if g is not None)
    return RunAs(inner_uid, inner_gid, added, False, uid, gid, engine_uid)


# --------------------------------------------------------------------------- the engine

_facts: dict[tuple[str, ...], EngineFacts] = {}
_noted: set[tuple[str, ...]] = set()
_lock = threading.Lock()
_ENV = ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONTEXT")


def _get(path: str) -> tuple[int, Any]:
    """GET an engine API path: over its unix socket, else through the SDK."""
    try:
        return engine_get(path)
    except OSError:
        api = engine().api
        try:
            response = api.get(f"{api.base_url}{path}", timeout=30)
            return response.status_code, response.json() if response.ok else None
        except Exception as exc:  # requests' and JSON's errors alike
            raise DockerError(f"cannot ask the Docker Engine about itself: {short(exc)}") from exc


def engine_facts(probe: Callable[[], str]) -> EngineFacts:
    """The engine's facts, looked up once per process and engine. `probe` runs a probe
    container and returns what it printed; it is called only for a remapped engine that
    does not report its id maps."""
    key = tuple(os.environ.get(name, "") for name in _ENV)
    with _lock:
        known = _facts.get(key)
        if known is not None:
            return known
        status, body = _get("/v4.0.0/libpod/info")  # Podman: 404 elsewhere
        if status == 200 and isinstance(body, dict) and "host" in body:
            facts = facts_from_libpod(body)
        else:
            status, body = _get("/info")
            if status != 200 or not isinstance(body, dict):
                raise DockerError(f"the Docker Engine answered GET /info with HTTP {status}")
            facts = facts_from_docker(body)
        if facts.remapped and not facts.uid_map:
            try:
                uid_map, gid_map = parse_probe(probe())
            except ValueError as exc:
                raise DockerError(
                    f"cannot learn how the container engine ({facts.name}) maps users: {exc} "
                    "(the probe runs `head` in the task's image)"
                ) from exc
            facts = EngineFacts(**{**facts.__dict__, "uid_map": uid_map, "gid_map": gid_map})
        _facts[key] = facts
        return facts


def limits_note(facts: EngineFacts) -> str | None:
    """One note line, once per process and engine, when the engine ignores the limits."""
    key = tuple(os.environ.get(name, "") for name in _ENV)
    with _lock:
        if facts.limits_enforced or key in _noted:
            return None
        _noted.add(key)
    return (
        f"note: the container engine ({facts.name}, {facts.why_not}) does not enforce the "
        "sandbox's memory and pids limits: tasks run without them (no network, read-only "
        "inputs, no capabilities and the time limit still hold)"
    )
