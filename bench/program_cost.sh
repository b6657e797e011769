#!/usr/bin/env bash
# Where the agent's cost goes under one workload: the full default agent (or SL_EXTRA's changes)
# runs beside the workload; the deltas of each BPF program's run count and run time
# (sightline_bpf_program_run{s,_seconds}_total, kernel bpf_stats) and of the agent's own CPU
# over the workload's run are printed, largest first.
#   usage: bench/program_cost.sh                        (wrk -t1 -c8 -d5s against nginx; DURATION=20 for longer)
#          WORK="./build/bench/sysloop 3000000" bench/program_cost.sh
#          SL_EXTRA='sources: {l7: {sample: 1}}' bench/program_cost.sh
#          WORK="sleep 20" bench/program_cost.sh          (the idle agent's CPU, to subtract)
# (as root, after scripts/build.sh; a benchmark: nothing here asserts a time)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.bash
SL=${SL:-./build/sightline}
[[ -x $SL ]] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
tmp=$(mktemp -d)
chmod 755 "$tmp"
ap=
cleanup() {
  [[ -n $ap ]] && kill -TERM "$ap" 2>/dev/null && wait "$ap" 2>/dev/null
  [[ -f $tmp/nginx.pid ]] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
if [[ -z ${WORK:-} ]]; then
  nport=$(free_port)
  start_nginx "$tmp" "$nport"
  WORK="wrk -t1 -c8 -d${DURATION:-5}s http://127.0.0.1:$nport/"
fi
port=$(free_port)
# bpf_stats always on: exact run counts and times (the default, sampled, measures one second in five)
printf 'listen: 127.0.0.1:%s\napi_socket: ""\noverhead: {bpf_stats: always}\nstore:\n  path: %s/sl.db\nexporters:\n  spool_dir: %s/spool\n%s\n' \
  "$port" "$tmp" "$tmp" "${SL_EXTRA:-}" >"$tmp/agent.yaml"
"$SL" agent --config "$tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
ap=$!
for i in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
# the agent's start (BTF, symbol tables, the first /proc scan) is not the workload's cost
sleep "${SETTLE:-3}"
snap() {
  curl -sf "http://127.0.0.1:$port/metrics" |
    grep -E '^(sightline_bpf_program_run_seconds_total|sightline_bpf_program_runs_total|process_cpu_seconds_total)' || true
}
snap >"$tmp/a"
echo "workload: $WORK"
$WORK 2>&1 | tr '\r' '\n' | grep -E "Requests/sec|requests per second|ns_per_op|tps" || true
snap >"$tmp/b"
python3 - "$tmp/a" "$tmp/b" <<'PY'
import sys
def read(path):
    out = {}
    for line in open(path):
        key, value = line.rsplit(" ", 1)
        out[key] = float(value)
    return out
a, b = read(sys.argv[1]), read(sys.argv[2])
runs = {k: b[k] - a.get(k, 0) for k in b if k.startswith("sightline_bpf_program_runs_total")}
rows = []
for k, v in b.items():
    d = v - a.get(k, 0)
    if k.startswith("sightline_bpf_program_run_seconds_total") and d > 0:
        labels = k[k.index("{"):]
        n = runs.get("sightline_bpf_program_runs_total" + labels, 0)
        rows.append((d, "%-60s %10.0f runs %7.0f ns/run" % (labels, n, d / n * 1e9 if n else 0)))
    elif k == "process_cpu_seconds_total":
        rows.append((d, "%-60s (the agent's own CPU)" % "agent"))
for d, text in sorted(rows, reverse=True)[:20]:
    print("%8.3f s  %s" % (d, text))
PY
