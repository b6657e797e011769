#!/usr/bin/env bash
# Benchmark of the block source's block_io kind: a loop of N 4 KiB O_DIRECT reads (one block I/O
# each; bench/workloads/dioloop.c, its file in /var/tmp), bare and with each tracer attached
# (output to a file), interleaved round by round. Reports the slowdown ratio to the bare loop,
# the tracer's CPU seconds per million I/Os, I/Os seen and losses reported.
#   usage: bench/block_io_overhead.sh [N=20000] [ROUNDS=3]     (as root, after scripts/build.sh)
# Peers: Debian's biosnoop (libbpf-tools and biosnoop.bt) need kprobes or fentry, which this
# kernel lacks; a biosnoop-shaped bpftrace program on the block_rq_issue/complete tracepoints
# stands in. sightline: `trace block_io` (the submitter kept at issue, one record at completion).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.bash
tracer_bench dioloop 20000 "$@"
CMD[sightline]="$SL trace block_io --comm dioloop"
READY[sightline]="tracing block_io"
CMD[bpftrace]="bpftrace -e 'tracepoint:block:block_rq_issue /comm == \"dioloop\"/ { @s[args->dev, args->sector] = nsecs; } tracepoint:block:block_rq_complete /@s[args->dev, args->sector]/ { printf(\"io %d %d %d\\n\", args->sector, args->nr_sector * 512, nsecs - @s[args->dev, args->sector]); delete(@s[args->dev, args->sector]); }'"
READY[bpftrace]=""
TRACERS=(${TRACERS:-sightline bpftrace})

seen_lost() {
  case $1 in
    sightline) echo "$(grep -c " dioloop .* read " "$2" || true) $(sl_lost "$3")" ;;
    bpftrace) echo "$(grep -c "^io " "$2" || true) $(peer_lost "$3" "$2")" ;;
  esac
}
tracer_rounds "4 KiB O_DIRECT read"
