#!/usr/bin/env bash
# A real Prometheus server scrapes the agent: after a known workload, its query API returns the
# agent's series with the expected values.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
command -v prometheus >/dev/null || fail "prometheus missing: scripts/deps.sh installs it"
tmp=$(mktemp -d)
trap 'stop_bg; rm -rf "$tmp"' EXIT
aport=$(free_port)
pport=$(free_port)
"$SL" agent --listen 127.0.0.1:$aport >"$tmp/agent.log" 2>&1 &
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
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
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
echo "prometheus scrape e2e: ok"
