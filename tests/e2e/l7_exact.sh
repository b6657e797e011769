#!/usr/bin/env bash
# The kernel's L7 counts are exact under overload: an agent whose l7 ring buffer is one page, and
# which sends every exchange in detail (sample: 1), loses records (counted) while wrk saturates
# nginx, redis-benchmark pipelines 16 commands a write and pgbench runs prepared statements; yet
# sightline_l7_requests_total equals each client's own count. A second agent with the default
# sample sends fewer records and counts the same.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
for t in nginx wrk redis-server redis-benchmark $PGBIN/pgbench $PGBIN/initdb; do
  command -v $t >/dev/null || fail "$t missing: scripts/deps.sh installs it"
done
tmp=$(mktemp -d)
chmod 755 "$tmp"
cleanup() {
  stop_postgres "$tmp/pg"
  stop_bg
  [[ -f $tmp/nginx.pid ]] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
source "$(dirname "$0")/../../bench/lib.bash"  # start_nginx

hport=$(free_port) rport=$(free_port) pport=$(free_port)
start_nginx "$tmp" "$hport" || fail "nginx"
redis-server --port $rport --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$tmp/redis.log" 2>&1 &
bg_pid $!
start_postgres "$tmp/pg" $pport
PGHOST=127.0.0.1 PGPORT=$pport PGUSER=postgres $PGBIN/pgbench -i -s 1 -q postgres >/dev/null 2>&1 || fail "pgbench -i"
wait_for 10 redis-cli -p $rport ping || fail "redis did not start: $(cat "$tmp/redis.log")"

# run NAME L7_OPTIONS: an agent (l7 only), the three clients, the agent's metrics in $tmp/NAME.metrics.
run() {
  local name=$1 l7=$2 aport
  aport=$(free_port)
  {
    echo "listen: 127.0.0.1:$aport"
    echo "rules: {enabled: false}"
    echo "store: {path: $tmp/$name.db}"
    echo "sources:"
    for s in file net security syscalls sched block packets profile; do echo "  $s: {enabled: false}"; done
    echo "  l7: $l7"
  } >"$tmp/$name.yaml"
  "$SL" agent --config "$tmp/$name.yaml" >"$tmp/$name.log" 2>&1 &
  local ap=$!
  wait_for 30 curl -sf http://127.0.0.1:$aport/healthz || fail "agent $name: $(cat "$tmp/$name.log")"
  wrk -t1 -c8 -d3s http://127.0.0.1:$hport/ >"$tmp/$name.wrk"
  redis-benchmark -p $rport -P 16 -n 50000 -t set,get -q >/dev/null 2>&1
  PGHOST=127.0.0.1 PGPORT=$pport PGUSER=postgres $PGBIN/pgbench -M prepared -S -n -c 2 -t 2000 postgres >"$tmp/$name.pgbench" 2>&1 \
    || fail "pgbench: $(cat "$tmp/$name.pgbench")"
  sleep 2  # collected once more (once a second)
  curl -sf http://127.0.0.1:$aport/metrics >"$tmp/$name.metrics" || fail "metrics"
  kill -TERM $ap && wait $ap || true
}
sum() { awk -v pat="$2" '$0 ~ pat && !/^#/ {s += $NF} END {printf "%d", s}' "$tmp/$1.metrics"; }
check() {  # check NAME
  local name=$1 n wrk_done pg_done
  wrk_done=$(awk '/requests in/ {print $1}' "$tmp/$name.wrk")
  pg_done=$(awk '/actually processed/ {print $NF}' "$tmp/$name.pgbench" | cut -d/ -f1)
  n=$(sum "$name" '^sightline_l7_requests_total[{]comm="wrk",protocol="http",role="client",method="GET",status="2xx"[}]')
  [[ $n == "$wrk_done" ]] || fail "$name: wrk completed $wrk_done requests, the kernel counted $n"
  for cmd in SET GET; do
    n=$(sum "$name" "^sightline_l7_requests_total[{]comm=\"redis-benchmark\",protocol=\"redis\",role=\"client\",method=\"$cmd\",status=\"ok\"[}]")
    [[ $n == 50000 ]] || fail "$name: redis-benchmark -P 16 sent 50000 $cmd, the kernel counted $n"
    n=$(sum "$name" "^sightline_l7_requests_total[{]comm=\"redis-server\",protocol=\"redis\",role=\"server\",method=\"$cmd\",status=\"ok\"[}]")
    [[ $n == 50000 ]] || fail "$name: redis-server answered 50000 $cmd, the kernel counted $n"
  done
  n=$(sum "$name" '^sightline_l7_requests_total[{]comm="pgbench",protocol="pgsql",role="client",method="EXECUTE",status="ok"[}]')
  [[ $n == "$pg_done" ]] || fail "$name: pgbench ran $pg_done prepared transactions, the kernel counted $n: $(grep pgsql "$tmp/$name.metrics")"
  [[ $(sum "$name" '^sightline_l7_kernel_cut_total') == 0 ]] || fail "$name: kernel bounds cut: $(grep kernel_cut "$tmp/$name.metrics")"
}

run overload '{sample: 1, ring_bytes: 4096}'
check overload
lost=$(sum overload '^sightline_events_lost_total[{]source="l7",reason="ringbuf_full"[}]')
(( lost > 0 )) || fail "a one-page ring lost no record: the test did not overload it"
run sampled '{}'
check sampled
[[ $(sum sampled '^sightline_events_lost_total[{]source="l7"') == 0 ]] || fail "sampled: records lost: $(grep 'events_lost_total{source="l7"' "$tmp/sampled.metrics")"
sent=$(sum sampled '^sightline_l7_exchanges_total[{]detail="sample"[}]')
unsent=$(sum sampled '^sightline_l7_exchanges_total[{]detail="no"[}]')
(( sent > 0 && unsent > 8 * sent )) || fail "sampled: $sent exchanges sent in detail, $unsent not: want about 1 in 16"
echo "l7 exact: ok (overload lost $lost records; the sampled agent sent $sent exchanges of $((sent + unsent)))"
