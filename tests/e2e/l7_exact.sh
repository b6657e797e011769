#!/usr/bin/env bash
# The kernel's L7 counts are exact under overload: an agent whose l7 ring buffer is one page, and
# which sends every exchange in detail (sample: 1) and traces both ends of each local connection,
# loses records (counted) while h2load saturates nginx, redis-benchmark pipelines 16 commands a
# write and pgbench runs prepared statements; yet sightline_l7_requests_total equals each
# client's own count, at both ends. A second agent with the defaults (the sample; a loopback
# connection counted at its server's end only) sends fewer records and counts the same at the
# servers, nothing at the clients, whose ends named themselves (sightline_l7_peer_ends_total).
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
for t in nginx h2load redis-server redis-benchmark $PGBIN/pgbench $PGBIN/initdb; do
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
  h2load --h1 -t1 -c8 -n 30000 http://127.0.0.1:$hport/ >"$tmp/$name.h2load" 2>&1 || fail "h2load: $(cat "$tmp/$name.h2load")"
  redis-benchmark -p $rport -P 16 -n 50000 -t set,get -q >/dev/null 2>&1
  PGHOST=127.0.0.1 PGPORT=$pport PGUSER=postgres $PGBIN/pgbench -M prepared -S -n -c 2 -t 2000 postgres >"$tmp/$name.pgbench" 2>&1 \
    || fail "pgbench: $(cat "$tmp/$name.pgbench")"
  sleep 2  # collected once more (once a second)
  curl -sf http://127.0.0.1:$aport/metrics >"$tmp/$name.metrics" || fail "metrics"
  curl -sf http://127.0.0.1:$aport/api/v1/service_map >"$tmp/$name.map" || fail "service map"
  kill -TERM $ap && wait $ap || true
}
sum() { awk -v pat="$2" '$0 ~ pat && !/^#/ {s += $NF} END {printf "%d", s}' "$tmp/$1.metrics"; }
check() {  # check NAME [both]: the servers' ends, and with both the clients' too
  local name=$1 both=${2:-} n done pg_done role comm
  done=$(awk '/^requests:/ {print $8}' "$tmp/$name.h2load")
  [[ $done == 30000 ]] || fail "$name: h2load: $(cat "$tmp/$name.h2load")"
  pg_done=$(awk '/actually processed/ {print $NF}' "$tmp/$name.pgbench" | cut -d/ -f1)
  for role in server ${both:+client}; do
    [[ $role == server ]] && comm=nginx || comm=h2load
    n=$(sum "$name" "^sightline_l7_requests_total[{]comm=\"$comm\",protocol=\"http\",role=\"$role\",method=\"GET\",status=\"2xx\"[}]")
    [[ $n == "$done" ]] || fail "$name: h2load completed $done requests, the kernel counted $n at $comm"
    [[ $role == server ]] && comm=redis-server || comm=redis-benchmark
    for cmd in SET GET; do
      n=$(sum "$name" "^sightline_l7_requests_total[{]comm=\"$comm\",protocol=\"redis\",role=\"$role\",method=\"$cmd\",status=\"ok\"[}]")
      [[ $n == 50000 ]] || fail "$name: redis-benchmark -P 16 sent 50000 $cmd, the kernel counted $n at $comm"
    done
    [[ $role == server ]] && comm=postgres || comm=pgbench
    n=$(sum "$name" "^sightline_l7_requests_total[{]comm=\"$comm\",protocol=\"pgsql\",role=\"$role\",method=\"EXECUTE\",status=\"ok\"[}]")
    [[ $n == "$pg_done" ]] || fail "$name: pgbench ran $pg_done prepared transactions, the kernel counted $n at $comm: $(grep pgsql "$tmp/$name.metrics")"
  done
  if [[ -z $both ]]; then
    n=$(grep '^sightline_l7_requests_total{.*role="client"' "$tmp/$name.metrics" | grep -vc '{comm="curl"' || true)
    [[ $n == 0 ]] || fail "$name: loopback clients counted at their own ends too: $(grep 'role="client"' "$tmp/$name.metrics" | head -3)"
    # but curl's calls to the agent's own listener, whose end the agent does not trace
    n=$(sum "$name" '^sightline_l7_requests_total[{]comm="curl",protocol="http",role="client"')
    (( n > 0 )) || fail "$name: curl's calls to the agent were not counted at curl's end"
    # h2load's 8 connections, redis-benchmark's 50 and pgbench's 2 named themselves
    n=$(sum "$name" '^sightline_l7_peer_ends_total')
    (( n >= 60 )) || fail "$name: $n client ends named themselves, want 60 or more"
    # and name the servers' edges: one each, from the client's process
    python3 - "$tmp/$name.map" <<'PY' || fail "$name: service map: $(cat "$tmp/$name.map")"
import json, sys
edges = [e for e in json.load(open(sys.argv[1]))["edges"] if e["protocol"] in ("http", "redis", "pgsql") and e["client"] != "curl"]
got = sorted((e["client"], e["server"], e["protocol"]) for e in edges)
want = [("h2load", "nginx", "http"), ("pgbench", "postgres", "pgsql"), ("redis-benchmark", "redis-server", "redis")]
assert got == want, got
PY
  fi
  [[ $(sum "$name" '^sightline_l7_kernel_cut_total') == 0 ]] || fail "$name: kernel bounds cut: $(grep kernel_cut "$tmp/$name.metrics")"
}

run overload '{sample: 1, ring_bytes: 4096, both_local_ends: true}'
check overload both
lost=$(sum overload '^sightline_events_lost_total[{]source="l7",reason="ringbuf_full"[}]')
(( lost > 0 )) || fail "a one-page ring lost no record: the test did not overload it"
run sampled '{}'
check sampled
[[ $(sum sampled '^sightline_events_lost_total[{]source="l7"') == 0 ]] || fail "sampled: records lost: $(grep 'events_lost_total{source="l7"' "$tmp/sampled.metrics")"
sent=$(sum sampled '^sightline_l7_exchanges_total[{]detail="sample"[}]')
unsent=$(sum sampled '^sightline_l7_exchanges_total[{]detail="no"[}]')
(( sent > 0 && unsent > 8 * sent )) || fail "sampled: $sent exchanges sent in detail, $unsent not: want about 1 in 16"
echo "l7 exact: ok (overload lost $lost records; the sampled agent sent $sent exchanges of $((sent + unsent)))"
