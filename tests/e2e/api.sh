#!/usr/bin/env bash
# The agent's API for sidecars and local tools: the same routes on a Unix socket that only the
# agent's user can open (no token asked there, while TCP asks for it), and live events as
# server-sent events filtered with the rule language.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
dir=$(mktemp -d)
chmod 755 "$dir"
port=$(free_port)
sock=$dir/run/api.sock
pin=/sys/fs/bpf/sightline-e2e-$$
cat >"$dir/agent.yaml" <<YAML
pin_maps: $pin
listen: 127.0.0.1:$port
api_token: e2e-secret
api_socket: $sock
store: {path: $dir/db/s.db}
sources: {syscalls: {enabled: true}}
YAML
"$SL" agent -c "$dir/agent.yaml" >"$dir/log" 2>&1 &
pid=$!
bg_pid $pid
trap 'stop_bg; rm -rf "$dir"' EXIT
wait_for 20 curl -sf --unix-socket "$sock" http://agent/healthz || { cat "$dir/log"; fail "no answer on the Unix socket"; }
[[ $(stat -c %a "$sock") == 600 ]] || fail "socket mode $(stat -c %a "$sock")"
# A second agent on the node with the same socket and pins is refused, naming the first; the
# first keeps its socket.
sed "s/^listen: .*/listen: 127.0.0.1:$(free_port)/" "$dir/agent.yaml" >"$dir/second.yaml"
rc=0
timeout 30 "$SL" agent -c "$dir/second.yaml" >"$dir/second.log" 2>&1 || rc=$?
[[ $rc == 1 ]] || fail "a second agent ran beside the first (exit $rc): $(tail -3 "$dir/second.log")"
grep -q "another sightline agent (pid $pid) holds the API socket $sock" "$dir/second.log" \
  || fail "the refusal does not name the running agent: $(cat "$dir/second.log")"
[[ -S $sock ]] && curl -sf --unix-socket "$sock" http://agent/healthz >/dev/null || fail "the first agent lost its socket"
# Every way to set the listener goes through the token rule: --listen beyond loopback too.
rc=0
out=$("$SL" agent --listen 0.0.0.0:$(free_port) --config /dev/null 2>&1) || rc=$?
[[ $rc == 2 ]] && grep -q -- "--listen: 0.0.0.0:[0-9]* is not a loopback address: set api_token" <<<"$out" \
  || fail "--listen 0.0.0.0 without a token: exit $rc: $out"
[[ $(stat -c %U "$sock") == root ]] || fail "socket owner"
runuser -u nobody -- curl -sf --unix-socket "$sock" http://agent/healthz >/dev/null 2>&1 && fail "another user reached the socket"
# Over TCP the token is asked of everything but the public paths (/healthz, /metrics by default).
code=$(curl -s -o /dev/null -w '%{http_code}' --get --data-urlencode "sql=SELECT 1" http://127.0.0.1:$port/api/v1/query)
[[ $code == 401 ]] || fail "TCP query without the token: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$port/profile)
[[ $code == 401 ]] || fail "TCP /profile without the token: $code"
grep -q '"rows":\[\[1\]\]' <<<"$(curl -sf -H 'Authorization: Bearer e2e-secret' --get --data-urlencode "sql=SELECT 1 AS one" http://127.0.0.1:$port/api/v1/query)" \
  || fail "TCP query with the token"
m=$(curl -sf http://127.0.0.1:$port/metrics)
grep -q '^sightline_build_info' <<<"$m" || fail "TCP /metrics without the token (a public path)"
m=$(curl -sf --unix-socket "$sock" http://agent/metrics)
grep -q '^sightline_live_subscribers 0$' <<<"$m" || fail "metrics on the socket"
grep -q '"rows":\[\[1\]\]' <<<"$(curl -sf --unix-socket "$sock" --get --data-urlencode "sql=SELECT 1 AS one" http://agent/api/v1/query)" \
  || fail "query on the socket"

# Live events: a subscriber with a filter gets exactly the matching events, as they happen.
curl -sN --unix-socket "$sock" --get --data-urlencode "filter=evt.type = exec and proc.name = true and proc.args contains sl-live" \
  http://agent/api/v1/events >"$dir/events" &
sub=$!
bg_pid $sub
wait_for 10 grep -q 'sightline live events' "$dir/events" || fail "no stream"
wait_for 5 bash -c "curl -sf --unix-socket '$sock' http://agent/metrics | grep -c '^sightline_live_subscribers 1$'" || fail "subscriber not counted"
for i in 1 2 3 4 5; do /bin/true sl-live-$i; done
/bin/echo sl-live-not-true >/dev/null
wait_for 10 bash -c "(( \$(grep -c '^data: ' '$dir/events') >= 5 ))" || fail "live events: $(cat "$dir/events")"
sleep 1
[[ $(grep -c '^data: ' "$dir/events") == 5 ]] || fail "events the filter should have kept out: $(grep '^data: ' "$dir/events")"
for i in 1 2 3 4 5; do
  grep '^data: ' "$dir/events" | sed 's/^data: //' | python3 -c "import json,sys; ok=any(json.loads(l)['proc.args'] == ['/bin/true', 'sl-live-$i'] for l in sys.stdin); sys.exit(0 if ok else 1)" \
    || fail "sl-live-$i not seen: $(cat "$dir/events")"
done
kill $sub
wait_for 10 bash -c "curl -sf --unix-socket '$sock' http://agent/metrics | grep -c '^sightline_live_subscribers 0$'" || fail "subscriber not released"
code=$(curl -s -o "$dir/err" -w '%{http_code}' --unix-socket "$sock" --get --data-urlencode "filter=proc.nme = x" http://agent/api/v1/events)
[[ $code == 400 ]] && grep -q "proc.name" "$dir/err" || fail "bad filter: $code $(cat "$dir/err")"

# Pinned maps: bpftool reads the in-kernel aggregations of a running agent.
[[ -d $pin/syscalls ]] || fail "no pinned maps of the syscalls source: $(ls -R "$pin" 2>&1 | head)"
pinned=$(ls "$pin/syscalls" | head -1)
[[ -n $pinned ]] || fail "nothing pinned under $pin/syscalls"
bpftool map dump pinned "$pin/syscalls/$pinned" >/dev/null || fail "bpftool cannot read $pin/syscalls/$pinned"
shown=$(bpftool map show pinned "$pin/syscalls/$pinned" 2>&1) || fail "bpftool map show: $shown"
grep -q "name" <<<"$shown" || fail "bpftool map show names no map: $shown"

kill -TERM $pid
wait $pid || fail "agent exit status $?"
[[ ! -e $sock ]] || fail "socket left behind"
[[ ! -e $pin ]] || fail "pins left behind: $(ls -R "$pin")"
echo "api e2e ok"
