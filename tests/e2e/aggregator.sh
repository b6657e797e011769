#!/usr/bin/env bash
# The aggregation tier: three agents with distinct node names send OTLP/HTTP to one
# `sightline aggregator`, which merges their metrics (node labels dropped: sums) and forwards
# to a real Prometheus (remote-write) and a real ClickHouse (event rows). Exact totals: every
# agent sees the same 12 marked execs, so ClickHouse holds 36 rows, 12 per node; the merged
# per-comm execve counter in Prometheus equals the sum of the three agents' own counters;
# sightline_build_info sums to 3. The aggregator answers SQL on those rows (/api/v1/query, the
# UI's query page) read-only, and says when ClickHouse is down.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
dir=$(mktemp -d)
chmod 755 "$dir"
agg=$(free_port)
prom=$(free_port)
ch=$(free_port)
trap 'stop_bg; rm -rf "$dir"' EXIT

start_prometheus "$dir" $prom
start_clickhouse "$dir" $ch
chq() { curl -sf --data-binary "$1" "http://127.0.0.1:$ch/"; }
promq() { curl -sf --get --data-urlencode "query=$1" http://127.0.0.1:$prom/api/v1/query; }

cat >"$dir/agg.yaml" <<YAML
api_token: agg-secret
exporters:
  spool_dir: $dir/agg-spool
  batch: 1s
  remote_write: {url: "http://127.0.0.1:$prom/api/v1/write"}
  clickhouse: {url: "http://127.0.0.1:$ch", database: sl_agg, kinds: [exec]}
aggregator:
  keep_node_label: false
  interval: 1s
YAML
"$SL" config check "$dir/agg.yaml" >/dev/null || fail "aggregator config check"
"$SL" aggregator -c "$dir/agg.yaml" --listen 127.0.0.1:$agg >"$dir/agg.log" 2>&1 &
bg_pid $!
wait_for 10 curl -sf -H 'Authorization: Bearer agg-secret' http://127.0.0.1:$agg/healthz || { cat "$dir/agg.log"; fail "aggregator did not start"; }
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-protobuf' --data-binary '' http://127.0.0.1:$agg/v1/metrics)
[[ $code == 401 ]] || fail "OTLP without the token: $code"
auth='Authorization: Bearer agg-secret'
code=$(curl -s -o /dev/null -w '%{http_code}' -H "$auth" -H 'Content-Type: application/x-protobuf' --data-binary $'\x0a\x05' http://127.0.0.1:$agg/v1/metrics)
[[ $code == 400 ]] || fail "malformed OTLP: $code"

for n in 1 2 3; do
  port=$(free_port)
  cat >"$dir/agent$n.yaml" <<YAML
listen: 127.0.0.1:$port
api_socket: ""
store: {enabled: false}
rules: {enabled: false}
exporters:
  node: node-$n
  spool_dir: $dir/spool$n
  batch: 1s
  otlp: {url: "http://127.0.0.1:$agg", token: agg-secret, interval: 1s, logs: [exec], traces: false, alerts: false}
sources:
  file: {enabled: false}
  net: {enabled: false}
  security: {enabled: false}
  l7: {enabled: false}
  sched: {enabled: false}
  block: {enabled: false}
  packets: {enabled: false}
  profile: {enabled: false}
  syscalls: {enabled: true}
YAML
  "$SL" agent -c "$dir/agent$n.yaml" >"$dir/agent$n.log" 2>&1 &
  bg_pid $!
  wait_for 20 curl -sf http://127.0.0.1:$port/healthz || { cat "$dir/agent$n.log"; fail "agent $n did not start"; }
done

# The same 12 execs, seen by each of the three agents.
ports=()
for n in 1 2 3; do ports+=($(awk '/^listen:/ {split($2, a, ":"); print a[2]}' "$dir/agent$n.yaml")); done
cp /bin/true "$dir/slagg-mark"
for i in $(seq 1 12); do "$dir/slagg-mark" $i; done

wait_for 30 bash -c "[[ \$(curl -sf --data-binary \"SELECT count() FROM sl_agg.exec WHERE proc_name = 'slagg-mark'\" http://127.0.0.1:$ch/) == 36 ]]" \
  || fail "rows in ClickHouse: $(chq "SELECT node, count() FROM sl_agg.exec WHERE proc_name = 'slagg-mark' GROUP BY node") $(tail -3 "$dir/agg.log")"
per_node=$(chq "SELECT node, count() FROM sl_agg.exec WHERE proc_name = 'slagg-mark' GROUP BY node ORDER BY node" | tr '\t\n' ': ')
[[ $per_node == "node-1:12 node-2:12 node-3:12 " ]] || fail "rows per node: $per_node"
[[ $(chq "SELECT count(DISTINCT proc_args) FROM sl_agg.exec WHERE proc_name = 'slagg-mark'") == 12 ]] || fail "argv columns"

# The fleet's rows read through the aggregator (the agent's /api/v1/query, over ClickHouse):
# the same JSON the agent's store gives, read-only, bounded; down and back when ClickHouse is.
aq() { curl -s -w '\n%{http_code}' -H "$auth" --get --data-urlencode "sql=$1" "${@:2}" http://127.0.0.1:$agg/api/v1/query; }
r=$(aq "SELECT node, count() AS n FROM exec WHERE proc_name = 'slagg-mark' GROUP BY node ORDER BY node")
[[ $r == '{"columns":["node","n"],"rows":[["node-1",12],["node-2",12],["node-3",12]],"truncated":false,'* && ${r##*$'\n'} == 200 ]] \
  || fail "fleet query: $r"
r=$(aq "SELECT proc_name, count() AS n FROM exec WHERE proc_name = 'slagg-mark' GROUP BY proc_name" --data-urlencode format=csv)
[[ $r == $'proc_name,n\r\nslagg-mark,36\r\n\n200' ]] || fail "fleet query as csv: $(od -c <<<"$r" | head)"
r=$(aq "SELECT number FROM system.numbers" --data-urlencode limit=5)
[[ $r == '{"columns":["number"],"rows":[[0],[1],[2],[3],[4]],"truncated":true,'* ]] || fail "a query past its limit: $r"
for bad in "INSERT INTO exec (node) VALUES ('forged')" "ALTER TABLE exec DELETE WHERE 1" "DROP TABLE exec" \
  "SELECT 1 SETTINGS readonly = 0"; do
  r=$(aq "$bad")
  [[ ${r##*$'\n'} == 400 && $r == *'"error":"ClickHouse: '*readonly* ]] || fail "'$bad' through the aggregator: $r"
done
[[ $(chq "SELECT count() FROM sl_agg.exec WHERE node = 'forged'") == 0 ]] || fail "a write went through"
r=$(aq "SELECT nope FROM exec")
[[ ${r##*$'\n'} == 400 && $r == *'"error":"ClickHouse: '*nope* ]] || fail "a bad column: $r"
s=$(curl -sf -H "$auth" http://127.0.0.1:$agg/api/v1/schema) || fail "fleet schema"
python3 -c '
import json, sys
t = {t["name"]: t for t in json.loads(sys.argv[1])["tables"]}["exec"]
cols = {c["name"]: c for c in t["columns"]}
assert t["columns"][0]["name"] == "node" and cols["node"]["type"] == "String", t["columns"][:2]
assert cols["proc_name"]["doc"] and cols["evt_time"]["type"] == "Int64", cols["proc_name"]
assert "every node" in t["doc"], t["doc"]' "$s" || fail "fleet schema: ${s:0:600}"
if [[ $(curl -s -H "$auth" http://127.0.0.1:$agg/) == *"<html"* ]] || [[ $(curl -s -H "$auth" http://127.0.0.1:$agg/) == *"without its web UI"* ]]; then :; else
  fail "the aggregator serves no UI: $(curl -s -H "$auth" http://127.0.0.1:$agg/ | head -c 300)"
fi
kill $CH_PID
wait $CH_PID 2>/dev/null || true
r=$(aq "SELECT 1")
[[ ${r##*$'\n'} == 503 && $r == *"ClickHouse at http://127.0.0.1:$ch does not answer"* ]] || fail "ClickHouse down: $r"
start_clickhouse "$dir" $ch
r=$(aq "SELECT count() AS n FROM exec WHERE proc_name = 'slagg-mark'")
[[ $r == '{"columns":["n"],"rows":[[36]],'* ]] || fail "ClickHouse back: $r"

# The merged counter is the sum of the three agents' own, once they have settled.
q='sightline_syscalls_total{comm="slagg-mark",syscall="execve"}'
own_sum() {
  local s=0 p v
  for p in "${ports[@]}"; do
    v=$(curl -sf http://127.0.0.1:$p/metrics | awk -v m="$q" '$1 == m {print $2}')
    s=$((s + ${v:-0}))
  done
  echo $s
}
prev=-1
for ((i = 0; i < 30; i++)); do
  total=$(own_sum)
  [[ $total == "$prev" ]] && (( total > 0 )) && break
  prev=$total
  sleep 1
done
(( total >= 30 )) || echo "aggregator: the agents counted $total of 36 execve calls of slagg-mark (per-comm attribution under load)"
wait_for 30 bash -c "curl -sf --get --data-urlencode 'query=$q' http://127.0.0.1:$prom/api/v1/query | grep -q '\"$total\"'" \
  || fail "merged execve counter in Prometheus: $(promq "$q"), agents' own sum $total; merged: $(curl -sf -H "$auth" http://127.0.0.1:$agg/merged | grep execve | grep slagg)"
r=$(promq "$q")
grep -q '"node"' <<<"$r" && fail "node label kept: $r"
wait_for 10 bash -c "curl -sf --get --data-urlencode 'query=sightline_build_info' http://127.0.0.1:$prom/api/v1/query | grep -q '\"3\"'" \
  || fail "build_info sum: $(promq sightline_build_info)"
m=$(curl -sf -H "$auth" http://127.0.0.1:$agg/metrics)
grep -qE '^sightline_aggregator_requests_rejected_total\{signal="metrics"\} 1$' <<<"$m" || fail "rejected count: $(grep rejected <<<"$m")"
grep -qE '^sightline_aggregator_items_total\{item="event"\} [1-9]' <<<"$m" || fail "events counted"
echo "aggregator e2e ok"
