#!/usr/bin/env bash
# Installs what is missing, then configures and builds into build/.
#   usage: scripts/build.sh [--run-only] [NINJA TARGETS...]
#     --run-only  only what building and running the agent need (deps.sh build; the tests and
#                 benchmarks are not configured unless build/ already has them)
set -euo pipefail
cd "$(dirname "$0")/.."
set_name=test
if [[ ${1:-} == --run-only ]]; then set_name=build; shift; fi
bash scripts/deps.sh $set_name
testing=$(sed -n 's/^BUILD_TESTING:BOOL=//p' build/CMakeCache.txt 2>/dev/null || true)
if [[ ! -f build/build.ninja ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DBUILD_TESTING=$([[ $set_name == test ]] && echo ON || echo OFF) >/dev/null
elif [[ $set_name == test && $testing == OFF ]]; then
  cmake -S . -B build -DBUILD_TESTING=ON >/dev/null
fi
ninja -C build "$@"
