"""What of an mlcube the registry pins (domain/registry/pins.py), without Docker or GitHub:
the end-to-end attacks are in tests/test_attacks.py."""

from __future__ import annotations

import shutil
from pathlib import Path

from test_listings import association_file

from medperf_action.domain.registry.layout import association_path
from medperf_action.domain.registry.pins import changed, digest, pin_of, unpinned, uses
from medperf_action.domain.registry.reader import LocalSource, Registry
from medperf_action.usecases.registry.checks import _frozen

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "registry"
SHA = {c: c * 64 for c in "abcdef"}


def entry(image: dict | None, **assets: str) -> dict:
    doc: dict = {"id": "m", "name": "m", "owner": "alice", "role": "model"}
    doc["assets"] = {
        name: {"url": f"https://x/{name}", "sha256": sha} for name, sha in assets.items()
    }
    if image is not None:
        doc["image"] = image
    return doc


def test_only_a_digest_or_an_archive_pins_the_image() -> None:
    by_digest = entry({"reference": "ghcr.io/a/m@sha256:" + SHA["a"]}, mlcube=SHA["b"])
    by_archive = entry({"archive": {"url": "https://x/i", "sha256": SHA["c"]}}, mlcube=SHA["b"])
    assert unpinned(by_digest) is None and unpinned(by_archive) is None
    assert "the name 'a/m:latest'" in unpinned(entry({"name": "a/m:latest"}, mlcube=SHA["b"]))
    assert "names no image" in unpinned(entry(None, mlcube=SHA["b"]))
    assert "`path:` entry" in unpinned({"path": "../m", "image": {"name": "x"}})
    assert pin_of(by_archive) == {"assets": {"mlcube": SHA["b"]}, "image": {"archive": SHA["c"]}}


def test_what_changed_and_the_digest_follow_every_field() -> None:
    before = pin_of(
        entry({"reference": "r@sha256:" + SHA["a"]}, mlcube=SHA["b"], parameters=SHA["c"])
    )
    after = pin_of(
        entry({"reference": "r@sha256:" + SHA["d"]}, mlcube=SHA["b"], additional_files=SHA["e"])
    )
    assert changed(before, after) == ["assets.additional_files", "assets.parameters", "image"]
    assert changed(before, before) == []
    assert digest({"m": before}) == digest({"m": dict(reversed(list(before.items())))})
    assert digest({"m": before}) != digest({"m": after})


def _registry(tmp_path: Path) -> Registry:
    root = tmp_path / "registry"
    shutil.copytree(EXAMPLE, root)
    return Registry(LocalSource(root), root)


def test_in_operation_by_an_approved_benchmark_or_association(tmp_path: Path) -> None:
    reg = _registry(tmp_path)
    assert uses(reg, "breast-cancer-metrics") == ["the APPROVED benchmark breast-cancer runs it"]
    assert uses(reg, "breast-cancer-centroid") == []
    path = reg.root / association_path("breast-cancer", "breast-cancer-centroid")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        association_file("breast-cancer", "breast-cancer-centroid", "APPROVED", "bob", 1)
    )
    reg = Registry(LocalSource(reg.root), reg.root)
    assert uses(reg, "breast-cancer-centroid") == ["its association with breast-cancer is APPROVED"]


def test_the_freeze_fails_closed_when_the_registry_cannot_be_read(tmp_path: Path) -> None:
    reg = _registry(tmp_path)
    (reg.root / "benchmarks" / "broken.yaml").write_text("id: [not, a, benchmark\n")
    current = entry({"reference": "r@sha256:" + SHA["a"]}, mlcube=SHA["b"])
    update = entry({"reference": "r@sha256:" + SHA["d"]}, mlcube=SHA["b"])
    (problem,) = _frozen(reg, "breast-cancer-centroid", current, update)
    assert "could not be read" in problem
    assert _frozen(reg, "breast-cancer-centroid", current, dict(current, name="renamed")) == []
