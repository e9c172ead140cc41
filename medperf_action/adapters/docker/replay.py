"""A task's container as a person can read and run it again: a `docker run` command.

`replay_command` takes the sandbox's own keyword arguments (`sandbox.container_kwargs`,
so the two never drift apart) and writes the `docker run` line that creates the same
container: image ID, arguments, mounts, entrypoint, user, limits, environment. What it
cannot express as an option of `docker run` is kept as a comment, never dropped silently.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from pathlib import Path
from typing import Any

from medperf_action.adapters.docker.sandbox import (
    Mount,
    RunAs,
    SandboxSpec,
    container_kwargs,
    engine_run_as,
)
from medperf_action.errors import MedperfError

#: Keys of `container_kwargs` that `docker run` does not need (or that `--rm` replaces).
_SKIPPED = {"detach", "name", "command", "entrypoint"}


def replay_kwargs(spec: SandboxSpec) -> dict[str, Any]:
    """The sandbox's create arguments for `spec`, its mounts resolved, as JSON data."""
    resolved = [Mount(Path(os.path.abspath(m.host)), m.container, m.read_only) for m in spec.mounts]
    spec = dataclasses.replace(spec, mounts=resolved)
    try:  # the user the engine will run it as (a rootless engine maps users)
        run_as = engine_run_as(spec)
    except MedperfError:  # the run itself says what is wrong with the engine
        run_as = RunAs.for_caller()
    kwargs = container_kwargs(spec, run_as, name="")
    kwargs.pop("name", None)
    kwargs["image"] = spec.image_id
    return kwargs


def _flag_values(key: str, value: Any) -> list[str] | None:
    """`docker run` options for one create argument; None when it has no option."""
    simple = {
        "user": "--user",
        "network_mode": "--network",
        "pids_limit": "--pids-limit",
        "mem_limit": "--memory",
        "memswap_limit": "--memory-swap",
        "shm_size": "--shm-size",
    }
    if key in simple:
        return [simple[key], str(value)]
    if key in ("group_add", "cap_drop", "security_opt"):
        option = {"group_add": "--group-add", "cap_drop": "--cap-drop"}.get(key, "--security-opt")
        return [part for item in value or () for part in (option, str(item))]
    if key == "read_only":
        return ["--read-only"] if value else []
    if key == "tmpfs":
        return [p for target, how in value.items() for p in ("--tmpfs", f"{target}:{how}")]
    if key == "labels":
        return [p for name, v in value.items() for p in ("--label", f"{name}={v}")]
    if key == "environment":
        return [p for name, v in value.items() for p in ("--env", f"{name}={v}")]
    if key == "device_requests":
        return [p for request in value or () for p in ("--gpus", _gpus_flag(request))]
    if key == "mounts":
        out = []
        for target, source, read_only in value:
            how = f"type=bind,source={source},target={target}" + (",readonly" if read_only else "")
            out += ["--mount", how]
        return out
    return None


def _gpus_flag(request: dict[str, Any]) -> str:
    """`docker run --gpus`'s value for one device request (as `device_request` makes it)."""
    if request.get("device_ids"):
        return "device=" + ",".join(str(d) for d in request["device_ids"])
    count = int(request.get("count") or 0)
    return "all" if count < 0 else str(count)


def replay_argv(kwargs: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(`docker run` argv, comments for what it cannot say) for `replay_kwargs`' data."""
    argv = ["docker", "run", "--rm"]
    comments = []
    for key, value in kwargs.items():
        if key in _SKIPPED or key == "image":
            continue
        flags = _flag_values(key, value)
        if flags is None:
            comments.append(f"also set when it ran: {key}={value!r}")
        else:
            argv += flags
    entrypoint = list(kwargs.get("entrypoint") or [])
    if entrypoint:
        argv += ["--entrypoint", entrypoint[0]]
    argv.append(str(kwargs["image"]))
    return argv + entrypoint[1:] + list(kwargs.get("command") or []), comments


def shell_line(argv: list[str], replace: dict[str, str] | None = None) -> str:
    """`argv` (`replay_argv`'s) quoted for a POSIX shell, an option (and its value) per
    line, the image and its arguments on lines of their own; each key of `replace` found
    in an argument becomes its value unquoted (a shell variable)."""
    parts = []
    for arg in argv:
        quoted = shlex.quote(arg)
        for old, new in (replace or {}).items():
            if old and old in arg:
                head, _, tail = arg.partition(old)
                quoted = (shlex.quote(head) if head else "") + new
                quoted += shlex.quote(tail) if tail else ""
                break
        parts.append(quoted)
    lines: list[list[str]] = [parts[:3]]
    in_options = True
    for i, part in enumerate(parts[3:], start=3):
        takes_value = argv[i - 1] not in ("--rm", "--read-only") and argv[i - 1].startswith("-")
        if part.startswith("-") or (in_options and not takes_value):
            in_options = in_options and part.startswith("-")
            lines.append([])
        lines[-1].append(part)
    return " \\\n  ".join(" ".join(line) for line in lines)
