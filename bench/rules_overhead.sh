#!/usr/bin/env bash
# The agent's CPU and the workloads' speed with the default rules on and off, and with rules
# that act in the kernel (action: kill) beside the alert-only path, under an exec loop, an
# open loop and a connect/accept loop, interleaved:
#   bare       no agent
#   off        the agent, rules off
#   on         the default rules (alert only: every event through the rule engine)
#   kill-name  + a kill rule on opens whose proc.name never matches (one hash lookup an open)
#   kill-path  + a kill rule on opens constrained by fd.name and proc.exepath only (every open
#              walks its file's path in the kernel: the worst case)
#   kill-port  + a kill rule on connects to a port nothing uses (every connect looks its
#              destination port up in the kernel, at sys_enter_connect)
#   falco      the default rules and Falco's default rules file (tests/data/falco): its open
#              rules resolve each relative path (the open loop runs a relative one too)
#   usage: bench/rules_overhead.sh [ROUNDS=3] [MODES]   (as root, after scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.bash
ROUNDS=${1:-3}
MODES=${2:-bare off on kill-name kill-path}
SL=./build/sightline
[[ -x $SL && -x build/bench/execloop && -x build/bench/openloop && -x build/bench/connloop ]] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
tmp=$(mktemp -d)
ap=
trap '[[ -n $ap ]] && kill -TERM $ap 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(free_port)
cat >"$tmp/kill-name.rules" <<'YAML'
- rule: Bench kill by name
  condition: evt.type = open and fd.name = /etc/shadow and proc.name = sl-bench-never
  output: "%proc.name opened %fd.name"
  priority: CRITICAL
  action: kill
YAML
cat >"$tmp/kill-port.rules" <<'YAML'
- rule: Bench kill by port
  condition: evt.type = connect and fd.rport = 9
  output: "%proc.name connected to %fd.rip:%fd.rport"
  priority: CRITICAL
  action: kill
YAML
cat >"$tmp/kill-path.rules" <<'YAML'
- rule: Bench kill by path
  condition: evt.type = open and fd.name = /etc/shadow and proc.exepath startswith /sl-bench-never/
  output: "%proc.exepath opened %fd.name"
  priority: CRITICAL
  action: kill
YAML
for mode in off on kill-name kill-path kill-port falco; do
  {
    printf 'listen: 127.0.0.1:%s\n' "$port"
    case $mode in
      off) echo 'rules: {enabled: false}' ;;
      on) echo 'rules: {enabled: true}' ;;
      falco) echo "rules: {enabled: true, files: [$PWD/tests/data/falco/falco_rules.yaml]}" ;;
      *) echo "rules: {enabled: true, files: [$tmp/$mode.rules]}" ;;
    esac
  } >"$tmp/$mode.yaml"
done
rel=$(realpath --relative-to=. /etc/hostname)
WORKLOADS=("build/bench/execloop 2000" "build/bench/openloop 300000" "build/bench/openloop 300000 $rel"
  "build/bench/connloop 20000")
declare -A CPU NS
for ((r = 1; r <= ROUNDS; r++)); do
  for w in "${WORKLOADS[@]}"; do
    for mode in $MODES; do
      if [[ $mode != bare ]]; then
        $SL agent --config "$tmp/$mode.yaml" >"$tmp/agent.log" 2>&1 &
        ap=$!
        for i in $(seq 100); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
        sleep 1
        t0=$(cpu_ticks $ap)
      fi
      ns=$($w | ns_of)
      cpu=0
      if [[ $mode != bare ]]; then
        sleep 0.3  # the last events drained
        t1=$(cpu_ticks $ap)
        kill -TERM $ap; wait $ap 2>/dev/null || true; ap=
        cpu=$(echo "scale=3; ($t1 - $t0) / 100" | bc)
      fi
      printf 'round %d %-30s %-10s workload %9.1f ns/op  agent %6.2f cpu-s\n' "$r" "$w" "$mode" "$ns" "$cpu"
      CPU["$w|$mode"]+="$cpu "
      NS["$w|$mode"]+="$ns "
    done
  done
done
echo
printf '%-30s %-10s %14s %12s\n' workload mode ns/op agent-cpu-s
for w in "${WORKLOADS[@]}"; do
  for mode in $MODES; do
    printf '%-30s %-10s %14s %12s\n' "$w" "$mode" "$(median <<<"${NS[$w|$mode]}")" "$(median <<<"${CPU[$w|$mode]}")"
  done
done
