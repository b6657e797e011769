#!/usr/bin/env bash
# The churn that grows an agent's memory: short HTTP connections with unique paths (each a new
# connection, a new route to cluster, a new L7 tracker entry), many execs, many processes alive
# at once, and a process that dlopens every library it finds while it spins (the profiler's
# symbol caches). Used by bench/agent_memory.sh and tests/e2e/memory.sh.
#   usage: memory_churn.sh NGINX_PORT [CONNS=50000] [EXECS=10000] [ALIVE=2000]
set -euo pipefail
port=$1 conns=${2:-50000} execs=${3:-10000} alive=${4:-2000}
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pkill -f "sl-churn-sleeper" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# Processes alive at once (each a process-table entry and a /proc snapshot for the profiler).
for i in $(seq "$alive"); do
  (exec -a sl-churn-sleeper sleep 120) &
  pids+=($!)
done

# A process that maps many libraries and spins, sampled by the profiler meanwhile.
python3 - >/dev/null 2>&1 <<'PY' &
import ctypes, glob, time
libs = []
for p in sorted(glob.glob("/usr/lib/x86_64-linux-gnu/lib*.so.*"))[:400]:
    try:
        libs.append(ctypes.CDLL(p))
    except OSError:
        pass
end = time.time() + 60
n = 0
while time.time() < end:
    n += 1
PY
pids+=($!)

# Short connections, a unique path each: /u/<n>/x<n>.
cat >"$tmp/unique.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/u/" .. math.random(1, 1000000000) .. "/x" .. n, {["Connection"] = "close"})
end
LUA
per_s=8000  # wrk runs for the time the connections take at about this rate
secs=$(( conns / per_s + 1 ))
wrk -t1 -c8 -d"${secs}s" -s "$tmp/unique.lua" "http://127.0.0.1:$port/" >"$tmp/wrk.txt" 2>&1 &
wrk_pid=$!

# Execs, four at a time.
seq "$execs" | xargs -P4 -n 200 sh -c 'for i; do /bin/true; done' _

wait "$wrk_pid" || true
done_reqs=$(awk '/requests in/{print $1}' "$tmp/wrk.txt")
echo "churn: ${done_reqs:-0} short connections with unique paths, $execs execs, $alive processes alive, a dlopen-heavy spinner"
