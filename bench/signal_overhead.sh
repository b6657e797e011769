#!/usr/bin/env bash
# Benchmark of the process source's signal kind: a loop of N kill(self, SIGUSR1) to a no-op
# handler, bare and with each tracer attached (output to a file), interleaved round by round.
# Reports the slowdown ratio to the bare loop, the tracer's CPU seconds per million events,
# events seen and losses reported.
#   usage: bench/signal_overhead.sh [N=200000] [ROUNDS=3]     (as root, after scripts/build.sh)
# Peers: libbpf-tools sigsnoop (the same tracepoint) and killsnoop (the kill syscall's enter and
# exit), a bpftrace printf one-liner. sightline_filtered: a --comm no process has, so every
# signal is dropped in the kernel before a ring reservation (what an unwanted signal costs).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.bash
N=${1:-200000}
ROUNDS=${2:-3}
SL=./build/sightline
LOOP=./build/bench/sigloop
[[ -x $SL && -x $LOOP ]] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
tmp=$(mktemp -d)
tp=
trap '[[ -n $tp ]] && kill -INT $tp 2>/dev/null; rm -rf "$tmp"' EXIT

declare -A CMD READY
CMD[sightline]="$SL trace signal --comm sigloop"
READY[sightline]="tracing signal"
CMD[sightline_filtered]="$SL trace signal --comm nosuchcomm"
READY[sightline_filtered]="tracing signal"
CMD[sigsnoop]="/usr/sbin/sigsnoop"
READY[sigsnoop]=""  # its header is block-buffered into the file: wait instead
CMD[killsnoop]="/usr/sbin/killsnoop"
READY[killsnoop]=""
CMD[bpftrace]="bpftrace -e 'tracepoint:signal:signal_generate /comm == \"sigloop\"/ { printf(\"%d %d %d\\n\", pid, args->sig, args->pid); }'"
READY[bpftrace]=""
TRACERS=(${TRACERS:-sightline sightline_filtered sigsnoop killsnoop bpftrace})


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
      sightline*) seen=$(grep -c "SIGUSR1" "$out" || true)
                  lost=$(sed -n 's/^sightline: [0-9]* events, \([0-9]*\) lost.*/\1/p' "$tmp/$t.err") ;;
      sigsnoop|killsnoop) seen=$(grep -cE ' sigloop +10 ' "$out" || true)
                 lost=$(cat "$tmp/$t.err" "$out" | grep -oE 'Lost [0-9]+' | awk '{s+=$2} END{print s+0}' || true) ;;
      bpftrace) seen=$(grep -cE '^[0-9]+ 10 [0-9]+$' "$out" || true)
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
echo "kill(self, SIGUSR1) x $N, $ROUNDS rounds; medians (generated = $N per round)"
printf '%-14s %7s %12s %10s %10s %s\n' tracer ratio cpu-s/M-ev seen lost "seen+lost"
for t in "${TRACERS[@]}"; do
  s=$(median <<<"${SEEN[$t]}")
  l=$(median <<<"${LOST[$t]}")
  printf '%-14s %7s %12s %10s %10s %s\n' "$t" "$(median <<<"${RATIO[$t]}")" "$(median <<<"${CPU[$t]}")" \
    "$s" "$l" "$((s + ${l:-0}))"
done
