#!/usr/bin/env bash
# One aggregator under simulated agents: build/bench/aggregator_load sends, for each of N nodes,
# a second's events and requests every second (20 event records, 30 requests as log records and
# spans, by default) and its ~770 metric points every 15 s, encoded by the agents' own encoders,
# to a `sightline aggregator` that forwards the rows to a real ClickHouse. For 10, 100 and 500
# nodes: what it took per second, its CPU (% of one core) and per 100 nodes, its memory, and
# the rows that reached ClickHouse against those sent (nothing may be lost below saturation).
#   usage: bench/aggregator_load.sh [SECONDS=20] [NODE COUNTS="10 100 500"]   (as root, after scripts/build.sh)
# No peer: there is no OpenTelemetry Collector in Debian 12 to put beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.bash
source tests/e2e/lib.bash
SECONDS_RUN=${1:-20}
COUNTS=${2:-10 100 500}
SL=build/sightline
GEN=build/bench/aggregator_load
[[ -x $GEN ]] || { echo "build it: ninja -C build aggregator_load" >&2; exit 2; }
dir=$(mktemp -d)
chmod 755 "$dir"
trap 'stop_bg; rm -rf "$dir"' EXIT
ch=$(free_port)
start_clickhouse "$dir" $ch
chq() { curl -sf --data-binary "$1" "http://127.0.0.1:$ch/"; }

printf "%-6s %10s %8s %9s %10s %8s %8s %5s %16s %s\n" nodes records/s spans/s points/s "agg CPU%" "per 100" "RSS MiB" late "series (dropped)" "rows in ClickHouse / sent"
for n in $COUNTS; do
  agg=$(free_port)
  db=sl_load_$n
  cat >"$dir/agg$n.yaml" <<YAML
exporters:
  spool_dir: $dir/spool$n
  batch: 1s
  clickhouse: {url: "http://127.0.0.1:$ch", database: $db, kinds: [exec, tcp, request]}
aggregator: {interval: 15s}
YAML
  "$SL" aggregator -c "$dir/agg$n.yaml" --listen 127.0.0.1:$agg >"$dir/agg$n.log" 2>&1 &
  pid=$!
  bg_pid $pid
  wait_for 10 curl -sf http://127.0.0.1:$agg/healthz || { cat "$dir/agg$n.log"; exit 1; }
  out=$("$GEN" "http://127.0.0.1:$agg" $pid $n "$SECONDS_RUN") || echo "aggregator_load: requests failed at $n nodes: $out" >&2
  val() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<" $out"; }
  sent=$(val records)
  # The rows, once the aggregator's last batches are in.
  rows=0
  for _ in $(seq 30); do
    rows=$(chq "SELECT (SELECT count() FROM $db.exec) + (SELECT count() FROM $db.tcp) + (SELECT count() FROM $db.request)")
    [[ $rows -ge $sent ]] && break
    sleep 1
  done
  cpu=$(val aggregator_cpu_percent)
  m=$(curl -sf http://127.0.0.1:$agg/metrics)
  held=$(awk '$1 == "sightline_aggregator_series" {print $2}' <<<"$m")
  dropped=$(awk '$1 == "sightline_aggregator_series_dropped_total" {print $2}' <<<"$m")
  printf "%-6s %10s %8s %9s %10s %8.1f %8s %5s %16s %s / %s\n" "$n" "$(val records_per_s)" "$(val spans_per_s)" \
    "$(val points_per_s)" "$cpu" "$(awk -v c="$cpu" -v n=$n 'BEGIN {print c * 100 / n}')" "$(val aggregator_rss_mib)" \
    "$(val late_seconds)" "$held ($dropped)" "$rows" "$sent"
  kill $pid
  wait $pid 2>/dev/null || true
done
