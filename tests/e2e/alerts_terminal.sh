#!/usr/bin/env bash
# Alerts on the terminal, as Falco prints them: a foreground agent whose stdout is a terminal
# (a pty made by script(1)) prints each alert with the default `rules.stdout: auto`; the same
# agent with stdout in a file (as under systemd) prints none, and `rules.stdout: true` does.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
command -v script >/dev/null || fail "script(1) missing: util-linux has it"
tmp=$(mktemp -d)
trap 'stop_bg; rm -rf "$tmp"' EXIT
marker=sl-e2e-tty-$$
printf -- '- rule: e2e terminal marker\n  desc: an exec of the test marker\n  condition: evt.type = exec and proc.args contains %s\n  output: marker exec (%%proc.cmdline)\n  priority: WARNING\n' \
  "$marker" >"$tmp/rules.yaml"
# Only the process source: the test is about where alerts go, not about what the sources see.
config() {  # config FILE PORT [STDOUT]
  {
    printf 'listen: 127.0.0.1:%s\napi_socket: ""\nstore: {enabled: false}\n' "$2"
    printf 'rules:\n  defaults: false\n  files: [%s]\n' "$tmp/rules.yaml"
    [[ -n ${3:-} ]] && printf '  stdout: %s\n' "$3"
    printf 'sources:\n'
    for s in file net security l7 syscalls sched block packets profile; do printf '  %s: {enabled: false}\n' "$s"; done
  } >"$1"
}
# run NAME PORT TTY [STDOUT]: starts the agent, fires the rule once, stops the agent; its
# stdout is in $tmp/NAME.out.
run() {
  local name=$1 port=$2 tty=$3 pid
  config "$tmp/$name.yaml" "$port" "${4:-}"
  if [[ $tty == yes ]]; then
    script -qfec "$SL agent --config $tmp/$name.yaml 2>$tmp/$name.err" "$tmp/$name.out" </dev/null >/dev/null &
  else
    "$SL" agent --config "$tmp/$name.yaml" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null &
  fi
  pid=$!
  bg_pid $pid
  wait_for 20 curl -sf http://127.0.0.1:$port/healthz || { cat "$tmp/$name.err"; fail "$name: agent did not start"; }
  /bin/true "$marker-$name"
  wait_for 10 bash -c "curl -sf http://127.0.0.1:$port/metrics | grep -qE '^sightline_alerts_total\\{[^}]*\\} [1-9]'" \
    || fail "$name: the rule did not fire: $(curl -sf http://127.0.0.1:$port/metrics | grep alerts_total)"
  sleep 0.5
  # SIGTERM to the agent itself (under script(1) it is script's grandchild), then its parent ends.
  pkill -TERM -f "^$SL agent --config $tmp/$name.yaml" || true
  wait_for 10 bash -c "! kill -0 $pid" || fail "$name: the agent did not stop"
}
run tty "$(free_port)" yes
grep -q "marker exec.*$marker-tty" "$tmp/tty.out" || fail "no alert on the terminal: $(cat "$tmp/tty.out")"
run file "$(free_port)" no
grep -q "marker exec" "$tmp/file.out" && fail "alert printed with stdout in a file: $(cat "$tmp/file.out")"
run forced "$(free_port)" no true
grep -q "marker exec.*$marker-forced" "$tmp/forced.out" || fail "rules.stdout: true printed nothing: $(cat "$tmp/forced.out")"
echo "alerts on a terminal: ok"
