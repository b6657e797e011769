#!/usr/bin/env bash
# AMQP 0-9-1 as a person checks it against a real RabbitMQ on 127.0.0.1 with pika clients: a
# producer publishes 300 messages to a queue (default exchange) and 200 to a topic exchange
# (routing keys user.<i>.created), a consumer takes all 500 (prefetch 10) and acks each; the
# producer's calls (declares, bind, a get on an empty queue, a passive declare answered 404 by
# Channel.Close). Both sides of every message and call, counts exact, in the trace, the exact
# family and the service map, which runs amqp-producer -> beam.smp -> amqp-consumer. The topic's
# messages carry a traceparent header: each publication and delivery is in its trace.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
command -v rabbitmq-server >/dev/null || fail "rabbitmq-server missing: scripts/deps.sh installs it"
/usr/bin/python3 -c 'import pika' 2>/dev/null || fail "python3-pika missing: scripts/deps.sh installs it"
getent passwd rabbitmq >/dev/null || fail "no rabbitmq user: the rabbitmq-server package makes it"
tmp=$(mktemp -d)
chmod 755 "$tmp"
node=sltest$$
# The broker's Erlang VM runs as the rabbitmq user under a script: found by the node name in its
# environment, and stopped with it.
node_pids() {
  for p in $(pgrep -u rabbitmq 2>/dev/null); do
    { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | grep -qx "RABBITMQ_NODENAME=$node@localhost" && echo "$p"
  done
  return 0
}
cleanup() {
  stop_bg
  local pids
  pids=$(node_pids)
  [[ -n $pids ]] && kill $pids 2>/dev/null
  for i in $(seq 50); do [[ -z $(node_pids) ]] && break; sleep 0.2; done
  pids=$(node_pids)
  [[ -n $pids ]] && kill -9 $pids 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# RabbitMQ (it runs as the rabbitmq user) in the test's own directories and ports.
qport=$(free_port) dport=$(free_port) aport=$(free_port)
mkdir -p "$tmp/rmq/mnesia" "$tmp/rmq/log"
echo "[]." >"$tmp/rmq/enabled_plugins"
chown -R rabbitmq: "$tmp/rmq"
(cd /tmp && RABBITMQ_NODENAME=$node@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$qport \
  RABBITMQ_DIST_PORT=$dport RABBITMQ_MNESIA_BASE=$tmp/rmq/mnesia RABBITMQ_LOG_BASE=$tmp/rmq/log \
  RABBITMQ_ENABLED_PLUGINS_FILE=$tmp/rmq/enabled_plugins RABBITMQ_CONFIG_FILE=$tmp/rmq/none \
  exec rabbitmq-server) >"$tmp/rabbitmq.log" 2>&1 &
bg_pid $!
start_l7_agent "$SL" "$tmp" $aport amqp
wait_for 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$qport" || fail "rabbitmq: $(tail -20 "$tmp/rabbitmq.log")"
sleep 0.5

# The two clients under their own names: a link's name is the process's (prctl raced with the
# agent's naming of the process: a CI run counted the producer as python3).
helper=$(dirname "$0")/helpers/amqp_pair.py
ln -s /usr/bin/python3 "$tmp/amqp-producer"
ln -s /usr/bin/python3 "$tmp/amqp-consumer"
"$tmp/amqp-consumer" "$helper" consume $qport 500 >"$tmp/consumer.out" 2>&1 &
bg_pid $!
consumer=$!
wait_for 20 grep -q ready "$tmp/consumer.out" || fail "consumer: $(cat "$tmp/consumer.out")"
"$tmp/amqp-producer" "$helper" produce $qport >"$tmp/producer.out" 2>&1 || fail "producer: $(cat "$tmp/producer.out")"
wait "$consumer" || fail "consumer: $(cat "$tmp/consumer.out")"
sleep 2

python3 - "$tmp/trace.jsonl" <<'PY' || fail "trace: $(head -c 3000 "$tmp/trace.jsonl")"
import json, sys, collections
recs = [json.loads(l) for l in open(sys.argv[1])]
count = collections.Counter((r["proc.name"], r["net.role"], r["l7.method"], r["l7.target"], r["l7.status"], r["l7.error"])
                            for r in recs)
bad = []
def want(n, *key):
    if count[key] != n:
        bad.append("%s: %d, want %d" % (key, count[key], n))
for side, comm in (("client", "amqp-producer"), ("server", "beam.smp")):
    want(300, comm, side, "PUBLISH", "orders", 0, False)
    want(200, comm, side, "PUBLISH", "events:user.{id}.created", 0, False)
    want(1, comm, side, "QUEUE.DECLARE", "nope", 404, True)
    want(1 if side == "client" else 2, comm, side, "QUEUE.BIND", "audit", 0, False)  # both clients bind
for side, comm in (("client", "amqp-consumer"), ("server", "beam.smp")):
    want(300, comm, side, "DELIVER", "orders", 0, False)
    want(200, comm, side, "DELIVER", "events:user.{id}.created", 0, False)
    want(500, comm, side, "ACK", "", 0, False)
    want(1, comm, side, "CONSUME", "orders", 0, False)
for side in ("client", "server"):
    g = [r for r in recs if r["net.role"] == side and r["l7.method"] == "GET"]
    if len(g) != 1 or g[0]["l7.rows"] != 0 or g[0]["l7.no_response"]:
        bad.append("the get on an empty queue, %s side: %s" % (side, g))
    e = [r for r in recs if r["net.role"] == side and r["l7.error"]]
    if len(e) != 1 or not e[0]["l7.error_text"].startswith("NOT_FOUND - no queue 'nope'"):
        bad.append("errors on the %s side: %s" % (side, e))
# The topic's messages carried a traceparent (0x5100 + i, parent 0x7700 + i): the publication
# and its delivery, on each side, are in that trace; the queue's 300 carried none.
for side in ("client", "server"):
    for method in ("PUBLISH", "DELIVER"):
        got = sorted((r.get("trace.id", ""), r.get("trace.parent_id", "")) for r in recs if r["net.role"] == side and
                     r["l7.method"] == method and r["l7.target"] == "events:user.{id}.created")
        want_ids = sorted(("%032x" % (0x5100 + i), "%016x" % (0x7700 + i)) for i in range(200))
        if got != want_ids:
            bad.append("traceparent of %s %s: %s" % (side, method, got[:3]))
        if any(r.get("trace.id") for r in recs if r["net.role"] == side and r["l7.method"] == method and r["l7.target"] == "orders"):
            bad.append("a trace id on a message without one (%s %s)" % (side, method))
if any(r["l7.no_response"] for r in recs):
    bad.append("unanswered: %s" % [r for r in recs if r["l7.no_response"]][:3])
if bad:
    print("\n".join(bad)); sys.exit(1)
PY

metrics=$(curl -sf http://127.0.0.1:$aport/metrics)
n=$(metric_sum '^sightline_l7_requests_total[{]comm="amqp-producer",protocol="amqp",role="client",method="PUBLISH",status="ok"[}]')
[[ $n == 500 ]] || fail "the exact family counted $n publications, want 500: $(grep 'protocol="amqp"' <<<"$metrics" | head -20)"
n=$(metric_sum '^sightline_l7_requests_total[{]comm="amqp-consumer",protocol="amqp",role="client",method="DELIVER",status="ok"[}]')
[[ $n == 500 ]] || fail "the exact family counted $n deliveries, want 500: $(grep 'protocol="amqp"' <<<"$metrics" | head -20)"
n=$(metric_sum '^sightline_l7_errors_total[{]comm="beam.smp",protocol="amqp",role="server",method="QUEUE.DECLARE",status="error"[}]')
[[ $n == 1 ]] || fail "the 404: $n errors: $(grep 'sightline_l7_errors_total.*amqp' <<<"$metrics")"
[[ $(metric_sum '^sightline_l7_parser_resyncs_total[{]protocol="amqp"[}]') == 0 ]] \
  || fail "the AMQP parser lost sync: $(grep '^sightline_l7_parser' <<<"$metrics")"
[[ $(metric_sum 'sightline_events_lost_total[{]source="l7"') == 0 ]] || fail "l7 events lost: $(grep events_lost <<<"$metrics")"
map=$(curl -sf http://127.0.0.1:$aport/api/v1/service_map)
python3 - "$map" <<'PY' || fail "service map: $map"
import json, sys
edges = {(e["client"], e["server"]): e for e in json.loads(sys.argv[1])["edges"] if e["protocol"] == "amqp"}
assert edges[("amqp-producer", "beam.smp")]["requests"] >= 500, edges
assert edges[("beam.smp", "amqp-consumer")]["requests"] == 500, edges  # the deliveries
PY
echo "amqp e2e: ok"
