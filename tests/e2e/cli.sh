#!/usr/bin/env bash
# `sightline trace` and `doctor` as a person uses them, and trace's JSON against real execs/opens.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
tmp=$(mktemp -d)
trap 'stop_bg; rm -rf "$tmp"' EXIT

# doctor: as root the agent can run; without privileges a sentence, and exit 1.
"$SL" doctor >"$tmp/doctor" || fail "doctor exit $?: $(cat "$tmp/doctor")"
grep -q "verdict: the agent can run" "$tmp/doctor" || fail "doctor verdict: $(cat "$tmp/doctor")"
grep -qE "on +tracepoint syscalls/sys_exit_openat" "$tmp/doctor" || fail "doctor hooks: $(cat "$tmp/doctor")"
install -m 755 "$SL" "$tmp/sightline"
rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups "$tmp/sightline" doctor >"$tmp/doctor.nobody" || rc=$?
[[ $rc == 1 ]] || fail "doctor without privileges exit $rc"
grep -q "run as root, or give" "$tmp/doctor.nobody" || fail "no sentence for the unprivileged: $(cat "$tmp/doctor.nobody")"

# trace exec --json: a real exec with unusual arguments, seen exactly, and a summary.
"$SL" trace exec exit --json >"$tmp/exec.json" 2>"$tmp/exec.err" &
tp=$!
bg_pid $tp
wait_for 20 grep -q "tracing exec exit" "$tmp/exec.err" || fail "trace did not start: $(cat "$tmp/exec.err")"
/bin/echo sl-e2e-cli "two words" 'quote"d' >/dev/null
sh -c 'exit 3' sl-e2e-exit || true
sleep 0.5
kill -INT $tp
wait $tp || fail "trace exit code $? on SIGINT"
grep -qE "^sightline: [0-9]+ events, 0 lost" "$tmp/exec.err" || fail "summary: $(cat "$tmp/exec.err")"
python3 - "$tmp/exec.json" <<'PY' || fail "trace exec JSON"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
echo = [e for e in events if e["evt.type"] == "exec" and "sl-e2e-cli" in e["proc.args"]]
assert len(echo) == 1, echo
e = echo[0]
assert e["proc.args"] == ["/bin/echo", "sl-e2e-cli", "two words", 'quote"d'], e
assert e["evt.filename"] == "/bin/echo" and e["evt.rawres"] == 0 and e["proc.name"] == "echo", e
sh = [e for e in events if e["evt.type"] == "exec" and "sl-e2e-exit" in e["proc.args"]]
assert len(sh) == 1, sh
ex = [e for e in events if e["evt.type"] == "exit" and e["proc.pid"] == sh[0]["proc.pid"]]
assert len(ex) == 1 and ex[0]["proc.exit_code"] == 3, ex
PY

# trace open --failed --comm: only the failed open of the named process.
"$SL" trace open --failed --comm cat >"$tmp/open.txt" 2>"$tmp/open.err" &
tp=$!
bg_pid $tp
wait_for 20 grep -q "tracing open" "$tmp/open.err" || fail "trace open did not start"
cat /etc/hostname >/dev/null
cat "/nonexistent/sl-e2e-open" 2>/dev/null || true
sleep 0.5
kill -INT $tp
wait $tp
head -1 "$tmp/open.txt" | grep -E >/dev/null "^TIME +PID +PPID +COMM +UID +FD +ERR +FLAGS +PATH$" || fail "table header: $(head -1 "$tmp/open.txt")"
grep -qE " cat +[0-9]+ +-1 +ENOENT +O_RDONLY.* /nonexistent/sl-e2e-open$" "$tmp/open.txt" || fail "failed open row: $(cat "$tmp/open.txt")"
! grep -q "/etc/hostname" "$tmp/open.txt" || fail "--failed let a successful open through"

# trace -f: a rule-language condition on every event; what it requires of proc.name goes to the
# kernel (the summary counts only cat's opens, not the node's).
mark=$tmp/sl-e2e-filter
echo x >"$mark.conf"
"$SL" trace open --json -f "fd.name startswith $mark and proc.name = cat and not fd.name endswith .skip" \
  >"$tmp/filter.json" 2>"$tmp/filter.err" &
tp=$!
bg_pid $tp
wait_for 20 grep -q "tracing open" "$tmp/filter.err" || fail "trace -f did not start: $(cat "$tmp/filter.err")"
cat "$mark.conf" >/dev/null
cat "$mark.skip" 2>/dev/null || true
for i in $(seq 1 100); do head -c1 "$mark.conf" >/dev/null; done  # not cat: stays in the kernel
sleep 0.5
kill -INT $tp
wait $tp
python3 - "$tmp/filter.json" "$mark" <<'PY' || fail "trace -f: $(cat "$tmp/filter.json")"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
assert [(e["proc.name"], e["fd.name"]) for e in events] == [("cat", sys.argv[2] + ".conf")], events
PY
n=$(sed -n 's/^sightline: \([0-9]*\) events.*/\1/p' "$tmp/filter.err")
(( n >= 1 && n < 300 )) || fail "proc.name = cat not filtered in the kernel: $n events came up (100 heads ran)"
out=$("$SL" trace open -f 'fd.nmae = x' 2>&1) && fail "a bad field in -f accepted"
grep -q "did you mean 'fd.name'" <<<"$out" || fail "-f error: $out"

# Bad input: a clear sentence, exit 2.
out=$("$SL" trace nosuchkind 2>&1) && fail "unknown kind accepted"
grep -q "unknown event kind 'nosuchkind'; known: exec fork exit open" <<<"$out" || fail "unknown kind message: $out"
echo "cli e2e: ok"
