#!/usr/bin/env python3
"""Fetch GitHub's webhook payload examples: the npm package @octokit/webhooks-examples.

The package is pinned to an exact version and checked against its npm integrity (the
SHA-512 that `npm view @octokit/webhooks-examples@VERSION dist.integrity` prints). It is
fetched with `npm pack` into the git-ignored cache .cache/webhooks/ when missing; the tests
read `package/api.github.com/index.json` straight from the tarball (a list of
{name, actions, description, properties, examples}, one entry per event).

    scripts/fetch-webhook-examples.py                       # fetch (if needed) and check
    scripts/fetch-webhook-examples.py pull_request labeled  # print that example's JSON
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

PACKAGE = "@octokit/webhooks-examples"
VERSION = "7.6.1"
# `npm view @octokit/webhooks-examples@7.6.1 dist.integrity`
INTEGRITY = (
    "sha512-De6U3XB6O3DtCa7bKgCMzTHdeopqqZ6SNivMYJnK65ierKL1AnNIA0tkRYC"
    "RS7lwGT792d+Ps1WbfHlso6MynQ=="
)
MEMBER = "package/api.github.com/index.json"

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "webhooks"
TARBALL = CACHE / f"octokit-webhooks-examples-{VERSION}.tgz"


def _integrity(path: Path) -> str:
    digest = hashlib.sha512()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return "sha512-" + base64.b64encode(digest.digest()).decode()


def fetch(tarball: Path = TARBALL) -> Path:
    """The pinned package tarball, from the cache or fetched with `npm pack`."""
    if not tarball.exists():
        tarball.parent.mkdir(parents=True, exist_ok=True)
        print(f"webhooks: npm pack {PACKAGE}@{VERSION} -> {tarball.parent}", file=sys.stderr)
        subprocess.run(
            ["npm", "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", str(tarball.parent)],
            check=True,
            stdout=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
    actual = _integrity(tarball)
    if actual != INTEGRITY:
        raise SystemExit(f"{tarball}: integrity {actual} is not the pinned {INTEGRITY}")
    return tarball


def definitions(tarball: Path | None = None) -> list[dict[str, Any]]:
    """Every event definition of api.github.com, with its examples."""
    with tarfile.open(tarball or fetch()) as tar:
        member = tar.extractfile(MEMBER)
        if member is None:
            raise SystemExit(f"{tarball} has no {MEMBER}")
        data = json.loads(member.read())
    if not isinstance(data, list):
        raise SystemExit(f"{MEMBER}: expected a list of event definitions")
    return data


def main(argv: list[str]) -> int:
    defs = definitions()
    if not argv:
        print(f"{PACKAGE}@{VERSION}: {len(defs)} events, {TARBALL}")
        return 0
    event, action = argv[0], argv[1] if len(argv) > 1 else None
    for entry in defs:
        if entry["name"] == event:
            for example in entry["examples"]:
                if action is None or example.get("action") == action:
                    print(json.dumps(example, indent=2))
                    return 0
    print(f"no example of {event} {action or ''}".rstrip(), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
