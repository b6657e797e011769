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
tracer_bench sigloop 200000 "$@"
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

seen_lost() {
  case $1 in
    sightline*) echo "$(grep -c "SIGUSR1" "$2" || true) $(sl_lost "$3")" ;;
    sigsnoop|killsnoop) echo "$(grep -cE ' sigloop +10 ' "$2" || true) $(peer_lost "$3" "$2")" ;;
    bpftrace) echo "$(grep -cE '^[0-9]+ 10 [0-9]+$' "$2" || true) $(peer_lost "$3" "$2")" ;;
  esac
}
tracer_rounds "kill(self, SIGUSR1)"
