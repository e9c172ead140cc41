"""An MLCube, in either of MedPerf's formats, as one model the rest of the tool uses.

1. MLCube: `mlcube/mlcube.yaml`, `mlcube/workspace/…`, build context from `docker.*`.
   A task is called as `IMAGE TASK --name=/mlcube_ioN/...`.
2. MedPerf container config: `container_config.yaml` with fixed mount paths, no arguments.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Format = Literal["mlcube", "container-config"]
ParamType = Literal["file", "directory"]

ROLES = ("data-preparator", "model", "metrics")

#: The container_config types medperf-action runs (Encrypted*, Singularity*: not yet).
RUNNABLE_CONTAINER_TYPES = ("DockerImage", "DockerArchive")

#: role -> task -> (required inputs, optional inputs, required outputs, optional outputs)
ROLE_TASKS: dict[str, dict[str, tuple[tuple[str, ...], ...]]] = {
    "data-preparator": {
        "prepare": (
            ("data_path", "labels_path"),
            ("parameters_file",),
            ("output_path",),
            ("output_labels_path", "report_file", "metadata_path"),
        ),
        "sanity_check": (("data_path",), ("labels_path", "parameters_file"), (), ()),
        "statistics": (("data_path",), ("labels_path", "parameters_file"), ("output_path",), ()),
    },
    "model": {
        "infer": (("data_path",), ("parameters_file",), ("output_path",), ()),
    },
    "metrics": {
        "evaluate": (("predictions", "labels"), ("parameters_file",), ("output_path",), ()),
    },
}

#: Inputs the benchmark workflow supplies; any other input names a file in the workspace.
WORKFLOW_INPUTS = frozenset(
    {"data_path", "labels_path", "parameters_file", "predictions", "labels", "metadata_path"}
)


@dataclass(frozen=True)
class Param:
    name: str
    path: str
    """MLCube: the default, relative to the workspace. Container config: the mount path."""
    type: ParamType | None = None
    opts: str | None = None


@dataclass(frozen=True)
class Task:
    name: str
    inputs: dict[str, Param] = field(default_factory=dict)
    outputs: dict[str, Param] = field(default_factory=dict)
    entrypoint: str | None = None
    command: list[str] | None = None
    run_args: dict[str, Any] = field(default_factory=dict)
    gpus: str | None = None
    """Container config: the GPUs `run_args.gpus` asks for, as `docker run --gpus` takes
    them ("all", a count, or "device=0,1"); None for none (or an MLCube-format task)."""
    malformed: bool = False
    """The task's shape is wrong (the schema says how); role checks skip its parameters."""


@dataclass(frozen=True)
class Cube:
    format: Format
    manifest: Path
    name: str
    image: str
    tasks: dict[str, Task]
    accelerator_count: int = 0
    build_context: Path | None = None
    build_file: Path | None = None
    build_strategy: str | None = None
    container_type: str = "DockerImage"

    @property
    def is_archive(self) -> bool:
        """A container config whose `image` is a `docker save` archive to load."""
        return self.format == "container-config" and self.container_type == "DockerArchive"

    @property
    def root(self) -> Path:
        """The MLCube directory (the folder holding the manifest)."""
        return self.manifest.parent

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    @property
    def parameters_file(self) -> Path:
        return self.workspace / "parameters.yaml"

    @property
    def additional_files(self) -> Path:
        return self.workspace / "additional_files"

    def infer_role(self) -> str | None:
        """The MedPerf role whose tasks these are; None when any task belongs to none."""
        names = set(self.tasks)
        for role, tasks in ROLE_TASKS.items():
            if names and names <= set(tasks):
                return role
        return None


def find_manifest(path: Path) -> Path | None:
    """The manifest for a cube directory: `mlcube.yaml`, `mlcube/mlcube.yaml`, or a config."""
    if path.is_file():
        return path
    for candidate in (
        path / "mlcube.yaml",
        path / "mlcube" / "mlcube.yaml",
        path / "container_config.yaml",
    ):
        if candidate.is_file():
            return candidate
    return None


def _param(name: str, raw: Any) -> Param:
    if isinstance(raw, str):
        return Param(name, raw, "directory" if raw.endswith("/") else None)
    if isinstance(raw, dict):
        default = raw.get("default", raw.get("mount_path"))
        kind = raw.get("type")
        path = default if isinstance(default, str) else name
        return Param(name, path, kind if kind in ("file", "directory") else None, raw.get("opts"))
    # A malformed value (the schema reports it); keep the name so role checks stay quiet.
    return Param(name, "")


def _params(raw: Any) -> dict[str, Param]:
    out: dict[str, Param] = {}
    if isinstance(raw, dict):
        for name, value in raw.items():
            out[str(name)] = _param(str(name), value)
    return out


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def cube_from_data(manifest: Path, data: Any) -> Cube:
    """Build the model from loaded manifest data. Tolerant: the schema reports bad shapes."""
    data = _mapping(data)
    if manifest.name == "container_config.yaml" or "container_type" in data:
        return _container_config(manifest, data)
    return _mlcube(manifest, data)


def gpu_request(value: Any) -> str | None:
    """`run_args.gpus` as `docker run --gpus` takes it, read as MedPerf reads it: a count
    ("2" or 2), "all", or "device=0,1"; None for none (0, "0", "", null) or a value the
    schema refuses."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value) if value > 0 else None
    if not isinstance(value, str):
        return None
    if value == "all":
        return value
    if value.isdecimal():
        return str(int(value)) if int(value) > 0 else None
    if value.startswith("device=") and value.removeprefix("device="):
        return value
    return None


def _container_config(manifest: Path, data: dict[Any, Any]) -> Cube:
    tasks: dict[str, Task] = {}
    for name, raw in _mapping(data.get("tasks")).items():
        raw = _mapping(raw)
        run_args = _mapping(raw.get("run_args"))
        command = run_args.get("command")
        if isinstance(command, str):
            command = shlex.split(command)
        elif not isinstance(command, list):
            command = None
        entrypoint = run_args.get("entrypoint")
        tasks[str(name)] = Task(
            str(name),
            _params(raw.get("input_volumes")),
            _params(raw.get("output_volumes")),
            entrypoint=entrypoint if isinstance(entrypoint, str) else None,
            command=[str(c) for c in command] if command else None,
            run_args=run_args,
            gpus=gpu_request(run_args.get("gpus")),
        )
    image = data.get("image")
    return Cube(
        "container-config",
        manifest,
        name=str(manifest.parent.name),
        image=image if isinstance(image, str) else "",
        tasks=tasks,
        container_type=str(data.get("container_type", "DockerImage")),
    )


def _mlcube(manifest: Path, data: dict[Any, Any]) -> Cube:
    tasks: dict[str, Task] = {}
    for name, raw in _mapping(data.get("tasks")).items():
        raw = _mapping(raw)
        params = _mapping(raw.get("parameters"))
        entry = raw.get("entrypoint")
        tasks[str(name)] = Task(
            str(name),
            _params(params.get("inputs")),
            _params(params.get("outputs")),
            entrypoint=entry if isinstance(entry, str) else None,
            malformed="parameters" not in raw,
        )
    docker = _mapping(data.get("docker"))
    count = _mapping(data.get("platform")).get("accelerator_count", 0)
    context = docker.get("build_context")
    build_file = docker.get("build_file")
    root = manifest.parent
    context_path = (root / context) if isinstance(context, str) else None
    file_name = build_file if isinstance(build_file, str) else "Dockerfile"
    image = docker.get("image")
    return Cube(
        "mlcube",
        manifest,
        name=str(data.get("name") or root.parent.name),
        image=image if isinstance(image, str) else "",
        tasks=tasks,
        accelerator_count=count if isinstance(count, int) and not isinstance(count, bool) else 0,
        build_context=context_path,
        build_file=(context_path / file_name) if context_path is not None else None,
        build_strategy=docker.get("build_strategy"),
    )
