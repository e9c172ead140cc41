"""`medperf-action validate`: schema checks plus MedPerf's rules, with positions.

Every finding names the file, line and column, the key path, the offending value and what
was expected. All findings are reported, not only the first.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from medperf_action.cube import (
    ROLE_TASKS,
    ROLES,
    WORKFLOW_INPUTS,
    Cube,
    Param,
    cube_from_data,
    find_manifest,
)
from medperf_action.errors import MedperfError, UsageError
from medperf_action.findings import Finding, Severity, show_value
from medperf_action.registry import SLUG
from medperf_action.schemas import SCHEMA_FILES, known_valid, remember_valid, schema_problems
from medperf_action.yamlload import (
    Document,
    KeyPath,
    Mark,
    YamlError,
    format_path,
    load_file,
    load_text,
    read_text,
)

KINDS = tuple(SCHEMA_FILES)

# An image reference as Docker's distribution/reference grammar defines it.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?/)"
_TAG = r"(?::[\w][\w.-]{0,127})"
_DIGEST = r"(?:@sha256:[0-9a-f]{64})"
IMAGE_REF = re.compile(rf"^{_DOMAIN}?{_COMPONENT}(?:/{_COMPONENT})*{_TAG}?{_DIGEST}?$")


class CubeError(MedperfError):
    """An MLCube that cannot be used; the message lists the findings."""


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    kind: str | None = None
    role: str | None = None
    role_inferred: bool = False
    cube: Cube | None = None
    files: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def extend(self, other: Report) -> None:
        self.findings.extend(other.findings)
        self.files.extend(other.files)


def display(path: Path) -> str:
    """A path as the user will recognise it: relative to the working directory if inside."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


class _Checker:
    """Collects findings for one file."""

    def __init__(
        self, path: Path, report: Report, text: str | None = None, shown_as: str | None = None
    ) -> None:
        self.path = path
        self.file = shown_as or display(path)
        self.report = report
        self.doc: Document | None = None
        self.text = text
        report.files.append(self.file)

    def add(
        self,
        severity: Severity,
        code: str,
        path: KeyPath,
        message: str,
        *,
        value: Any = None,
        expected: str | None = None,
        key: bool = False,
        show: bool = True,
        mark: Mark | None = None,
    ) -> None:
        if mark is None and self.doc is not None:
            mark = self.doc.mark(path, key=key)
        self.report.findings.append(
            Finding(
                severity,
                code,
                self.file,
                mark.line if mark else None,
                mark.col if mark else None,
                format_path(path) if path else "",
                message,
                show_value(value) if show and value is not None else None,
                expected,
            )
        )

    def error(self, code: str, path: KeyPath, message: str, **kw: Any) -> None:
        self.add("error", code, path, message, **kw)

    def warn(self, code: str, path: KeyPath, message: str, **kw: Any) -> None:
        self.add("warning", code, path, message, **kw)

    def load(self, kind: str) -> Any:
        """Parse and schema-check; returns the data, or None when it could not be parsed."""
        try:
            text = read_text(self.path) if self.text is None else self.text
            self.doc = load_text(text)
        except YamlError as exc:
            self.report.findings.append(
                Finding(
                    "error",
                    exc.code,
                    self.file,
                    exc.mark.line if exc.mark else None,
                    exc.mark.col if exc.mark else None,
                    "",
                    exc.message,
                )
            )
            return None
        for dup in self.doc.duplicates:
            self.error(
                "duplicate-key",
                dup.path,
                f"duplicate key {dup.path[-1]!r} (first defined at line {dup.first.line}); "
                "YAML would keep only the last value",
                mark=dup.mark,
            )
        if known_valid(kind, text):
            return self.doc.data
        problems = list(schema_problems(kind, self.doc))
        if not problems:
            remember_valid(kind, text)
        for path, mark, message, value, expected in problems:
            self.report.findings.append(
                Finding(
                    "error",
                    "schema",
                    self.file,
                    mark.line,
                    mark.col,
                    format_path(path) if path else "",
                    message,
                    value,
                    expected,
                )
            )
        return self.doc.data


# ---------------------------------------------------------------------------------------
# MLCubes


def _inside(base: Path, rel: str) -> tuple[bool, str]:
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
    check: _Checker,
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
        _check_container_image(check, cube)

    if report.role_inferred:
        check.add(
            "notice",
            "role",
            ("tasks",),
            f"role inferred from the tasks: {role} (pass --role to be explicit)",
            key=True,
        )
    if role is None:
        check.add(
            "notice",
            "role",
            ("tasks",),
            "no MedPerf role recognised from the tasks "
            f"({', '.join(cube.tasks) or 'none'}); role rules were not applied",
            expected="tasks prepare/sanity_check/statistics, infer, or evaluate (or --role)",
        )
    else:
        _check_role(check, cube, role)
    _check_workspace_inputs(check, cube, role, manifest_only)


def _check_mlcube_image(
    check: _Checker,
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
    if cube.accelerator_count > 0 and docker is not None and not docker.get("gpu_args"):
        check.warn(
            "gpu-args",
            ("platform", "accelerator_count"),
            "accelerator_count > 0 but docker.gpu_args is empty; "
            "medperf-action passes GPUs only with --gpus",
        )
    if cube.build_context is None or manifest_only:
        return
    strategy = cube.build_strategy
    must_build = strategy in ("auto", "always")
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


def _check_container_image(check: _Checker, cube: Cube) -> None:
    if cube.container_type == "DockerImage" and cube.image and not IMAGE_REF.match(cube.image):
        check.error(
            "image",
            ("image",),
            "malformed image reference",
            value=cube.image,
            expected="[registry/]name[:tag][@sha256:digest], lower-case name",
        )
    elif cube.container_type != "DockerImage":
        check.warn(
            "container-type",
            ("container_type",),
            f"container_type {cube.container_type} is not run by medperf-action yet",
            expected="DockerImage",
        )


def _check_role(check: _Checker, cube: Cube, role: str) -> None:
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
        check.error(
            "unknown-task",
            ("tasks", task_name),
            f"task {task_name!r} is not a task of a {role}",
            key=True,
            expected=", ".join(wanted),
        )


def _single_directory_output(params: dict[str, Param]) -> str | None:
    dirs = [p.name for p in params.values() if p.type == "directory"]
    return dirs[0] if len(dirs) == 1 else None


def _check_workspace_inputs(
    check: _Checker,
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
            ok, why = _inside(workspace, param.path)
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


def _sorted(report: Report) -> Report:
    """Findings in file order, then by position, as a reader goes through them."""
    order = {name: i for i, name in enumerate(report.files)}
    report.findings.sort(key=lambda f: (order.get(f.file, len(order)), f.line or 0, f.col or 0))
    return report


def validate_cube_manifest(
    manifest: Path,
    kind: str,
    role: str | None = None,
    manifest_only: bool = False,
) -> Report:
    report = Report(kind=kind)
    check = _Checker(manifest, report)
    data = check.load(kind)
    if not isinstance(data, dict) or "tasks" not in data:
        return report
    cube = cube_from_data(manifest.absolute(), data)
    report.cube = cube
    check_cube(check, cube, data, role, manifest_only)
    if cube.parameters_file.is_file():
        report.extend(validate_file(cube.parameters_file, "parameters"))
    return _sorted(report)


# ---------------------------------------------------------------------------------------
# Registry and configuration files


def _check_id(check: _Checker, data: Any, field_name: str, expected: str, what: str) -> None:
    if isinstance(data, dict) and data.get(field_name) != expected and field_name in data:
        check.error(
            "id-mismatch",
            (field_name,),
            f"{what} does not match the file's place",
            value=data.get(field_name),
            expected=repr(expected),
        )


def validate_file(
    path: Path,
    kind: str,
    *,
    text: str | None = None,
    shown_as: str | None = None,
) -> Report:
    """Validate one registry or configuration file.

    `text` gives the content when the file is not on disk (a registry read through the
    GitHub API); `path` still gives its place (benchmarks/ID.yaml), and `shown_as` the
    name findings use.
    """
    report = Report(kind=kind)
    check = _Checker(path, report, text, shown_as)
    data = check.load(kind)
    if data is None:
        return report
    stem = path.name.rsplit(".", 1)[0]
    if kind in ("benchmark", "mlcube-entry"):
        _check_id(check, data, "id", stem, "the id")
        if not SLUG.match(stem):
            check.error(
                "file-name",
                (),
                "the file name is not a valid id",
                value=stem,
                expected="[a-z0-9][a-z0-9-]{0,63}.yaml",
            )
    if kind == "association":
        _check_id(check, data, "mlcube", stem, "the mlcube id")
        _check_id(check, data, "benchmark", path.parent.name, "the benchmark id")
    local = text is None
    if (
        local
        and kind == "mlcube-entry"
        and isinstance(data, dict)
        and isinstance(data.get("path"), str)
    ):
        target = path.parent.parent / data["path"]
        if find_manifest(target) is None:
            check.error(
                "missing-file",
                ("path",),
                "no MLCube at this path",
                value=data["path"],
                expected="a folder (relative to the registry) holding mlcube.yaml",
            )
    return report


def validate_registry(root: Path) -> Report:
    """Every file of a registry checkout, plus the references between them."""
    report = validate_file(root / "registry.yaml", "registry")
    entries: dict[str, Any] = {}
    for path in sorted((root / "mlcubes").glob("*.y*ml")):
        sub = validate_file(path, "mlcube-entry")
        report.extend(sub)
        entries[path.name.rsplit(".", 1)[0]] = _data_of(path)
    wanted = {
        "data_preparator": "data-preparator",
        "reference_model": "model",
        "evaluator": "metrics",
    }
    for path in sorted((root / "benchmarks").glob("*.y*ml")):
        sub = validate_file(path, "benchmark")
        report.extend(sub)
        data = _data_of(path)
        if not isinstance(data, dict) or sub.errors:
            continue
        check = _Checker(path, report)
        report.files.pop()
        check.doc = load_file(path)
        for field_name, role in wanted.items():
            ref = data.get(field_name)
            entry = entries.get(str(ref))
            if entry is None:
                check.error(
                    "unknown-mlcube",
                    (field_name,),
                    "no such mlcube in mlcubes/",
                    value=ref,
                    expected=f"one of: {', '.join(sorted(entries)) or 'none'}",
                )
            elif isinstance(entry, dict) and entry.get("role") != role:
                check.error(
                    "wrong-role",
                    (field_name,),
                    f"mlcube {ref!r} has role {entry.get('role')!r}",
                    expected=repr(role),
                )
    for path in sorted((root / "associations").glob("*/*.y*ml")):
        report.extend(validate_file(path, "association"))
    return _sorted(report)


def _data_of(path: Path) -> Any:
    try:
        return load_file(path).data
    except YamlError:
        return None


# ---------------------------------------------------------------------------------------
# Recognising what PATH is


def detect_kind(path: Path) -> str:
    name = path.name
    parent = path.parent.name
    if name == "mlcube.yaml":
        return "mlcube"
    if name == "container_config.yaml":
        return "container-config"
    if name == "parameters.yaml":
        return "parameters"
    if name == "registry.yaml":
        return "registry"
    if name in (".medperf.yml", ".medperf.yaml"):
        return "model-repo"
    if name == "summary.json":
        return "summary"
    if path.suffix in (".yaml", ".yml"):
        if parent == "benchmarks":
            return "benchmark"
        if parent == "mlcubes":
            return "mlcube-entry"
        if path.parent.parent.name == "associations":
            return "association"
    raise UsageError(
        f"cannot tell what kind of file {display(path)} is; pass --kind ({', '.join(KINDS)})"
    )


def validate_path(
    path: Path,
    kind: str | None = None,
    role: str | None = None,
    manifest_only: bool = False,
) -> Report:
    """Validate what PATH is: an MLCube directory, a manifest, or a registry/config file."""
    if role is not None and role not in ROLES:
        raise UsageError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if not path.exists():
        raise UsageError(f"no such file or directory: {display(path)}")
    if path.is_dir():
        if kind is None and (path / "registry.yaml").is_file():
            return validate_registry(path)
        manifest = find_manifest(path)
        if manifest is None:
            raise UsageError(
                f"{display(path)} holds no mlcube.yaml, mlcube/mlcube.yaml, "
                "container_config.yaml or registry.yaml"
            )
        path = manifest
    if kind is None:
        kind = detect_kind(path)
    elif kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    if kind in ("mlcube", "container-config"):
        return validate_cube_manifest(path, kind, role, manifest_only)
    return validate_file(path, kind)
