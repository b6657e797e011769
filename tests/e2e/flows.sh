#!/usr/bin/env bash
# Hubble's flow log (`hubble observe`) as `sightline trace flow`: in a network namespace pair this
# test makes, UDP to a closed port, TCP to a closed port and a packet a tc filter drops are each
# one dropped flow event with the kernel's reason and the 5-tuple; a forwarded UDP flow's packets
# and bytes each way equal what was sent; a TCP flow ends when it closes, named by its local
# process; --verdict, --port and --ip filter.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
PY=/usr/bin/python3
ns=slflow$$
vh=slfh$$ vn=slfn$$   # veth ends: the host's and the namespace's
HOST=10.213.0.1 PEER=10.213.0.2
tmp=$(mktemp -d)
cleanup() {
  stop_bg
  del_veth_ns $ns $vh
  rm -rf "$tmp"
}
trap cleanup EXIT

veth_ns $ns $vh $vn $HOST $PEER
# A tc filter in the namespace drops UDP to port 9997 at its ingress: a 13-instruction BPF
# classifier (this kernel has no tc actions to build one from) on a tcx link that lives as long
# as the process holding it.
ip netns exec $ns $PY -c "
import ctypes, os, struct, time
libc = ctypes.CDLL(None, use_errno=True)
def insn(code, dst=0, src=0, off=0, imm=0): return struct.pack('<BBhi', code, dst | src << 4, off, imm)
prog = b''.join([
    insn(0x61, 2, 1, 76), insn(0x61, 3, 1, 80),          # r2 = skb->data, r3 = skb->data_end
    insn(0xbf, 4, 2), insn(0x07, 4, imm=38),               # r4 = data + eth + ip + udp ports
    insn(0x2d, 4, 3, 6),                                   # beyond the packet: pass
    insn(0x71, 5, 2, 23), insn(0x55, 5, off=4, imm=17),    # IPv4 protocol != UDP: pass
    insn(0x69, 5, 2, 36), insn(0x55, 5, off=2, imm=0x0d27),  # destination port != 9997: pass
    insn(0xb7, 0, imm=2), insn(0x95),                      # TC_ACT_SHOT
    insn(0xb7, 0, imm=-1), insn(0x95)])                    # TCX_NEXT
buf = ctypes.create_string_buffer(prog); lic = ctypes.create_string_buffer(b'GPL')
attr = ctypes.create_string_buffer(128)
struct.pack_into('<IIQQ', attr, 0, 3, len(prog) // 8, ctypes.addressof(buf), ctypes.addressof(lic))
fd = libc.syscall(321, 5, attr, 128)                       # BPF_PROG_LOAD, BPF_PROG_TYPE_SCHED_CLS
assert fd >= 0, os.strerror(ctypes.get_errno())
attr = ctypes.create_string_buffer(64)
struct.pack_into('<IIII', attr, 0, fd, int(open('/sys/class/net/$vn/ifindex').read()), 46, 0)
link = libc.syscall(321, 28, attr, 64)                     # BPF_LINK_CREATE, BPF_TCX_INGRESS
assert link >= 0, os.strerror(ctypes.get_errno())
open('$tmp/filter', 'w').close()
time.sleep(60)
" &
bg_pid $!

# Servers in the namespace: a UDP echo on 7000 and a TCP sink on 7001.
ip netns exec $ns $PY -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('$PEER', 7000))
t = socket.socket(); t.bind(('$PEER', 7001)); t.listen()
open('$tmp/ready', 'w').close()
for _ in range(10):
    d, a = s.recvfrom(4096); s.sendto(d, a)
c, _ = t.accept()
while c.recv(65536): pass
c.close()
" &
bg_pid $!
wait_for 10 test -f "$tmp/ready" || fail "the namespace's servers did not start"
wait_for 10 test -f "$tmp/filter" || fail "the namespace's tc filter was not attached"

"$SL" trace flow --json --ip $PEER --flow-timeout 2 -d 12 >"$tmp/all.json" 2>"$tmp/all.err" &
t1=$!
bg_pid $t1
"$SL" trace flow --json --verdict dropped --port 9998 -d 12 >"$tmp/dropped.json" 2>"$tmp/dropped.err" &
t2=$!
bg_pid $t2
wait_for 20 grep -q tracing "$tmp/all.err" || fail "trace flow did not start: $(cat "$tmp/all.err")"
wait_for 20 grep -q tracing "$tmp/dropped.err" || fail "trace flow did not start: $(cat "$tmp/dropped.err")"

$PY -c "
import socket, time
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('$HOST', 0)); u.settimeout(5)
for i in range(10):
    u.sendto(b'x' * 200, ('$PEER', 7000)); u.recvfrom(4096)
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'closed', ('$PEER', 9999))
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'filtered', ('$PEER', 9997))
try:
    socket.create_connection(('$PEER', 9998), timeout=3)
except OSError:
    pass
c = socket.create_connection(('$PEER', 7001)); c.sendall(b'y' * 100000)
time.sleep(1.5)   # the sockets stay open past a sweep: their owner is named
c.close(); time.sleep(1.5)
"
wait $t1 $t2  # their 12 s are up
jq_n() { /usr/bin/python3 -c "
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{')]
sel = [r for r in rows if eval(sys.argv[2])]
print(len(sel))
for r in sel[:3]: print(json.dumps(r), file=sys.stderr)
" "$@"; }
all=$tmp/all.json
echo "--- flows"; cat "$all" | cut -c1-400
dropped() {  # PROTO DPORT REASON: exactly one dropped flow event
  local n
  n=$(jq_n "$all" "r['flow.state'] == 'dropped' and r['flow.verdict'] == 'dropped' and r['pkt.proto'] == '$1' and \
r['pkt.src'] == '$HOST' and r['pkt.dst'] == '$PEER' and r['pkt.dport'] == $2 and r['drop.reason'] == '$3' and \
r['flow.src_packets'] == 1 and r['pkt.sport'] > 0")
  [[ $n == 1 ]] || fail "$1 to port $2: $n dropped flow events with reason $3, not 1"
}
dropped udp 9999 no_socket
dropped tcp 9998 no_socket
dropped udp 9997 tc_ingress

# The UDP echo: 10 datagrams of 200 bytes each way: 228 IP bytes each; it began and timed out.
n=$(jq_n "$all" "r['flow.state'] == 'new' and r['pkt.proto'] == 'udp' and r['pkt.dport'] == 7000 and \
r['pkt.src'] == '$HOST' and r['flow.direction'] == 'egress' and r['pkt.iface'] == '$vh'")
[[ $n == 1 ]] || fail "the UDP flow's new event: $n"
n=$(jq_n "$all" "r['flow.state'] == 'timeout' and r['pkt.dport'] == 7000 and r['flow.verdict'] == 'forwarded' and \
r['flow.src_packets'] == 10 and r['flow.src_bytes'] == 2280 and r['flow.dst_packets'] == 10 and \
r['flow.dst_bytes'] == 2280 and r['flow.src_name'] == 'python3' and r['proc.name'] == 'python3' and r['flow.dst_pid'] == 0")
[[ $n == 1 ]] || fail "the UDP flow's end (timeout, 10 packets and 2280 bytes each way, named python3): $n"

# The TCP sink: closed by FIN both ways, its 100000 bytes and their headers counted, named.
n=$(jq_n "$all" "r['flow.state'] == 'closed' and r['pkt.proto'] == 'tcp' and r['pkt.dport'] == 7001 and \
r['flow.src_bytes'] >= 100000 + 20 * r['flow.src_packets'] and r['flow.src_bytes'] < 120000 and \
r['flow.dst_packets'] >= 2 and r['flow.src_name'] == 'python3' and not r['flow.mid']")
[[ $n == 1 ]] || fail "the TCP flow's close: $n"

# The filtered trace: dropped flows to or from port 9998 only (the SYN).
n=$(jq_n "$tmp/dropped.json" "True")
m=$(jq_n "$tmp/dropped.json" "r['flow.verdict'] == 'dropped' and r['pkt.dport'] == 9998")
[[ $n -ge 1 && $n == "$m" ]] || fail "--verdict dropped --port 9998: $m of $n events"
grep -q "0 lost" "$tmp/all.err" || fail "events lost: $(cat "$tmp/all.err")"
echo "flows: ok"
