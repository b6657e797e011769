#!/usr/bin/env bash
# The anomaly models on a node where nothing goes wrong: the full default agent (anomaly.
# interval_s 10) for MINUTES while a steady client calls an HTTP server 20 times a second.
# Reports every anomaly raised (the target is none after the warm-up), the series modelled,
# their memory, and the agent's CPU. Nothing else should run on the machine meanwhile: a build
# is a real CPU anomaly.
#   usage: bench/anomaly_quiet.sh [MINUTES=30]      (as root, after scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
SL=${SL:-build/sightline}
minutes=${1:-30}
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
port=$(scripts/free-port) aport=$(scripts/free-port)
python3 - $port <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
pids+=($!)
cat >"$tmp/agent.yaml" <<YAML
listen: 127.0.0.1:$aport
store: {path: $tmp/store.db}
rules: {stdout: false}
YAML
"$SL" agent --config "$tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
agent=$!
pids+=($agent)
for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:$aport/healthz && break; sleep 0.1; done
python3 - $port <<'PY' &
import http.client, sys, time
while True:
    t = time.time()
    try:
        c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
        c.request("GET", "/x"); c.getresponse().read(); c.close()
    except Exception:
        pass
    time.sleep(max(0, 0.05 - (time.time() - t)))
PY
pids+=($!)
cpu0=$(awk '{print $14 + $15}' /proc/$agent/stat)
echo "running $minutes min (warm-up: the first 12 points, 2 min)..."
sleep $((minutes * 60))
cpu1=$(awk '{print $14 + $15}' /proc/$agent/stat)
curl -sf http://127.0.0.1:$aport/api/v1/anomalies >"$tmp/anomalies.json"
python3 - "$tmp/anomalies.json" "$minutes" "$cpu0" "$cpu1" "$(getconf CLK_TCK)" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
minutes, cpu0, cpu1, hz = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
all_ = j["active"] + j["ended"]
print(f"anomalies raised in {minutes} min: {len(all_)} ({len(j['active'])} still active)")
for a in sorted(all_, key=lambda a: a["since"]):
    print("  ", a["text"])
print(f"series modelled: {j['series']}, {j['bytes_per_series']} bytes each ({j['series'] * j['bytes_per_series'] / 1024:.0f} KiB)")
print(f"agent CPU: {(cpu1 - cpu0) / hz / (minutes * 60) * 100:.2f}% of one CPU (everything it does, not the models alone)")
PY
