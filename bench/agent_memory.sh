#!/usr/bin/env bash
# The agent's memory with every default source: idle, then its peak under churn
# (bench/workloads/memory_churn.sh: short connections with unique paths, execs, 2k processes
# alive, a dlopen-heavy spinner), sampled every second. Three figures each time:
#   rss     what ps shows (the rings' pages twice: they are mapped twice);
#   budget  what memory_limit counts: RSS less the BPF maps mapped + their kernel memory once;
#   cgroup  memory.current of a cgroup the agent runs alone in (what a container limit sees;
#           page cache of the store's file included, which the kernel can reclaim).
# References (published, not measured here): Beyla 75-120 MB, Parca agent 300-750 MiB.
#   usage: bench/agent_memory.sh [CONNS=50000] [EXECS=10000] [ALIVE=2000]   (root, after scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.bash
CONNS=${1:-50000} EXECS=${2:-10000} ALIVE=${3:-2000}
SL=./build/sightline
tmp=$(mktemp -d)
port=$(free_port) nport=$(free_port)
cleanup() {
  [[ -n ${pid:-} ]] && kill -INT "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [[ -f $tmp/nginx.pid ]] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
  memcg_remove
  rm -rf "$tmp"
}
trap cleanup EXIT
start_nginx "$tmp" "$nport"
memcg_make sl-bench-memory
cat >"$tmp/agent.yaml" <<EOF
listen: 127.0.0.1:$port
api_socket: ""
store: {path: $tmp/store.db}
EOF
# The agent alone in its cgroup: started by a shell that moved itself there first.
sh -c "echo \$\$ > $MEMCG/cgroup.procs; exec $SL agent --config $tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
pid=$!
for i in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
metric() { curl -sf "http://127.0.0.1:$port/metrics" | awk -v n="$1" 'index($0, n) == 1 {s += $2} END {print s + 0}'; }
sample() {  # rss budget cgroup, in MiB
  local rss user kernel
  rss=$(awk '/VmRSS/{print $2 * 1024}' "/proc/$pid/status")
  user=$(metric 'sightline_memory_bytes{part="user"}')
  kernel=$(metric 'sightline_memory_bytes{part="kernel"}')
  echo "$((rss >> 20)) $(( (${user%.*} + ${kernel%.*}) >> 20 )) $(( $(memcg_usage) >> 20 ))"
}
sleep 10
read -r idle_rss idle_budget idle_cg < <(sample)
echo "idle (10 s after start): rss ${idle_rss} MiB, budget ${idle_budget} MiB (user $(( $(metric 'sightline_memory_bytes{part="user"}' | cut -d. -f1) >> 20 )) + kernel maps $(( $(metric 'sightline_memory_bytes{part="kernel"}' | cut -d. -f1) >> 20 ))), cgroup ${idle_cg} MiB"

bash bench/workloads/memory_churn.sh "$nport" "$CONNS" "$EXECS" "$ALIVE" >"$tmp/churn.txt" &
churn=$!
peak_rss=0 peak_budget=0 peak_cg=0
while kill -0 "$churn" 2>/dev/null; do
  read -r r b c < <(sample)
  (( r > peak_rss )) && peak_rss=$r
  (( b > peak_budget )) && peak_budget=$b
  (( c > peak_cg )) && peak_cg=$c
  sleep 1
done
wait "$churn" || true
cat "$tmp/churn.txt"
echo "peak under churn: rss ${peak_rss} MiB, budget ${peak_budget} MiB, cgroup ${peak_cg} MiB (memory_limit 128 MiB; targets: idle <= 64 MiB, churn <= 128 MiB)"
echo "shed: $(curl -sf "http://127.0.0.1:$port/metrics" | grep '^sightline_memory_shed_total' | tr '\n' ' ')"
echo "lost: $(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^sightline_events_lost_total/ && $2 > 0' | tr '\n' ' ')"
echo "references (published): Beyla 75-120 MB RSS, Parca agent 300-750 MiB"
