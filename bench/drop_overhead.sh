#!/usr/bin/env bash
# Benchmark of the packets source's drop kind: a loop of N UDP datagrams to a closed port on
# 127.0.0.1 (each dropped, reason no_socket; bench/workloads/droploop.c), bare and with each
# tracer attached (output to a file), interleaved round by round. Reports the slowdown ratio to
# the bare loop, the tracer's CPU seconds per million drops, drops seen and losses reported.
#   usage: bench/drop_overhead.sh [N=200000] [ROUNDS=3]     (as root, after scripts/build.sh)
# Peers: a bpftrace one-liner on skb:kfree_skb printing reason and location (tcpdrop.bt's hook,
# without its kernel stack; tcpdrop.bt itself prints TCP drops only), and pwru-style nothing
# else is installed here. sightline: `trace packet_drop` (one record per drop, the headers parsed in
# the kernel, the location symbolized in user space).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.bash
tracer_bench droploop 200000 "$@"
CMD[sightline]="$SL trace packet_drop"
READY[sightline]="tracing packet_drop"
CMD[bpftrace]="bpftrace -e 'tracepoint:skb:kfree_skb /args->reason > 2/ { printf(\"%d %s\\n\", args->reason, ksym(args->location)); }'"
READY[bpftrace]=""
TRACERS=(${TRACERS:-sightline bpftrace})

seen_lost() {
  case $1 in
    sightline) echo "$(grep -c " no_socket .*__udp4_lib_rcv" "$2" || true) $(sl_lost "$3")" ;;
    bpftrace) echo "$(grep -c "__udp4_lib_rcv" "$2" || true) $(peer_lost "$3" "$2")" ;;
  esac
}
tracer_rounds "sendto a closed port (dropped)"
