#!/usr/bin/env bash
# Parity with libbpf-tools' tcpstates (the inet_sock_set_state tracepoint, which this kernel has;
# tcpconnect, tcpconnlat and tcpaccept need kprobes or fentry, which it has not): on the same
# workload, `sightline trace connect accept` sees every handshake tcpstates sees, by 5-tuple:
# SYN_SENT -> ESTABLISHED is a connect, SYN_SENT -> CLOSE a failed one, SYN_RECV -> ESTABLISHED
# a connection accept() then returned. And sightline names who did each: the client process for
# its connects, the server for its accepts (tcpstates names whoever ran the softirq).
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
TCPSTATES=${TCPSTATES:-/usr/sbin/tcpstates}
[[ -x $TCPSTATES ]] || fail "$TCPSTATES missing: install libbpf-tools (scripts/deps.sh does)"
tmp=$(mktemp -d)
trap 'stop_bg; rm -rf "$tmp"' EXIT
stdbuf -oL "$TCPSTATES" >"$tmp/tcpstates.txt" 2>&1 &
bg_pid $!
"$SL" trace connect accept --json >"$tmp/sl.json" 2>"$tmp/sl.err" &
bg_pid $!
wait_for 20 grep -q NEWSTATE "$tmp/tcpstates.txt" || fail "tcpstates did not start: $(cat "$tmp/tcpstates.txt")"
wait_for 20 grep -q "tracing connect" "$tmp/sl.err" || fail "trace did not start: $(cat "$tmp/sl.err")"

# A server that accepts 40 connections; a client that makes them, then 10 to a closed port.
python3 - "$tmp" <<'PY'
import os, socket, sys, time
tmp = sys.argv[1]
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(64)
port = ls.getsockname()[1]
closed = socket.socket(); closed.bind(("127.0.0.1", 0)); closed_port = closed.getsockname()[1]  # bound, not listening
server = os.fork()
if server == 0:
    for _ in range(40):
        c, _ = ls.accept(); c.close()
    os._exit(0)
ls.close()
client = os.fork()
if client == 0:
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
    for s in socks: s.close()
    for _ in range(10):
        try: socket.create_connection(("127.0.0.1", closed_port))
        except ConnectionRefusedError: pass
    os._exit(0)
for p in (server, client):
    _, st = os.waitpid(p, 0)
    assert st == 0, f"child {p} failed: {st}"
open(f"{tmp}/ids", "w").write(f"{port} {closed_port} {server} {client}\n")
PY
sleep 1
kill -INT "${BG_PIDS[@]}" 2>/dev/null || true
sleep 1
python3 - "$tmp/tcpstates.txt" "$tmp/sl.json" "$tmp/ids" <<'PY' || fail "sets differ"
import json, sys
states_file, sl_file, ids_file = sys.argv[1:]
port, closed_port, server, client = map(int, open(ids_file).read().split())
ports = {port, closed_port}
connects, failed, accepts = set(), set(), set()
for line in open(states_file):
    f = line.split()
    # SKADDR PID COMM LADDR LPORT RADDR RPORT OLDSTATE -> NEWSTATE MS (COMM without spaces here)
    if len(f) < 11 or f[-3] != "->" or not f[-5].isdigit():
        continue
    laddr, lport, raddr, rport, old, new = f[-8], int(f[-7]), f[-6], int(f[-5]), f[-4], f[-2]
    t = (laddr, lport, raddr, rport)
    if old == "SYN_SENT" and rport in ports:
        (connects if new == "ESTABLISHED" else failed).add(t)
    elif old == "SYN_RECV" and new == "ESTABLISHED" and lport == port:
        accepts.add(t)
ours = {"connect": set(), "failed": set(), "accept": set()}
pids = {"connect": set(), "failed": set(), "accept": set()}
for line in open(sl_file):
    e = json.loads(line)
    t = (e["fd.lip"], e["fd.lport"], e["fd.rip"], e["fd.rport"])
    if e["evt.type"] == "connect" and e["fd.rport"] in ports:
        k = "failed" if e["evt.failed"] else "connect"
    elif e["evt.type"] == "accept" and e["fd.lport"] == port:
        k = "accept"
    else:
        continue
    ours[k].add(t)
    pids[k].add(e["proc.pid"])
print(f"tcpstates: {len(connects)} connects, {len(failed)} failed, {len(accepts)} accepted; "
      f"sightline: {len(ours['connect'])}, {len(ours['failed'])}, {len(ours['accept'])}")
assert len(ours["connect"]) == 40 and len(ours["failed"]) == 10 and len(ours["accept"]) == 40, ours
for k, theirs in (("connect", connects), ("failed", failed), ("accept", accepts)):
    assert theirs == ours[k], f"{k}: only tcpstates {sorted(theirs - ours[k])[:5]} only sightline {sorted(ours[k] - theirs)[:5]}"
assert pids["connect"] == {client} and pids["failed"] == {client}, f"connects named {pids['connect']} {pids['failed']}, client {client}"
assert pids["accept"] == {server}, f"accepts named {pids['accept']}, server {server}"
PY
echo "connect/accept parity with tcpstates: ok"
