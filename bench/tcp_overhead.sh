#!/usr/bin/env bash
# Benchmark of the net source's per-event kinds: a loop of N connections on 127.0.0.1 (connect,
# accept, close both; bench/workloads/connloop.c), bare and with each tracer attached (output to
# a file), interleaved round by round. Reports the slowdown ratio to the bare loop, the tracer's
# CPU seconds per million connections, connects seen and losses reported.
#   usage: bench/tcp_overhead.sh [N=20000] [ROUNDS=3]     (as root, after scripts/build.sh)
# Peers: libbpf-tools tcpstates (the same inet_sock_set_state tracepoint, a record per state
# change; tcpconnect/tcpconnlat/tcpaccept need kprobes or fentry, which this kernel lacks), a
# bpftrace one-liner printing each SYN_SENT -> ESTABLISHED. sightline: connect and accept
# events; sightline_tcp: the tcp event at close only (what the agent streams by default).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.bash
tracer_bench connloop 20000 "$@"
CMD[sightline]="$SL trace connect accept --comm connloop"
READY[sightline]="tracing connect"
CMD[sightline_tcp]="$SL trace tcp --comm connloop"
READY[sightline_tcp]="tracing tcp"
CMD[tcpstates]="/usr/sbin/tcpstates"
READY[tcpstates]=""  # its header is block-buffered into the file: wait instead
CMD[bpftrace]="bpftrace -e 'tracepoint:sock:inet_sock_set_state /comm == \"connloop\" && args->oldstate == 2 && args->newstate == 1/ { printf(\"%d %d %d\\n\", pid, args->sport, args->dport); }'"
READY[bpftrace]=""
TRACERS=(${TRACERS:-sightline sightline_tcp tcpstates bpftrace})

seen_lost() {
  case $1 in
    sightline) echo "$(grep -c "^[0-9:.]* connect " "$2" || true) $(sl_lost "$3")" ;;
    sightline_tcp) echo "$(grep -c " client " "$2" || true) $(sl_lost "$3")" ;;
    tcpstates) echo "$(grep -cE ' connloop .*SYN_SENT +-> ESTABLISHED' "$2" || true) $(peer_lost "$3" "$2")" ;;
    bpftrace) echo "$(grep -cE '^[0-9]+ [0-9]+ [0-9]+$' "$2" || true) $(peer_lost "$3" "$2")" ;;
  esac
}
tracer_rounds "connect + accept + close"
