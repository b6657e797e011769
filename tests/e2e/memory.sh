#!/usr/bin/env bash
# The memory budget, held under churn in a real memory cgroup: the agent (every default source,
# memory_limit 128MiB, the default) runs alone in a cgroup limited to the budget plus 32 MiB, while short
# connections with unique paths, thousands of execs, 2000 processes alive at once and a
# dlopen-heavy spinner churn the node and its exporter's backend is down. It is never OOM-killed,
# what the budget counts stays under the limit every second, and it sheds (counted) to stay
# there. A query that would allocate a gigabyte is refused; a limit below what the sources'
# maps need is refused at start with the minimum.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
source "$(dirname "$0")/../../bench/lib.bash"
SL=$1
CHURN=$(dirname "$0")/../../bench/workloads/memory_churn.sh
tmp=$(mktemp -d)
cleanup() {
  stop_bg
  [[ -f $tmp/nginx.pid ]] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
  sleep 0.5
  memcg_remove
  rm -rf "$tmp"
}
trap cleanup EXIT
port=$(free_port) nport=$(free_port) dead=$(free_port)
LIMIT_MIB=128

# A limit below what the maps take is refused, naming the minimum.
cat >"$tmp/small.yaml" <<EOF
listen: 127.0.0.1:$port
api_socket: ""
store: {enabled: false}
memory_limit: 48MiB
EOF
if "$SL" agent --config "$tmp/small.yaml" >"$tmp/small.log" 2>&1; then fail "memory_limit 48MiB was accepted"; fi
grep -q "memory_limit 48 MiB is below what the enabled sources need: [0-9]* MiB" "$tmp/small.log" ||
  fail "no refusal with the minimum: $(tail -3 "$tmp/small.log")"

start_nginx "$tmp" "$nport"
# The kernel's verifier charges the programs' verification to the loading cgroup: on 6.18.44
# the l7 programs take ~130 MiB of kernel memory for a moment at start (none once loaded). The
# cgroup allows that while the agent starts, then holds it to the budget plus 32 MiB.
memcg_make "sl-e2e-memory-$$" $(( (LIMIT_MIB + 32 + 256) << 20 ))
cat >"$tmp/agent.yaml" <<EOF
listen: 127.0.0.1:$port
api_socket: ""
memory_limit: ${LIMIT_MIB}MiB
store: {path: $tmp/store.db}
exporters:
  spool_dir: $tmp/spool
  remote_write: {url: "http://127.0.0.1:$dead/api/v1/write", interval: 1s}
  clickhouse: {url: "http://127.0.0.1:$dead"}
EOF
sh -c "echo \$\$ > $MEMCG/cgroup.procs; exec $SL agent --config $tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
agent=$!
bg_pid $agent
wait_for 60 curl -sf "http://127.0.0.1:$port/healthz" || fail "agent: $(tail -5 "$tmp/agent.log")"
echo "start: peak $(( $(memcg_peak) >> 20 )) MiB charged (verification included), $(( $(memcg_usage) >> 20 )) MiB now"
memcg_limit $(( (LIMIT_MIB + 32) << 20 )) || fail "the agent holds more than the budget plus 32 MiB after start: $(( $(memcg_usage) >> 20 )) MiB"
metric() { curl -sf "http://127.0.0.1:$port/metrics" | awk -v n="$1" 'index($0, n) == 1 {s += $2} END {printf "%d\n", s}'; }
[[ $(metric sightline_memory_limit_bytes) == $((LIMIT_MIB << 20)) ]] || fail "limit: $(metric sightline_memory_limit_bytes)"
(( $(metric 'sightline_bpf_map_bytes{') > 0 )) || fail "no sightline_bpf_map_bytes"

bash "$CHURN" "$nport" 20000 5000 2000 >"$tmp/churn.txt" &
churn=$!
bg_pid $churn
peak=0 peak_rss=0 samples=0
while kill -0 "$churn" 2>/dev/null; do
  kill -0 "$agent" 2>/dev/null || fail "the agent died under churn: $(tail -5 "$tmp/agent.log")"
  used=$(( $(metric 'sightline_memory_bytes{part="user"}') + $(metric 'sightline_memory_bytes{part="kernel"}') ))
  rss=$(( $(awk '/VmRSS/{print $2}' "/proc/$agent/status") << 10 ))
  (( used > peak )) && peak=$used
  (( rss > peak_rss )) && peak_rss=$rss
  (( used < LIMIT_MIB << 20 )) || fail "in use $((used >> 20)) MiB, over the ${LIMIT_MIB} MiB budget"
  samples=$((samples + 1))
  sleep 1
done
wait "$churn" || fail "churn: $(cat "$tmp/churn.txt")"
cat "$tmp/churn.txt"
kill -0 "$agent" 2>/dev/null || fail "the agent died: $(tail -5 "$tmp/agent.log")"
(( $(memcg_ooms) == 0 )) || fail "OOM kills in the agent's cgroup: $(memcg_ooms)"
(( samples >= 5 )) || fail "only $samples samples"
shed=$(metric 'sightline_memory_shed_total{')
(( shed > 0 )) || fail "nothing shed at a peak of $((peak >> 20)) MiB"
if (( $(metric 'sightline_memory_shed_total{what="sqlite_cache"}') > 0 )); then
  grep -q "memory: .* MiB of the ${LIMIT_MIB} MiB budget in use: gave back" "$tmp/agent.log" || fail "caches shed, no log line"
fi
# The exporter was down all along: its batches queued or spooled, none lost unaccounted.
(( $(metric 'sightline_exporter_failed_attempts_total{') > 0 )) || fail "the exporter never tried"

# A query that would build a 1 GB value is refused before it allocates.
rss0=$(awk '/VmRSS/{print $2}' "/proc/$agent/status")
code=$(curl -s -o "$tmp/q.json" -w '%{http_code}' --get --data-urlencode "sql=SELECT length(randomblob(1000000000))" \
  "http://127.0.0.1:$port/api/v1/query")
[[ $code == 400 ]] && grep -q "one query's bound" "$tmp/q.json" || fail "query: $code $(cat "$tmp/q.json")"
rss1=$(awk '/VmRSS/{print $2}' "/proc/$agent/status")
(( rss1 < rss0 + 65536 )) || fail "RSS grew from $rss0 to $rss1 kB on a refused query"
echo "ok: peak in use $((peak >> 20)) MiB of ${LIMIT_MIB} (RSS peak $((peak_rss >> 20)) MiB) over $samples s, shed $shed times, no OOM kill"
