#!/usr/bin/env bash
# The embedded store as a person relies on it: the agent keeps what it saw (execs, TCP
# connections, HTTP requests, alerts, its own metrics) in SQLite; `sightline query` and
# /api/v1/query read it back with exact counts; writes are refused; and a `kill -9` of the agent
# in the middle of a flood of inserts leaves a file that passes integrity_check, holds every
# row committed before the kill, and that a restarted agent goes on writing.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
dir=$(mktemp -d)
port=$(free_port)
web=$(free_port)
db=$dir/db/sightline.db
cat >"$dir/agent.yaml" <<YAML
listen: 127.0.0.1:$port
store:
  path: $db
  metrics_interval: 1s
  kinds: [exec, exit, tcp, request]
YAML
"$SL" config check "$dir/agent.yaml" >/dev/null || fail "config check"
start_agent() {
  "$SL" agent -c "$dir/agent.yaml" >>"$dir/log" 2>&1 &
  pid=$!
  bg_pid $pid
  wait_for 20 curl -sf http://127.0.0.1:$port/healthz || { cat "$dir/log"; fail "agent did not answer /healthz"; }
}
trap 'stop_bg; rm -rf "$dir"' EXIT
start_agent
q() { "$SL" query --db "$db" --format csv "$1" | tail -n +2 | tr -d '\r'; }

# (Queries name proc_name: the query commands themselves are execs with the marker in argv.)
# Work the agent sees: 50 marked execs, HTTP requests to a local server, a sensitive file read.
python3 -m http.server --bind 127.0.0.1 $web --directory "$dir" >/dev/null 2>&1 &
bg_pid $!
wait_for 10 curl -sf http://127.0.0.1:$web/agent.yaml
for i in $(seq 1 50); do /bin/true sl-store-marker-$i; done
# 20 requests, and the one that saw the server up: 21.
for i in $(seq 1 20); do curl -sf -o /dev/null http://127.0.0.1:$web/agent.yaml; done
python3 -c "open('/etc/shadow').read()"

wait_for 10 bash -c "[[ \$('$SL' query --db '$db' --format csv \"SELECT count(*) FROM exec WHERE proc_name = 'true' AND proc_args LIKE '%sl-store-marker-%'\" | tail -1 | tr -d '\r') == 50 ]]" \
  || fail "execs stored: $(q "SELECT count(*) FROM exec WHERE proc_name = 'true' AND proc_args LIKE '%sl-store-marker-%'")"
# Columns are the schema's fields: argv is a JSON array.
[[ $(q "SELECT json_extract(proc_args, '\$[1]') FROM exec WHERE proc_name = 'true' AND proc_args LIKE '%sl-store-marker-7\"%'") == sl-store-marker-7 ]] \
  || fail "argv column: $(q "SELECT proc_args FROM exec WHERE proc_name = 'true' AND proc_args LIKE '%sl-store-marker-7\"%'")"
(( $(q "SELECT count(*) FROM exit WHERE proc_name = 'true'") >= 50 )) || fail "exits stored"
wait_for 10 bash -c "[[ \$('$SL' query --db '$db' --format csv \"SELECT count(*) FROM request WHERE l7_protocol = 'http' AND net_role = 'server' AND fd_lport = $web\" | tail -1 | tr -d '\r') == 21 ]]" \
  || fail "requests stored: $(q "SELECT net_role, l7_method, l7_target, l7_status FROM request WHERE fd_lport = $web OR fd_rport = $web")"
# The client's side too (a loopback connection is traced at its server's end: curl's rows are
# made from the server's records, curl's end having named itself).
[[ $(q "SELECT count(*) FROM request WHERE net_role = 'client' AND fd_rport = $web AND l7_status = 200 AND l7_target = '/agent.yaml' AND proc_name = 'curl'") == 21 ]] \
  || fail "client side of the requests: $(q "SELECT net_role, proc_name, l7_status, l7_target FROM request WHERE fd_rport = $web")"
wait_for 10 bash -c "[[ \$('$SL' query --db '$db' --format csv \"SELECT count(*) FROM tcp WHERE net_role = 'client' AND evt_failed = 0 AND fd_rport = $web\" | tail -1 | tr -d '\r') == 21 ]]" \
  || fail "tcp connections stored: $(q "SELECT count(*) FROM tcp WHERE fd_rport = $web")"
wait_for 10 bash -c "'$SL' query --db '$db' --format csv \"SELECT rule FROM alerts\" | grep -q 'Sensitive file read'" \
  || fail "alert stored: $(q 'SELECT rule, output FROM alerts')"
[[ $(q "SELECT json_extract(event, '\$.\"fd.name\"') FROM alerts WHERE rule LIKE 'Sensitive file%' LIMIT 1") == /etc/shadow ]] \
  || fail "alert's event: $(q 'SELECT event FROM alerts')"
wait_for 10 bash -c "(( \$('$SL' query --db '$db' --format csv \"SELECT count(DISTINCT time) FROM metrics WHERE name = 'sightline_events_total'\" | tail -1 | tr -d '\r') >= 2 ))" \
  || fail "metric samples: $(q "SELECT name, count(*) FROM metrics GROUP BY 1 LIMIT 5")"
# The sampled counter is what /metrics says (it only grows).
v=$(q "SELECT max(value) FROM metrics WHERE name = 'sightline_events_total' AND json_extract(labels, '\$.kind') = 'exec'")
(( ${v%.*} >= 50 )) || fail "sampled exec counter: $v"

# Kubernetes attribution from real cgroups made in the shapes the runtimes make: containerd
# (systemd driver, a burstable pod) and CRI-O (a guaranteed pod); a process in each execs.
cgroot=$(grep -m1 cgroup2 /proc/mounts | awk '{print $2}')
cid=$(printf 'c0ffee%058d' 1)
uid1=0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0
uid2=11112222-3333-4444-5555-666677778888
cg1=$cgroot/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid1//-/_}.slice/cri-containerd-$cid.scope
cg2=$cgroot/kubepods.slice/kubepods-pod${uid2//-/_}.slice/crio-$cid.scope
mkdir -p "$cg1" "$cg2"
cleanup_cgroups() {
  for c in "$cg1" "$cg2"; do
    while [[ $c == "$cgroot"/kubepods.slice* ]]; do rmdir "$c" 2>/dev/null || true; c=$(dirname "$c"); done
  done
}
trap 'stop_bg; cleanup_cgroups; rm -rf "$dir"' EXIT
sh -c "echo \$\$ > $cg1/cgroup.procs; exec /bin/true sl-store-pod-burstable"
sh -c "echo \$\$ > $cg2/cgroup.procs; exec /bin/true sl-store-pod-guaranteed"
wait_for 10 bash -c "[[ \$('$SL' query --db '$db' --format csv \"SELECT count(*) FROM exec WHERE proc_name = 'true' AND proc_args LIKE '%sl-store-pod-%'\" | tail -1 | tr -d '\r') == 2 ]]" \
  || fail "execs in pods not stored"
got=$(q "SELECT container_id, container_runtime, k8s_pod_uid, k8s_pod_qos FROM exec WHERE proc_name = 'true' AND proc_args LIKE '%sl-store-pod-burstable%'")
[[ $got == "${cid:0:12},containerd,$uid1,burstable" ]] || fail "containerd pod attribution: $got"
got=$(q "SELECT container_id, container_runtime, k8s_pod_uid, k8s_pod_qos FROM exec WHERE proc_name = 'true' AND proc_args LIKE '%sl-store-pod-guaranteed%'")
[[ $got == "${cid:0:12},crio,$uid2,guaranteed" ]] || fail "CRI-O pod attribution: $got"
cleanup_cgroups

# The HTTP API: JSON and CSV, 400 with the reason for a write or a syntax error.
j=$(curl -sf --get --data-urlencode "sql=SELECT count(*) AS n FROM exec WHERE proc_name = 'true' AND proc_args LIKE '%sl-store-marker-%'" http://127.0.0.1:$port/api/v1/query)
[[ $j == '{"columns":["n"],"rows":[[50]],'* ]] || fail "/api/v1/query: $j"
c=$(curl -sf --get --data-urlencode "sql=SELECT proc_name FROM exec WHERE proc_name = 'true' AND proc_args LIKE '%sl-store-marker-1\"%'" --data-urlencode format=csv http://127.0.0.1:$port/api/v1/query)
[[ $c == $'proc_name\r\ntrue\r' ]] || fail "csv: $(od -c <<<"$c" | head)"
code=$(curl -s -o "$dir/err" -w '%{http_code}' --get --data-urlencode "sql=DELETE FROM exec" http://127.0.0.1:$port/api/v1/query)
[[ $code == 400 ]] && grep -q "only reading statements" "$dir/err" || fail "DELETE through the API: $code $(cat "$dir/err")"
code=$(curl -s -o "$dir/err" -w '%{http_code}' --get --data-urlencode "sql=SELEC 1" http://127.0.0.1:$port/api/v1/query)
[[ $code == 400 ]] && grep -q "syntax error" "$dir/err" || fail "syntax error through the API: $code $(cat "$dir/err")"
curl -sf http://127.0.0.1:$port/api/v1/schema | python3 -c 'import json,sys; t={x["name"] for x in json.load(sys.stdin)["tables"]}; assert {"exec","request","alerts","metrics","profiles"} <= t, t' \
  || fail "/api/v1/schema"
"$SL" query --db "$db" "DELETE FROM exec" 2>"$dir/err" && fail "the CLI ran a DELETE"
grep -q "only reading statements" "$dir/err" || fail "CLI refusal: $(cat "$dir/err")"
m=$(curl -sf http://127.0.0.1:$port/metrics)
grep -qE '^sightline_store_rows_written_total\{table="exec"\} [1-9]' <<<"$m" || fail "store metrics: $(grep store_ <<<"$m")"
grep -qE '^sightline_store_rows_dropped_total 0$' <<<"$m" || fail "rows dropped at this load: $(grep store_rows_dropped <<<"$m")"

# kill -9 in a flood: every row committed before stays, the file is sound.
for i in $(seq 1 1000); do /bin/true sl-store-before-$i; done
wait_for 10 bash -c "[[ \$('$SL' query --db '$db' --format csv \"SELECT count(*) FROM exec WHERE proc_name = 'true' AND proc_args LIKE '%sl-store-before-%'\" | tail -1 | tr -d '\r') == 1000 ]]" \
  || fail "flood before the kill: $(q "SELECT count(*) FROM exec WHERE proc_name = 'true' AND proc_args LIKE '%sl-store-before-%'")"
( for i in $(seq 1 3000); do /bin/true sl-store-during-$i; done ) &
flood=$!
sleep 1.5
kill -9 $pid
wait $flood
[[ $(sqlite3 "$db" 'PRAGMA integrity_check') == ok ]] || fail "integrity_check after kill -9: $(sqlite3 "$db" 'PRAGMA integrity_check' | head)"
[[ $(q "SELECT count(*) FROM exec WHERE proc_name = 'true' AND proc_args LIKE '%sl-store-before-%'") == 1000 ]] || fail "rows committed before the kill were lost"
during=$(q "SELECT count(*) FROM exec WHERE proc_name = 'true' AND proc_args LIKE '%sl-store-during-%'")
echo "store: $during of the flood's execs committed before kill -9"
# A restarted agent opens the same file and goes on.
start_agent
/bin/true sl-store-after-restart
wait_for 10 bash -c "[[ \$('$SL' query --db '$db' --format csv \"SELECT count(*) FROM exec WHERE proc_name = 'true' AND proc_args LIKE '%sl-store-after-restart%'\" | tail -1 | tr -d '\r') == 1 ]]" \
  || fail "the restarted agent does not store: $(tail -5 "$dir/log")"
[[ $(q "SELECT count(*) FROM exec WHERE proc_name = 'true' AND proc_args LIKE '%sl-store-before-%'") == 1000 ]] || fail "rows lost on restart"
kill -TERM $pid
wait $pid || fail "agent exit status $?"
[[ $(sqlite3 "$db" 'PRAGMA integrity_check') == ok ]] || fail "integrity_check after a clean stop"
echo "store e2e ok"
