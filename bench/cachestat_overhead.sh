#!/usr/bin/env bash
# Benchmark of the block source's cachestat kind: a loop of N 16 KiB preads of a cached file
# (bench/workloads/readloop.c: page-cache hits, each marking its pages accessed), bare and with
# each tracer attached, interleaved round by round. Reports the slowdown ratio to the bare loop,
# the tracer's CPU seconds per million reads, the hits (pages) each counted and losses (none:
# counters).
#   usage: bench/cachestat_overhead.sh [N=300000] [ROUNDS=3]     (as root, after scripts/build.sh)
# Peers: Debian's libbpf-tools cachestat (kprobes or fentry on mark_page_accessed,
# add_to_page_cache_lru, account_page_dirtied, mark_buffer_dirty; its build fails to load where
# account_page_dirtied is gone, 6.1 included: left out then), and bpftrace counting the same hooks
# as sightline (cachestat.bt, its accesses as seen).
# sightline: `trace cachestat` (kprobes on folio_mark_accessed and mark_buffer_dirty, tracepoints
# filemap:mm_filemap_add_to_page_cache and writeback_dirty_folio). Hits need kprobes: on a kernel
# without them (this machine's) neither peer can count the loop's hits; sightline's tracepoints
# alone run (misses, dirties) and cachestat does not start.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.bash
tracer_bench readloop 300000 "$@"
CMD[sightline]="$SL trace cachestat --json"
READY[sightline]="tracing cachestat"
CMD[cachestat]="cachestat 1"
READY[cachestat]="HITS"
cat >"$tmp/cachestat.bt" <<'BT'
kprobe:folio_mark_accessed { @accessed = count(); }
kprobe:mark_buffer_dirty { @buffer_dirtied = count(); }
tracepoint:filemap:mm_filemap_add_to_page_cache { @added = count(); }
tracepoint:writeback:writeback_dirty_folio { @dirtied = count(); }
BT
CMD[cachestat.bt]="bpftrace $tmp/cachestat.bt"
READY[cachestat.bt]="Attaching"
if [[ -e /sys/bus/event_source/devices/kprobe/type ]]; then
  TRACERS=(sightline cachestat.bt)
  grep -q HITS <<<"$(timeout 3 cachestat 1 2>/dev/null)" && TRACERS+=(cachestat)
  TRACERS=(${TRACERS_ONLY:-${TRACERS[@]}})
else
  echo "no kprobes on this kernel: libbpf-tools cachestat cannot run, sightline counts no hits (its tracepoints alone run)"
  TRACERS=(sightline)
fi

seen_lost() {
  case $1 in
    sightline) echo "$(grep -oE '"cache.hits":-?[0-9]+' "$2" | cut -d: -f2 | awk '$1 > 0 {s+=$1} END{print s+0}') 0" ;;
    cachestat) echo "$(awk '$1 ~ /^[0-9]+$/ {s+=$1} END{print s+0}' "$2") 0" ;;
    cachestat.bt) echo "$(sed -n 's/^@accessed: //p' "$2" | head -1) 0" ;;
  esac
}
tracer_rounds "pread(16 KiB, cached)"
