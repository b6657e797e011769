#!/usr/bin/env bash
# Rules that act (action: kill) as a person uses them: `rules validate` says which rules act and
# why another cannot (file:line:col); the agent kills a program run from /tmp that opens
# /etc/shadow before it reads a byte, spares the same program on another file and the system's
# cat on the same file, raises the alert with its outcome and counts it in /metrics; with
# `rules.enforce: false` (and `rules run --dry-run`) the same open only reports.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
tmp=$(mktemp -d /tmp/sl-e2e-enforce-XXXXXX)
cleanup() {
  stop_bg
  rm -rf "$tmp"
}
trap cleanup EXIT

cat >"$tmp/kill.yaml" <<YAML
- rule: Shadow read by a program from tmp
  condition: evt.type = open and fd.name = /etc/shadow and proc.exepath startswith $tmp/
  output: "%proc.exepath (pid %proc.pid) opened %fd.name"
  priority: CRITICAL
  action: kill
YAML
cat >"$tmp/cannot.yaml" <<'YAML'
- rule: Shadow read by a child of a shell
  condition: evt.type = open and fd.name = /etc/shadow and proc.pname = bash
  output: "x"
  priority: CRITICAL
  action: kill
YAML
out=$("$SL" rules validate "$tmp/cannot.yaml" 2>&1) && fail "an action the kernel cannot evaluate validated"
grep -q "$tmp/cannot.yaml:5:11: rule 'Shadow read by a child of a shell': action kill: condition column 47: proc.pname cannot be evaluated in the kernel" <<<"$out" \
  || fail "unclear refusal: $out"
out=$("$SL" rules validate "$tmp/kill.yaml")
grep -q "Shadow read by a program from tmp: kill at open: fd.name, proc.exepath" <<<"$out" || fail "validate: $out"

cp /bin/cat "$tmp/cat"
run_agent() {  # $1: enforce (true/false)
  port=$(free_port)
  cat >"$tmp/agent.yaml" <<YAML
listen: 127.0.0.1:$port
store: {enabled: false}
rules:
  files: [$tmp/kill.yaml]
  json_file: $tmp/alerts-$1.jsonl
  enforce: $1
YAML
  "$SL" agent --config "$tmp/agent.yaml" >"$tmp/agent-$1.log" 2>&1 &
  agent=$!
  bg_pid $agent
  wait_for 30 curl -sf http://127.0.0.1:$port/healthz || fail "agent: $(cat "$tmp/agent-$1.log")"
  grep -q "rules: acting in the kernel" "$tmp/agent-$1.log" || fail "the agent does not say which rules act"
}

run_agent true
set +e
"$tmp/cat" /etc/shadow >"$tmp/read.out"
rc=$?
set -e
[[ $rc == 137 ]] || fail "the program from $tmp was not killed (exit $rc)"
[[ ! -s $tmp/read.out ]] || fail "the killed program read $(wc -c <"$tmp/read.out") bytes"
"$tmp/cat" /etc/hostname >/dev/null || fail "the same program was killed on another file"
cat /etc/shadow >/dev/null || fail "the system's cat was killed"
wait_for 10 grep -q '"outcome":"killed"' "$tmp/alerts-true.jsonl" || fail "no alert: $(cat "$tmp/agent-true.log")"
[[ $(grep -c '"rule":"Shadow read by a program from tmp"' "$tmp/alerts-true.jsonl") == 1 ]] \
  || fail "alerts: $(cat "$tmp/alerts-true.jsonl")"
grep -q "$tmp/cat (pid [0-9]*) opened /etc/shadow (action kill: killed)" "$tmp/alerts-true.jsonl" \
  || fail "alert output: $(cat "$tmp/alerts-true.jsonl")"
metrics=$(curl -sf http://127.0.0.1:$port/metrics)
grep -q 'sightline_rule_actions_total{rule="Shadow read by a program from tmp",action="kill",outcome="killed"} 1' <<<"$metrics" \
  || fail "metrics: $(grep rule_actions <<<"$metrics")"
stop_bg

# Dry run: the same open succeeds and is reported as what would have been done.
run_agent false
"$tmp/cat" /etc/shadow >"$tmp/read.out" || fail "killed with enforce: false"
[[ -s $tmp/read.out ]] || fail "nothing read with enforce: false"
wait_for 10 grep -q '"outcome":"would_kill"' "$tmp/alerts-false.jsonl" || fail "no dry-run alert: $(cat "$tmp/agent-false.log")"
stop_bg

"$SL" rules run --no-defaults --dry-run -d 4 -j "$tmp/kill.yaml" >"$tmp/run.jsonl" 2>"$tmp/run.err" &
bg_pid $!
wait_for 10 grep -q "rules on" "$tmp/run.err" || fail "rules run: $(cat "$tmp/run.err")"
"$tmp/cat" /etc/shadow >/dev/null || fail "killed by rules run --dry-run"
wait_for 10 grep -q '"outcome":"would_kill"' "$tmp/run.jsonl" || fail "rules run --dry-run: $(cat "$tmp/run.err")"
echo "enforce: ok"
