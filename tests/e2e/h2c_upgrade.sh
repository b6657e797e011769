#!/usr/bin/env bash
# HTTP/2 reached by the HTTP/1.1 Upgrade (h2c, RFC 7540 3.2) as a person checks it: a Go server
# on golang.org/x/net's h2c handler and curl --http2 on http:// URLs (curl asks for the upgrade
# with its first request, then sends the others as streams of the same connection). The agent
# runs with detail sampled away (sample 1000, no per-second budget), so the kernel holds the
# upgrading request until its answer: the 101 turns the connection to HTTP/2 in the kernel and
# in user space, the held request goes out as stream 1. On both sides: every request an http2
# record with its path and status (the first the upgrading one, its answer from stream 1),
# exact in the agent's store and in the exact family; a plain HTTP/1.1 request to the same
# server stays http, counted in the kernel; nothing is counted twice.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
command -v go >/dev/null || fail "go missing: scripts/deps.sh installs it"
[[ -d /usr/share/gocode/src/golang.org/x/net/http2/h2c ]] || fail "golang-golang-x-net-dev missing: scripts/deps.sh installs it"
tmp=$(mktemp -d)
chmod 755 "$tmp"
trap 'stop_bg; [[ -n ${KEEP:-} ]] || rm -rf "$tmp"' EXIT

go_helper h2c_server "$tmp" "$tmp/h2c-server"

port=$(free_port) aport=$(free_port)
db=$tmp/db/sightline.db
l7_agent_config "$tmp/agent.yaml" $aport "$db" "{sample: 1000, detail_per_s: 0}"
"$SL" agent --config "$tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
bg_pid $!
wait_for 30 curl -sf http://127.0.0.1:$aport/healthz || fail "agent: $(cat "$tmp/agent.log")"
"$tmp/h2c-server" $port >"$tmp/server.out" 2>&1 &
bg_pid $!
wait_for 10 grep -q ready "$tmp/server.out" || fail "server: $(cat "$tmp/server.out")"

base=http://127.0.0.1:$port
out=$(curl -sS --http2 $base/items/1 $base/items/2 $base/missing $base/items/3) || fail "curl --http2: $out"
# (the server's handler sees the upgrading request as the HTTP/1.1 it was sent as)
[[ $out == $'HTTP/1.1 /items/1\nHTTP/2.0 /items/2\nHTTP/2.0 /items/3' ]] || fail "curl --http2 read: $out"
out=$(curl -sS --http1.1 $base/plain) || fail "curl --http1.1: $out"
[[ $out == "HTTP/1.1 /plain" ]] || fail "curl --http1.1 read: $out"

q() { "$SL" query --db "$db" --format csv "$1" | tail -n +2 | tr -d '\r'; }
sql="SELECT net_role, proc_name, l7_request, l7_status, l7_no_response FROM request WHERE l7_protocol = 'http2' ORDER BY net_role, evt_time"
want="client,curl,/items/1,200,0
client,curl,/items/2,200,0
client,curl,/missing,404,0
client,curl,/items/3,200,0
server,h2c-server,/items/1,200,0
server,h2c-server,/items/2,200,0
server,h2c-server,/missing,404,0
server,h2c-server,/items/3,200,0"
wait_for 15 bash -c "[[ \$('$SL' query --db '$db' --format csv \"SELECT count(*) FROM request WHERE l7_protocol = 'http2'\" | tail -1 | tr -d '\r') -ge 8 ]]" \
  || fail "HTTP/2 requests stored: $(q "$sql")"
sleep 2  # anything more the store's next batch would hold
[[ $(q "$sql") == "$want" ]] || fail "HTTP/2 requests stored: $(q "$sql"), want $want"
metrics=$(curl -sf http://127.0.0.1:$aport/metrics)
for role in client server; do
  n=$(metric_sum "^sightline_l7_requests_total[{].*protocol=\"http2\",role=\"$role\",method=\"GET\",status=\"2xx\"")
  [[ $n == 3 ]] || fail "the exact family counted $n 2xx HTTP/2 requests on the $role side, want 3: $(grep 'l7_requests_total.*http' <<<"$metrics")"
  n=$(metric_sum "^sightline_l7_requests_total[{].*protocol=\"http2\",role=\"$role\",method=\"GET\",status=\"4xx\"")
  [[ $n == 1 ]] || fail "the exact family counted $n 4xx HTTP/2 requests on the $role side, want 1: $(grep 'l7_requests_total.*http' <<<"$metrics")"
done
# (curl's own HTTP/1 count holds its /healthz polls of the agent too: the server's side tells.)
n=$(metric_sum '^sightline_l7_requests_total[{]comm="h2c-server",protocol="http",role="server"')
[[ $n == 1 ]] || fail "the exact family counted $n HTTP/1 requests by the server, want 1 (the plain one; the upgrading one is HTTP/2's): $(grep 'l7_requests_total.*http' <<<"$metrics")"
[[ $(metric_sum '^sightline_l7_parser_resyncs_total[{]protocol="http') == 0 ]] \
  || fail "a parser lost sync: $(grep '^sightline_l7_parser_resyncs' <<<"$metrics")"
[[ $(metric_sum 'sightline_events_lost_total[{]source="l7"') == 0 ]] || fail "l7 events lost: $(grep events_lost <<<"$metrics")"
echo "h2c upgrade e2e: ok"
