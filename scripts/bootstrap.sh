#!/usr/bin/env bash
# Creates .venv with medperf-action and its test dependencies installed (editable).
# Installs Debian's python3 + venv first when no usable Python 3.10+ is found.
# Idempotent; prints what it does. Usage: scripts/bootstrap.sh [--no-test-deps]
set -euo pipefail
cd "$(dirname "$0")/.."

extras="[test]"
[ "${1:-}" = "--no-test-deps" ] && extras=""

have_python() {
  command -v python3 >/dev/null 2>&1 &&
    python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))' 2>/dev/null
}

if ! have_python; then
  echo "bootstrap: installing Debian's python3, python3-venv, python3-pip"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  python3 -m venv .venv
fi

stamp=".venv/.installed${extras:-[base]}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "bootstrap: installing medperf-action${extras} into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}"
  touch "$stamp"
else
  echo "bootstrap: .venv is up to date"
fi
