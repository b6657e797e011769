#!/usr/bin/env bash
# `sightline trace tp:CATEGORY:NAME` as a person runs it: records with decoded fields, a
# filter, counts by a field and a histogram; bad names and fields; and the agent counting a
# tracepoint from its configuration into /metrics.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
tmp=$(mktemp -d)
trap 'stop_bg; rm -rf "$tmp"' EXIT

# Records: an exec of a known program, its filename decoded from the __data_loc field.
("$SL" trace tp:sched:sched_process_exec -d 3 >"$tmp/exec.out" 2>"$tmp/exec.err" &)
sleep 1
/bin/true sl-tp-e2e
wait_for 5 grep -q 'filename="/bin/true"' "$tmp/exec.out" || fail "exec record: $(cat "$tmp/exec.out" "$tmp/exec.err")"
sleep 2.5

# Filter, JSON: kill(pid, 0) of a known pid; other kills do not pass.
sleep 30 &
target=$!
bg_pid $target
("$SL" trace tp:syscalls:sys_enter_kill -f "pid == $target && sig == 0" --json -d 2.5 >"$tmp/kill.out" 2>/dev/null &)
sleep 1
for i in 1 2 3; do kill -0 $target; done
kill -0 $$
sleep 2
n=$(python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; assert all(x["fields"]["pid"]=='"$target"' for x in r), r; print(len(r))' "$tmp/kill.out") \
  || fail "filtered JSON records: $(cat "$tmp/kill.out")"
[[ $n == 3 ]] || fail "want 3 kill(target, 0) records, got $n: $(cat "$tmp/kill.out")"

# Count by a field, in the kernel.
("$SL" trace tp:syscalls:sys_enter_kill --count-by sig -d 2 >"$tmp/count.out" 2>/dev/null &)
sleep 0.8
for i in $(seq 7); do kill -0 $target; done
sleep 1.8
grep -qE '^syscalls:sys_enter_kill +0 +([7-9]|[1-9][0-9]+)$' "$tmp/count.out" || fail "count by sig: $(cat "$tmp/count.out")"

# Errors a person can act on.
out=$("$SL" trace tp:sched:nope -d 1 2>&1) && fail "unknown tracepoint accepted"
grep -q "no tracepoint sched:nope" <<<"$out" || fail "unclear: $out"
out=$("$SL" trace tp:sched:sched_switch --hist prev_comm -d 1 2>&1) && fail "--hist of a string accepted"
grep -q "integer field" <<<"$out" || fail "unclear: $out"
out=$("$SL" trace tp:sched:sched_switch -f 'bogus == 1' -d 1 2>&1) && fail "bad filter accepted"
grep -q "no field 'bogus'" <<<"$out" || fail "unclear: $out"

# The agent, from its configuration.
port=$(free_port)
cat >"$tmp/agent.yaml" <<YAML
listen: 127.0.0.1:$port
tracepoints:
  - {event: "syscalls:sys_enter_kill", count_by: sig}
YAML
"$SL" agent --config "$tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
bg_pid $!
wait_for 20 curl -sf http://127.0.0.1:$port/healthz || fail "agent: $(cat "$tmp/agent.log")"
for i in 1 2 3 4 5; do kill -0 $target; done
wait_for 5 bash -c "curl -sf http://127.0.0.1:$port/metrics | grep -qE '^sightline_tracepoint_events_total\{tracepoint=\"syscalls:sys_enter_kill\",field=\"sig\",value=\"0\"\} ([5-9]|[1-9][0-9]+)$'" \
  || fail "agent metric: $(curl -sf http://127.0.0.1:$port/metrics | grep tracepoint_events)"
echo "tracepoint e2e: ok"
