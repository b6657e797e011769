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
N=${1:-1000000}
ROUNDS=${2:-3}
SL=./build/sightline
LOOP=./build/bench/openloop
[[ -x $SL && -x $LOOP ]] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
tmp=$(mktemp -d)
tp=
trap '[[ -n $tp ]] && kill -INT $tp 2>/dev/null; rm -rf "$tmp"' EXIT

declare -A CMD READY
CMD[sightline]="$SL trace open --comm openloop"
READY[sightline]="tracing open"
CMD[sightline_64k]="$SL trace open --comm openloop --ring-bytes 65536"
READY[sightline_64k]="tracing open"
CMD[opensnoop]="/usr/sbin/opensnoop -n openloop"
READY[opensnoop]=""  # its header is block-buffered into the file: wait instead
CMD[bpftrace]="bpftrace -e 'tracepoint:syscalls:sys_exit_openat /comm == \"openloop\"/ { printf(\"%d %d\\n\", pid, args->ret); }'"
READY[bpftrace]=""
TRACERS=(${TRACERS:-sightline opensnoop bpftrace sightline_64k})


declare -A RATIO CPU SEEN LOST
for ((r = 1; r <= ROUNDS; r++)); do
  for t in "${TRACERS[@]}"; do
    base=$($LOOP "$N" | ns_of)
    out="$tmp/$t.out"
    bash -c "exec ${CMD[$t]}" >"$out" 2>"$tmp/$t.err" &
    tp=$!
    if [[ -n ${READY[$t]} ]]; then
      for ((i = 0; i < 300; i++)); do grep -q "${READY[$t]}" "$out" "$tmp/$t.err" 2>/dev/null && break; sleep 0.1; done
      sleep 0.5
    else
      sleep 4  # bpftrace compiles its program with LLVM first
    fi
    c0=$(cpu_ticks $tp)
    with=$($LOOP "$N" | ns_of)
    sleep 1.5  # let the tracer drain what is buffered
    c1=$(cpu_ticks $tp)
    kill -INT $tp
    wait $tp 2>/dev/null || true
    tp=
    case $t in
      sightline*) seen=$(grep -c " /dev/null$" "$out" || true)
                  lost=$(sed -n 's/^sightline: [0-9]* events, \([0-9]*\) lost.*/\1/p' "$tmp/$t.err") ;;
      opensnoop) seen=$(grep -c ' /dev/null$' "$out" || true)
                 lost=$(cat "$tmp/$t.err" "$out" | grep -oE 'Lost [0-9]+' | awk '{s+=$2} END{print s+0}' || true) ;;
      bpftrace) seen=$(grep -cE '^[0-9]+ [0-9]+$' "$out" || true)
                lost=$(cat "$tmp/$t.err" "$out" | grep -oE 'Lost [0-9]+' | awk '{s+=$2} END{print s+0}' || true) ;;
    esac
    ratio=$(echo "scale=3; $with / $base" | bc)
    cpu=$(echo "scale=2; ($c1 - $c0) / 100 / ($N / 1000000)" | bc)
    printf 'round %d %-14s bare %7.1f ns/op  with %7.1f ns/op  ratio %5.2f  tracer %5.2f cpu-s/M ev  seen %8d  lost %s\n' \
      "$r" "$t" "$base" "$with" "$ratio" "$cpu" "$seen" "${lost:-?}"
    RATIO[$t]+="$ratio "
    CPU[$t]+="$cpu "
    SEEN[$t]+="$seen "
    LOST[$t]+="${lost:-?} "
  done
done

echo
echo "open+close x $N, $ROUNDS rounds; medians (generated = $N per round)"
printf '%-14s %7s %12s %10s %10s %s\n' tracer ratio cpu-s/M-ev seen lost "seen+lost"
for t in "${TRACERS[@]}"; do
  s=$(median <<<"${SEEN[$t]}")
  l=$(median <<<"${LOST[$t]}")
  printf '%-14s %7s %12s %10s %10s %s\n' "$t" "$(median <<<"${RATIO[$t]}")" "$(median <<<"${CPU[$t]}")" \
    "$s" "$l" "$((s + ${l:-0}))"
done
