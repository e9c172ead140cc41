"""MedPerf's rules for an MLCube, in either format, beyond what its schema says.

Per role (given, or inferred from the tasks): the tasks and parameter names a data
preparator, model or metrics cube needs; `parameters_file` is `parameters.yaml` and
exists; other inputs stay inside the workspace (no `..`, no absolute path, no symlink out)
and exist; the build context and file exist unless the image is pulled; the image
reference is well-formed. What MedPerf tolerates but bites later is a warning.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

from medperf_action import shipping
from medperf_action.domain.cube import (
    ROLE_TASKS,
    RUNNABLE_CONTAINER_TYPES,
    WORKFLOW_INPUTS,
    Cube,
    Param,
    cube_from_data,
)
from medperf_action.domain.findings import Finding
from medperf_action.domain.validation.registry_files import validate_file
from medperf_action.domain.validation.report import Checker, Report, display, in_file_order
from medperf_action.domain.yamldoc import KeyPath

# An image reference as Docker's distribution/reference grammar defines it.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?/)"
_TAG = r"(?::[\w][\w.-]{0,127})"
_DIGEST = r"(?:@sha256:[0-9a-f]{64})"
IMAGE_REF = re.compile(rf"^{_DOMAIN}?{_COMPONENT}(?:/{_COMPONENT})*{_TAG}?{_DIGEST}?$")


def inside(base: Path, rel: str) -> tuple[bool, str]:
    """Whether `rel` stays inside `base`; the reason when it does not."""
    pure = PurePosixPath(rel)
    if pure.is_absolute() or re.match(r"^[A-Za-z]:[\\/]", rel):
        return False, "an absolute path"
    if ".." in pure.parts:
        return False, "a path with '..'"
    target = base / rel
    real_base = os.path.realpath(base)
    real = os.path.realpath(target)
    if os.path.commonpath([real_base, real]) != real_base:
        return False, f"a path that resolves outside the workspace (to {real})"
    return True, ""


def _param_key(cube: Cube, task: str, side: str, name: str) -> KeyPath:
    if cube.format == "container-config":
        volumes = "input_volumes" if side == "inputs" else "output_volumes"
        return ("tasks", task, volumes, name)
    return ("tasks", task, "parameters", side, name)


def check_cube(
    check: Checker,
    cube: Cube,
    data: dict[str, Any],
    role: str | None,
    manifest_only: bool,
) -> None:
    report = check.report
    if role is None:
        role = cube.infer_role()
        report.role_inferred = role is not None
    report.role = role

    if cube.format == "mlcube":
        _check_mlcube_image(check, cube, data, manifest_only)
    else:
        _check_container_image(check, cube, manifest_only)

    if report.role_inferred:
        check.add(
            "notice",
            "role",
            ("tasks",),
            f"role inferred from the tasks: {role} (pass --role to be explicit)",
            key=True,
        )
    if role is None:
        hints = [h for h in map(_did_you_mean, cube.tasks) if h]
        check.add(
            "notice",
            "role",
            ("tasks",),
            "no MedPerf role recognised from the tasks "
            f"({', '.join(cube.tasks) or 'none'}); role rules were not applied"
            + "".join(f"; {h}" for h in hints),
            expected="tasks prepare/sanity_check/statistics, infer, or evaluate (or --role)",
        )
    else:
        _check_role(check, cube, role)
    _check_workspace_inputs(check, cube, role, manifest_only)
    if not manifest_only:
        _check_additional_files(report, cube)


def _check_additional_files(report: Report, cube: Cube) -> None:
    """What `package` would refuse in additional_files/, reported first (`shipping`)."""
    for path, why in shipping.problems(cube.additional_files):
        report.findings.append(
            Finding("error", "additional-files", display(Path(path)), None, None, "", why)
        )


def _check_mlcube_image(
    check: Checker,
    cube: Cube,
    data: dict[str, Any],
    manifest_only: bool,
) -> None:
    docker = data.get("docker") if isinstance(data.get("docker"), dict) else None
    if docker is not None and cube.image and not IMAGE_REF.match(cube.image):
        check.error(
            "image",
            ("docker", "image"),
            "malformed image reference",
            value=cube.image,
            expected="[registry/]name[:tag][@sha256:digest], lower-case name",
        )
    if docker is not None and "singularity" in data:
        check.warn(
            "two-runtimes",
            ("singularity",),
            "both a docker and a singularity section; medperf-action runs the docker image, "
            "so the two can drift apart",
        )
    if docker is None and "singularity" in data:
        check.error(
            "no-docker",
            ("singularity",),
            "only a singularity image; medperf-action runs containers with Docker",
            expected="a docker section with an image",
        )
    if not data.get("description"):
        check.warn("description", (), "no description; the registry and committee show it")
    _check_image_tag(check, cube)
    if cube.accelerator_count > 0 and docker is not None and not docker.get("gpu_args"):
        check.warn(
            "gpu-args",
            ("platform", "accelerator_count"),
            "accelerator_count > 0 but docker.gpu_args is empty; "
            "medperf-action passes GPUs only with --gpus",
        )
    if cube.build_context is not None and not manifest_only:
        _check_build_context(check, cube)


def _check_image_tag(check: Checker, cube: Cube) -> None:
    if cube.image and ":" not in cube.image.rsplit("/", 1)[-1] and "@" not in cube.image:
        check.warn(
            "image-tag",
            ("docker", "image"),
            "image has no tag, so it means ':latest'",
            value=cube.image,
            expected="a version tag or a digest",
        )
    elif cube.image.endswith(":latest"):
        check.warn(
            "image-tag",
            ("docker", "image"),
            "':latest' changes under you",
            value=cube.image,
            expected="a version tag or a digest",
        )


def _check_build_context(check: Checker, cube: Cube) -> None:
    """The build context and file exist, unless the image may be pulled instead."""
    assert cube.build_context is not None
    must_build = cube.build_strategy in ("auto", "always")
    if not cube.build_context.is_dir():
        (check.error if must_build else check.warn)(
            "build-context",
            ("docker", "build_context"),
            "build context not found" + ("" if must_build else "; the image will be pulled"),
            value=display(cube.build_context),
            expected="a directory relative to the manifest",
        )
    elif cube.build_file is not None and not cube.build_file.is_file():
        check.error(
            "build-file",
            ("docker", "build_file"),
            "build file not found",
            value=display(cube.build_file),
            expected="a file inside the build context",
        )


def _check_container_image(check: Checker, cube: Cube, manifest_only: bool) -> None:
    if cube.container_type == "DockerImage" and cube.image and not IMAGE_REF.match(cube.image):
        check.error(
            "image",
            ("image",),
            "malformed image reference",
            value=cube.image,
            expected="[registry/]name[:tag][@sha256:digest], lower-case name",
        )
    elif cube.is_archive:
        _check_archive_location(check, cube, manifest_only)
    elif cube.container_type not in RUNNABLE_CONTAINER_TYPES:
        check.error(
            "container-type",
            ("container_type",),
            f"container_type {cube.container_type} is not supported by medperf-action yet",
            value=cube.container_type,
            expected=" or ".join(RUNNABLE_CONTAINER_TYPES),
        )
    for task in cube.tasks.values():
        if task.entrypoint is not None and task.entrypoint.split() != [task.entrypoint]:
            check.error(
                "entrypoint",
                ("tasks", task.name, "run_args", "entrypoint"),
                "MedPerf passes the entrypoint to `docker run --entrypoint`, which takes one "
                "executable, never split: its arguments belong in command",
                value=task.entrypoint,
                expected="one executable, e.g. entrypoint: python3, command: /project/run.py",
            )
    if not manifest_only and cube.additional_files.exists() and not cube.additional_files.is_dir():
        check.error(
            "additional-files",
            (),
            "workspace/additional_files is not a folder",
            value=display(cube.additional_files),
            expected="a folder (or none: an empty one is mounted, as MedPerf does)",
        )


def _check_archive_location(check: Checker, cube: Cube, manifest_only: bool) -> None:
    """A DockerArchive's `image`: an http(s) or file URL, or a path beside the config."""
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", cube.image)
    if scheme is not None:
        if scheme.group(1).lower() not in ("http", "https", "file"):
            check.error(
                "image",
                ("image",),
                f"an image archive cannot be fetched over {scheme.group(1)}://",
                value=cube.image,
                expected="an http(s):// or file:// URL of a `docker save` archive",
            )
        return
    ok, why = inside(cube.root, cube.image)
    if not ok:
        check.error(
            "image",
            ("image",),
            f"the image archive is {why}",
            value=cube.image,
            expected="a URL, or a path relative to the folder of container_config.yaml",
        )
    elif not manifest_only and not (cube.root / cube.image).is_file():
        check.error(
            "image",
            ("image",),
            "the image archive is not there",
            value=cube.image,
            expected=f"a `docker save` archive at {display(cube.root / cube.image)}",
        )


def _check_role(check: Checker, cube: Cube, role: str) -> None:
    wanted = ROLE_TASKS[role]
    for task_name, (need_in, _opt_in, need_out, opt_out) in wanted.items():
        task = cube.tasks.get(task_name)
        if task is None:
            check.error(
                "missing-task",
                ("tasks",),
                f"a {role} needs a task {task_name!r}",
                expected=f"tasks: {', '.join(wanted)}",
            )
            continue
        if task.malformed:
            continue
        side_names = (("inputs", need_in), ("outputs", need_out))
        for side, names in side_names:
            params = task.inputs if side == "inputs" else task.outputs
            for name in names:
                if name in params:
                    continue
                alt = _single_directory_output(params) if side == "outputs" else None
                where = ("tasks", task_name)
                if alt is not None and cube.format == "container-config" and role == "model":
                    check.warn(
                        "param-name",
                        _param_key(cube, task_name, side, alt),
                        f"the {task_name} output is called {alt!r}; MedPerf calls it {name!r}",
                    )
                    continue
                check.error(
                    "missing-param",
                    where,
                    f"task {task_name!r} of a {role} needs the {side[:-1]} {name!r}",
                    expected=f"{side}: {', '.join(names)}",
                )
        if "output_labels_path" in opt_out and "output_labels_path" not in task.outputs:
            check.warn(
                "output-labels",
                ("tasks", "prepare"),
                "prepare has no output_labels_path; MedPerf passes one, and the labels "
                "must then live inside output_path",
            )
    for task_name in cube.tasks:
        if task_name in wanted:
            continue
        hint = _did_you_mean(task_name, wanted)
        check.error(
            "unknown-task",
            ("tasks", task_name),
            f"task {task_name!r} is not a task of a {role}" + (f"; {hint}" if hint else ""),
            key=True,
            expected=", ".join(wanted),
        )


ALL_TASKS = tuple(dict.fromkeys(t for tasks in ROLE_TASKS.values() for t in tasks))


def _did_you_mean(name: str, known: Any = ALL_TASKS) -> str | None:
    """ "did you mean 'infer'?" for a task name one edit away from a known one."""
    close = [k for k in known if k != name and _one_edit(name, k)]
    return f"did you mean {close[0]!r}?" if close else None


def _one_edit(a: str, b: str) -> bool:
    """Whether one insertion, deletion, substitution or swap of neighbours turns a into b."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        swapped = len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
        return len(diff) == 1 or (swapped and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def _single_directory_output(params: dict[str, Param]) -> str | None:
    dirs = [p.name for p in params.values() if p.type == "directory"]
    return dirs[0] if len(dirs) == 1 else None


def _check_workspace_inputs(
    check: Checker,
    cube: Cube,
    role: str | None,
    manifest_only: bool,
) -> None:
    workspace = cube.workspace
    params_needed = False
    for task in cube.tasks.values():
        for name, param in task.inputs.items():
            key = _param_key(cube, task.name, "inputs", name)
            if name == "parameters_file":
                params_needed = True
                if cube.format == "mlcube" and role is not None and param.path != "parameters.yaml":
                    check.error(
                        "parameters-file",
                        key,
                        "MedPerf places the parameters file at workspace/parameters.yaml",
                        value=param.path,
                        expected='"parameters.yaml"',
                    )
                continue
            if cube.format != "mlcube" or name in WORKFLOW_INPUTS:
                continue
            ok, why = inside(workspace, param.path)
            if not ok:
                check.error(
                    "outside-workspace",
                    key,
                    f"input {name!r} is {why}",
                    value=param.path,
                    expected="a path inside workspace/, e.g. additional_files/weights.pt",
                )
            elif not manifest_only and not (workspace / param.path).exists():
                check.error(
                    "missing-file",
                    key,
                    f"input {name!r} names a file that is not in the workspace",
                    value=param.path,
                    expected=f"a file or folder at {display(workspace / param.path)}",
                )
    if role is not None and params_needed and not cube.parameters_file.is_file():
        task = next(t for t in cube.tasks.values() if "parameters_file" in t.inputs)
        (check.warn if manifest_only else check.error)(
            "parameters-file",
            _param_key(cube, task.name, "inputs", "parameters_file"),
            "the parameters file is declared but missing",
            expected=f"a file at {display(cube.parameters_file)}",
        )


def validate_cube_manifest(
    manifest: Path,
    kind: str,
    role: str | None = None,
    manifest_only: bool = False,
) -> Report:
    report = Report(kind=kind)
    check = Checker(manifest, report)
    data = check.load(kind)
    if not isinstance(data, dict) or "tasks" not in data:
        return report
    cube = cube_from_data(manifest.absolute(), data)
    report.cube = cube
    check_cube(check, cube, data, role, manifest_only)
    if cube.parameters_file.is_file():
        report.extend(validate_file(cube.parameters_file, "parameters"))
    return in_file_order(report)
