#!/usr/bin/env bash
# Parity with fsslower: a file on ext4 written in 64 KiB blocks, each followed by fsync, and read
# back with pread. `sightline trace slow_io --slow-ms 0` sees every one of those calls that a
# bpftrace program on the same syscalls' tracepoints sees (process, syscall, fd, result), with the
# file's name, its file system, the offsets the workload used; with a threshold no call reaches
# (--slow-ms 60000) it sees none; calls on a pipe are not file I/O and are left out. Debian's
# libbpf-tools fsslower needs kprobes or fentry (this kernel has neither): bpftrace is the peer.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
tmp=$(mktemp -d)
file=/var/tmp/sl-slow-io-$$   # ext4 here (tmpfs would be no real I/O)
trap 'stop_bg; rm -rf "$tmp" "$file"' EXIT
stdbuf -oL bpftrace -e '
BEGIN { printf("Tracing file I/O\n"); }
tracepoint:syscalls:sys_enter_write, tracepoint:syscalls:sys_enter_fsync, tracepoint:syscalls:sys_enter_pread64
/comm == "sl-slow-io"/ { @fd[tid] = args->fd; }
tracepoint:syscalls:sys_exit_write, tracepoint:syscalls:sys_exit_fsync, tracepoint:syscalls:sys_exit_pread64
/@fd[tid]/ { printf("%d %s %d %d\n", pid, probe, @fd[tid], args->ret); delete(@fd[tid]); }
' >"$tmp/peer.txt" 2>&1 &
bg_pid $!
"$SL" trace slow_io --slow-ms 0 --json -c sl-slow-io >"$tmp/all.json" 2>"$tmp/all.err" &
bg_pid $!
"$SL" trace slow_io --slow-ms 60000 --json -c sl-slow-io >"$tmp/none.json" 2>"$tmp/none.err" &
bg_pid $!
wait_for 60 grep -q "Tracing file I/O" "$tmp/peer.txt" || fail "bpftrace did not start: $(cat "$tmp/peer.txt")"
for f in all none; do wait_for 20 grep -q "tracing slow_io" "$tmp/$f.err" || fail "trace did not start: $(cat "$tmp/$f.err")"; done
/usr/bin/python3 - "$file" "$tmp/truth.txt" <<'PY'
import ctypes, os, sys
ctypes.CDLL(None).prctl(15, b"sl-slow-io", 0, 0, 0)  # PR_SET_NAME: the traces follow this name
path = sys.argv[1]
truth = open(sys.argv[2], "w")
fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
for i in range(16):
    os.write(fd, bytes([i]) * 65536); os.fsync(fd)
os.close(fd)
fd = os.open(path, os.O_RDONLY)
for off in (0, 65536 * 3, 65536 * 15):
    assert len(os.pread(fd, 4096, off)) == 4096
r, w = os.pipe()
os.write(w, b"not a file")  # a pipe: not file I/O
ctypes.CDLL(None).prctl(15, b"sl-done", 0, 0, 0)  # what follows is not the workload
truth.write(f"{os.getpid()} {fd}\n")
PY
sleep 1
kill -INT "${BG_PIDS[@]}" 2>/dev/null || true
sleep 1
/usr/bin/python3 - "$tmp/truth.txt" "$tmp/peer.txt" "$tmp/all.json" "$file" <<'PY' || fail "sets differ"
import json, os, sys
truth_file, peer_file, sl_file, path = sys.argv[1:]
pid, rfd = map(int, open(truth_file).read().split())
theirs = []
for l in open(peer_file):
    f = l.split()
    if len(f) == 4 and f[0] == str(pid):
        theirs.append((f[1].rsplit("_", 1)[1], int(f[2]), int(f[3])))
ours, offsets = [], []
for l in open(sl_file):
    e = json.loads(l)
    if e["proc.pid"] != pid:
        continue
    assert e["fd.filename"] == os.path.basename(path), e
    assert e["fs.type"] == "ext4", e
    assert e["io.latency"] > 0, e
    ours.append((e["io.syscall"], e["fd.num"], e["evt.rawres"]))
    offsets.append((e["io.op"], e["io.offset"]))
# The peer sees the pipe's write as well: the one write of 10 bytes.
pipe = [t for t in theirs if t[0] == "write" and t[2] == 10]
print(f"bpftrace saw {len(theirs)} calls ({len(pipe)} on the pipe), sightline {len(ours)}")
assert len(pipe) == 1, theirs
assert sorted(ours) == sorted(t for t in theirs if t not in pipe), f"peer {sorted(theirs)[:6]} sightline {sorted(ours)[:6]}"
assert len(ours) == 16 + 16 + 3, len(ours)
assert sorted(o for op, o in offsets if op == "write") == [i * 65536 for i in range(16)], offsets
assert sorted(o for op, o in offsets if op == "read") == [0, 65536 * 3, 65536 * 15], offsets
assert all(o == -1 for op, o in offsets if op == "sync"), offsets
PY
[[ ! -s $tmp/none.json ]] || fail "a 60 s threshold let calls through: $(head -3 "$tmp/none.json")"
grep -q " 0 lost" "$tmp/all.err" || fail "lost events: $(cat "$tmp/all.err")"
echo "slow_io parity: ok"
