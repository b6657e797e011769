#!/usr/bin/env bash
# Parity with libbpf-tools: on the same workload, `sightline trace exec` and execsnoop see the
# same set of exec events (successful and failed).
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
EXECSNOOP=${EXECSNOOP:-/usr/sbin/execsnoop}
[[ -x $EXECSNOOP ]] || fail "$EXECSNOOP missing: install libbpf-tools (scripts/deps.sh does)"
tmp=$(mktemp -d)
trap 'stop_bg; rm -rf "$tmp"' EXIT
"$EXECSNOOP" -x --max-args 20 >"$tmp/snoop.txt" 2>&1 &
sp=$!
bg_pid $sp
"$SL" trace exec --json >"$tmp/sl.json" 2>"$tmp/sl.err" &
tp=$!
bg_pid $tp
wait_for 20 grep -q PCOMM "$tmp/snoop.txt" || fail "execsnoop did not start: $(cat "$tmp/snoop.txt")"
wait_for 20 grep -q "tracing exec" "$tmp/sl.err" || fail "trace did not start"
marker=slparity$$
for i in $(seq 1 40); do /bin/true "$marker" "$i"; done
for i in $(seq 1 10); do "/nonexistent/$marker" "$i" 2>/dev/null || true; done
sleep 1
kill -INT $sp $tp
wait $tp || true
wait $sp || true
python3 - "$tmp/snoop.txt" "$tmp/sl.json" "$marker" <<'PY' || fail "sets differ"
import json, sys
snoop_file, sl_file, marker = sys.argv[1:]
snoop = set()
for line in open(snoop_file):
    f = line.split()
    # PCOMM PID PPID RET ARGS...
    if len(f) >= 5 and marker in line and f[1].isdigit():
        snoop.add((int(f[1]), int(f[3]) == 0))
ours = set()
for line in open(sl_file):
    e = json.loads(line)
    if any(marker in a for a in e["proc.args"]):
        ours.add((e["proc.pid"], e["evt.rawres"] == 0))
print(f"execsnoop saw {len(snoop)}, sightline saw {len(ours)} marked execs")
assert len(ours) == 50, f"sightline saw {len(ours)} of 50"
assert snoop == ours, f"only execsnoop: {sorted(snoop - ours)[:10]} only sightline: {sorted(ours - snoop)[:10]}"
PY
echo "execsnoop parity: ok"
