#!/usr/bin/env bash
# Parity with libbpf-tools: on the same workload, `sightline trace signal` sees the same
# signals as sigsnoop (every signal generated) and, of those sent by kill(2), as killsnoop:
# sender, signal and target of each, compared as sets over the targets the test made.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
SIGSNOOP=${SIGSNOOP:-/usr/sbin/sigsnoop} KILLSNOOP=${KILLSNOOP:-/usr/sbin/killsnoop}
for t in "$SIGSNOOP" "$KILLSNOOP"; do [[ -x $t ]] || fail "$t missing: install libbpf-tools (scripts/deps.sh does)"; done
tmp=$(mktemp -d)
trap 'stop_bg; rm -rf "$tmp"' EXIT
stdbuf -oL "$SIGSNOOP" >"$tmp/sigsnoop.txt" 2>&1 &
bg_pid $!
stdbuf -oL "$KILLSNOOP" >"$tmp/killsnoop.txt" 2>&1 &
bg_pid $!
"$SL" trace signal --json >"$tmp/sl.json" 2>"$tmp/sl.err" &
bg_pid $!
wait_for 20 grep -q TPID "$tmp/sigsnoop.txt" || fail "sigsnoop did not start: $(cat "$tmp/sigsnoop.txt")"
wait_for 20 grep -q TPID "$tmp/killsnoop.txt" || fail "killsnoop did not start: $(cat "$tmp/killsnoop.txt")"
wait_for 20 grep -q "tracing signal" "$tmp/sl.err" || fail "trace did not start: $(cat "$tmp/sl.err")"
# 30 sleepers: SIGUSR1 ends 10, SIGTERM 10, SIGKILL 10; SIGSTOP and SIGCONT to 5 first.
targets=()
for i in $(seq 1 30); do
  targets+=("$(sleep 300 >/dev/null 2>&1 & echo $!)")  # not this shell's jobs: no job reports
done
sleep 0.5
for i in 0 1 2 3 4; do kill -STOP "${targets[$i]}"; kill -CONT "${targets[$i]}"; done
for i in $(seq 0 29); do
  case $((i / 10)) in 0) s=USR1 ;; 1) s=TERM ;; 2) s=KILL ;; esac
  kill -$s "${targets[$i]}"
done
wait_for 10 bash -c "! kill -0 ${targets[*]} 2>/dev/null" || fail "sleepers still alive"
sleep 1
kill -INT "${BG_PIDS[@]}" 2>/dev/null || true
sleep 1
echo "${targets[@]}" >"$tmp/targets"
python3 - "$tmp/sigsnoop.txt" "$tmp/killsnoop.txt" "$tmp/sl.json" "$tmp/targets" $$ <<'PY' || fail "sets differ"
import json, sys
sig_file, kill_file, sl_file, targets_file, me = sys.argv[1:]
targets = {int(p) for p in open(targets_file).read().split()}
def snoop(path):
    out = set()
    for line in open(path):
        f = line.split()
        # TIME PID COMM SIG TPID RESULT (COMM has no spaces here: bash, sleep)
        # signal 0 (kill -0: does it exist?) sends nothing
        if len(f) >= 6 and f[1].isdigit() and f[-2].isdigit() and int(f[-2]) in targets and int(f[-3]) != 0:
            out.add((int(f[1]), int(f[-3]), int(f[-2])))
    return out
sig, kil = snoop(sig_file), snoop(kill_file)
ours, ours_kill = set(), set()
for line in open(sl_file):
    e = json.loads(line)
    if e["target.pid"] in targets:
        t = (e["proc.pid"], e["sig.num"], e["target.pid"])
        ours.add(t)
        if e["sig.code"] == 0:  # SI_USER: kill(2)
            ours_kill.add(t)
print(f"sigsnoop saw {len(sig)}, killsnoop {len(kil)}, sightline {len(ours)} ({len(ours_kill)} by kill) signals to the test's targets")
assert len(ours_kill) == 40, f"sightline saw {len(ours_kill)} of the 40 kill(2) signals"
assert sig == ours, f"only sigsnoop: {sorted(sig - ours)[:10]} only sightline: {sorted(ours - sig)[:10]}"
assert kil == ours_kill, f"only killsnoop: {sorted(kil - ours_kill)[:10]} only sightline: {sorted(ours_kill - kil)[:10]}"
PY
echo "signal parity with sigsnoop and killsnoop: ok"
