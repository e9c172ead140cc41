#!/usr/bin/env bash
# Installs what the leaderboard's page is tested with: Debian's chromium, the real browser
# tests/test_leaderboard_browser.py runs headless against a 127.0.0.1 server, and Debian's
# tidy (HTML Tidy 5, an HTML5 validator) that checks the site's pages.
# Idempotent and quick when installed. Needs root for the install.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if command -v chromium >/dev/null 2>&1 && command -v tidy >/dev/null 2>&1; then
  echo "setup-chromium: chromium and tidy are installed"
  exit 0
fi
echo "setup-chromium: apt-get install chromium tidy"
apt-get -o DPkg::Lock::Timeout=600 update -qq </dev/null
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
  chromium fonts-dejavu-core tidy </dev/null >/dev/null
for tool in chromium tidy; do
  command -v "$tool" >/dev/null || { echo "setup-chromium: $tool did not install" >&2; exit 1; }
done
echo "setup-chromium: installed $(chromium --version 2>/dev/null || echo chromium), $(tidy -v)"
