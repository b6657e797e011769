#!/usr/bin/env bash
# The overhead governor: a tight syscall loop makes the agent's own cost exceed a small budget;
# the governor sheds detail (sightline_governor_level rises, the log and /healthz say what), and
# after the loop it restores full detail.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
LOOP=$(dirname "$SL")/bench/sysloop
[[ -x $LOOP ]] || fail "$LOOP missing: scripts/build.sh builds it"
tmp=$(mktemp -d)
trap 'stop_bg; rm -rf "$tmp"' EXIT
port=$(free_port)
{
  echo "listen: 127.0.0.1:$port"
  echo "api_socket: \"\""
  echo "rules: {enabled: false}"
  echo "store: {enabled: false}"
  echo "overhead: {max_cpu_percent: 2}"  # idle here is 0.3-0.6 %, under half of it; the flood is far over
  echo "sources:"
  for s in net security sched block packets profile; do echo "  $s: {enabled: false}"; done
  echo "  syscalls: {enabled: true}"  # off by default; the getppid flood costs through it
} >"$tmp/agent.yaml"
"$SL" agent --config "$tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
bg_pid $!
wait_for 30 curl -sf http://127.0.0.1:$port/healthz || fail "agent: $(cat "$tmp/agent.log")"
metric() { curl -sf http://127.0.0.1:$port/metrics | awk -v n="$1" '$1 == n {print $2}'; }
sleep 3
[[ $(metric sightline_governor_level) == 0 ]] || fail "level $(metric sightline_governor_level) while idle: $(curl -s http://127.0.0.1:$port/healthz)"
[[ $(metric sightline_governor_budget_percent) == 2 ]] || fail "budget: $(metric sightline_governor_budget_percent)"

# The flood: getppid as fast as one CPU goes, until the governor has shed a level.
( while :; do "$LOOP" 2000000 >/dev/null; done ) &
flood=$!
bg_pid $flood
peak=0
for i in $(seq 40); do
  sleep 0.5
  peak=$(metric sightline_governor_level)
  (( peak >= 1 )) && break
done
cost=$(metric sightline_governor_cost_percent)
health=$(curl -s http://127.0.0.1:$port/healthz)
kill $flood; pkill -f "$LOOP" || true; wait $flood 2>/dev/null || true
(( peak >= 1 )) || fail "the governor did not shed under the flood (cost $cost%): $health"
grep -q "governor: level [1-3]" <<<"$health" || fail "/healthz does not show the level: $health"
grep -q "governor: shedding" "$tmp/agent.log" || fail "no log line for the step: $(tail -5 "$tmp/agent.log")"
[[ $(curl -sf http://127.0.0.1:$port/metrics | awk '$1 == "sightline_governor_steps_total{direction=\"shed\"}" {print $2}') -ge 1 ]] \
  || fail "no shed step counted"

# After it: back to full detail (a level per 10 s under half the budget).
back=0
for i in $(seq $((15 * peak + 10))); do
  sleep 1
  [[ $(metric sightline_governor_level) == 0 ]] && { back=1; break; }
done
(( back )) || fail "the governor did not restore full detail after the flood: $(curl -s http://127.0.0.1:$port/healthz)"
grep -q "governor: restoring" "$tmp/agent.log" || fail "no log line for the restore"
echo "governor: ok (level $peak under the flood at $cost% of the node, back to 0 after it)"
