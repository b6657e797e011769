#!/usr/bin/env bash
# L7 tracing cost on the workload the field quotes: wrk against nginx on 127.0.0.1 (keep-alive,
# a 3-byte response), interleaved rounds of
#   bare       nothing attached
#   floor      bpftrace counting the same syscall exits (the cost of the hooks alone)
#   sightline  the agent with the l7 source only (parses both sides: nginx and wrk)
#   sightline-pre515  the same on the path of kernels before 5.15 (the raw sys_exit program on
#              every syscall instead of the socket tracepoints)
# Reports requests/s and its ratio to bare, the agent's CPU, and whether the agent saw every
# request wrk completed (its client-side count) and nginx served (server side).
#   usage: [MODES="bare floor sightline sightline-pre515"] bench/l7_overhead.sh [ROUNDS=3] [SECONDS=5] [CONNECTIONS=10]
#          (as root, after scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.bash
ROUNDS=${1:-3} SECS=${2:-5} CONNS=${3:-10}
SL=./build/sightline
command -v nginx >/dev/null && command -v wrk >/dev/null || { echo "needs nginx and wrk: apt-get install nginx-light wrk" >&2; exit 1; }
[[ -x $SL ]] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
tmp=$(mktemp -d)
ap=
cleanup() {
  [[ -n $ap ]] && kill -TERM $ap 2>/dev/null && wait $ap 2>/dev/null
  [[ -f $tmp/nginx.pid ]] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
port=$(free_port) aport=$(free_port)
start_nginx "$tmp" "$port"
{
  echo "listen: 127.0.0.1:$aport"
  echo "rules: {enabled: false}"
  echo "sources:"
  for s in process file net security syscalls sched block packets profile; do echo "  $s: {enabled: false}"; done
} >"$tmp/agent.yaml"
TPS="read write recvfrom sendto readv writev recvmsg sendmsg sendmmsg recvmmsg sendfile64"
probe=$(for t in $TPS; do printf 'tracepoint:syscalls:sys_exit_%s,' "$t"; done)
rps_of() { awk '/Requests\/sec/ {print $2}'; }
done_of() { awk '/requests in/ {print $1}'; }
metric_sum() { curl -sf "http://127.0.0.1:$aport/metrics" | awk -v pat="$1" '$0 ~ pat && !/^#/ {s += $NF} END {printf "%d", s}'; }
MODES=${MODES:-bare floor sightline sightline-pre515}
declare -A RPS CPU US
for ((r = 1; r <= ROUNDS; r++)); do
  for mode in $MODES; do
    case $mode in
      floor)
        bpftrace -e "${probe%,} { @[probe] = count(); }" >"$tmp/bt.out" 2>&1 &
        ap=$!
        for i in $(seq 200); do grep -q Attaching "$tmp/bt.out" 2>/dev/null && break; sleep 0.1; done
        sleep 1 ;;
      sightline*)
        if [[ $mode == sightline-pre515 ]]; then
          SIGHTLINE_DISABLE_FEATURES=task_pt_regs,task_storage,sched_switch_state $SL agent --config "$tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
        else
          $SL agent --config "$tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
        fi
        ap=$!
        for i in $(seq 100); do curl -sf "http://127.0.0.1:$aport/healthz" >/dev/null && break; sleep 0.1; done
        sleep 1 ;;
    esac
    t0=$([[ -n $ap ]] && cpu_ticks $ap || echo 0)
    out=$(wrk -t1 -c"$CONNS" -d"${SECS}s" "http://127.0.0.1:$port/")
    rps=$(rps_of <<<"$out") completed=$(done_of <<<"$out")
    seen=
    if [[ $mode == sightline* ]]; then
      sleep 1.5  # drained and collected
      t1=$(cpu_ticks $ap)
      client=$(metric_sum 'sightline_l7_requests_total\\{comm="wrk".*status="2xx"')
      server=$(metric_sum 'sightline_l7_requests_total\\{comm="nginx".*status="2xx"')
      lost=$(metric_sum 'sightline_events_lost_total\\{source="l7"')
      cpu=$(echo "scale=2; ($t1 - $t0) / 100" | bc)
      us=$(echo "scale=2; $cpu * 1000000 / ($client + $server)" | bc)
      seen=" wrk completed $completed, agent saw $client (client side), $server (nginx), lost $lost; agent $cpu cpu-s, $us us/request"
      CPU[$mode]+="$cpu "
      US[$mode]+="$us "
    fi
    [[ -n $ap ]] && { kill -INT $ap 2>/dev/null; wait $ap 2>/dev/null || true; ap=; }
    printf 'round %d %-10s %10.0f req/s%s\n' "$r" "$mode" "$rps" "$seen"
    RPS[$mode]+="$rps "
  done
done
bare=$(median <<<"${RPS[bare]}")
echo
printf '%-10s %12s %8s %14s %18s\n' mode req/s ratio agent-cpu-s agent-us/request
for mode in $MODES; do
  m=$(median <<<"${RPS[$mode]}")
  printf '%-10s %12.0f %8.3f %14s %18s\n' "$mode" "$m" "$(echo "scale=3; $m / $bare" | bc)" "$(median <<<"${CPU[$mode]:-}")" \
    "$(median <<<"${US[$mode]:-}")"
done
echo "(ratio: median req/s over bare's median; agent-us/request: agent CPU per request seen, both sides counted)"
