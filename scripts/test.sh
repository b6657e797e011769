#!/usr/bin/env bash
# README command 2 (and CI): build everything and run every test: unit (no root), bpf (root,
# real kernel), e2e (the binary as a person uses it). A test that cannot load BPF fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
cd build
# Unit tests and fuzz runs (bounded in time) in parallel; BPF, e2e and VM tests one at a time (they
# measure the whole node).
ctest -L unit -j2 --output-on-failure --no-tests=error
ctest -L fuzz -j2 --output-on-failure --no-tests=error
ctest -LE 'unit|fuzz' --output-on-failure --no-tests=error
