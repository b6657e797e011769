#!/usr/bin/env bash
# The agent's CPU with the default rules on and off, under an exec loop and an open loop
# (every event goes through the rule engine), interleaved; and the workloads' slowdown.
#   usage: bench/rules_overhead.sh [ROUNDS=3]   (as root, after scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.bash
ROUNDS=${1:-3}
SL=./build/sightline
[[ -x $SL && -x build/bench/execloop && -x build/bench/openloop ]] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
tmp=$(mktemp -d)
ap=
trap '[[ -n $ap ]] && kill -TERM $ap 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(free_port)
for mode in on off; do
  printf 'listen: 127.0.0.1:%s\nrules: {enabled: %s}\n' "$port" "$([[ $mode == on ]] && echo true || echo false)" >"$tmp/$mode.yaml"
done
declare -A CPU NS
for ((r = 1; r <= ROUNDS; r++)); do
  for w in "build/bench/execloop 2000" "build/bench/openloop 300000"; do
    for mode in on off; do
      $SL agent --config "$tmp/$mode.yaml" >/dev/null 2>&1 &
      ap=$!
      for i in $(seq 100); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
      sleep 1
      t0=$(cpu_ticks $ap)
      ns=$($w | ns_of)
      sleep 0.3  # the last events drained
      t1=$(cpu_ticks $ap)
      kill -TERM $ap; wait $ap 2>/dev/null || true; ap=
      cpu=$(echo "scale=3; ($t1 - $t0) / 100" | bc)
      printf 'round %d %-30s rules %-3s workload %9.1f ns/op  agent %6.2f cpu-s\n' "$r" "$w" "$mode" "$ns" "$cpu"
      CPU["$w|$mode"]+="$cpu "
      NS["$w|$mode"]+="$ns "
    done
  done
done
echo
printf '%-30s %-5s %14s %12s\n' workload rules ns/op agent-cpu-s
for w in "build/bench/execloop 2000" "build/bench/openloop 300000"; do
  for mode in on off; do
    printf '%-30s %-5s %14s %12s\n' "$w" "$mode" "$(median <<<"${NS[$w|$mode]}")" "$(median <<<"${CPU[$w|$mode]}")"
  done
done
