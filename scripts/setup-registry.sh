#!/usr/bin/env bash
# Installs Debian's docker-registry (the OCI registry the --push-image tests push to).
# The tests start it themselves on 127.0.0.1 with a throw-away config; this script only
# makes sure the binary is there, and stops the Debian service the package may start.
# Idempotent and quick when installed. Needs root for the install.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if command -v docker-registry >/dev/null 2>&1; then
  echo "setup-registry: docker-registry is installed"
  exit 0
fi
echo "setup-registry: apt-get install docker-registry"
apt-get update -qq </dev/null
# No service may start at install time (it would listen on every interface).
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends docker-registry </dev/null >/dev/null
pkill -x docker-registry 2>/dev/null || true
command -v docker-registry >/dev/null || { echo "setup-registry: install failed" >&2; exit 1; }
echo "setup-registry: installed docker-registry"
