#!/usr/bin/env bash
# Parity with bindsnoop: on the same workload, `sightline trace bind` sees every bind of an IPv4 or
# IPv6 socket that a bpftrace program on the bind syscall's tracepoints sees (process, fd, result),
# with the address and port the workload itself reports: the one bound, or for a failed bind
# (EADDRINUSE) the one it asked for. Debian's libbpf-tools bindsnoop needs kprobes (inet_bind),
# which this kernel has not: the bpftrace program is the peer that runs here. A UNIX socket's bind
# is not an IP bind: bindsnoop leaves it out, and so does sightline.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
tmp=$(mktemp -d)
trap 'stop_bg; rm -rf "$tmp"' EXIT
stdbuf -oL bpftrace -e '
BEGIN { printf("Tracing binds\n"); }
tracepoint:syscalls:sys_enter_bind { @fd[tid] = args->fd; }
tracepoint:syscalls:sys_exit_bind /@fd[tid] >= 0/ { printf("%d %d %d\n", pid, @fd[tid], args->ret); delete(@fd[tid]); }
' >"$tmp/peer.txt" 2>&1 &
bg_pid $!
"$SL" trace bind --json >"$tmp/sl.json" 2>"$tmp/sl.err" &
bg_pid $!
wait_for 60 grep -q "Tracing binds" "$tmp/peer.txt" || fail "bpftrace did not start: $(cat "$tmp/peer.txt")"
wait_for 20 grep -q "tracing syscall" "$tmp/sl.err" || fail "trace did not start: $(cat "$tmp/sl.err")"
# 20 TCP binds on 127.0.0.1 (ephemeral ports), 10 UDP on ::1, 5 that fail (the port is taken),
# 3 UNIX binds; each IP one written down as pid fd ret address port.
/usr/bin/python3 - "$tmp/truth.txt" <<'PY'
import os, socket, sys
out, keep = open(sys.argv[1], "w"), []
def note(s, ret, addr, port):
    out.write(f"{os.getpid()} {s.fileno()} {ret} {addr} {port}\n")
for i in range(20):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); keep.append(s); note(s, 0, "127.0.0.1", s.getsockname()[1])
for i in range(10):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(("::1", 0)); keep.append(s)
    note(s, 0, "::1", s.getsockname()[1])
taken = keep[0].getsockname()[1]
for i in range(5):
    s = socket.socket(); keep.append(s)
    try:
        s.bind(("127.0.0.1", taken))
    except OSError as e:
        note(s, -e.errno, "127.0.0.1", taken)
for i in range(3):
    s = socket.socket(socket.AF_UNIX); s.bind(f"\0sl-bind-{os.getpid()}-{i}"); keep.append(s)
PY
sleep 1
kill -INT "${BG_PIDS[@]}" 2>/dev/null || true
sleep 1
/usr/bin/python3 - "$tmp/truth.txt" "$tmp/peer.txt" "$tmp/sl.json" <<'PY' || fail "sets differ"
import json, sys
truth_file, peer_file, sl_file = sys.argv[1:]
truth = [l.split() for l in open(truth_file)]
pid = int(truth[0][0])
want = {(int(f[1]), int(f[2]), f[3], int(f[4])) for f in truth}
theirs = {(int(f[1]), int(f[2])) for f in (l.split() for l in open(peer_file)) if len(f) == 3 and f[0] == str(pid)}
ours = set()
for line in open(sl_file):
    e = json.loads(line)
    if e["proc.pid"] == pid and e["syscall.name"] == "bind":
        ours.add((e["syscall.arg1"], e["evt.rawres"], e["fd.lip"], e["fd.lport"]))
print(f"bpftrace saw {len(theirs)} binds of the workload (IP and UNIX), sightline {len(ours)}, the workload made {len(want)} IP binds")
assert len(want) == 35 and sum(1 for w in want if w[1] == -98) == 5, want
assert len(theirs) == 38, f"the peer: {len(theirs)} (35 IP binds and 3 UNIX)"
assert {(fd, ret) for fd, ret, a, p in ours} <= theirs, "a bind the peer did not see"
assert ours == want, f"only the workload: {sorted(want - ours)[:5]} only sightline: {sorted(ours - want)[:5]}"
PY
grep -q " 0 lost" "$tmp/sl.err" || fail "lost events: $(cat "$tmp/sl.err")"
echo "bind parity: ok"
