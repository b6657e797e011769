#!/usr/bin/env bash
# Benchmark of the file source's slow_io kind (fsslower): N pwrites of 4 KiB into the page cache
# (bench/workloads/writeloop.c: each fast, none over the threshold), bare and with each tracer
# attached, interleaved round by round. What is measured is the hooks' cost on every write: both
# tracers time each call and send nothing below 10 ms. Reports the slowdown ratio to the bare
# loop and the tracer's CPU seconds per million calls.
#   usage: bench/slow_io_overhead.sh [N=300000] [ROUNDS=3]     (as root, after scripts/build.sh)
# Peers: Debian's libbpf-tools fsslower needs kprobes or fentry (not on this kernel); a bpftrace
# program on the same syscall tracepoints with the same 10 ms threshold (fsslower.bt's shape).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.bash
tracer_bench writeloop 300000 "$@"
CMD[sightline]="$SL trace slow_io --slow-ms 10"
READY[sightline]="tracing slow_io"
CMD[bpftrace]="bpftrace -e 'tracepoint:syscalls:sys_enter_pwrite64 { @s[tid] = nsecs; } tracepoint:syscalls:sys_exit_pwrite64 /@s[tid]/ { \$l = nsecs - @s[tid]; if (\$l > 10000000) { printf(\"%d %s %d\\n\", pid, comm, \$l); } delete(@s[tid]); }'"
READY[bpftrace]=""
TRACERS=(${TRACERS:-sightline bpftrace})

seen_lost() {  # nothing is slow: both print nothing
  case $1 in
    sightline) echo "$(grep -c writeloop "$2" || true) $(sl_lost "$3")" ;;
    bpftrace) echo "$(grep -c writeloop "$2" || true) $(peer_lost "$3" "$2")" ;;
  esac
}
tracer_rounds "pwrite 4 KiB (none slow)"
