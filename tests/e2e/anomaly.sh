#!/usr/bin/env bash
# Anomalies as real faults make them, with no threshold set anywhere: a client on the host calls
# an HTTP server in a network namespace the test creates, 20 times a second. After the models'
# warm-up (anomaly.interval_s 2: 12 points), three faults, one after the other:
#   1. a slow network: tc tbf on the namespace's end of the veth pair (this kernel has no netem)
#      -> the client's latency to the response's last byte (l7.endpoint.latency_mean: the first
#      byte still comes at once, the 16 KiB body crawls); taken away -> that anomaly ends;
#   2. a lock-contended server: another thread holds the handlers' lock 100 ms at a time
#      -> l7.latency_mean of the server;
#   3. CPU hogs, twice the CPUs -> node.cpu_busy and run-queue latency, related to each other.
# Each is raised within 2 minutes, by an `anomaly` event in the store, an alert of the rule
# `anomaly`, and GET /api/v1/anomalies. The models outlive the agent's restart.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
PY=/usr/bin/python3
ns=slan$$
vh=slah$$ vn=slan$$
HOST=10.214.0.1 PEER=10.214.0.2 PORT=8080
tmp=$(mktemp -d)
cleanup() {
  stop_bg
  del_veth_ns $ns $vh
  rm -rf "$tmp"
}
trap cleanup EXIT

veth_ns $ns $vh $vn $HOST $PEER

# The server: threads, a lock every handler takes briefly; with $tmp/contend present another
# thread holds it 100 ms at a time.
ip netns exec $ns $PY - "$PEER" $PORT "$tmp/contend" <<'PY' &
import http.server, os, sys, threading, time
lock = threading.Lock()
body = b"x" * 16384
def hog():
    while True:
        if os.path.exists(sys.argv[3]):
            with lock:
                time.sleep(0.1)
            time.sleep(0.001)
        else:
            time.sleep(0.05)
threading.Thread(target=hog, daemon=True).start()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        with lock:
            pass
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
PY
bg_pid $!
wait_for 20 curl -sf -o /dev/null http://$PEER:$PORT/work || fail "server did not start"

aport=$(free_port)
cat >"$tmp/agent.yaml" <<YAML
listen: 127.0.0.1:$aport
store: {path: $tmp/store.db}
rules: {json_file: $tmp/alerts.jsonl, stdout: false}
overhead: {max_cpu_percent: 0}
anomaly: {interval_s: 2, warmup_points: 12}
sources:
  l7: {sample: 1, both_local_ends: true}
YAML
"$SL" agent --config "$tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
agent=$!
bg_pid $agent
wait_for 30 curl -sf http://127.0.0.1:$aport/healthz || fail "agent: $(cat "$tmp/agent.log")"

# The client: one request every 50 ms, each on a new connection.
$PY - "$PEER" $PORT <<'PY' &
import http.client, sys, time
while True:
    t = time.time()
    try:
        c = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=10)
        c.request("GET", "/work"); c.getresponse().read(); c.close()
    except Exception:
        pass
    time.sleep(max(0, 0.05 - (time.time() - t)))
PY
bg_pid $!

api() { curl -sf http://127.0.0.1:$aport/api/v1/anomalies; }
# poll SECONDS CMD...: CMD every 2 s (not wait_for's 0.1 s: the polls are traffic and CPU the
# models see too).
poll() {
  local t=$1; shift
  for ((i = 0; i < t / 2; i++)); do "$@" && return 0; sleep 2; done
  return 1
}
# has STATE SIGNAL SUBJECT_PART: an anomaly of SIGNAL whose subject holds SUBJECT_PART, active
# (STATE active) or ended (STATE ended).
has() {
  api | $PY -c "
import json, sys
j = json.load(sys.stdin)
sys.exit(0 if any(a['signal'] == '$2' and '$3' in a['subject'] for a in j['$1']) else 1)"
}
# Warm-up: 12 points of 2 s, and a few more; nothing the traffic does is an anomaly meanwhile.
sleep 34
api >"$tmp/before.json" || fail "GET /api/v1/anomalies: $(cat "$tmp/agent.log")"
! has active l7.latency_mean role=client || fail "an l7 anomaly before any fault: $(cat "$tmp/before.json")"

echo "fault 1: a slow network (tbf 1 Mbit/s on the server's side)"
ip netns exec $ns tc qdisc add dev $vn root tbf rate 1mbit burst 4kb latency 400ms
poll 120 has active l7.endpoint.latency_mean role=client || fail "no client latency anomaly: $(api) $(tail -20 "$tmp/agent.log")"
ip netns exec $ns tc qdisc del dev $vn root
poll 60 has ended l7.endpoint.latency_mean role=client || fail "the client latency anomaly did not end: $(api)"

echo "fault 2: a lock-contended server"
touch "$tmp/contend"
poll 120 has active l7.latency_mean role=server || fail "no server latency anomaly: $(api)"
rm -f "$tmp/contend"

echo "fault 3: CPU hogs"
n=$(($(nproc) * 2))
# (They spin until the test ends: the run-queue anomaly may come a while after the CPU's.)
hogs=()
for ((i = 0; i < n; i++)); do timeout 300 sh -c 'while :; do :; done' & hogs+=($!); bg_pid $!; done
poll 120 has active node.cpu_busy "" || fail "no CPU anomaly: $(api)"
poll 90 has active runq.latency_mean "" || fail "no run-queue anomaly: $(api)
the run-queue latency the agent saw: $(curl -sf http://127.0.0.1:$aport/metrics | grep -E '^sightline_runqueue_latency_seconds_(sum|count)' | head -4)"
api | $PY -c "
import json, sys
j = json.load(sys.stdin)
a = {a['signal']: a for a in j['active']}
rel = a['node.cpu_busy']['related'] + a['runq.latency_mean']['related']
assert 'node.cpu_busy' in rel or 'runq.latency_mean' in rel, rel
print('cpu:', a['node.cpu_busy']['text'])" || fail "CPU and run-queue anomalies not related: $(api)"
kill "${hogs[@]}" 2>/dev/null || true

# The same anomalies as events in the store and as alerts of the rule `anomaly`.
# (The writer commits a batch a second: the newest may be a moment behind the API.)
started() {
  rows=$("$SL" query --db "$tmp/store.db" -f csv "SELECT anomaly_signal, anomaly_subject FROM anomaly WHERE anomaly_state = 'started'")
  grep -qE "^$1" <<<"$rows"
}
for want in "l7.endpoint.latency_mean,.*role=client" "l7.latency_mean,.*role=server" "node.cpu_busy,"; do
  poll 10 started "$want" || fail "no started $want in the store: $rows"
done
"$SL" query --db "$tmp/store.db" -f csv "SELECT count(*) FROM anomaly WHERE anomaly_state = 'ended'" | tail -1 | grep -v '^0$' >/dev/null ||
  fail "no ended anomaly in the store"
alerted() { grep '"rule":"anomaly"' "$tmp/alerts.jsonl" | grep -F "$1" >/dev/null; }
for want in "l7.endpoint.latency_mean of comm=python3 protocol=http role=client" "l7.latency_mean of comm=python3 protocol=http role=server" "node.cpu_busy of the node"; do
  poll 6 alerted "$want" || fail "no alert for $want; the anomaly alerts: $(grep '"rule":"anomaly"' "$tmp/alerts.jsonl" |
    $PY -c 'import json, sys; [print(" ", json.loads(l)["output"][:200]) for l in sys.stdin]')
the store's started anomalies: $("$SL" query --db "$tmp/store.db" -f csv "SELECT anomaly_signal, anomaly_subject FROM anomaly WHERE anomaly_state = 'started'")
the agent's: $(curl -sf http://127.0.0.1:$aport/metrics | grep -E '^sightline_(alerts|alerts_suppressed|anomalies)_total')"
done
metrics=$(curl -sf http://127.0.0.1:$aport/metrics)
(($(metric_sum '^sightline_anomalies_total') >= 3)) || fail "sightline_anomalies_total: $(grep anomal <<<"$metrics")"
(($(metric_sum '^sightline_anomaly_series ') >= 5)) || fail "sightline_anomaly_series: $(grep anomal <<<"$metrics")"

# The models outlive a restart: written at stop beside the store, loaded by the next agent.
kill -TERM $agent
wait $agent 2>/dev/null || true
[[ -s $tmp/anomaly_models.bin ]] || fail "no anomaly_models.bin at stop: $(tail -5 "$tmp/agent.log")"
"$SL" agent --config "$tmp/agent.yaml" >"$tmp/agent2.log" 2>&1 &
bg_pid $!
wait_for 30 curl -sf http://127.0.0.1:$aport/healthz || fail "agent (again): $(cat "$tmp/agent2.log")"
n=$(sed -n "s/.*anomaly: \([0-9]*\) series' models loaded.*/\1/p" "$tmp/agent2.log")
((${n:-0} >= 5)) || fail "models not loaded at start: $(grep anomaly "$tmp/agent2.log")"
echo "PASS: anomalies: slow network, lock contention, CPU hogs, each raised and alerted; $n series' models kept across a restart"
