#!/usr/bin/env bash
# Exporters against real backends on 127.0.0.1: Prometheus (remote-write receiver) and
# ClickHouse (HTTP interface). Both are stopped for a minute while the node keeps working;
# when they come back, everything made meanwhile arrives, in order, none twice: every marked
# exec is a ClickHouse row exactly once, and the remote-written series has no gap.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
OUTAGE=${SL_E2E_OUTAGE:-20}
dir=$(mktemp -d)
chmod 755 "$dir"
port=$(free_port)
prom=$(free_port)
ch=$(free_port)
trap 'stop_bg; rm -rf "$dir"' EXIT

stop_pid() { kill -TERM "$1"; wait_for 60 bash -c "! kill -0 $1" || kill -KILL "$1"; wait "$1" 2>/dev/null || true; }
chq() { curl -sf --data-binary "$1" "http://127.0.0.1:$ch/"; }
start_prometheus "$dir" $prom
start_clickhouse "$dir" $ch

cat >"$dir/agent.yaml" <<YAML
listen: 127.0.0.1:$port
store: {enabled: false}
exporters:
  node: e2e-node
  spool_dir: $dir/spool
  batch: 1s
  remote_write: {url: "http://127.0.0.1:$prom/api/v1/write", interval: 1s}
  clickhouse: {url: "http://127.0.0.1:$ch", database: sl_e2e, kinds: [exec, tcp]}
YAML
"$SL" config check "$dir/agent.yaml" >/dev/null || fail "config check"
"$SL" agent -c "$dir/agent.yaml" >"$dir/agent.log" 2>&1 &
agent=$!
bg_pid $agent
wait_for 20 curl -sf http://127.0.0.1:$port/healthz || { cat "$dir/agent.log"; fail "agent did not start"; }
metric() { curl -sf http://127.0.0.1:$port/metrics | awk -v m="$1" '$1 == m { print $2 }'; }

for i in $(seq 1 30); do /bin/true sl-exp-before-$i; done
wait_for 20 bash -c "[[ \$(curl -sf --data-binary \"SELECT count() FROM sl_e2e.exec WHERE proc_name = 'true' AND proc_args LIKE '%sl-exp-before-%'\" http://127.0.0.1:$ch/) == 30 ]]" \
  || fail "rows before the outage: $(chq "SELECT count() FROM sl_e2e.exec WHERE proc_args LIKE '%sl-exp-before-%'")"
wait_for 20 bash -c "curl -sf 'http://127.0.0.1:$prom/api/v1/query?query=sightline_build_info' | grep -q e2e-node" \
  || fail "remote-written series not in Prometheus"

# The outage: both backends down for OUTAGE seconds; the node keeps making events and metrics.
t_down=$(date +%s)
stop_pid $PROM_PID
stop_pid $CH_PID
for ((s = 0; s < OUTAGE; s += 5)); do
  for i in $(seq 1 5); do /bin/true sl-exp-during-$s-$i; done
  sleep 5
done
spooled=$(metric 'sightline_exporter_spooled_total{exporter="remote_write"}')
retries=$(metric 'sightline_exporter_retries_total{exporter="clickhouse"}')
(( retries > 0 )) || fail "no retries while clickhouse was down"
echo "exporters: during the outage remote_write spooled $spooled batches, clickhouse retried $retries times"
start_prometheus "$dir" $prom
start_clickhouse "$dir" $ch
t_up=$(date +%s)
wait_for 90 bash -c "[[ \$(curl -sf http://127.0.0.1:$port/metrics | awk '/^sightline_exporter_(queue|spool)_batches/ {s += \$2} END {print s}') == 0 ]]" \
  || fail "the exporters did not catch up: $(curl -sf http://127.0.0.1:$port/metrics | grep -E '^sightline_exporter_(queue|spool)')"

# ClickHouse: every exec, before and during the outage, exactly once.
during=$(( OUTAGE / 5 * 5 ))
wait_for 20 bash -c "[[ \$(curl -sf --data-binary \"SELECT count() FROM sl_e2e.exec WHERE proc_name = 'true' AND proc_args LIKE '%sl-exp-during-%'\" http://127.0.0.1:$ch/) == $during ]]" \
  || fail "rows made during the outage: $(chq "SELECT count() FROM sl_e2e.exec WHERE proc_name = 'true' AND proc_args LIKE '%sl-exp-during-%'") of $during"
[[ $(chq "SELECT count() FROM sl_e2e.exec WHERE proc_name = 'true' AND proc_args LIKE '%sl-exp-%'") == $((30 + during)) ]] || fail "duplicate rows"
[[ $(chq "SELECT count() FROM (SELECT proc_args, count() AS n FROM sl_e2e.exec WHERE proc_name = 'true' AND proc_args LIKE '%sl-exp-%' GROUP BY proc_args HAVING n > 1)") == 0 ]] \
  || fail "a row arrived twice"
[[ $(chq "SELECT DISTINCT node FROM sl_e2e.exec") == e2e-node ]] || fail "node column"

# Prometheus: one sample a second across the outage, no gap over 2.5 s, none twice.
samples=$(curl -sf --get --data-urlencode "query=sightline_build_info{node=\"e2e-node\"}[$(( $(date +%s) - t_down + 30 ))s]" \
  http://127.0.0.1:$prom/api/v1/query)
python3 - "$t_down" "$t_up" <<PY || fail "remote-written samples: gaps or duplicates"
import json, sys
t_down, t_up = int(sys.argv[1]), int(sys.argv[2])
v = json.loads('''$samples''')["data"]["result"][0]["values"]
ts = [float(t) for t, _ in v]
assert ts == sorted(ts) and len(set(ts)) == len(ts), "not strictly increasing"
inside = [t for t in ts if t_down <= t <= t_up]
gaps = [b - a for a, b in zip(ts, ts[1:])]
print(f"exporters: {len(ts)} samples, {len(inside)} made while Prometheus was down, largest gap {max(gaps):.2f} s")
assert len(inside) >= (t_up - t_down) * 0.8, "samples of the outage missing"
assert max(gaps) <= 2.5, "a gap"
PY
for r in rejected spool_full spool_error queue_full; do
  for x in remote_write clickhouse; do
    [[ $(metric "sightline_exporter_dropped_total{exporter=\"$x\",reason=\"$r\"}") == 0 ]] || fail "$x dropped batches ($r)"
  done
done

# The spool outlives the agent: stop Prometheus, let batches spool, restart the agent, bring
# Prometheus back: what the first run spooled is delivered by the second.
stop_pid $PROM_PID
sleep 4
stop_pid $agent
left=$(ls "$dir/spool/remote_write" | grep -c '\.batch$' || true)
(( left > 0 )) || fail "nothing spooled at stop"
start_prometheus "$dir" $prom
"$SL" agent -c "$dir/agent.yaml" >>"$dir/agent.log" 2>&1 &
agent=$!
bg_pid $agent
wait_for 30 bash -c "[[ \$(ls '$dir/spool/remote_write' | grep -c '\.batch\$') == 0 ]]" || fail "spool of the last run not delivered"
grep -q "batches left in the spool by the last run" "$dir/agent.log" || fail "no word of the spool at start"
echo "exporters: $left batches spooled by the stopped agent delivered by the next one"
# VictoriaMetrics takes the same remote-write: every batch the agent sent is there once.
stop_pid $agent
vm=$(free_port)
victoria-metrics -storageDataPath="$dir/vm" -httpListenAddr=127.0.0.1:$vm -search.latencyOffset=0s -search.disableCache \
  >"$dir/vm.log" 2>&1 &
bg_pid $!
wait_for 30 curl -sf http://127.0.0.1:$vm/health || { tail "$dir/vm.log"; fail "victoria-metrics did not start"; }
sed -e "s|remote_write: {url: \"http://127.0.0.1:$prom/api/v1/write\", interval: 1s}|remote_write: {url: \"http://127.0.0.1:$vm/api/v1/write\", interval: 1s}|" \
  -e "s|spool_dir: .*|spool_dir: $dir/spool-vm|" -e "s|node: e2e-node|node: vm-node|" "$dir/agent.yaml" >"$dir/agent-vm.yaml"
grep -q ":$vm/api/v1/write" "$dir/agent-vm.yaml" || fail "vm config: $(cat "$dir/agent-vm.yaml")"
"$SL" agent -c "$dir/agent-vm.yaml" >>"$dir/agent.log" 2>&1 &
agent=$!
bg_pid $agent
vm_samples() {
  curl -sf --get --data-urlencode 'match[]=sightline_build_info{node="vm-node"}' http://127.0.0.1:$vm/api/v1/export |
    python3 -c 'import json,sys; v=[json.loads(l) for l in sys.stdin if l.strip()]; t=v[0]["timestamps"] if v else []; assert len(t) == len(set(t)), "duplicates"; print(len(t))'
}
wait_for 30 bash -c "(( \$(curl -sf --get --data-urlencode 'match[]=sightline_build_info{node=\"vm-node\"}' http://127.0.0.1:$vm/api/v1/export | wc -l) > 0 ))" \
  || fail "nothing in victoria-metrics: $(tail -3 "$dir/vm.log")"
sleep 3
# Every batch sent before is there (VictoriaMetrics makes a sample searchable within a second or
# so), and nothing the agent did not send.
sent=$(metric 'sightline_exporter_batches_sent_total{exporter="remote_write"}')
for ((i = 0; i < 50; i++)); do got=$(vm_samples); (( got >= sent )) && break; sleep 0.2; done
after=$(metric 'sightline_exporter_batches_sent_total{exporter="remote_write"}')
(( got >= sent && got <= after )) || fail "victoria-metrics has $got samples; the agent had sent $sent, then $after batches"
echo "exporters: victoria-metrics holds $got samples for $sent..$after batches sent, none twice"
echo "exporters e2e ok"
