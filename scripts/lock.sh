#!/usr/bin/env bash
# Rewrites requirements/action.lock: what the composite action installs, every file pinned
# by its SHA-256 (pip install --require-hashes), from requirements/action.in.
#
# uv (from PyPI, into a temporary venv) resolves one lock for every Python the package
# supports (3.10 and up) with environment markers, which pip-compile cannot; the action
# itself installs with pip alone. Run it after changing the dependencies in pyproject.toml
# (and requirements/action.in); tests/test_action_lock.py says when it is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
tool="$(mktemp -d)"
trap 'rm -rf "$tool"' EXIT
echo "lock: installing uv into a temporary venv"
python3 -m venv "$tool/venv"
"$tool/venv/bin/pip" install --quiet --disable-pip-version-check uv </dev/null
"$tool/venv/bin/uv" pip compile --universal --python-version 3.10 --generate-hashes \
  --no-header --quiet requirements/action.in -o requirements/action.lock
echo "lock: wrote requirements/action.lock"
