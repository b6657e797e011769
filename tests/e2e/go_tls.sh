#!/usr/bin/env bash
# Go's TLS (crypto/tls compiled into each binary, no libssl) as a person checks it: a Go HTTPS
# server and client on the standard library (tests/e2e/helpers/go_tls.go), built by Debian's Go
# twice: with symbols, and stripped (-ldflags='-s -w': no .symtab; the functions are found in
# .gopclntab). The unstripped server runs before the agent starts (found by its scan of running
# processes), the stripped one after (found by its exec). Each client, a process of the same
# file as its server, sends 20 GETs on one connection: HTTP/1.1 to the first, HTTP/2 (ALPN h2)
# to the second; every fifth is a 404. On both sides, in the agent's store: every request with
# its path and status, marked TLS; the exact family counts 16 2xx and 4 4xx per side; nothing
# lost, no parser out of sync, and the ciphertext on the same sockets is not taken for a protocol.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
command -v go >/dev/null || fail "go missing: scripts/deps.sh installs it"
tmp=$(mktemp -d)
chmod 755 "$tmp"
trap 'stop_bg; [[ -n ${KEEP:-} ]] || rm -rf "$tmp"' EXIT

go_helper go_tls "$tmp" "$tmp/go_tls"
go_helper go_tls "$tmp" "$tmp/go_tls_stripped" -ldflags='-s -w'
sections=$(readelf -S "$tmp/go_tls_stripped")
grep -q '\.symtab' <<<"$sections" && fail "the stripped build has a .symtab"
grep -q '\.gopclntab' <<<"$sections" || fail "the stripped build has no .gopclntab"

port1=$(free_port) port2=$(free_port) aport=$(free_port)
"$tmp/go_tls" serve $port1 >"$tmp/server1.out" 2>&1 &
bg_pid $!
wait_for 10 grep -q ready "$tmp/server1.out" || fail "server: $(cat "$tmp/server1.out")"

db=$tmp/db/sightline.db
l7_agent_config "$tmp/agent.yaml" $aport "$db" "{sample: 1}"
"$SL" agent --config "$tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
bg_pid $!
wait_for 30 curl -sf http://127.0.0.1:$aport/healthz || fail "agent: $(cat "$tmp/agent.log")"
attached() {  # attached N: the metric reaches N within 20 s
  wait_for 20 bash -c "curl -sf http://127.0.0.1:$aport/metrics | awk '/^sightline_l7_go_tls_binaries[{]result=\"attached\"[}]/ {n = \$2} END {exit !(n >= $1)}'"
}
attached 1 || fail "the running Go server's binary not attached: $(grep -i 'go binary\|go_tls' "$tmp/agent.log")"
grep -q "l7: Go binary $tmp/go_tls (go1\.[0-9.]*): TLS plaintext through [0-9]* uprobes" "$tmp/agent.log" \
  || fail "the agent's log does not name the binary: $(grep -i 'go binary' "$tmp/agent.log")"

"$tmp/go_tls_stripped" serve $port2 >"$tmp/server2.out" 2>&1 &
bg_pid $!
wait_for 10 grep -q ready "$tmp/server2.out" || fail "stripped server: $(cat "$tmp/server2.out")"
wait_for 10 grep -q "l7: Go binary $tmp/go_tls_stripped (go1" "$tmp/agent.log" \
  || fail "the stripped Go server, started after the agent, not attached: $(grep -i 'go binary' "$tmp/agent.log")"
attached 2 || fail "sightline_l7_go_tls_binaries: $(curl -sf http://127.0.0.1:$aport/metrics | grep go_tls_binaries)"

out=$("$tmp/go_tls" get https://127.0.0.1:$port1 20 h1) || fail "h1 client: $out"
[[ $out == "HTTP/1.1 ok=16 missing=4" ]] || fail "h1 client: $out"
out=$("$tmp/go_tls_stripped" get https://127.0.0.1:$port2 20 h2) || fail "h2 client: $out"
[[ $out == "HTTP/2.0 ok=16 missing=4" ]] || fail "h2 client: $out"

q() { "$SL" query --db "$db" --format csv "$1" | tail -n +2 | tr -d '\r'; }
count="SELECT count(*) FROM request WHERE proc_name LIKE 'go_tls%'"
wait_for 15 bash -c "[[ \$('$SL' query --db '$db' --format csv \"$count\" | tail -1 | tr -d '\r') -ge 80 ]]" \
  || fail "requests stored: $(q "SELECT proc_name, net_role, l7_protocol, count(*) FROM request GROUP BY 1, 2, 3")"
sleep 2  # anything more the store's next batch would hold
sql="SELECT proc_name, l7_protocol, net_role, l7_tls, sum(l7_status = 200), sum(l7_status = 404),
       sum(l7_request LIKE '/items/%' OR l7_request = '/missing'), count(*) FROM request
     WHERE proc_name LIKE 'go_tls%' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3"
want="go_tls,http,client,1,16,4,20,20
go_tls,http,server,1,16,4,20,20
go_tls_stripped,http2,client,1,16,4,20,20
go_tls_stripped,http2,server,1,16,4,20,20"
[[ $(q "$sql") == "$want" ]] || fail "requests stored (name, protocol, role, tls, 200s, 404s, paths, all): $(q "$sql"), want $want"

metrics=$(curl -sf http://127.0.0.1:$aport/metrics)
for p in "go_tls http" "go_tls_stripped http2"; do
  read -r comm proto <<<"$p"
  for role in client server; do
    n=$(metric_sum "^sightline_l7_requests_total[{]comm=\"$comm\",protocol=\"$proto\",role=\"$role\",method=\"GET\",status=\"2xx\"")
    m=$(metric_sum "^sightline_l7_requests_total[{]comm=\"$comm\",protocol=\"$proto\",role=\"$role\",method=\"GET\",status=\"4xx\"")
    [[ $n == 16 && $m == 4 ]] || fail "the exact family counted $n 2xx and $m 4xx $proto requests by $comm on the $role side, want 16 and 4: $(grep 'l7_requests_total.*go_tls' <<<"$metrics")"
  done
done
# The ciphertext of the same sockets (the syscalls' own stream) is no protocol's.
n=$(metric_sum '^sightline_l7_requests_total[{]comm="go_tls(_stripped)?",protocol="(redis|pgsql|mysql|memcached|nats|amqp|dns)"')
[[ $n == 0 ]] || fail "ciphertext taken for a protocol: $(grep 'l7_requests_total.*go_tls' <<<"$metrics")"
[[ $(metric_sum '^sightline_l7_parser_resyncs_total') == 0 ]] || fail "a parser lost sync: $(grep '^sightline_l7_parser_resyncs' <<<"$metrics")"
[[ $(metric_sum 'sightline_events_lost_total[{]source="l7"') == 0 ]] || fail "l7 events lost: $(grep events_lost <<<"$metrics")"
echo "go tls e2e: ok ($(grep -o 'l7: Go binary .*' "$tmp/agent.log" | tr '\n' ';'))"
