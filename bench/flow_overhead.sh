#!/usr/bin/env bash
# Benchmark of the packets source's flow kind: N UDP datagrams over 127.0.0.1 (one flow; each
# datagram runs the TC program on lo's egress and ingress, the flow table counts it once;
# bench/workloads/udploop.c), bare and with each tracer attached (output to a file), interleaved
# round by round. Reports the slowdown ratio to the bare loop, the tracer's CPU seconds per
# million packets, packets counted and losses reported.
#   usage: bench/flow_overhead.sh [N=200000] [ROUNDS=3]     (as root, after scripts/build.sh)
# Peers: Hubble needs Cilium (not installable here); a bpftrace program counting packets and
# bytes per device on net:netif_receive_skb stands for per-packet accounting in a tracing
# program. sightline: `trace flow` (TC programs on lo, a flow table updated per packet, read
# each second; the flow ends after 1 s idle and prints its counts).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.bash
tracer_bench udploop 200000 "$@"
CMD[sightline]="$SL trace flow --json --flow-timeout 1"
READY[sightline]="tracing flow"
CMD[bpftrace]="bpftrace -e 'tracepoint:net:netif_receive_skb { @pkts[str(args->name)] = count(); @bytes[str(args->name)] = sum(args->len); }'"
READY[bpftrace]=""
TRACERS=(${TRACERS:-sightline bpftrace})
DRAIN_S=3  # the flow ends after 1 s idle, seen by the next sweep (1 s)

seen_lost() {
  case $1 in
    sightline)
      echo "$(grep '"flow.state": *"timeout"' "$2" | grep '"pkt.proto": *"udp"' |
        sed -n 's/.*"flow.src_packets": *\([0-9]*\).*/\1/p' | sort -n | tail -1) $(sl_lost "$3")" ;;
    bpftrace) echo "$(sed -n 's/^@pkts\[lo\]: \([0-9]*\)/\1/p' "$2") $(peer_lost "$3" "$2")" ;;
  esac
}
tracer_rounds "sendto + recv over lo (one flow)"
