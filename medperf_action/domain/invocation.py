"""How one task of a cube becomes one container run: arguments and mounts.

Pure functions, no Docker: the two conventions MedPerf knows.

* MLCube: `IMAGE TASK --name=/mlcube_ioN[/file] ...`, one mount per input and output
  (a file parameter mounts its parent folder, as MLCube's Docker runner does).
* Container config, as MedPerf's Docker runner calls it: each volume mounted at its
  fixed `mount_path`; `run_args.command` (a string split as a shell would, or a list) is
  what follows the image, else the image's own command; `run_args.entrypoint` replaces
  the image's entrypoint as one executable (MedPerf passes it to `--entrypoint`, which
  does not split it); `environment` and `shm_size` as given; `gpus` as `--gpus` takes it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from medperf_action.domain.cube import Cube, Param
from medperf_action.errors import CubeInvalid


@dataclass(frozen=True)
class HostMount:
    host: Path
    container: str
    read_only: bool


@dataclass
class Invocation:
    args: list[str]
    mounts: list[HostMount]
    entrypoint: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    shm_size: str | None = None
    gpus: str | None = None
    """The GPUs the task asks for ("all", a count, "device=0,1"): given only with --gpus."""


def output_is_file(param: Param) -> bool:
    """Whether an output names a file (else a folder), from its type or its default."""
    if param.type is not None:
        return param.type == "file"
    if param.path.endswith("/"):
        return False
    return "." in Path(param.path).name


def output_location(param: Param, base: Path) -> Path:
    """Where an output lives on the host, under the step's folder `base`.

    Each output gets a folder of its own; a file output is a file inside it, named as the
    cube names it, so that MLCube's parent-folder mount exposes nothing else.
    """
    folder = base / param.name
    if output_is_file(param):
        return folder / Path(param.path.rstrip("/")).name
    return folder


def task_gpus(cube: Cube, task_name: str) -> str | None:
    """The GPUs a task asks for, as `docker run --gpus` takes them: an MLCube's
    `platform.accelerator_count` above 0 asks for all, a container config's task for its
    `run_args.gpus`. The sandbox gives them only when the user passes --gpus."""
    if cube.format == "mlcube":
        return "all" if cube.accelerator_count > 0 else None
    return cube.tasks[task_name].gpus


def input_mounts(cube: Cube, task_name: str, inputs: dict[str, Path]) -> dict[str, Path]:
    """For each input, the host path mounted for it: what the container can read.

    MLCube mounts a file input's whole folder, so that folder, not just the file.
    """
    mounts: dict[str, Path] = {}
    for name, param in cube.tasks[task_name].inputs.items():
        host = inputs[name]
        if cube.format == "mlcube" and _input_is_file(param, host):
            host = host.parent
        mounts[name] = host
    return mounts


def _input_is_file(param: Param, host: Path) -> bool:
    return host.is_file() if host.exists() else param.type == "file"


def build_invocation(
    cube: Cube,
    task_name: str,
    inputs: dict[str, Path],
    outputs: dict[str, Path],
) -> Invocation:
    """Arguments and mounts for `task_name`, given host paths for its parameters.

    `inputs` and `outputs` map parameter names to host paths. Every declared parameter
    must have one; inputs are mounted read-only.
    """
    task = cube.tasks.get(task_name)
    if task is None:
        raise CubeInvalid(f"{cube.name}: no task {task_name!r}")
    sides = (("input", task.inputs, inputs), ("output", task.outputs, outputs))
    for side, declared, given in sides:
        missing = sorted(set(declared) - set(given))
        if missing:
            raise CubeInvalid(
                f"{cube.name}: task {task_name!r} {side}(s) {', '.join(missing)} have no value"
            )
    if cube.format == "container-config":
        return _container_config(cube, task_name, inputs, outputs)
    return _mlcube(cube, task_name, inputs, outputs)


def _mlcube(
    cube: Cube,
    task_name: str,
    inputs: dict[str, Path],
    outputs: dict[str, Path],
) -> Invocation:
    task = cube.tasks[task_name]
    mounts: list[HostMount] = []
    index: dict[tuple[Path, bool], int] = {}
    args: list[str] = []
    entrypoint = shlex.split(task.entrypoint) if task.entrypoint else None
    if entrypoint is None:
        args.append(task_name)

    def mount(folder: Path, read_only: bool) -> str:
        key = (folder, read_only)
        if key not in index:
            index[key] = len(mounts)
            mounts.append(HostMount(folder, f"/mlcube_io{index[key]}", read_only))
        return f"/mlcube_io{index[key]}"

    sides = (
        (task.inputs, inputs, True, _input_is_file),
        (task.outputs, outputs, False, lambda p, h: output_is_file(p)),
    )
    for params, given, read_only, is_file in sides:
        for name, param in params.items():
            host = given[name]
            if is_file(param, host):
                args.append(f"--{name}={mount(host.parent, read_only)}/{host.name}")
            else:
                args.append(f"--{name}={mount(host, read_only)}")
    return Invocation(args, mounts, entrypoint, gpus=task_gpus(cube, task_name))


def _container_config(
    cube: Cube,
    task_name: str,
    inputs: dict[str, Path],
    outputs: dict[str, Path],
) -> Invocation:
    task = cube.tasks[task_name]
    mounts: list[HostMount] = []
    for params, given, read_only in ((task.inputs, inputs, True), (task.outputs, outputs, False)):
        for name, param in params.items():
            mounts.append(HostMount(given[name], param.path, read_only))
    env = task.run_args.get("environment")
    shm = task.run_args.get("shm_size")
    return Invocation(
        list(task.command or []),
        mounts,
        [task.entrypoint] if task.entrypoint is not None else None,
        {str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else {},
        str(shm) if shm else None,
        task_gpus(cube, task_name),
    )
