#!/usr/bin/env bash
# The profiler beside its peers, interleaved round by round (every CPU sampled, whole system):
# bare; sightline profile walking user stacks in the kernel with .eh_frame tables (the default)
# at 19, 99 and 999 Hz, by frame pointers and by DWARF (stack copies) at 99 Hz; perf record -F 999
# -g -a; perf record --call-graph dwarf at 99 Hz; bpftrace profile:hz:99 counting user stacks.
# Two workloads: the CPU-bound loop (build/bench/cpuloop), and DEEP=1 a loop 30 calls deep
# in code without frame pointers (what the table walk costs per frame). Reports the slowdown
# ratio to the bare run and the profiler's own CPU seconds; then symbolization time of a
# whole-system profile, the unwind tables' size, and complete stacks by method.
#   usage: bench/profile_overhead.sh [N=3000000000] [ROUNDS=3]   (as root, after scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.bash
N=${1:-3000000000}
ROUNDS=${2:-3}
SL=./build/sightline
[[ -x $SL && -x build/bench/cpuloop ]] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
tmp=$(mktemp -d)
tp=
trap '[[ -n $tp ]] && kill -TERM $tp 2>/dev/null; rm -rf "$tmp"' EXIT
declare -A CMD
CMD[sl-19hz]="$SL profile -F 19 -d 600 -o $tmp/p.folded"
CMD[sl-99hz]="$SL profile -F 99 -d 600 -o $tmp/p.folded"
CMD[sl-999hz]="$SL profile -F 999 -d 600 -o $tmp/p.folded"
CMD[sl-fp-99hz]="$SL profile -F 99 --unwind fp -d 600 -o $tmp/p.folded"
CMD[sl-dwarf-99hz]="$SL profile -F 99 --unwind dwarf -d 600 -o $tmp/p.folded"
CMD[perf-999]="perf record -F 999 -g -a -o $tmp/perf.data"
CMD[perf-dwarf-99]="perf record -F 99 --call-graph dwarf -a -o $tmp/perf.data"
CMD[bpftrace-99]="bpftrace -e 'profile:hz:99 { @[ustack] = count(); }'"
TRACERS=(${TRACERS:-sl-19hz sl-99hz sl-999hz sl-fp-99hz sl-dwarf-99hz perf-999 perf-dwarf-99 bpftrace-99})
# The deep workload: 30 frames of recursion without frame pointers over a hot loop, N/100 times
# (the same ns_per_op line as cpuloop).
cat >"$tmp/deep.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
volatile long sink;
long __attribute__((noinline)) hot(long n) { long s = 0; for (long i = 0; i < n; i++) s += i ^ (s >> 3); return s; }
long __attribute__((noinline)) down(int d, long n) { if (!d) return hot(n); long r = down(d - 1, n); __asm__ volatile("" : "+r"(r)); return r + d; }
int main(int argc, char** argv) {
  long n = atol(argv[1]) / 100, ops = 0; struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i += 1000, ops += 1000) sink += down(30, 1000);
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("ops=%ld ns_per_op=%.3f\n", ops, ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / ops);
}
C
cc -O2 -fomit-frame-pointer -o "$tmp/deep" "$tmp/deep.c"
WORK="build/bench/cpuloop $N"
[[ ${DEEP:-0} == 1 ]] && WORK="$tmp/deep $N"
declare -A RATIO CPU
for ((r = 1; r <= ROUNDS; r++)); do
  for t in "${TRACERS[@]}"; do
    command -v "${CMD[$t]%% *}" >/dev/null || { echo "skip $t: not installed"; continue; }
    base=$($WORK | ns_of)
    bash -c "exec ${CMD[$t]}" >/dev/null 2>&1 &
    tp=$!
    sleep 3
    c0=$(cpu_ticks $tp)
    with=$($WORK | ns_of)
    c1=$(cpu_ticks $tp)
    kill -TERM $tp 2>/dev/null; wait $tp 2>/dev/null || true; tp=
    ratio=$(echo "scale=4; $with / $base" | bc)
    secs=$(echo "scale=4; $N * $with / 1000000000" | bc)
    cpu=$(echo "scale=3; ($c1 - $c0) / 100" | bc)
    printf 'round %d %-12s bare %7.3f ns/op  with %7.3f ns/op  ratio %6.4f  profiler %5.2f cpu-s over %5.1f s\n' \
      "$r" "$t" "$base" "$with" "$ratio" "$cpu" "$secs"
    RATIO[$t]+="$ratio "
    CPU[$t]+="$cpu "
  done
done
echo
echo "${WORK%% *} $N: medians over $ROUNDS rounds"
printf '%-12s %8s %12s\n' profiler ratio cpu-s
for t in "${TRACERS[@]}"; do
  [[ -n ${RATIO[$t]:-} ]] && printf '%-12s %8s %12s\n' "$t" "$(median <<<"${RATIO[$t]}")" "$(median <<<"${CPU[$t]}")"
done
# Symbolization: a 10 s whole-system profile at 999 Hz while the loop and a shell pipeline run,
# timed end to end minus the 10 s.
build/bench/cpuloop $((N * 4)) >/dev/null &
busy=$!
(for i in $(seq 2000); do ls /usr/lib >/dev/null; done) &
shell=$!
s0=$(date +%s.%N)
$SL profile -F 999 -d 10 -o "$tmp/all.folded" 2>"$tmp/all.err"
s1=$(date +%s.%N)
kill $busy $shell 2>/dev/null || true
echo "whole-system 10 s at 999 Hz: $(grep -v '^profiling' "$tmp/all.err" | tr '\n' ' ')"
echo "wall time beyond the 10 s (drains, symbolization, output): $(echo "$s1 - $s0 - 10" | bc) s"

# Complete user stacks without frame pointers: sightline (dwarf, fp) against
# perf record --call-graph dwarf, on the same -O2 -fomit-frame-pointer loop.
cat >"$tmp/nofp.c" <<'C'
#include <stdlib.h>
#include <time.h>
int __attribute__((noinline)) burn_cpu(long n) { volatile long s = 0; for (long i = 0; i < n; i++) s += i; return (int)s; }
int __attribute__((noinline)) level2(long n) { return burn_cpu(n) + 1; }
int main(int argc, char** argv) { time_t end = time(0) + atoi(argv[1]); while (time(0) < end) level2(10000000); return 0; }
C
cc -O2 -fomit-frame-pointer -o "$tmp/nofp" "$tmp/nofp.c"
"$tmp/nofp" 30 &
np=$!
for mode in kernel dwarf fp; do
  $SL profile -p $np -d 3 --unwind $mode -o "$tmp/$mode.folded" 2>"$tmp/$mode.err"
  echo "sightline --unwind $mode: $(grep -o 'user stacks complete.*of [0-9]*' "$tmp/$mode.err")"
done
if command -v perf >/dev/null; then
  perf record -q -F 99 --call-graph dwarf -p $np -o "$tmp/perf-dwarf.data" -- sleep 3 2>/dev/null
  perf script -i "$tmp/perf-dwarf.data" 2>/dev/null | awk '
    /^[^ \t]/ { if (n) { total++; if (has) ok++ } n = 1; has = 0; next }
    /^[ \t]+[0-9a-f]+ / { if ($2 ~ /^(main|_start|__libc_start_main|__libc_start_call_main)(\+|$)/) has = 1 }
    END { if (n) { total++; if (has) ok++ } printf "perf --call-graph dwarf: %.1f%% of %d samples reach main/_start\n", 100 * ok / (total ? total : 1), total }'
fi
kill $np 2>/dev/null || true
