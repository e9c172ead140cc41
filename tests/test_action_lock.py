"""The composite action installs exactly what requirements/action.lock pins, by hash.

The lock is what a registry runs with its write token, so it must say everything: each
dependency pyproject.toml declares (and the build backend) pinned to a version that
satisfies it, for every Python the package supports, and each pin with its file hashes.
scripts/lock.sh rewrites it; these tests say when it has gone stale. That the lock is
complete (nothing it leaves out gets installed) is shown by pip itself: under
`--require-hashes` an unpinned dependency is an error, and tests/test_action_triggers.py
runs the action's real install step.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest brings tomli where the standard library has no tomllib
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "action.lock"
INPUT = ROOT / "requirements" / "action.in"
#: The Pythons the package supports (requires-python >=3.10), as the lock must cover them.
PYTHONS = ("3.10", "3.11", "3.12", "3.13")


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lines = project["project"]["dependencies"] + project["build-system"]["requires"]
    return [Requirement(line) for line in lines]


def _entries(text: str) -> list[str]:
    """Each requirement of a pip requirements file, continuation lines joined, comments cut."""
    joined = re.sub(r"\\\n", " ", text)
    return [
        line.split("#", 1)[0].strip()
        for line in joined.splitlines()
        if line.split("#", 1)[0].strip()
    ]


def _locked() -> list[tuple[Requirement, list[str]]]:
    pins = []
    for entry in _entries(LOCK.read_text()):
        spec, *options = re.split(r"\s+--", entry)
        hashes = [o.split("=", 1)[1] for o in options if o.startswith("hash=")]
        pins.append((Requirement(spec), hashes))
    return pins


def _environment(python: str) -> dict[str, str]:
    return {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }


def _pins_for(python: str) -> dict[str, Version]:
    env = _environment(python)
    chosen: dict[str, Version] = {}
    for req, _hashes in _locked():
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        (spec,) = req.specifier
        assert spec.operator == "==", f"{req} is not pinned to one version"
        name = canonicalize_name(req.name)
        assert name not in chosen, f"{name} is pinned twice for Python {python}"
        chosen[name] = Version(spec.version)
    return chosen


def test_the_lock_input_is_what_pyproject_declares() -> None:
    declared = {str(r) for r in _declared()}
    assert {str(Requirement(e)) for e in _entries(INPUT.read_text())} == declared, (
        "requirements/action.in differs from pyproject.toml: edit it, run scripts/lock.sh"
    )


@pytest.mark.parametrize("python", PYTHONS)
def test_every_declared_dependency_is_pinned_within_its_range(python: str) -> None:
    pins = _pins_for(python)
    for req in _declared():
        name = canonicalize_name(req.name)
        assert name in pins, f"{name} is not in the lock for Python {python}"
        assert req.specifier.contains(pins[name]), (
            f"the lock pins {name}=={pins[name]}, outside {req}: run scripts/lock.sh"
        )


def test_every_pin_carries_hashes() -> None:
    locked = _locked()
    assert len(locked) > len(_declared()), "the lock holds the dependencies' dependencies too"
    for req, hashes in locked:
        assert hashes, f"{req} has no --hash"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), req


def test_markers_only_select_by_platform_and_python() -> None:
    # A marker the check above cannot evaluate would hide a pin from it.
    known = set(_environment("3.10"))
    for req, _hashes in _locked():
        if req.marker is not None:
            Marker(str(req.marker)).evaluate(_environment("3.10"))  # raises if unknown
            assert set(re.findall(r"[a-z_]+(?=\s*[<>=!])", str(req.marker))) <= known, req


def test_the_action_installs_from_the_lock_and_nothing_else() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    install = next(s for s in action["runs"]["steps"] if s.get("id") == "install")
    installs = [line for line in _entries(install["run"]) if "pip install" in line]
    assert len(installs) == 2, installs
    locked, package = installs
    assert "--require-hashes" in locked and "/requirements/action.lock" in locked
    # The package itself: no dependency resolved and no build backend fetched.
    assert package.endswith('"$ACTION_PATH"')
    assert "--no-deps" in package and "--no-build-isolation" in package
