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

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import npm_pinned

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


def fetch(tarball: Path = TARBALL) -> Path:
    """The pinned package tarball, from the cache or fetched with `npm pack`."""
    return npm_pinned.fetch(PACKAGE, VERSION, INTEGRITY, tarball, "webhooks")


def definitions(tarball: Path | None = None) -> list[dict[str, Any]]:
    """Every event definition of api.github.com, with its examples."""
    data = json.loads(npm_pinned.read_member(tarball or fetch(), MEMBER))
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
