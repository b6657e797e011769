#!/usr/bin/env bash
# Learnt behaviour as a person relies on it: a workload (a program of its own path) learns for a
# short window (running a program, connecting to a port), repeats that behaviour after the
# window without an alert, then runs a new program and connects to a new port: exactly those
# two alerts, naming the workload and what its baseline held; GET /api/v1/baseline shows the
# profile. The profiles outlive a restart: written at stop, shown by `sightline baseline`, loaded
# by the next agent, which alerts on a new program at once instead of learning again.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
tmp=$(mktemp -d)
cleanup() {
  stop_bg
  rm -rf "$tmp"
}
trap cleanup EXIT

pa=$(free_port) pb=$(free_port) aport=$(free_port)
python3 - $pa $pb <<'PY' &
import select, socket, sys
ls = []
for p in sys.argv[1:]:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(p))); s.listen(16); ls.append(s)
while True:
    for s in select.select(ls, [], [])[0]:
        c, _ = s.accept(); c.close()
PY
bg_pid $!
cat >"$tmp/agent.yaml" <<YAML
listen: 127.0.0.1:$aport
store: {enabled: false}
rules:
  json_file: $tmp/alerts.jsonl
  baseline: {window: 6s, file: $tmp/baseline.json}
YAML
"$SL" agent --config "$tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
agent=$!
bg_pid $agent
wait_for 30 curl -sf http://127.0.0.1:$aport/healthz || fail "agent: $(cat "$tmp/agent.log")"
grep -q "learning each workload's behaviour for 6 s" "$tmp/agent.log" || fail "agent log: $(cat "$tmp/agent.log")"
sleep 1

cp /bin/bash "$tmp/wl"  # the workload: its own executable path (it writes no file: an open of
# /dev/null by its child can reach the rules before the exec that names the child)
behave() { "$tmp/wl" -c "$1 >&- 2>&-; exec 3<>/dev/tcp/127.0.0.1/$2; exec 3>&-; true"; }
behave /bin/true $pa  # learning
wait_for 5 bash -c "curl -sf http://127.0.0.1:$aport/api/v1/baseline | grep -q '\"127.0.0.1:$pa\":1'" \
  || fail "not learnt: $(curl -s http://127.0.0.1:$aport/api/v1/baseline | head -c 2000)"
curl -sf http://127.0.0.1:$aport/api/v1/baseline | grep >/dev/null "\"workload\":\"$tmp/wl\",\"learning\":true" \
  || fail "baseline: $(curl -s http://127.0.0.1:$aport/api/v1/baseline | head -c 2000)"
sleep 7  # the window ends
behave /bin/true $pa  # the baseline's behaviour again: quiet
behave /bin/date $pb  # new: a program and a destination
wait_for 10 bash -c "[[ \$(grep -c 'for workload $tmp/wl ' '$tmp/alerts.jsonl' 2>/dev/null) -ge 2 ]]" \
  || fail "alerts: $(grep -i baseline "$tmp/alerts.jsonl" 2>/dev/null | cut -c1-300)"
sleep 1
mine=$(grep "for workload $tmp/wl " "$tmp/alerts.jsonl")
[[ $(wc -l <<<"$mine") == 2 ]] || fail "expected exactly 2 alerts for the workload: $mine"
grep -q '"rule":"Baseline: new executable".*New executable /bin/date for workload '"$tmp"'/wl (its baseline: 1 values, most seen /bin/true (2)' <<<"$mine" \
  || fail "executable alert: $mine"
grep -q '"rule":"Baseline: new outbound destination".*New outbound 127.0.0.1:'"$pb"' for workload '"$tmp"'/wl (its baseline: 1 values, most seen 127.0.0.1:'"$pa"' (2)' <<<"$mine" \
  || fail "outbound alert: $mine"
curl -sf http://127.0.0.1:$aport/metrics | grep >/dev/null '^sightline_baseline_workloads [1-9]' || fail "no baseline metric"

# A restart keeps what was learnt.
kill -TERM $agent
wait_for 20 bash -c "! kill -0 $agent 2>/dev/null" || fail "the agent did not stop"
[[ -s $tmp/baseline.json ]] || fail "no profiles saved at stop: $(tail -5 "$tmp/agent.log")"
shown=$("$SL" baseline --config "$tmp/agent.yaml") || fail "sightline baseline: $shown"
grep -q "^$tmp/wl  \[settled" <<<"$shown" || fail "sightline baseline: $shown"
grep -q "executable   /bin/date (1), /bin/true (2)" <<<"$shown" || fail "sightline baseline: $shown"
"$SL" agent --config "$tmp/agent.yaml" >"$tmp/agent2.log" 2>&1 &
bg_pid $!
wait_for 30 curl -sf http://127.0.0.1:$aport/healthz || fail "agent: $(cat "$tmp/agent2.log")"
grep -q "workloads' profiles loaded from $tmp/baseline.json" "$tmp/agent2.log" || fail "not loaded: $(cat "$tmp/agent2.log")"
sleep 1
behave /bin/true $pa      # known from before the restart: quiet
behave /bin/hostname $pa  # new, and the workload is settled already
wait_for 10 grep -q "New executable /bin/hostname for workload $tmp/wl " "$tmp/alerts.jsonl" \
  || fail "no alert after the restart: $(grep -i baseline "$tmp/alerts.jsonl" | cut -c1-300)"
sleep 1
[[ $(grep -c "for workload $tmp/wl " "$tmp/alerts.jsonl") == 3 ]] || fail "$(grep "for workload $tmp/wl " "$tmp/alerts.jsonl")"
echo "baseline: ok"
