"""What of an mlcube the registry verifies, and whether its entry stays what was verified.

An entry's *pin* is everything that decides what runs: the SHA-256 of each published
asset, and the image by digest (`image.reference`, `name@sha256:...`) or by the SHA-256
of its archive (`image.archive`). An image *name* is not a pin: whoever can push to it
can move it, so a published entry that names its image so (or names none, leaving the
tag in its mlcube.yaml) is refused by `registry verify`.

An approval records the pins of the cubes the registry's re-run used (the candidate and
the benchmark's three), so `association ls` shows what was verified; and an entry in use
(with an APPROVED association, or a part of an APPROVED benchmark) is frozen: an update
that changes its pin is refused. A new version is a new id.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from medperf_action.domain.registry.reader import Registry

#: The benchmark file's keys that name its cubes, in the workflow's order.
BENCHMARK_CUBES = ("data_preparator", "reference_model", "evaluator")


def image_pin(entry: dict[str, Any]) -> dict[str, str] | None:
    """The image by digest or by its archive's SHA-256; None when only a name is given."""
    image = entry.get("image") or {}
    if image.get("reference"):
        return {"reference": str(image["reference"])}
    archive = image.get("archive")
    if isinstance(archive, dict) and archive.get("sha256"):
        return {"archive": str(archive["sha256"]).lower()}
    return None


def unpinned(entry: dict[str, Any]) -> str | None:
    """Why the entry does not pin what runs, or None when it does."""
    image = entry.get("image") or {}
    if "path" in entry:
        return "it is a `path:` entry (a local checkout), not published assets"
    if image_pin(entry) is not None:
        return None
    if image.get("name"):
        return (
            f"its image is the name {image['name']!r}, which whoever can push to it can "
            "move: publish it by digest (image.reference: NAME@sha256:...) or as an archive "
            "with its SHA-256 (image.archive)"
        )
    return (
        "it names no image, so the tag in its mlcube.yaml would run: publish the image by "
        "digest (image.reference) or as an archive (image.archive)"
    )


def pin_of(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry's assets by SHA-256 and its image by digest (when it has one)."""
    assets = entry.get("assets") or {}
    pin: dict[str, Any] = {
        "assets": {name: str(asset["sha256"]).lower() for name, asset in sorted(assets.items())}
    }
    image = image_pin(entry)
    if image is not None:
        pin["image"] = image
    return pin


def cube_ids(benchmark: dict[str, Any], candidate: str) -> list[str]:
    """The ids of the cubes a re-run of `candidate` on `benchmark` uses: the candidate
    first, then the benchmark's own, each once."""
    ids = [candidate]
    for key in BENCHMARK_CUBES:
        cube = str(benchmark[key])
        if cube not in ids:
            ids.append(cube)
    return ids


def digest(pins: dict[str, Any]) -> str:
    """One SHA-256 for a set of pins, as the registry's verification comment records it."""
    text = json.dumps(pins, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What of one pin differs: `assets.NAME` and `image`, sorted."""
    out = []
    a, b = before.get("assets") or {}, after.get("assets") or {}
    out += [f"assets.{name}" for name in sorted(set(a) | set(b)) if a.get(name) != b.get(name)]
    if before.get("image") != after.get("image"):
        out.append("image")
    return out


def uses(registry: Registry, mlcube_id: str) -> list[str]:
    """Where the registry has put the mlcube in operation: each APPROVED benchmark that
    runs it, and each APPROVED association of it. Empty when nothing depends on it yet."""
    found = []
    for benchmark_id in registry.benchmark_ids():
        benchmark = registry.benchmark(benchmark_id)
        if benchmark.get("approval_status") == "APPROVED" and mlcube_id in (
            benchmark.get(key) for key in BENCHMARK_CUBES
        ):
            found.append(f"the APPROVED benchmark {benchmark_id} runs it")
        association = registry.association(benchmark_id, mlcube_id)
        if association is not None and association.get("status") == "APPROVED":
            found.append(f"its association with {benchmark_id} is APPROVED")
    return found


def pins_for(registry: Registry, benchmark_id: str, mlcube_id: str) -> dict[str, Any]:
    """The pin of each cube a re-run of `mlcube_id` on `benchmark_id` uses, by id."""
    benchmark = registry.benchmark(benchmark_id)
    return {cube: pin_of(registry.mlcube(cube)) for cube in cube_ids(benchmark, mlcube_id)}


def short(pin: dict[str, Any]) -> str:
    """A pin's image, short: `@sha256:0123456789ab` or `archive 0123456789ab`."""
    image = pin.get("image") or {}
    if "reference" in image:
        return "@" + str(image["reference"]).rsplit("@", 1)[-1][:19]
    if "archive" in image:
        return "archive " + str(image["archive"])[:12]
    return "-"
