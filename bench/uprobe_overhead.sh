#!/usr/bin/env bash
# Dynamic probes beside bpftrace, interleaved round by round:
#   uprobe: a loop calling one function; sightline uprobe (count; count + latency) vs bpftrace
#           uprobe count and uprobe+uretprobe latency histogram
#   tracepoint: a getppid loop; sightline trace tp:syscalls:sys_enter_getppid --count-by
#           (in-kernel) vs bpftrace tracepoint count by pid
# Reports the slowdown ratio to the bare loop and the tracer's CPU per million calls.
#   usage: bench/uprobe_overhead.sh [N=1000000] [ROUNDS=3]   (as root, after scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.bash
N=${1:-1000000}
ROUNDS=${2:-3}
SL=./build/sightline
BIN=$(realpath build/bench/callloop)
[[ -x $SL && -x $BIN && -x build/bench/sysloop ]] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
tp=
trap '[[ -n $tp ]] && kill -TERM $tp 2>/dev/null || true' EXIT
declare -A CMD WL
CMD[sl-count]="$SL uprobe $BIN:sl_bench_target -d 600"
CMD[sl-latency]="$SL uprobe $BIN:sl_bench_target -l -d 600"
CMD[bt-count]="bpftrace -e 'uprobe:$BIN:sl_bench_target { @ = count(); }'"
CMD[bt-latency]="bpftrace -e 'uprobe:$BIN:sl_bench_target { @s[tid] = nsecs; } uretprobe:$BIN:sl_bench_target /@s[tid]/ { @h = hist(nsecs - @s[tid]); delete(@s[tid]); }'"
CMD[sl-tp]="$SL trace tp:syscalls:sys_enter_getppid --count-by common_pid -d 600"
CMD[bt-tp]="bpftrace -e 'tracepoint:syscalls:sys_enter_getppid { @[pid] = count(); }'"
for t in sl-count sl-latency bt-count bt-latency; do WL[$t]="$BIN $N"; done
for t in sl-tp bt-tp; do WL[$t]="build/bench/sysloop $((N * 3))"; done
TRACERS=(${TRACERS:-sl-count bt-count sl-latency bt-latency sl-tp bt-tp})
declare -A RATIO CPU
for ((r = 1; r <= ROUNDS; r++)); do
  for t in "${TRACERS[@]}"; do
    w=${WL[$t]}
    ops=${w##* }
    base=$($w | ns_of)
    bash -c "exec ${CMD[$t]}" >/dev/null 2>&1 &
    tp=$!
    sleep 4  # bpftrace compiles first
    c0=$(cpu_ticks $tp)
    with=$($w | ns_of)
    sleep 0.5
    c1=$(cpu_ticks $tp)
    kill -TERM $tp 2>/dev/null; wait $tp 2>/dev/null || true; tp=
    ratio=$(echo "scale=3; $with / $base" | bc)
    cpu=$(echo "scale=3; ($c1 - $c0) / 100 / ($ops / 1000000)" | bc)
    printf 'round %d %-11s bare %8.1f ns/op  with %8.1f ns/op  ratio %6.2f  tracer %5.3f cpu-s/M calls\n' \
      "$r" "$t" "$base" "$with" "$ratio" "$cpu"
    RATIO[$t]+="$ratio "
    CPU[$t]+="$cpu "
  done
done
echo
echo "medians over $ROUNDS rounds"
printf '%-11s %8s %14s\n' tracer ratio cpu-s/M-calls
for t in "${TRACERS[@]}"; do
  printf '%-11s %8s %14s\n' "$t" "$(median <<<"${RATIO[$t]}")" "$(median <<<"${CPU[$t]}")"
done
