#!/usr/bin/env bash
# Installs Debian's chromium, the real browser the leaderboard's page is tested in
# (tests/test_leaderboard_browser.py runs it headless against a 127.0.0.1 server).
# Idempotent and quick when installed. Needs root for the install.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if command -v chromium >/dev/null 2>&1; then
  echo "setup-chromium: chromium is installed"
  exit 0
fi
echo "setup-chromium: apt-get install chromium"
apt-get -o DPkg::Lock::Timeout=600 update -qq </dev/null
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
  chromium fonts-dejavu-core </dev/null >/dev/null
command -v chromium >/dev/null || { echo "setup-chromium: install failed" >&2; exit 1; }
echo "setup-chromium: installed $(chromium --version 2>/dev/null || echo chromium)"
