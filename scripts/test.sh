#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine (run as root): installs what the
# tests need (Python venv + test extras, Docker Engine + the python:3.11-slim base image,
# Debian's docker-registry, Debian's chromium for the leaderboard's browser test),
# then runs ruff, the layering contract (import-linter), mypy and pytest. Extra arguments
# go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
scripts/setup-docker.sh
scripts/setup-podman.sh # a rootless Podman service run by an unprivileged user
scripts/setup-registry.sh
scripts/setup-chromium.sh
if ! command -v npm >/dev/null 2>&1; then
  # npm fetches the pinned @octokit/openapi package the GitHub contract tests check against.
  echo "test: apt-get install nodejs npm"
  apt-get update -qq </dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm </dev/null >/dev/null
fi

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "== import-linter (the layers: docs/architecture.md)"
.venv/bin/lint-imports

echo "== mypy"
.venv/bin/mypy

echo "== pytest"
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$status"
