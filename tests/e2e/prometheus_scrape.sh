#!/usr/bin/env bash
# A real Prometheus server scrapes the agent: after a known workload, its query API returns the
# agent's series with the expected values; its exemplar storage keeps the latency histogram's
# exemplars, and each names a request row of the agent's store.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
command -v prometheus >/dev/null || fail "prometheus missing: scripts/deps.sh installs it"
tmp=$(mktemp -d)
trap 'stop_bg; rm -rf "$tmp"' EXIT
aport=$(free_port)
pport=$(free_port)
# The syscalls source is off by default (counted below); with it on, the node's syscalls
# (Prometheus's own included) can cost past the governor's 2%, which would shed the detail the
# exemplars come from: this test is not the governor's (tests/e2e/governor.sh is).
printf 'sources: {syscalls: {enabled: true}}\noverhead: {max_cpu_percent: 0}\n' >"$tmp/agent.yaml"
"$SL" agent --listen 127.0.0.1:$aport --config "$tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
bg_pid $!
wait_for 20 curl -sf http://127.0.0.1:$aport/healthz || fail "agent did not start: $(cat "$tmp/agent.log")"
cat >"$tmp/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: sightline
    static_configs:
      - targets: ['127.0.0.1:$aport']
YAML
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" --enable-feature=exemplar-storage \
  --web.listen-address=127.0.0.1:$pport >"$tmp/prometheus.log" 2>&1 &
bg_pid $!
wait_for 30 curl -sf http://127.0.0.1:$pport/-/ready || fail "prometheus did not start: $(tail -5 "$tmp/prometheus.log")"

# The workload: a process named sl-prom-e2e makes exactly 1234 getppid calls, then waits.
cat >"$tmp/w.c" <<'C'
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
  prctl(PR_SET_NAME, "sl-prom-e2e");
  for (int i = 0; i < 1234; i++) syscall(SYS_getppid);
  sleep(3);
  return 0;
}
C
cc -O2 -o "$tmp/w" "$tmp/w.c"
"$tmp/w"

query() {  # query PROMQL -> the first sample's value, or empty
  curl -sfG "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$1" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
q='sightline_syscalls_total{job="sightline",comm="sl-prom-e2e",syscall="getppid"}'
wait_for 20 bash -c "[[ \$(curl -sfG http://127.0.0.1:$pport/api/v1/query --data-urlencode 'query=$q' | grep -c '\"1234\"') == 1 ]]" \
  || fail "prometheus has $q = '$(query "$q")', want 1234"
[[ $(query 'up{job="sightline"}') == 1 ]] || fail "scrape target not up"
[[ $(query 'sum(sightline_events_lost_total{job="sightline"})') == 0 ]] \
  || fail "the agent lost events: $(curl -sfG http://127.0.0.1:$pport/api/v1/query --data-urlencode 'query=sightline_events_lost_total{job="sightline"} > 0')"
(( $(query 'count(sightline_runqueue_latency_seconds_bucket{job="sightline"})') > 5 )) || fail "no run-queue histogram in prometheus"

# Exemplars: a few HTTP requests to a Python server; the kernel's exact latency histogram of its
# side carries, in OpenMetrics, the newest request seen in detail per bucket, by the store's
# evt_time and proc_tid.
hport=$(free_port)
mkdir -p "$tmp/www" && echo hello >"$tmp/www/index.html"
(cd "$tmp/www" && exec python3 -m http.server --bind 127.0.0.1 "$hport" >"$tmp/http.log" 2>&1) &
bg_pid $!
wait_for 10 curl -sf "http://127.0.0.1:$hport/index.html" -o /dev/null || fail "python http.server did not start"
for i in 1 2 3 4 5; do curl -sf "http://127.0.0.1:$hport/index.html?n=$i" -o /dev/null; done
bucket='sightline_l7_request_duration_seconds_bucket{comm="python3",protocol="http",role="server"'
wait_for 20 bash -c "curl -sf -H 'Accept: application/openmetrics-text;version=1.0.0' http://127.0.0.1:$aport/metrics |
  grep -F '$bucket' | grep -qE ' # \{evt_time=\"[0-9]+\",proc_tid=\"[0-9]+\"\} [0-9.e+-]+ [0-9]+\.[0-9]{3}\$'" \
  || fail "no exemplar on python3's latency buckets: $(curl -sf -H 'Accept: application/openmetrics-text' http://127.0.0.1:$aport/metrics | grep -E 'python3|l7_exchanges|governor_level' | grep -v '} 0$')"
exemplar() {  # the first exemplar Prometheus stored for python3's buckets: "evt_time proc_tid"
  curl -sfG "http://127.0.0.1:$pport/api/v1/query_exemplars" --data-urlencode "query=$bucket}" \
    --data-urlencode "start=$(( $(date +%s) - 300 ))" --data-urlencode "end=$(( $(date +%s) + 60 ))" |
    python3 -c 'import json,sys
d=json.load(sys.stdin)["data"]
e=[x["labels"] for s in d for x in s["exemplars"]]
print(e[0]["evt_time"], e[0]["proc_tid"]) if e else None'
}
wait_for 20 bash -c "$(declare -f exemplar); pport=$pport bucket='$bucket' exemplar | grep -q ." \
  || fail "prometheus stored no exemplar for $bucket}"
read -r etime etid < <(exemplar)
sql="SELECT count(*) FROM request WHERE evt_time=$etime AND proc_tid=$etid AND proc_name='python3' AND net_role='server'"
wait_for 20 bash -c "curl -sfG http://127.0.0.1:$aport/api/v1/query --data-urlencode \"sql=$sql\" | grep -q '\[\[1\]\]'" \
  || fail "the exemplar evt_time=$etime proc_tid=$etid names no request row: $(curl -sG http://127.0.0.1:$aport/api/v1/query --data-urlencode "sql=$sql")"
echo "prometheus scrape e2e: ok"
