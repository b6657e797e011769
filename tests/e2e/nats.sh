#!/usr/bin/env bash
# NATS as a person checks it against a real nats-server on 127.0.0.1 (not on 4222: the agent
# knows a connection by its INFO and CONNECT on any port), a producer and a consumer built on
# the nats.go client: every message is a record on both sides, PUB from the producer to the
# server, MSG (a delivery) from the server to the consumer, with the subject as target; a
# publication to an invalid subject is an error with the server's text; 100 requests
# (nc.Request) are REQ records answered by their replies. Counts exact in the trace, the agent's
# exact family and the service map, which runs producer -> nats-server -> consumer.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
for t in nats-server go; do command -v $t >/dev/null || fail "$t missing: scripts/deps.sh installs it"; done
[[ -d /usr/share/gocode/src/github.com/nats-io/nats.go ]] || fail "golang-github-nats-io-go-nats-dev missing: scripts/deps.sh installs it"
tmp=$(mktemp -d)
chmod 755 "$tmp"
trap 'stop_bg; [[ -n ${KEEP:-} ]] || rm -rf "$tmp"' EXIT

# The clients: one Go program under two names (the process name is the executable's).
go_helper nats_client "$tmp" "$tmp/nats-producer"
for name in nats-consumer nats-requester nats-responder; do cp "$tmp/nats-producer" "$tmp/$name"; done

nport=$(free_port) aport=$(free_port)
nats-server -a 127.0.0.1 -p $nport >"$tmp/nats.log" 2>&1 &
bg_pid $!
start_l7_agent "$SL" "$tmp" $aport nats
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$nport" || fail "nats-server: $(cat "$tmp/nats.log")"
sleep 0.5

url=nats://127.0.0.1:$nport
"$tmp/nats-consumer" sub $url 500 >"$tmp/consumer.out" 2>&1 &
bg_pid $!
consumer=$!
wait_for 10 grep -q ready "$tmp/consumer.out" || fail "consumer: $(cat "$tmp/consumer.out")"
"$tmp/nats-producer" pub $url 500 || fail "producer"
wait "$consumer" || fail "consumer: $(cat "$tmp/consumer.out")"
"$tmp/nats-responder" reply $url 100 >"$tmp/responder.out" 2>&1 &
bg_pid $!
responder=$!
wait_for 10 grep -q ready "$tmp/responder.out" || fail "responder: $(cat "$tmp/responder.out")"
"$tmp/nats-requester" req $url 100 || fail "requester"
wait "$responder" || fail "responder: $(cat "$tmp/responder.out")"
# A publication to an invalid subject in pedantic mode: the server answers -ERR (and goes on).
/usr/bin/python3 - $nport <<'PY' || fail "the invalid publication"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.recv(4096)  # INFO
s.sendall(b'CONNECT {"verbose":false,"pedantic":true}\r\nPUB bad..subject 5\r\nhello\r\nPING\r\n')
data = b""
while b"PONG" not in data:
    more = s.recv(4096)
    if not more: break
    data += more
assert b"-ERR 'Invalid Publish Subject'" in data, data
PY
sleep 2

python3 - "$tmp/trace.jsonl" <<'PY' || fail "trace: $(head -c 3000 "$tmp/trace.jsonl")"
import json, sys, collections
recs = [json.loads(l) for l in open(sys.argv[1])]
count = collections.Counter((r["proc.name"], r["net.role"], r["l7.method"], r["l7.target"], r["l7.error"]) for r in recs)
bad = []
def want(n, *key):
    if count[key] != n:
        bad.append("%s: %d, want %d" % (key, count[key], n))
want(500, "nats-producer", "client", "PUB", "orders.{id}", False)
want(500, "nats-server", "server", "PUB", "orders.{id}", False)
want(500, "nats-server", "server", "MSG", "orders.{id}", False)
want(500, "nats-consumer", "client", "MSG", "orders.{id}", False)
want(1, "nats-consumer", "client", "SUB", "orders.*", False)
want(1, "nats-server", "server", "SUB", "orders.*", False)
want(100, "nats-requester", "client", "REQ", "users.get", False)
want(100, "nats-server", "server", "REQ", "users.get", False)
byproc = collections.Counter((r["proc.name"], r["l7.method"]) for r in recs)
for key in (("nats-responder", "MSG"), ("nats-responder", "PUB")):
    if byproc[key] != 100:
        bad.append("%s: %d, want 100" % (key, byproc[key]))
reqs = [r for r in recs if r["l7.method"] == "REQ"]
if any(r["l7.latency"] <= 0 for r in reqs):
    bad.append("a request without its reply's wait: %s" % [r for r in reqs if r["l7.latency"] <= 0][:2])
for role in ("client", "server"):
    err = [r for r in recs if r["net.role"] == role and r["l7.method"] == "ERR"]
    if len(err) != 1 or not err[0]["l7.error"] or err[0]["l7.error_text"] != "Invalid Publish Subject":
        bad.append("the -ERR on the %s side: %s" % (role, err))
if any(r["l7.no_response"] for r in recs):
    bad.append("unanswered: %s" % [r for r in recs if r["l7.no_response"]][:3])
if bad:
    print("\n".join(bad))
    print("every (process, role, method, target, error):", dict(count))
    sys.exit(1)
PY

metrics=$(curl -sf http://127.0.0.1:$aport/metrics)
n=$(metric_sum '^sightline_l7_requests_total[{]comm="nats-producer",protocol="nats",role="client",method="PUB",status="ok"[}]')
[[ $n == 500 ]] || fail "the exact family counted $n publications, want 500: $(grep 'protocol="nats"' <<<"$metrics" | head -20)"
n=$(metric_sum '^sightline_l7_requests_total[{]comm="nats-server",protocol="nats",role="server",method="MSG",status="ok"[}]')
[[ $n == 600 ]] || fail "the exact family counted $n deliveries, want 600 (500 to the consumer, 100 requests to the responder): $(grep 'protocol="nats"' <<<"$metrics" | head -20)"
n=$(metric_sum '^sightline_l7_requests_total[{]comm="nats-requester",protocol="nats",role="client",method="REQ",status="ok"[}]')
[[ $n == 100 ]] || fail "the exact family counted $n requests, want 100: $(grep 'protocol="nats"' <<<"$metrics" | head -20)"
[[ $(metric_sum '^sightline_l7_parser_resyncs_total[{]protocol="nats"[}]') == 0 ]] \
  || fail "the NATS parser lost sync: $(grep '^sightline_l7_parser' <<<"$metrics")"
[[ $(metric_sum 'sightline_events_lost_total[{]source="l7"') == 0 ]] || fail "l7 events lost: $(grep events_lost <<<"$metrics")"
map=$(curl -sf http://127.0.0.1:$aport/api/v1/service_map)
python3 - "$map" <<'PY' || fail "service map: $map"
import json, sys
edges = {(e["client"], e["server"]): e for e in json.loads(sys.argv[1])["edges"] if e["protocol"] == "nats"}
assert edges[("nats-producer", "nats-server")]["requests"] == 500, edges
assert edges[("nats-server", "nats-consumer")]["requests"] == 500, edges
assert edges[("nats-consumer", "nats-server")]["requests"] == 1, edges  # its SUB
PY
echo "nats e2e: ok"
