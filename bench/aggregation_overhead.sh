#!/usr/bin/env bash
# Benchmark of the in-kernel aggregation sources beside their peers, interleaved round by round:
#   syscalls: getppid and open+close loops; vs libbpf-tools syscount -L, bpftrace count by pid
#   (sightline-pre515: the same agent on the path of kernels before 5.15, hash-kept thread state)
#   sched:    a pipe ping-pong between two processes pinned to one CPU (two switches per round
#             trip); vs libbpf-tools runqlat, a bpftrace count of sched_switch by pid
#   block:    4 KiB O_DIRECT reads of a file on the root device; vs libbpf-tools biolatency, a
#             bpftrace count of block_rq_complete
#   packets:  64-byte UDP send+recv over lo (two packets' worth of TC work per op); vs a bpftrace
#             count per device of net_dev_xmit and netif_receive_skb
#   net:      the same loop (socket bytes per process); vs a bpftrace sum of sock_send_length
#             and sock_recv_length per process
# Reports the slowdown ratio to the bare loop and the tracer's CPU seconds per million ops.
#   usage: bench/aggregation_overhead.sh [syscalls|sched|block|packets|net] [N=3000000] [ROUNDS=3]
#          (as root, after scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.bash
SOURCE=${1:-syscalls}
N=${2:-3000000}
ROUNDS=${3:-3}
SL=./build/sightline
[[ -x $SL && -x build/bench/sysloop && -x build/bench/pingpong ]] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
tmp=$(mktemp -d)
tp=
trap '[[ -n $tp ]] && kill -INT $tp 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(free_port)
{
  echo "listen: 127.0.0.1:$port"
  echo "sources:"
  for s in process file net security l7 syscalls sched block packets profile; do  # every default source: only the one measured runs
    if [[ $s == syscalls && $SOURCE == syscalls ]]; then echo "  syscalls: {enabled: true, latency: true}"; continue; fi
    echo "  $s: {enabled: $([[ $s == "$SOURCE" ]] && echo true || echo false)}"
  done
} >"$tmp/agent.yaml"
sed 's/  syscalls: {enabled: true, latency: true}/  syscalls: {enabled: true, latency: false}/' "$tmp/agent.yaml" >"$tmp/count.yaml"

declare -A CMD
CMD[sightline]="$SL agent --config $tmp/agent.yaml"
CMD[sightline-count]="$SL agent --config $tmp/count.yaml"
# The path of kernels before 5.15 (per-thread state in an LRU hash by thread id), on this kernel.
CMD[sightline-pre515]="env SIGHTLINE_DISABLE_FEATURES=task_pt_regs,task_storage,sched_switch_state $SL agent --config $tmp/agent.yaml"
case $SOURCE in
  syscalls)
    CMD[syscount-L]="/usr/sbin/syscount -L"
    CMD[syscount]="/usr/sbin/syscount"
    CMD[bpftrace]="bpftrace -e 'tracepoint:raw_syscalls:sys_enter { @[pid] = count(); }'"
    # the floor of any per-syscall count: one program that does nothing, on the same hook
    CMD[noop]="bpftrace -e 'tracepoint:raw_syscalls:sys_exit { }'"
    # sightline(-pre515) and syscount -L time every syscall; sightline-count and syscount only count
    TRACERS=(${TRACERS:-sightline sightline-pre515 syscount-L sightline-count syscount bpftrace})
    WORKLOADS=("build/bench/sysloop $N" "build/bench/openloop $((N / 10))") ;;
  sched)
    CMD[runqlat]="/usr/sbin/runqlat"
    CMD[bpftrace]="bpftrace -e 'tracepoint:sched:sched_switch { @[args->prev_pid] = count(); }'"
    TRACERS=(${TRACERS:-sightline sightline-pre515 runqlat bpftrace})
    WORKLOADS=("taskset -c 0 build/bench/pingpong $((N / 10))") ;;
  block)
    CMD[biolatency]="/usr/sbin/biolatency"
    CMD[bpftrace]="bpftrace -e 'tracepoint:block:block_rq_complete { @ = count(); }'"
    TRACERS=(${TRACERS:-sightline biolatency bpftrace})
    WORKLOADS=("build/bench/dioloop $((N / 100))") ;;
  packets)
    CMD[bpftrace]="bpftrace -e 'tracepoint:net:net_dev_xmit { @tx[str(args->name)] = count(); } tracepoint:net:netif_receive_skb { @rx[str(args->name)] = count(); }'"
    TRACERS=(${TRACERS:-sightline bpftrace})
    WORKLOADS=("build/bench/udploop $((N / 10))") ;;
  net)
    CMD[bpftrace]="bpftrace -e 'tracepoint:sock:sock_send_length { @tx[pid] = sum(args->ret); } tracepoint:sock:sock_recv_length { @rx[pid] = sum(args->ret); }'"
    TRACERS=(${TRACERS:-sightline bpftrace})
    WORKLOADS=("build/bench/udploop $((N / 10))") ;;
  *) echo "unknown source $SOURCE (syscalls, sched, block, packets or net)" >&2; exit 2 ;;
esac


declare -A RATIO CPU
for ((r = 1; r <= ROUNDS; r++)); do
  for w in "${WORKLOADS[@]}"; do
    ops=${w##* }
    for t in "${TRACERS[@]}"; do
      base=$($w | ns_of)
      bash -c "exec ${CMD[$t]}" >"$tmp/$t.out" 2>&1 &
      tp=$!
      if [[ $t == sightline* ]]; then
        for ((i = 0; i < 100; i++)); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
        sleep 0.5
      else
        sleep 4  # bpftrace compiles with LLVM first; syscount loads
      fi
      c0=$(cpu_ticks $tp)
      with=$($w | ns_of)
      sleep 1
      c1=$(cpu_ticks $tp)
      kill -INT $tp
      wait $tp 2>/dev/null || true
      tp=
      key="${w}|$t"
      ratio=$(echo "scale=3; $with / $base" | bc)
      cpu=$(echo "scale=3; ($c1 - $c0) / 100 / ($ops / 1000000)" | bc)
      printf 'round %d %-36s %-15s bare %7.1f ns/op  with %7.1f ns/op  ratio %5.2f  tracer %5.3f cpu-s/M ops\n' \
        "$r" "$w" "$t" "$base" "$with" "$ratio" "$cpu"
      RATIO[$key]+="$ratio "
      CPU[$key]+="$cpu "
    done
  done
done
echo
echo "$SOURCE: medians over $ROUNDS rounds"
printf '%-36s %-15s %7s %14s\n' workload tracer ratio cpu-s/M-ops
for w in "${WORKLOADS[@]}"; do
  for t in "${TRACERS[@]}"; do
    key="${w}|$t"
    printf '%-36s %-15s %7s %14s\n' "$w" "$t" "$(median <<<"${RATIO[$key]}")" "$(median <<<"${CPU[$key]}")"
  done
done
