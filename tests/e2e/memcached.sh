#!/usr/bin/env bash
# Memcached as a person checks it against a real memcached on 127.0.0.2:11211 (127.0.0.1's port
# may hold Debian's service): pymemcache speaks the text protocol (sets, gets that hit and miss,
# a multi-get, noreply sets, delete, incr, an unknown command), libmemcached's memccp and memccat
# the binary one (--binary). Both sides of each request are seen, counts exact, in the trace,
# the agent's exact family (sightline_l7_requests_total: memcached is counted from its records,
# status hit/miss/ok/error) and the service map.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
for t in memcached memccp memccat; do command -v $t >/dev/null || fail "$t missing: scripts/deps.sh installs it"; done
/usr/bin/python3 -c 'import pymemcache' 2>/dev/null || fail "python3-pymemcache missing: scripts/deps.sh installs it"
tmp=$(mktemp -d)
chmod 755 "$tmp"
trap 'stop_bg; rm -rf "$tmp"' EXIT

! (exec 3<>/dev/tcp/127.0.0.2/11211) 2>/dev/null || fail "127.0.0.2:11211 is taken"
memcached -l 127.0.0.2 -p 11211 -U 0 -u nobody >"$tmp/memcached.log" 2>&1 &
bg_pid $!
aport=$(free_port)
# 11311 is Memcached's too (sources.l7.ports for the agent, --l7-port for trace): below.
L7_AGENT_OWN="ports: [memcached:11311]" start_l7_agent "$SL" "$tmp" $aport memcached --l7-port memcached:11311
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.2/11211" || fail "memcached: $(cat "$tmp/memcached.log")"
sleep 0.5

# The text protocol: 200 sets, 300 gets (200 hits, 100 misses), a multi-get of 3 keys (2 there),
# 20 noreply sets, 10 deletes, 10 incrs, an unknown command (ERROR).
/usr/bin/python3 - >"$tmp/text.out" 2>&1 <<'PY' || fail "pymemcache: $(cat "$tmp/text.out")"
from pymemcache.client.base import Client
c = Client(("127.0.0.2", 11211))
for i in range(200): assert c.set("user:%d" % i, "v%d" % i, noreply=False)
for i in range(300): c.get("user:%d" % i)
assert len(c.get_many(["user:1", "user:2", "nope"])) == 2
for i in range(20): c.set("quiet:%d" % i, "q", noreply=True)
for i in range(10): c.delete("user:%d" % i, noreply=False)
c.set("counter", "0", noreply=False)
for i in range(10): c.incr("counter", 1)
c.quit()
import socket
s = socket.create_connection(("127.0.0.2", 11211))
s.sendall(b"bogus\r\n")
assert s.recv(100) == b"ERROR\r\n"
PY
# The binary protocol: a copy in (SET), a read of it and of a key not there (GET, GET).
echo "binary value" >"$tmp/binkey"
memccp --servers=127.0.0.2:11211 --binary "$tmp/binkey" || fail "memccp"
[[ $(memccat --servers=127.0.0.2:11211 --binary binkey) == "binary value" ]] || fail "memccat"
! memccat --servers=127.0.0.2:11211 --binary nokey >/dev/null 2>&1 || fail "memccat nokey found something"
sleep 2

python3 - "$tmp/trace.jsonl" <<'PY' || fail "trace: $(head -c 3000 "$tmp/trace.jsonl")"
import json, sys, collections
recs = [json.loads(l) for l in open(sys.argv[1])]
count = collections.Counter((r["proc.name"], r["net.role"], r["l7.method"], r["l7.status"], r["l7.error"], r["l7.no_response"])
                            for r in recs)
bad = []
def want(n, *key):
    if count[key] != n:
        bad.append("%s: %d, want %d" % (key, count[key], n))
# The server serves both: pymemcache's, memccp's SET, memccat's two GETs, each one's QUIT.
for role, comm, b in (("client", "python3", 0), ("server", "memcached", 1)):
    want(221 + b, comm, role, "SET", 0, False, False)
    want(201 + b, comm, role, "GET", 1, False, False)  # 200 hits and the multi-get
    want(100 + b, comm, role, "GET", 2, False, False)
    want(10, comm, role, "DELETE", 0, False, False)
    want(10, comm, role, "INCR", 0, False, False)
    want(1, comm, role, "BOGUS", 0, True, False)
    want(1 + 3 * b, comm, role, "QUIT", 0, False, False)
want(1, "memccp", "client", "SET", 0, False, False)
for role in ("client", "server"):
    got = [r for r in recs if r["net.role"] == role and r["l7.request"] in ("GET binkey", "GET nokey")]
    if sorted((r["l7.request"], r["l7.status"], r["l7.rows"]) for r in got) != [("GET binkey", 1, 1), ("GET nokey", 2, 0)]:
        bad.append("binary gets %s: %s" % (role, got))
mg = [r for r in recs if r["l7.request"] == "GET user:1" and r["l7.rows"] == 2]
if len(mg) != 2:
    bad.append("the multi-get (2 values) on both sides: %s" % mg)
if any(r["l7.no_response"] for r in recs):
    bad.append("unanswered: %s" % [r for r in recs if r["l7.no_response"]])
if bad:
    print("\n".join(bad)); sys.exit(1)
PY

metrics=$(curl -sf http://127.0.0.1:$aport/metrics)
n=$(metric_sum '^sightline_l7_requests_total[{]comm="python3",protocol="memcached",role="client",method="GET",status="hit"[}]')
[[ $n == 201 ]] || fail "the exact family counted $n hits, want 201: $(grep 'protocol="memcached"' <<<"$metrics" | head -20)"
n=$(metric_sum '^sightline_l7_requests_total[{]comm="memcached",protocol="memcached",role="server",method="GET",status="miss"[}]')
[[ $n == 101 ]] || fail "the exact family counted $n misses served, want 101: $(grep 'protocol="memcached"' <<<"$metrics" | head -20)"
n=$(metric_sum '^sightline_l7_errors_total[{]comm="memcached",protocol="memcached",role="server",method="BOGUS",status="error"[}]')
[[ $n == 1 ]] || fail "memcached errors: $n"
[[ $(metric_sum '^sightline_l7_parser_resyncs_total[{]protocol="memcached"[}]') == 0 ]] \
  || fail "the memcached parser lost sync: $(grep '^sightline_l7_parser' <<<"$metrics")"
[[ $(metric_sum 'sightline_events_lost_total[{]source="l7"') == 0 ]] || fail "l7 events lost: $(grep events_lost <<<"$metrics")"
map=$(curl -sf http://127.0.0.1:$aport/api/v1/service_map)
python3 - "$map" <<'PY' || fail "service map: $map"
import json, sys
edges = json.loads(sys.argv[1])["edges"]
m = [e for e in edges if e["client"] == "python3" and e["server"] == "memcached" and e["protocol"] == "memcached"]
assert len(m) == 1 and m[0]["requests"] == 544 and m[0]["errors"] == 1, m
PY

# Another port: a second memcached on 127.0.0.2:11311, recognised there as on 11211 (its text
# commands are Redis inline commands anywhere else).
memcached -l 127.0.0.2 -p 11311 -U 0 -u nobody >"$tmp/memcached2.log" 2>&1 &
bg_pid $!
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.2/11311" || fail "memcached on 11311: $(cat "$tmp/memcached2.log")"
/usr/bin/python3 - >"$tmp/text2.out" 2>&1 <<'PY' || fail "pymemcache on 11311: $(cat "$tmp/text2.out")"
from pymemcache.client.base import Client
c = Client(("127.0.0.2", 11311))
for i in range(5): assert c.set("other:%d" % i, "v", noreply=False)
for i in range(5): assert c.get("other:%d" % i) == b"v"
c.quit()
PY
wait_for 10 bash -c "(( \$(grep -c '\"fd.rport\":11311' '$tmp/trace.jsonl') >= 11 ))" || true
python3 - "$tmp/trace.jsonl" <<'PY' || fail "trace on 11311: $(grep -E '11311' "$tmp/trace.jsonl" | head -c 3000)"
import json, sys, collections
recs = [json.loads(l) for l in open(sys.argv[1])]
recs = [r for r in recs if 11311 in (r["fd.lport"], r["fd.rport"])]
count = collections.Counter((r["l7.protocol"], r["net.role"], r["l7.method"], r["l7.status"]) for r in recs)
want = {("memcached", role, m, st): n for role in ("client", "server") for m, st, n in (("SET", 0, 5), ("GET", 1, 5), ("QUIT", 0, 1))}
assert count == want, count
PY
wait_for 10 bash -c "[[ \$(curl -sf http://127.0.0.1:$aport/metrics | awk '/^sightline_l7_requests_total[{]comm=\"python3\",protocol=\"memcached\",role=\"client\",method=\"GET\",status=\"hit\"[}]/ {print \$2}') == 206 ]]" \
  || fail "the agent's family on 11311: $(curl -sf http://127.0.0.1:$aport/metrics | grep 'protocol="memcached"' | head)"
echo "memcached e2e: ok (port 11311 too)"
