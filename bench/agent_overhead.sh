#!/usr/bin/env bash
# What the full default agent costs the workloads it watches, beside bpftrace counting the same
# hooks, in interleaved rounds. Each round runs every workload
#   bare       nothing attached
#   bpftrace   bpftrace counting every syscall per process and every sched_switch (the floor
#              of an agent that only counts)
#   sightline  `sightline agent` with its embedded defaults (every source, rules, store)
#   other      a second sightline binary, when SL2 names one (before/after a change)
# and prints each measurement; the summary is the median over rounds of each ratio to bare.
# Workloads: getppid loop (sysloop), openat loop (openloop), fork+exec (execloop), http (httploop:
# HTTP exchanges over 8 local TCP connections in one thread, the L7 hooks' cost without nginx's
# noise; not in the default set), nginx
# saturated by wrk, redis-benchmark -P 16, pgbench -M prepared; all on 127.0.0.1.
#   usage: bench/agent_overhead.sh [ROUNDS=5] [WORKLOADS="getppid openat exec nginx redis pgbench"]
#          SL2=/path/to/other/sightline bench/agent_overhead.sh 5 "getppid openat"
#          SL_EXTRA='sources: {syscalls: {latency: true}}' bench/agent_overhead.sh  (YAML added to both agents' config)
#          SL2_EXTRA='sources: {syscalls: {enabled: false}}' bench/agent_overhead.sh  (the second agent's
#              own YAML, after SL_EXTRA's, whose top-level keys it must not repeat; SL2 is the same binary unless
#              named: one default against another)
# (as root, after scripts/build.sh; benchmarks are not tests: nothing here asserts a time)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.bash
ROUNDS=${1:-5}
WORKLOADS=${2:-getppid openat exec nginx redis pgbench}
SL=${SL:-./build/sightline}
SL2_EXTRA=${SL2_EXTRA:-}
SL2=${SL2:-}
[[ -n $SL2_EXTRA && -z $SL2 ]] && SL2=$SL
B=./build/bench
[[ -x $SL && -x $B/sysloop ]] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
tmp=$(mktemp -d)
chmod 755 "$tmp"
ap=
pg_bin=/usr/lib/postgresql/15/bin
cleanup() {
  [[ -n $ap ]] && kill -TERM "$ap" 2>/dev/null && wait "$ap" 2>/dev/null
  [[ -f $tmp/nginx.pid ]] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null
  [[ -n ${redis_pid:-} ]] && kill "$redis_pid" 2>/dev/null
  [[ -d $tmp/pg ]] && runuser -u postgres -- "$pg_bin/pg_ctl" -D "$tmp/pg" -m immediate stop >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT

# The servers, once, on 127.0.0.1.
wants() { [[ " $WORKLOADS " == *" $1 "* ]]; }
if wants nginx; then
  nport=$(free_port)
  start_nginx "$tmp" "$nport"
fi
if wants redis; then
  rport=$(free_port)
  redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$tmp/redis.log" 2>&1 &
  redis_pid=$!
  for i in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
if wants pgbench; then
  pport=$(free_port)
  mkdir -p "$tmp/pg" && chown postgres "$tmp/pg"
  runuser -u postgres -- "$pg_bin/initdb" -D "$tmp/pg" -A trust >/dev/null
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$tmp/pg" -o "-k $tmp/pg -h 127.0.0.1 -p $pport" -w start >/dev/null
  pgbench -h 127.0.0.1 -p "$pport" -U postgres -i -s 2 postgres >/dev/null 2>&1
fi

# One measurement: prints the workload's own figure (higher is better for every one).
measure() {
  case $1 in
    getppid) awk '{print 1e9 / $0}' <<<"$($B/sysloop 3000000 | ns_of)" ;;
    http) awk '{print 1e9 / $0}' <<<"$($B/httploop 200000 | ns_of)" ;;
    openat) awk '{print 1e9 / $0}' <<<"$($B/openloop 300000 | ns_of)" ;;
    exec) awk '{print 1e9 / $0}' <<<"$($B/execloop 600 | ns_of)" ;;
    nginx) wrk -t1 -c8 -d5s "http://127.0.0.1:$nport/" | awk '/Requests\/sec/ {print $2}' ;;
    redis) redis-benchmark -p "$rport" -P 16 -n 400000 -t get,set -q 2>/dev/null | tr '\r' '\n' |
             awk '/requests per second/ {s += $2; n++} END {printf "%.0f\n", s / n}' ;;
    pgbench) pgbench -h 127.0.0.1 -p "$pport" -U postgres -M prepared -S -T 5 postgres 2>/dev/null |
               awk '/^tps/ {print $3; exit}' ;;
  esac
}

start_agent() {  # start_agent BINARY [EXTRA_YAML]
  local port
  port=$(free_port)
  printf 'listen: 127.0.0.1:%s\napi_socket: ""\nstore:\n  path: %s/sl.db\nexporters:\n  spool_dir: %s/spool\n%s\n%s\n' \
    "$port" "$tmp" "$tmp" "${SL_EXTRA:-}" "${2:-}" >"$tmp/agent.yaml"
  "$1" agent --config "$tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
  ap=$!
  for i in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  kill -0 "$ap" 2>/dev/null || { echo "the agent did not start: $(tail -3 "$tmp/agent.log")" >&2; exit 1; }
  sleep 2  # past start-up work (symbols, the first collections)
}
start_bpftrace() {
  bpftrace -e 'tracepoint:raw_syscalls:sys_enter { @sys[comm] = count(); } tracepoint:sched:sched_switch { @sw[args->prev_comm] = count(); }' \
    >"$tmp/bt.out" 2>&1 &
  ap=$!
  for i in $(seq 300); do grep -q Attaching "$tmp/bt.out" 2>/dev/null && break; sleep 0.1; done
  kill -0 "$ap" 2>/dev/null || { echo "bpftrace did not start: $(cat "$tmp/bt.out")" >&2; exit 1; }
  sleep 1
}
stop_tracer() {
  [[ -n $ap ]] || return 0
  kill -INT "$ap" 2>/dev/null || true
  wait "$ap" 2>/dev/null || true
  ap=
}

MODES="bare bpftrace sightline"
[[ -n $SL2 ]] && MODES+=" other"
declare -A VAL CPU
for ((r = 1; r <= ROUNDS; r++)); do
  for mode in $MODES; do
    case $mode in
      bpftrace) start_bpftrace ;;
      sightline) start_agent "$SL" ;;
      other) start_agent "$SL2" "$SL2_EXTRA" ;;
    esac
    line="round $r $(printf '%-9s' "$mode")"
    for w in $WORKLOADS; do
      t0=$([[ -n $ap ]] && cpu_ticks "$ap" || echo 0)
      v=$(measure "$w")
      t1=$([[ -n $ap ]] && cpu_ticks "$ap" || echo 0)
      VAL[$mode.$w]+="$v "
      CPU[$mode.$w]+="$(( t1 - t0 )) "
      line+=" $w=$v"
    done
    stop_tracer
    echo "$line"
  done
done

echo
echo "median ratio to bare over $ROUNDS rounds (each round: bare, then each tracer, same workload)"
printf '%-9s' workload
for mode in $MODES; do [[ $mode == bare ]] || printf ' %12s' "$mode"; done
echo
for w in $WORKLOADS; do
  printf '%-9s' "$w"
  read -ra base <<<"${VAL[bare.$w]}"
  for mode in $MODES; do
    [[ $mode == bare ]] && continue
    read -ra with <<<"${VAL[$mode.$w]}"
    ratios=""
    for ((i = 0; i < ${#base[@]}; i++)); do ratios+="$(awk -v a="${with[$i]}" -v b="${base[$i]}" 'BEGIN {printf "%.3f", a / b}') "; done
    printf ' %12s' "$(median <<<"$ratios")"
  done
  echo
done
echo "(ratio = throughput with the tracer / bare: 1.00 costs nothing; getppid 0.50 means each call took twice as long)"
