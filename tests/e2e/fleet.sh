#!/usr/bin/env bash
# One view of the fleet (issue 22): three nodes on this kernel, each a cgroup and a network
# namespace of its own (veth pairs to the host, which routes between them), each watched by
# its own agent (`cgroup:` scopes it to its node's tasks) that sends its requests to one
# `sightline aggregator`, which puts them in a real ClickHouse. A client on node 1 (curl, 20
# GETs on one connection) calls a Python service on node 2, which queries PostgreSQL on node 3
# for each. Each request is seen twice, its client half on one node and its server half on
# another; the aggregator's service map joins them by connection into curl (node-1) ->
# python3 (node-2) -> postgres (node-3) with exactly 20 requests each, through its API and in
# Chromium (ui/tests/fleet.test.mjs), and its query page reads every node's rows. A CPU burner
# runs on nodes 1 and 2: their agents' per-minute profiles reach ClickHouse, and the fleet's
# flame graph merges them (its samples are the two nodes' sum; a node selector shows one). The
# requests page lists every node's requests; with ClickHouse stopped a page says so and comes
# back by itself; a node whose clock is two minutes behind still joins its halves; an alert
# raised on node 1 is on the fleet's security page with its node; the overview charts the
# merged metrics from a real Prometheus (PromQL through the aggregator), and says when it is down.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
shots=$(dirname "$(readlink -f "$SL")")/ui-screenshots
[[ -x /usr/bin/chromium ]] || fail "no /usr/bin/chromium (scripts/deps.sh installs it)"
dir=$(mktemp -d)
chmod 755 "$dir"
mkdir -p "$shots"
ch=$(free_port)
agg=$(free_port)
prom=$(free_port)
cg2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)  # /sys/fs/cgroup, or .../unified (hybrid)
[[ -n $cg2 ]] || fail "no cgroup2 file system mounted"
cg=$cg2/sl-fleet-$$
fwd=$(sysctl -n net.ipv4.ip_forward)
cleanup() {
  stop_bg
  pkill -f "clickhouse-server --config-file=$dir/ch/config.xml" || true
  stop_postgres "$dir/pg"
  local n p
  for n in 1 2 3; do
    for p in $(cat "$cg-$n/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    del_veth_ns slf$n slfh$n
  done
  sysctl -qw net.ipv4.ip_forward="$fwd"
  for n in 1 2 3; do for _ in 1 2 3 4 5; do rmdir "$cg-$n" 2>/dev/null && break; sleep 0.2; done; done
  [[ -n ${KEEP:-} ]] || rm -rf "$dir"
}
trap cleanup EXIT

# The nodes: node N is cgroup $cg-N and namespace slfN at 10.231.N.2 (the host is 10.231.N.1,
# their route between nodes).
sysctl -qw net.ipv4.ip_forward=1
for n in 1 2 3; do
  mkdir "$cg-$n"
  veth_ns slf$n slfh$n slfn$n 10.231.$n.1 10.231.$n.2
  ip netns exec slf$n ip route add default via 10.231.$n.1
done
# in_node N CMD...: CMD in node N's cgroup and namespace (the same process: exec).
in_node() { bash -c 'echo $$ >"$0/cgroup.procs" && exec ip netns exec "$1" "${@:2}"' "$cg-$1" "slf$1" "${@:2}"; }

start_clickhouse "$dir" $ch
start_prometheus "$dir" $prom
cat >"$dir/agg.yaml" <<YAML
exporters:
  spool_dir: $dir/agg-spool
  batch: 1s
  clickhouse: {url: "http://127.0.0.1:$ch", database: sl_fleet, kinds: [request]}
  remote_write: {url: "http://127.0.0.1:$prom/api/v1/write", interval: 1s}
aggregator: {interval: 1s, prometheus: "http://127.0.0.1:$prom"}
YAML
"$SL" aggregator -c "$dir/agg.yaml" --listen 127.0.0.1:$agg >"$dir/agg.log" 2>&1 &
bg_pid $!
wait_for 10 curl -sf http://127.0.0.1:$agg/healthz || fail "aggregator did not start: $(cat "$dir/agg.log")"

# Node 1's agent runs a rule of ours: its alert goes to the aggregator's ClickHouse with the node.
cat >"$dir/rules.yaml" <<YAML
- rule: Fleet marker ran
  condition: evt.type = exec and proc.name = sl-fleet-mark
  output: "fleet marker ran (pid=%proc.pid)"
  priority: WARNING
YAML
for n in 1 2 3; do
  port=$(free_port)
  {
    echo "listen: 127.0.0.1:$port"
    echo "api_socket: \"\""
    echo "cgroup: $cg-$n"
    echo "store: {enabled: false}"
    [[ $n == 1 ]] && echo "rules: {defaults: false, files: [$dir/rules.yaml]}" || echo "rules: {enabled: false}"
    echo "anomaly: {enabled: false}"
    echo "overhead: {max_cpu_percent: 0}"
    echo "exporters:"
    echo "  node: node-$n"
    echo "  spool_dir: $dir/spool$n"
    echo "  batch: 1s"
    echo "  otlp: {url: \"http://127.0.0.1:$agg\", interval: 1s, logs: [request], traces: false}"
    echo "sources:"
    for s in file net security syscalls sched block packets; do echo "  $s: {enabled: false}"; done
    echo "  profile: {enabled: $([[ $n == 3 ]] && echo false || echo true), hz: 99, request_stacks: false}"
  } >"$dir/agent$n.yaml"
  "$SL" agent -c "$dir/agent$n.yaml" >"$dir/agent$n.log" 2>&1 &
  bg_pid $!
  wait_for 20 curl -sf http://127.0.0.1:$port/healthz || fail "agent $n did not start: $(cat "$dir/agent$n.log")"
  grep -q "cgroup: only the tasks of $cg-$n" "$dir/agent$n.log" || fail "agent $n is not scoped: $(head "$dir/agent$n.log")"
done

# The burners, on nodes 1 and 2: their minute is over by the end (the profiles are per minute).
cat >"$dir/burn.c" <<'C'
#include <time.h>
__attribute__((noinline)) unsigned long sl_fleet_burn(unsigned long x) {
  for (int i = 0; i < 1000000; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
  return x;
}
int main(void) {
  time_t end = time(0) + 3;
  volatile unsigned long x = 1;
  while (time(0) < end) x = sl_fleet_burn(x);
  return 0;
}
C
gcc -O1 -fno-omit-frame-pointer -o "$dir/burn" "$dir/burn.c"
in_node 1 "$dir/burn" &
burn1=$!
in_node 2 "$dir/burn" &
burn2=$!
wait $burn1 $burn2
burn_minute=$(( $(date +%s) / 60 ))

# Node 3: PostgreSQL at 10.231.3.2:5432, taking node 2's connections.
mkdir -p "$dir/pg" && chown postgres "$dir/pg"
runuser -u postgres -- $PGBIN/initdb -D "$dir/pg" -A trust >"$dir/initdb.log" 2>&1 || fail "initdb: $(cat "$dir/initdb.log")"
echo "host all all 10.231.0.0/16 trust" >>"$dir/pg/pg_hba.conf"
in_node 3 runuser -u postgres -- $PGBIN/pg_ctl -D "$dir/pg" -o "-k $dir/pg -h 10.231.3.2 -p 5432" -l "$dir/pg/log" start >/dev/null \
  || fail "postgres: $(cat "$dir/pg/log")"
# Node 2: a Python HTTP service that queries it once per request, on one connection.
cat >"$dir/service.py" <<'PY'
import http.server, threading, psycopg2
db = psycopg2.connect(host="10.231.3.2", port=5432, user="postgres", dbname="postgres", connect_timeout=5)
db.autocommit = True
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        with lock, db.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_class WHERE relname = %s", (self.path,))
            body = b"%d\n" % cur.fetchone()[0]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("10.231.2.2", 8080), H).serve_forever()
PY
wait_for 20 ip netns exec slf3 bash -c 'exec 3<>/dev/tcp/10.231.3.2/5432' || fail "postgres did not answer: $(cat "$dir/pg/log")"
in_node 2 /usr/bin/python3 "$dir/service.py" >"$dir/service.log" 2>&1 &
bg_pid $!
# Ready when it accepts (a connection without a request: no agent counts it).
wait_for 20 ip netns exec slf1 bash -c 'exec 3<>/dev/tcp/10.231.2.2/8080' || fail "the service did not listen: $(cat "$dir/service.log")"
# Node 1: 20 GETs on one connection.
args=()
for i in $(seq 1 20); do args+=(-o /dev/null "http://10.231.2.2:8080/item/$i"); done
in_node 1 curl -sf "${args[@]}" || fail "the client's requests failed"
cp /bin/true "$dir/sl-fleet-mark"
in_node 1 "$dir/sl-fleet-mark"

# 80 rows: each of the 20 GETs and 20 queries, once at its client and once at its server.
chq() { curl -sf --data-binary "$1" "http://127.0.0.1:$ch/"; }
wait_for 30 bash -c "[[ \$(curl -sf --data-binary 'SELECT count() FROM sl_fleet.request' http://127.0.0.1:$ch/) == 80 ]]" \
  || fail "request rows in ClickHouse: $(chq "SELECT node, net_role, l7_protocol, proc_name, count() FROM sl_fleet.request GROUP BY node, net_role, l7_protocol, proc_name") $(tail -3 "$dir/agg.log")"
map=$(curl -sf "http://127.0.0.1:$agg/api/v1/service_map?seconds=600") || fail "fleet service map: $(curl -s "http://127.0.0.1:$agg/api/v1/service_map")"
python3 - "$map" <<'PY' || fail "fleet service map: $map"
import json, sys
m = json.loads(sys.argv[1])
assert m["fleet"], m
got = sorted((e["client"], e["server"], e["protocol"], e["requests"], e["errors"]) for e in m["edges"])
want = [("curl (node-1)", "python3 (node-2)", "http", 20, 0), ("python3 (node-2)", "postgres (node-3)", "pgsql", 20, 0)]
assert got == want, got
for e in m["edges"]:
    assert e["mean_latency_seconds"] > 0, e
PY

wait_for 20 bash -c "[[ \$(curl -sf --data-binary \"SELECT node, rule, evt_type, proc_name FROM sl_fleet.alerts\" http://127.0.0.1:$ch/) == \$'node-1\\tFleet marker ran\\texec\\tsl-fleet-mark' ]]" \
  || fail "the alert in ClickHouse: $(chq "SELECT * FROM sl_fleet.alerts") $(grep -i rule "$dir/agent1.log" | tail -3)"

# The burners' minute, once it is over: on nodes 1 and 2, none on node 3 (its agent profiles nothing).
burned() { chq "SELECT node, sum(samples) FROM sl_fleet.profiles WHERE stack LIKE '%sl_fleet_burn%' GROUP BY node ORDER BY node" | tr '\t\n' ': '; }
left=$(( (burn_minute + 1) * 60 + 25 - $(date +%s) ))
wait_for $(( left > 5 ? left : 5 )) bash -c "[[ \$(curl -sf --data-binary \"SELECT uniqExact(node) FROM sl_fleet.profiles WHERE stack LIKE '%sl_fleet_burn%'\" http://127.0.0.1:$ch/) == 2 ]]" \
  || fail "the burners' profiles in ClickHouse: $(burned) ($(chq "SELECT node, count() FROM sl_fleet.profiles GROUP BY node" | tr '\t\n' ': '))"
[[ $(burned) =~ ^node-1:[0-9]+\ node-2:[0-9]+\ $ ]] || fail "profiles by node: $(burned)"
burn_total=$(chq "SELECT sum(samples) FROM sl_fleet.profiles WHERE stack LIKE '%sl_fleet_burn%'")
# Each burned ~3 s of a CPU at 99 Hz: ~300 samples apiece.
(( burn_total > 300 )) || fail "the burners' samples: $(burned)"

edges='[["curl (node-1)","python3 (node-2)",20],["python3 (node-2)","postgres (node-3)",20]]'
# The last UI test stops ClickHouse and starts it again (the same data).
ch_stop="kill $CH_PID; while kill -0 $CH_PID 2>/dev/null; do sleep 0.1; done"
ch_start="setsid clickhouse-server --config-file=$dir/ch/config.xml </dev/null >>$dir/ch/out 2>&1 &
  for i in \$(seq 600); do curl -sf 'http://127.0.0.1:$ch/?query=SELECT%201' >/dev/null && exit 0; sleep 0.1; done; exit 1"
(cd "$root/ui" && SL_URL=http://127.0.0.1:$agg SL_SHOTS="$shots" SL_EDGES="$edges" SL_BURN="$burn_total" \
  SL_CH_STOP="$ch_stop" SL_CH_START="$ch_start" node --test --test-reporter=spec tests/fleet.test.mjs) \
  || fail "fleet ui tests (screenshots in $shots; aggregator log: $(tail -3 "$dir/agg.log"))"

# The fleet's charts read Prometheus through the aggregator; down, it is named.
r=$(curl -s --get --data-urlencode 'query=sum(sightline_build_info)' "http://127.0.0.1:$agg/api/v1/promql?seconds=60&step=5")
[[ $r == *'"status":"success"'* && $r == *'"3"'* ]] || fail "PromQL through the aggregator: $r"
kill $PROM_PID
wait $PROM_PID 2>/dev/null || true
r=$(curl -s -w '\n%{http_code}' "http://127.0.0.1:$agg/api/v1/promql?query=up")
[[ ${r##*$'\n'} == 503 && $r == *"Prometheus at http://127.0.0.1:$prom does not answer"* ]] || fail "Prometheus down: $r"

# A node whose clock is two minutes behind: its server halves carry times two minutes older
# than their clients' (rows written here as such a node's agent would, on a connection of
# their own). The join is by connection, so they still make one edge.
now=$(date +%s%N)
skew=$((now - 120000000000))
chq "INSERT INTO sl_fleet.request (node, proc_name, net_role, l7_protocol, fd_lip, fd_lport, fd_rip, fd_rport, l7_weight, l7_latency, evt_time) VALUES
  ('node-4', 'skewed-client', 'client', 'http', '10.231.4.2', 40404, '10.231.5.2', 8080, 1, 1000, $now),
  ('node-4', 'skewed-client', 'client', 'http', '10.231.4.2', 40404, '10.231.5.2', 8080, 1, 1000, $((now + 1))),
  ('node-5', 'late-server', 'server', 'http', '10.231.5.2', 8080, '10.231.4.2', 40404, 1, 900, $skew),
  ('node-5', 'late-server', 'server', 'http', '10.231.5.2', 8080, '10.231.4.2', 40404, 1, 900, $((skew + 1)))" \
  || fail "inserting the skewed rows"
map=$(curl -sf "http://127.0.0.1:$agg/api/v1/service_map?seconds=60") || fail "fleet service map over a minute"
python3 -c '
import json, sys
e = [(e["client"], e["server"], e["requests"]) for e in json.loads(sys.argv[1])["edges"] if e["client_node"] == "node-4" or e["server_node"] == "node-5"]
assert e == [("skewed-client (node-4)", "late-server (node-5)", 2)], e' "$map" || fail "a node two minutes behind: $map"
echo "fleet e2e ok"
