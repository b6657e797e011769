#!/usr/bin/env bash
# Benchmark of the file source: a loop of N open+close of /dev/null, bare and with each tracer
# attached (output to a file), interleaved round by round. Reports the slowdown ratio to the
# bare loop, the tracer's CPU seconds per million events, events seen and losses reported.
#   usage: bench/open_overhead.sh [N=1000000] [ROUNDS=3]     (as root, after scripts/build.sh)
# Peers: libbpf-tools opensnoop, a bpftrace printf one-liner. The last row runs sightline with a
# deliberately small ring (64 KiB) to show that, past the ring's capacity, every event is either
# delivered or counted lost: delivered + lost = generated.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.bash
tracer_bench openloop 1000000 "$@"
CMD[sightline]="$SL trace open --comm openloop"
READY[sightline]="tracing open"
CMD[sightline_64k]="$SL trace open --comm openloop --ring-bytes 65536"
READY[sightline_64k]="tracing open"
CMD[opensnoop]="/usr/sbin/opensnoop -n openloop"
READY[opensnoop]=""  # its header is block-buffered into the file: wait instead
CMD[bpftrace]="bpftrace -e 'tracepoint:syscalls:sys_exit_openat /comm == \"openloop\"/ { printf(\"%d %d\\n\", pid, args->ret); }'"
READY[bpftrace]=""
TRACERS=(${TRACERS:-sightline opensnoop bpftrace sightline_64k})

seen_lost() {
  case $1 in
    sightline*) echo "$(grep -c " /dev/null$" "$2" || true) $(sl_lost "$3")" ;;
    opensnoop) echo "$(grep -c ' /dev/null$' "$2" || true) $(peer_lost "$3" "$2")" ;;
    bpftrace) echo "$(grep -cE '^[0-9]+ [0-9]+$' "$2" || true) $(peer_lost "$3" "$2")" ;;
  esac
}
tracer_rounds "open+close"
