#!/usr/bin/env bash
# Retransmits per request (issue 20): an HTTP server in a network namespace behind a veth pair
# whose host end drops what overflows a small token bucket (tc tbf: this kernel has no netem),
# and a client on the host that POSTs 200 KB bodies on one connection. Its segments are resent;
# each client request's req.retransmits counts those of its socket from its start to its
# response's. The kernel's own count (nstat TcpRetransSegs, the host's namespace: the client's)
# bounds their sum, which is most of it (the rest: the handshake's, the close's). A request
# on an unhindered connection says 0; a protocol the kernel does not pair (DNS over UDP) says -1.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
PY=/usr/bin/python3
tmp=$(mktemp -d)
chmod 755 "$tmp"
ns=slrt$$
vh=slrth$$
vn=slrtn$$
HOST=10.231.7.1
PEER=10.231.7.2
cleanup() {
  stop_bg
  del_veth_ns $ns $vh
  rm -rf "$tmp"
}
trap cleanup EXIT
command -v nstat >/dev/null || fail "no nstat (iproute2)"

aport=$(free_port)
start_quiet_agent "$SL" "$tmp" $aport "\
  file: {enabled: false}
  security: {enabled: false}
  syscalls: {enabled: false}
  block: {enabled: false}
  packets: {enabled: false}
  profile: {enabled: false}
  l7: {sample: 1, both_local_ends: true}"

veth_ns $ns $vh $vn $HOST $PEER
tc qdisc add dev $vh root tbf rate 50mbit burst 15000 limit 15000
port=$(free_port)
cat >"$tmp/server.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    do_GET = do_POST
http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
PY
ip netns exec $ns $PY "$tmp/server.py" $PEER $port >"$tmp/server.log" 2>&1 &
bg_pid $!
$PY "$tmp/server.py" 127.0.0.1 $port >"$tmp/local.log" 2>&1 &
bg_pid $!
wait_for 10 bash -c "echo >/dev/tcp/$PEER/$port" || fail "server: $(cat "$tmp/server.log")"
wait_for 10 bash -c "echo >/dev/tcp/127.0.0.1/$port" || fail "local server: $(cat "$tmp/local.log")"

nstat -n  # the counters' history starts now
$PY - $PEER $port <<'PY' || fail "client"
import http.client, sys
for host in (sys.argv[1], "127.0.0.1"):
    c = http.client.HTTPConnection(host, int(sys.argv[2]), timeout=60)
    body = b"x" * 200000
    for i in range(10):
        c.request("POST", f"/upload?host={host}&i={i}", body, {"Content-Length": str(len(body))})
        c.getresponse().read()
    c.close()
PY
resent=$(nstat -z TcpRetransSegs | awk '$1 == "TcpRetransSegs" {print $2}')
getent hosts example.invalid >/dev/null 2>&1 || true  # a DNS exchange (UDP): not measured

q() { "$SL" query --db "$tmp/store.db" -f csv "$1" | tail -n +2 | tr -d '\r'; }
wait_for 15 bash -c "[[ \$('$SL' query --db '$tmp/store.db' -f csv \"SELECT count(*) FROM request WHERE net_role = 'client' AND l7_request LIKE '/upload?host=127.0.0.1&i=9'\" | tail -1 | tr -d '\r') == 1 ]]" ||
  fail "the requests are not in the store: $(q "SELECT net_role, l7_request FROM request")"
far=$(q "SELECT count(*), sum(req_retransmits), min(req_retransmits) FROM request WHERE net_role = 'client' AND l7_request LIKE '/upload?host=$PEER%'")
near=$(q "SELECT count(*), sum(req_retransmits), min(req_retransmits), max(req_retransmits) FROM request WHERE net_role = 'client' AND l7_request LIKE '/upload?host=127.0.0.1%'")
server=$(q "SELECT count(*), min(req_retransmits) FROM request WHERE net_role = 'server' AND l7_request LIKE '/upload?host=$PEER%'")
echo "kernel: $resent segments resent; requests through the bucket (count, sum, min): $far; on loopback: $near; the server's (count, min): $server"
IFS=, read -r n sum min <<<"$far"
((n == 10)) || fail "$n client requests through the bucket (want 10)"
((resent > 0)) || fail "the bucket dropped nothing: no retransmits to count"
((min >= 0)) || fail "a request through the bucket was not measured: min $min"
((sum <= resent)) || fail "the requests count $sum retransmits, the kernel $resent"
((sum * 10 >= resent * 8 - 30)) || fail "the requests count $sum of the kernel's $resent retransmits"
[[ $near == "10,0,0,0" ]] || fail "requests on loopback: $near (want 10 measured at 0)"
IFS=, read -r sn smin <<<"$server"
((sn == 10 && smin >= 0)) || fail "the server's requests: $server (want 10 measured)"
udp=$(q "SELECT count(*), max(req_retransmits) FROM request WHERE l7_protocol = 'dns'")
[[ $udp == 0,* || $udp == *,-1 ]] || fail "DNS over UDP: $udp (want -1: not measured)"
echo "PASS: retransmits: each request's own ($sum of the kernel's $resent), 0 where nothing was lost, -1 for UDP"
