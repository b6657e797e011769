#!/usr/bin/env bash
# README command 1: build (installing what is missing) and run the agent with its embedded
# defaults: every source this kernel supports, /metrics and /healthz on 127.0.0.1:9190.
# Extra arguments go to `sightline agent` (e.g. --config FILE, --listen HOST:PORT).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh --run-only sightline
exec ./build/sightline agent "$@"
