#!/usr/bin/env bash
# Parity with statsnoop: on the same workload, `sightline trace stat` sees every stat call that
# bpftrace's statsnoop.bt sees (statfs, statx, newstat, newlstat), by process, path and errno,
# and newfstatat besides (statsnoop.bt leaves it out; glibc's stat() uses it). Debian's
# libbpf-tools statsnoop loads none of its programs on this kernel ("skipped loading"): the
# bpftrace tool is the peer that runs here.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
STATSNOOP=${STATSNOOP:-/usr/sbin/statsnoop.bt}
[[ -r $STATSNOOP ]] || fail "$STATSNOOP missing: install bpftrace (scripts/deps.sh does)"
tmp=$(mktemp -d)
trap 'stop_bg; rm -rf "$tmp"' EXIT
mkdir "$tmp/files"
for i in $(seq 1 10); do echo "$i" >"$tmp/files/f$i"; done
stdbuf -oL bpftrace "$STATSNOOP" >"$tmp/statsnoop.txt" 2>&1 &
bg_pid $!
"$SL" trace stat --json >"$tmp/sl.json" 2>"$tmp/sl.err" &
bg_pid $!
wait_for 60 grep -q "Tracing stat" "$tmp/statsnoop.txt" || fail "statsnoop.bt did not start: $(cat "$tmp/statsnoop.txt")"
wait_for 20 grep -q "tracing stat" "$tmp/sl.err" || fail "trace did not start: $(cat "$tmp/sl.err")"
# stat(1) calls statx, df statfs, python's os.stat newfstatat: 10 files that exist, 10 that do not.
(
  for i in $(seq 1 10); do
    stat -c %s "$tmp/files/f$i" >/dev/null
    stat -c %s "$tmp/files/missing$i" >/dev/null 2>&1 || true
  done
  df "$tmp/files" >/dev/null
  python3 -c "
import os, sys
for i in range(1, 11):
    os.stat(sys.argv[1] + f'/f{i}')
    try: os.stat(sys.argv[1] + f'/gone{i}')
    except FileNotFoundError: pass
" "$tmp/files"
)
sleep 1
kill -INT "${BG_PIDS[@]}" 2>/dev/null || true
sleep 1
python3 - "$tmp/statsnoop.txt" "$tmp/sl.json" "$tmp/files" <<'PY' || fail "sets differ"
import json, sys
snoop_file, sl_file, files = sys.argv[1:]
theirs = set()
for line in open(snoop_file):
    f = line.split(None, 3)
    # PID COMM ERR PATH (COMM without spaces here: stat, df, python3)
    if len(f) == 4 and f[0].isdigit() and f[2].isdigit() and f[3].strip().startswith(files):
        theirs.add((int(f[0]), int(f[2]), f[3].strip()))
ours, fstatat = set(), set()
for line in open(sl_file):
    e = json.loads(line)
    if not e["fs.path.name"].startswith(files):
        continue
    t = (e["proc.pid"], -e["evt.rawres"] if e["evt.rawres"] < 0 else 0, e["fs.path.name"])
    (fstatat if e["evt.syscall"] == "newfstatat" else ours).add(t)
print(f"statsnoop.bt saw {len(theirs)} calls on the test's files; sightline {len(ours)} and {len(fstatat)} newfstatat")
assert theirs, "statsnoop.bt saw nothing"
assert theirs == ours, f"only statsnoop.bt: {sorted(theirs - ours)[:5]} only sightline: {sorted(ours - theirs)[:5]}"
assert sum(1 for p, err, path in ours if "/missing" in path and err == 2) == 10, "the 10 missing files by stat(1)"
assert sum(1 for p, err, path in fstatat if "/gone" in path and err == 2) == 10, "python's 10 missing files"
assert sum(1 for p, err, path in fstatat if err == 0) >= 10, "python's 10 files that exist"
PY
echo "stat parity with statsnoop.bt: ok"
