#!/usr/bin/env bash
# The agent's own cost on an idle node, with every default source running: CPU share over a
# window and peak resident memory, from /proc (the same numbers /metrics exports).
#   usage: bench/agent_idle.sh [SECONDS=30]     (as root, after scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.bash
SECS=${1:-30}
port=$(free_port)
./build/sightline agent --listen 127.0.0.1:$port >/dev/null 2>&1 &
pid=$!
trap 'kill -INT $pid 2>/dev/null || true' EXIT
for i in $(seq 100); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
sleep 3  # past start-up (process table seeding, loading)
hz=$(getconf CLK_TCK)
t0=$(awk '{print $14+$15}' /proc/$pid/stat)
sleep "$SECS"
t1=$(awk '{print $14+$15}' /proc/$pid/stat)
rss_kb=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
hwm_kb=$(awk '/VmHWM/{print $2}' /proc/$pid/status)
echo "agent idle over ${SECS}s: cpu $(echo "scale=3; ($t1-$t0)*100/$hz/$SECS" | bc)% of one core, rss $((rss_kb / 1024)) MiB (peak $((hwm_kb / 1024)) MiB)"
curl -sf http://127.0.0.1:$port/metrics | grep -E '^(sightline_events_total|sightline_events_lost_total|sightline_process_table_entries|process_resident)' || true
