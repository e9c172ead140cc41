#!/usr/bin/env python3
"""Extract the GitHub REST operations the test server implements from GitHub's OpenAPI
description into a small spec that loads in milliseconds.

The source is the npm package @octokit/openapi at the exact version pinned below, fetched
with `npm pack` into the git-ignored cache .cache/openapi/ and checked against the pinned
integrity. The operations are listed in tests/github_server/openapi/operations.txt; each is
copied with its path-level parameters and every component it references (recursively).
Examples are dropped (they are documentation only); everything else is copied unchanged.

    scripts/extract_openapi.py          # (re)writes the subset
    scripts/extract_openapi.py --check  # exit 1 when the committed subset differs

The subset is tests/github_server/openapi/api.github.com.subset.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import npm_pinned

PACKAGE = "@octokit/openapi"
VERSION = "23.0.2"
# `npm view @octokit/openapi@23.0.2 dist.integrity`
INTEGRITY = (
    "sha512-pV8M7L9GY23AybNvTmo2nyjmpmnt6+2sRE/tqr0ZLQcPS4lnw7u5e"
    "ZGNmwRNkBC3D7gZXbFx5AHzLUVRBXGDhg=="
)
MEMBER = "package/generated/api.github.com.json"

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "openapi"
TARBALL = CACHE / f"octokit-openapi-{VERSION}.tgz"
OPENAPI_DIR = ROOT / "tests" / "github_server" / "openapi"
OPERATIONS = OPENAPI_DIR / "operations.txt"
SUBSET = OPENAPI_DIR / "api.github.com.subset.json"


def fetch(tarball: Path = TARBALL) -> Path:
    """The pinned package tarball, from the cache or fetched with `npm pack`."""
    return npm_pinned.fetch(PACKAGE, VERSION, INTEGRITY, tarball, "extract_openapi")


def load_description(tarball: Path) -> tuple[dict[str, Any], str]:
    raw = npm_pinned.read_member(tarball, MEMBER)
    return json.loads(raw), hashlib.sha256(raw).hexdigest()


def read_operations(path: Path = OPERATIONS) -> list[tuple[str, str]]:
    operations = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            method, route = line.split()
            operations.append((method.lower(), route))
    return operations


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _strip_examples(node: Any, in_properties: bool = False) -> Any:
    """Drop `examples` of media types, parameters and headers (documentation only)."""
    if isinstance(node, dict):
        return {
            key: _strip_examples(value, key == "properties")
            for key, value in node.items()
            if in_properties or key != "examples"
        }
    if isinstance(node, list):
        return [_strip_examples(item) for item in node]
    return node


def extract(spec: dict[str, Any], operations: list[tuple[str, str]], source_sha256: str) -> dict:
    paths: dict[str, dict[str, Any]] = {}
    for method, route in operations:
        item = spec["paths"].get(route)
        if item is None or method not in item:
            raise SystemExit(f"{method.upper()} {route} is not in {PACKAGE}@{VERSION}")
        entry = paths.setdefault(route, {})
        if "parameters" in item:
            entry["parameters"] = item["parameters"]
        entry[method] = item[method]
    # keep the description's own order of paths and methods
    ordered = {}
    for route, item in spec["paths"].items():
        if route in paths:
            ordered[route] = {k: paths[route][k] for k in item if k in paths[route]}
    ordered = _strip_examples(ordered)

    wanted: dict[str, dict[str, Any]] = {}
    todo = list(_refs(ordered))
    while todo:
        ref = todo.pop()
        if not ref.startswith("#/components/"):
            raise SystemExit(f"unsupported $ref {ref}")
        _, _, kind, name = ref.split("/", 3)
        if name in wanted.get(kind, {}):
            continue
        value = _strip_examples(spec["components"][kind][name])
        wanted.setdefault(kind, {})[name] = value
        todo.extend(_refs(value))

    components = {kind: dict(sorted(items.items())) for kind, items in sorted(wanted.items())}
    return {
        "openapi": spec["openapi"],
        "info": spec["info"],
        "x-extracted-from": {
            "package": f"{PACKAGE}@{VERSION}",
            "integrity": INTEGRITY,
            "file": MEMBER.removeprefix("package/"),
            "sha256": source_sha256,
            "by": "scripts/extract_openapi.py",
            "operations": len(operations),
        },
        "servers": spec["servers"],
        "paths": ordered,
        "components": components,
    }


def render(subset: dict[str, Any]) -> str:
    return json.dumps(subset, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed subset")
    parser.add_argument("--tarball", type=Path, default=TARBALL, help="the npm pack tarball")
    parser.add_argument("--output", type=Path, default=SUBSET)
    args = parser.parse_args(argv)

    spec, sha = load_description(fetch(args.tarball))
    text = render(extract(spec, read_operations(), sha))
    if args.check:
        if not args.output.exists() or args.output.read_text() != text:
            print(f"{args.output} is not what {PACKAGE}@{VERSION} gives: run {__file__}")
            return 1
        print(f"{args.output} matches {PACKAGE}@{VERSION}")
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output} ({len(text)} bytes) from {PACKAGE}@{VERSION}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
