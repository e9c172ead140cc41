#!/usr/bin/env bash
# The main job on a fresh Debian machine (as root): install medperf-action into .venv,
# make Docker and the python:3.11-slim base image available, then run the compatibility
# test of the example model against the example benchmark and print the results table.
# Extra arguments go to `medperf-action test` (e.g. --output out/).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh --no-test-deps
scripts/setup-docker.sh

exec .venv/bin/medperf-action test \
  --registry examples/registry \
  --benchmark breast-cancer \
  --model examples/model \
  --mlcube-id breast-cancer-centroid \
  "$@"
