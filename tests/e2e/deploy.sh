#!/usr/bin/env bash
# deploy/: the Prometheus rules pass promtool (syntax and their unit tests) and load in a real
# Prometheus that scrapes a real agent; every metric a rule or a Grafana dashboard names is a
# family the agent exports; every dashboard query is valid PromQL to that Prometheus, and the
# main panels have data once the node has done some work.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d)
chmod 755 "$dir"
trap 'stop_bg; rm -rf "$dir"' EXIT

promtool check rules "$root/deploy/prometheus/sightline.rules.yml" >/dev/null || fail "promtool check rules"
(cd "$root/deploy/prometheus" && promtool test rules tests.yml >/dev/null) || fail "promtool test rules"
python3 "$root/deploy/grafana/generate.py" --check || fail "dashboards differ from generate.py"

port=$(free_port)
prom=$(free_port)
web=$(free_port)
cat >"$dir/agent.yaml" <<YAML
listen: 127.0.0.1:$port
api_socket: ""
store: {path: $dir/s.db}
exporters:
  spool_dir: $dir/spool
  remote_write: {url: "http://127.0.0.1:$prom/api/v1/write", interval: 5s}
YAML
"$SL" agent -c "$dir/agent.yaml" >"$dir/agent.log" 2>&1 &
bg_pid $!
wait_for 20 curl -sf http://127.0.0.1:$port/healthz || { cat "$dir/agent.log"; fail "agent did not start"; }
cat >"$dir/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: ["$root/deploy/prometheus/sightline.rules.yml"]
scrape_configs:
  - job_name: sightline
    static_configs: [{targets: ["127.0.0.1:$port"]}]
YAML
start_prometheus "$dir" $prom "$dir/prometheus.yml"
wait_for 30 bash -c "curl -sf 'http://127.0.0.1:$prom/api/v1/query?query=sightline_source_up' | grep -q '127.0.0.1:$port'" \
  || fail "prometheus does not scrape the agent: $(curl -sf http://127.0.0.1:$prom/api/v1/targets)"

# Work for the panels: HTTP requests, TCP connections, disk writes, a security alert.
python3 -m http.server --bind 127.0.0.1 $web --directory "$dir" >/dev/null 2>&1 &
bg_pid $!
wait_for 10 curl -sf -o /dev/null http://127.0.0.1:$web/agent.yaml
for i in $(seq 1 30); do curl -sf -o /dev/null http://127.0.0.1:$web/agent.yaml; done
dd if=/dev/zero of="$dir/blob" bs=1M count=8 oflag=direct status=none
python3 -c "open('/etc/shadow').read()"
sleep 5

# The rules loaded, none broken.
rules=$(curl -sf http://127.0.0.1:$prom/api/v1/rules)
python3 - "$rules" <<'PY' || fail "rules in Prometheus"
import json, sys
groups = json.loads(sys.argv[1])["data"]["groups"]
rules = [r for g in groups for r in g["rules"]]
assert len(rules) == 20, len(rules)
bad = [r["name"] for r in rules if r.get("health") not in ("ok", "unknown")]
assert not bad, bad
PY

# Every metric named is a family of the agent (histograms through _bucket/_sum/_count).
curl -sf http://127.0.0.1:$port/metrics | awk '/^# TYPE / {print $3, $4}' >"$dir/families"
python3 - "$dir/families" "$root/deploy" <<'PY' || fail "metrics named in deploy/ that the agent does not export"
import json, os, re, sys
fams = dict(l.split() for l in open(sys.argv[1]))
texts = []
for base, _, files in os.walk(sys.argv[2]):
    for f in files:
        if f.endswith((".yml", ".json")) and f != "tests.yml":
            texts.append((f, open(os.path.join(base, f)).read()))
missing = set()
for name, text in texts:
    for m in set(re.findall(r"(?<![:\w])((?:sightline|process)_[a-z0-9_]+)(?![:\w])", text)):
        base = re.sub(r"_(bucket|sum|count)$", "", m)
        if m in fams or (base in fams and fams[base] == "histogram"):
            continue
        missing.add(f"{name}: {m}")
print("\n".join(sorted(missing)))
sys.exit(1 if missing else 0)
PY

# Every dashboard query is valid PromQL (with the variables as Grafana would fill them), and
# the main panels have data.
python3 - "$root/deploy/grafana" "http://127.0.0.1:$prom" <<'PY' || fail "dashboard queries"
import glob, json, sys, urllib.parse, urllib.request
d, url = sys.argv[1], sys.argv[2]
want_data = {"Requests/s by service", "Sources up", "CPU by process (top 10)", "Events/s by source",
             "Connections/s by process and result", "IOPS by device and op", "Security alerts (1h)",
             "Store: rows written/s and dropped/s", "Agent memory"}
seen, empty = 0, []
for path in sorted(glob.glob(d + "/*.json")):
    for p in json.load(open(path))["panels"]:
        for t in p["targets"]:
            expr = t["expr"].replace("$__rate_interval", "1m").replace('instance=~"$instance"', 'instance=~".+"')
            q = urllib.parse.urlencode({"query": expr})
            try:
                r = json.load(urllib.request.urlopen(url + "/api/v1/query?" + q))
            except urllib.error.HTTPError as e:
                sys.exit(f"{path}: {p['title']}: {e.read().decode()[:300]}")
            assert r["status"] == "success", r
            seen += 1
            if p["title"] in want_data and t["refId"] == "A" and not r["data"]["result"]:
                empty.append(f"{path}: {p['title']}")
print(f"deploy: {seen} dashboard queries valid")
if empty:
    sys.exit("panels without data: " + ", ".join(empty))
PY
echo "deploy e2e ok"
