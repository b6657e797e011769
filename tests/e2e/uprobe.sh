#!/usr/bin/env bash
# `sightline uprobe` as a person runs it (table of calls and latency; --args lines; a bad
# target), and the agent probing a function from its configuration into /metrics.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
tmp=$(mktemp -d)
trap 'stop_bg; rm -rf "$tmp"' EXIT
cat >"$tmp/app.c" <<'C'
#include <time.h>
#include <unistd.h>
volatile long sink;
int __attribute__((noinline)) handle_request(int id) { struct timespec ts = {0, 1000000}; nanosleep(&ts, 0); return id; }
int main(void) { sleep(1); for (int i = 0; i < 40; i++) sink += handle_request(i); sleep(30); return 0; }
C
cc -O1 -o "$tmp/app" "$tmp/app.c"

"$tmp/app" &
app=$!
bg_pid $app
out=$("$SL" uprobe "$tmp/app:handle_*" -p $app -l -d 2.5 2>/dev/null)
row=$(grep '^app:handle_request ' <<<"$out") || fail "no row for handle_request: $out"
[[ $(awk '{print $2}' <<<"$row") == 40 ]] || fail "calls: $row"
grep -q 'P99' <<<"$out" || fail "no latency columns: $out"
"$tmp/app" &
app2=$!
bg_pid $app2
json=$("$SL" uprobe "$tmp/app:handle_request" -p $app2 -d 1.5 --json 2>/dev/null)
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["probes"][0]["probe"]=="app:handle_request" and d["probes"][0]["calls"]==40, d' "$json" \
  || fail "--json: $json"
# --args: every call a line (the trace machinery, which once handed the probe's options to l7).
"$tmp/app" &
app3=$!
bg_pid $app3
calls=$("$SL" uprobe "$tmp/app:handle_request" -p $app3 --args --json -d 2.5 2>"$tmp/args.err") || fail "--args: $(cat "$tmp/args.err")"
python3 -c '
import json, sys
calls = [json.loads(l) for l in sys.argv[1].splitlines() if l.strip()]
assert sorted(c["probe.arg1"] for c in calls if c["probe.func"].endswith("app:handle_request")) == list(range(40)), calls[:3]' "$calls" \
  || fail "--args: $(head -3 <<<"$calls") $(cat "$tmp/args.err")"
err=$("$SL" uprobe "$tmp/app:nope" 2>&1) && fail "a missing function was accepted"
grep -q "no function 'nope'" <<<"$err" || fail "unclear error: $err"

# The agent, from its configuration.
port=$(free_port)
cat >"$tmp/agent.yaml" <<YAML
listen: 127.0.0.1:$port
uprobes:
  - {target: "$tmp/app:handle_request", latency: true}
YAML
"$SL" agent --config "$tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
agent=$!
bg_pid $agent
wait_for 20 curl -sf http://127.0.0.1:$port/healthz || fail "agent: $(cat "$tmp/agent.log")"
"$tmp/app" &
bg_pid $!
wait_for 10 bash -c "curl -sf http://127.0.0.1:$port/metrics | grep -qE '^sightline_uprobe_calls_total\{comm=\"app\",probe=\"app:handle_request\"\} 40$'" \
  || fail "agent metric: $(curl -sf http://127.0.0.1:$port/metrics | grep uprobe)"
# A call is counted at its entry and timed at its return, a millisecond later: a scrape between
# the two sees 40 calls and 39 latencies.
wait_for 5 bash -c "curl -sf http://127.0.0.1:$port/metrics | grep -qE '^sightline_uprobe_latency_seconds_count\{probe=\"app:handle_request\"\} 40$'" \
  || fail "agent latency histogram: $(curl -sf http://127.0.0.1:$port/metrics | grep uprobe_latency | tail -3)"
echo "uprobe e2e: ok"
