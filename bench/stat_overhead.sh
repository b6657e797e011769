#!/usr/bin/env bash
# Benchmark of the file source's stat kind: a loop of N statx calls (bench/workloads/statloop.c),
# bare and with each tracer attached (output to a file), interleaved round by round. Reports the
# slowdown ratio to the bare loop, the tracer's CPU seconds per million events, events seen and
# losses reported.
#   usage: bench/stat_overhead.sh [N=300000] [ROUNDS=3]     (as root, after scripts/build.sh)
# Peers: bpftrace's statsnoop.bt (enter/exit pairs in a map, printf); Debian's libbpf-tools
# statsnoop loads none of its programs on this kernel. sightline: `trace stat` (the exit alone,
# arguments from the saved registers); sightline_filtered: a --comm no process has.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.bash
tracer_bench statloop 300000 "$@"
CMD[sightline]="$SL trace stat --comm statloop"
READY[sightline]="tracing stat"
CMD[sightline_filtered]="$SL trace stat --comm nosuchcomm"
READY[sightline_filtered]="tracing stat"
CMD[statsnoop.bt]="bpftrace /usr/sbin/statsnoop.bt"
READY[statsnoop.bt]="Tracing stat"
TRACERS=(${TRACERS:-sightline sightline_filtered statsnoop.bt})

seen_lost() {
  case $1 in
    sightline*) echo "$(grep -c " statloop .*/etc/hostname" "$2" || true) $(sl_lost "$3")" ;;
    statsnoop.bt) echo "$(grep -cE ' statloop +0 /etc/hostname' "$2" || true) $(peer_lost "$3" "$2")" ;;
  esac
}
tracer_rounds "statx(/etc/hostname)"
