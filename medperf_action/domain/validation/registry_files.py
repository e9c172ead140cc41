"""Registry and configuration files: schema, ids that match their place, references."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medperf_action.domain.cube import find_manifest
from medperf_action.domain.registry.layout import SLUG
from medperf_action.domain.validation.report import Checker, Report, in_file_order
from medperf_action.domain.yamldoc import load_file
from medperf_action.errors import YamlError


def _check_id(check: Checker, data: Any, field_name: str, expected: str, what: str) -> None:
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
    check = Checker(path, report, text, shown_as)
    data = check.load(kind)
    if data is None:
        return report
    stem = path.name.rsplit(".", 1)[0]
    if kind in ("benchmark", "mlcube-entry", "dataset"):
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
    if kind == "dataset-association":
        _check_id(check, data, "dataset", stem, "the dataset id")
        _check_id(check, data, "benchmark", path.parent.name, "the benchmark id")
    if kind == "result":
        _check_id(check, data, "dataset", stem, "the dataset id")
        _check_id(check, data, "model", path.parent.name, "the model id")
        _check_id(check, data, "benchmark", path.parent.parent.name, "the benchmark id")
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
        check = Checker(path, report)
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
    return in_file_order(report)


def _data_of(path: Path) -> Any:
    try:
        return load_file(path).data
    except YamlError:
        return None
