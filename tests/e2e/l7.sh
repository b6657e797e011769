#!/usr/bin/env bash
# L7 requests as a person checks them against real servers on 127.0.0.1: nginx driven by curl
# and wrk, Redis by redis-cli and redis-benchmark, dnsmasq by dig. The agent's counts equal what
# the clients report; methods, paths, statuses, commands, names and rcodes are the ones sent;
# latencies fit inside the client's own timing; the service map has the edges.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
for t in nginx wrk redis-server redis-cli redis-benchmark dnsmasq dig psql $PGBIN/pgbench $PGBIN/initdb mariadbd mariadb mariadb-install-db; do
  command -v $t >/dev/null || fail "$t missing: scripts/deps.sh installs it"
done
tmp=$(mktemp -d)
chmod 755 "$tmp"  # nginx workers run as nobody
cleanup() {
  stop_postgres "$tmp/pg"
  stop_mariadb "$tmp/my"
  stop_bg
  [[ -f $tmp/nginx.pid ]] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# The servers.
sport=$(free_port) hport=$(free_port) rport=$(free_port) dport=$(free_port) aport=$(free_port) pport=$(free_port) mport=$(free_port)
mkdir -p "$tmp/www" && echo hello >"$tmp/www/index.html" && head -c 200000 /dev/urandom >"$tmp/www/big.bin"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 2 -subj /CN=localhost 2>/dev/null \
  || fail "openssl req"
cat >"$tmp/nginx.conf" <<CONF
daemon on; pid $tmp/nginx.pid; error_log $tmp/error.log; worker_processes 1;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $tmp/body; proxy_temp_path $tmp/proxy; fastcgi_temp_path $tmp/fcgi;
       uwsgi_temp_path $tmp/uwsgi; scgi_temp_path $tmp/scgi;
       server { listen 127.0.0.1:$hport; root $tmp/www;
                location /api/ { return 200 "ok\n"; }
                location /busy { return 503 "busy\n"; } }
       server { listen 127.0.0.1:$sport ssl; ssl_certificate $tmp/cert.pem; ssl_certificate_key $tmp/key.pem;
                location /secure/ { return 200 "secret\n"; } } }
CONF
nginx -c "$tmp/nginx.conf" -p "$tmp" 2>"$tmp/nginx.err" || fail "nginx: $(cat "$tmp/nginx.err")"
redis-server --port $rport --bind 127.0.0.1 --save '' --daemonize no >"$tmp/redis.log" 2>&1 &
bg_pid $!
dnsmasq --no-daemon --port=$dport --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts \
  --address=/example.test/10.9.8.7 --address=/web.local.test/127.0.0.1 >"$tmp/dnsmasq.log" 2>&1 &
bg_pid $!
# PostgreSQL refuses to run as root: its own user, its own data directory.
start_postgres "$tmp/pg" $pport
psql_() { psql -h 127.0.0.1 -p $pport -U postgres -X -q "$@"; }
psql_ -c 'create table t(k int, v text)'
PGHOST=127.0.0.1 PGPORT=$pport PGUSER=postgres $PGBIN/pgbench -i -s 1 -q postgres >/dev/null 2>&1 || fail "pgbench -i"
# MariaDB, as the mysql user, in its own data directory.
start_mariadb "$tmp/my" $mport
my_() { mariadb -h127.0.0.1 -P$mport -uroot "$@"; }
my_ -e 'create database d; create table d.t(k int)'
wait_for 10 curl -sf http://127.0.0.1:$hport/index.html || fail "nginx did not start"
wait_for 10 redis-cli -p $rport ping || fail "redis did not start: $(cat "$tmp/redis.log")"
wait_for 10 dig +short +time=1 +tries=1 @127.0.0.1 -p $dport x.example.test || fail "dnsmasq did not start"

# The agent (l7 only: this test is about requests) and a live trace beside it.
{
  echo "listen: 127.0.0.1:$aport"
  echo "rules: {enabled: false}"
  echo "overhead: {max_cpu_percent: 0}"  # every record is checked: no governor thinning them
  echo "sources:"
  for s in file net security syscalls sched block packets profile; do echo "  $s: {enabled: false}"; done
  echo '  l7: {routes: ["/api/files/{name}"], sample: 1, both_local_ends: true}'  # every exchange in detail: the records are checked
} >"$tmp/agent.yaml"
"$SL" agent --config "$tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
bg_pid $!
"$SL" trace http pgsql mysql redis dns --json >"$tmp/trace.jsonl" 2>"$tmp/trace.err" &
tracer=$!
bg_pid $tracer
wait_for 30 curl -sf http://127.0.0.1:$aport/healthz || fail "agent: $(cat "$tmp/agent.log")"
wait_for 30 grep -q "tracing request" "$tmp/trace.err" || fail "trace: $(cat "$tmp/trace.err")"
sleep 0.5

# HTTP by curl: one request each, with curl's own timing.
curl_t() { curl -s -o /dev/null -w '%{time_total}\n' "$@"; }
{
  curl_t http://127.0.0.1:$hport/api/users/42?full=1
  curl_t http://127.0.0.1:$hport/missing
  curl_t -X POST --data-binary @"$tmp/www/index.html" http://127.0.0.1:$hport/api/orders
  curl_t -I http://127.0.0.1:$hport/index.html
  curl_t http://127.0.0.1:$hport/busy
  curl_t http://127.0.0.1:$hport/big.bin        # the body goes out by sendfile
} >"$tmp/curl.times"
# HTTPS: nginx and curl both use OpenSSL 3: the plaintext through its uprobes.
curl -sk --http1.1 https://127.0.0.1:$sport/secure/acct/12 >"$tmp/tls.out"
grep -q secret "$tmp/tls.out" || fail "https: $(cat "$tmp/tls.out")"
# HTTP by wrk: keep-alive, four connections.
wrk -t1 -c4 -d2s http://127.0.0.1:$hport/api/items/7 >"$tmp/wrk.out"
wrk_done=$(awk '/requests in/ {print $1}' "$tmp/wrk.out")
# Redis.
redis-cli -p $rport set user:1 alice >/dev/null
redis-cli -p $rport get user:1 >/dev/null
redis-cli -p $rport incr user:1 >/dev/null || true   # an error reply
redis-benchmark -p $rport -n 2000 -c 4 -t set,get -q >"$tmp/rb.out"
# PostgreSQL: simple queries and an error by psql; extended-protocol transactions by pgbench.
psql_ -c "insert into t values (1, 'a'), (2, 'b')" -c 'select * from t where k = 1' >/dev/null
psql_ -c 'selec oops' 2>/dev/null || true
PGHOST=127.0.0.1 PGPORT=$pport PGUSER=postgres $PGBIN/pgbench -M extended -t 50 -c 2 postgres >"$tmp/pgbench.out" 2>&1 \
  || fail "pgbench: $(cat "$tmp/pgbench.out")"
grep -q "processed: 100/100" "$tmp/pgbench.out" || fail "pgbench: $(cat "$tmp/pgbench.out")"
# pgbench -M prepared prepares each statement once per connection (Parse and Sync, no Execute):
# a PREPARE each, not a run of the statement.
PGHOST=127.0.0.1 PGPORT=$pport PGUSER=postgres $PGBIN/pgbench -M prepared -t 25 -c 2 postgres >"$tmp/pgbench2.out" 2>&1 \
  || fail "pgbench -M prepared: $(cat "$tmp/pgbench2.out")"
grep -q "processed: 50/50" "$tmp/pgbench2.out" || fail "pgbench -M prepared: $(cat "$tmp/pgbench2.out")"
# MariaDB: a batch of statements and an error by the mariadb client.
my_ -e "insert into d.t values (1),(2),(3); select * from d.t where k > 1; update d.t set k = k + 1" >/dev/null
my_ -e 'selec oops' 2>/dev/null || true
# DNS: a name it knows, one it refuses.
dig +short @127.0.0.1 -p $dport a.example.test >"$tmp/dig.out"
dig @127.0.0.1 -p $dport nope.invalid >>"$tmp/dig.out" || true
grep -q 10.9.8.7 "$tmp/dig.out" || fail "dig: $(cat "$tmp/dig.out")"
# DNS over TCP on a port other than 53: dig writes the length and the message apart (writev),
# dnsmasq's child reads the length first.
dig +tcp +short @127.0.0.1 -p $dport tcp.example.test >"$tmp/dig_tcp.out"
grep -q 10.9.8.7 "$tmp/dig_tcp.out" || fail "dig +tcp: $(cat "$tmp/dig_tcp.out")"
# A name resolved, then its address used: the request reads with the name.
dig +short @127.0.0.1 -p $dport web.local.test >>"$tmp/dig.out"
curl -s -o /dev/null http://127.0.0.1:$hport/api/named
sleep 2  # drained, and collected once more (once a second)

python3 - "$tmp/trace.jsonl" "$tmp/curl.times" "$wrk_done" <<'PY' || fail "trace: $(head -c 3000 "$tmp/trace.jsonl")"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
times = [float(t) for t in open(sys.argv[2])]
wrk_done = int(sys.argv[3])
bad = []
def find(proto, role, method, request, comm=None):
    return [r for r in recs if r["l7.protocol"] == proto and r["net.role"] == role and r["l7.method"] == method
            and r["l7.request"] == request and (comm is None or r["proc.name"] == comm)]
curl_cases = [("GET", "/api/users/42?full=1", 200, "/api/users/{id}"), ("GET", "/missing", 404, "/missing"),
              ("POST", "/api/orders", 200, "/api/orders"), ("HEAD", "/index.html", 200, "/index.html"),
              ("GET", "/busy", 503, "/busy"), ("GET", "/big.bin", 200, "/big.bin")]
for (method, path, status, target), t in zip(curl_cases, times):
    c = find("http", "client", method, path, "curl")
    s = find("http", "server", method, path, "nginx")
    if len(c) != 1 or len(s) != 1:
        bad.append("%s %s: %d client and %d server records, want 1 each" % (method, path, len(c), len(s)))
        continue
    c, s = c[0], s[0]
    for r in (c, s):
        if r["l7.status"] != status or r["l7.target"] != target or r["l7.error"] != (status >= 500):
            bad.append("%s %s: %s" % (method, path, r))
    # Latency: the client's inside curl's whole run (its stamps are taken as its syscalls
    # return, before curl's own clock stops). The server's has no such bound: a server preempted
    # between moving its last bytes and its syscall's return stamps the end late.
    lc, ls = c["l7.latency"], s["l7.latency"]
    if not (0 < lc <= t * 1e9 and 0 < ls < 1e9):
        bad.append("%s %s: latencies server %d ns, client %d ns, curl %.6f s" % (method, path, ls, lc, t))
for role, comm in (("client", "curl"), ("server", "nginx")):
    t = find("http", role, "GET", "/secure/acct/12", comm)
    if len(t) != 1 or not t[0]["l7.tls"] or t[0]["l7.status"] != 200 or t[0]["l7.target"] != "/secure/acct/{id}":
        bad.append("https %s: %s" % (role, t))
if any(r["l7.tls"] for r in recs if r["l7.request"] == "/api/users/42?full=1"):
    bad.append("plain HTTP marked TLS")
named = find("http", "client", "GET", "/api/named", "curl")
if len(named) != 1 or named[0].get("fd.rname") != "web.local.test":
    bad.append("the address web.local.test resolved to is not named: %s" % named)
big = find("http", "client", "GET", "/big.bin", "curl")
if big and big[0]["l7.response_bytes"] < 200000:
    bad.append("big.bin response bytes %d" % big[0]["l7.response_bytes"])
wrk = [r for r in recs if r["proc.name"] == "wrk" and r["l7.request"] == "/api/items/7" and not r["l7.no_response"]]
if len(wrk) != wrk_done:
    bad.append("wrk completed %d requests, the trace shows %d" % (wrk_done, len(wrk)))
if not all(r["l7.status"] == 200 and r["l7.target"] == "/api/items/{id}" for r in wrk):
    bad.append("wrk records not all 200 /api/items/{id}")
# Redis: commands, an error reply.
for cmd, req in (("SET", "SET user:1"), ("GET", "GET user:1"), ("INCR", "INCR user:1")):
    if len(find("redis", "client", cmd, req, "redis-cli")) != 1 or len(find("redis", "server", cmd, req, "redis-server")) != 1:
        bad.append("redis %s: not seen once on each side" % req)
incr = find("redis", "server", "INCR", "INCR user:1")
if incr and not (incr[0]["l7.error"] and "not an integer" in incr[0]["l7.error_text"]):
    bad.append("INCR error reply: %s" % incr[0])
for cmd in ("SET", "GET"):
    n = len([r for r in recs if r["proc.name"] == "redis-benchmark" and r["l7.method"] == cmd and r["net.role"] == "client"])
    if n != 2000:
        bad.append("redis-benchmark sent 2000 %s, the trace shows %d" % (cmd, n))
# PostgreSQL: statements normalized, rows, the error; pgbench's 100 transactions of 3 updates.
for role, comm in (("client", "psql"), ("server", "postgres")):
    ins = [r for r in recs if r["l7.protocol"] == "pgsql" and r["net.role"] == role and r["proc.name"] == comm
           and r["l7.target"] == "insert into t values (?, ?), (?, ?)"]
    sel = [r for r in recs if r["l7.protocol"] == "pgsql" and r["net.role"] == role and r["proc.name"] == comm
           and r["l7.target"] == "select * from t where k = ?"]
    err = [r for r in recs if r["l7.protocol"] == "pgsql" and r["net.role"] == role and r["l7.request"] == "selec oops"]
    if len(ins) != 1 or ins[0]["l7.rows"] != 2 or ins[0]["l7.method"] != "INSERT":
        bad.append("pgsql %s insert: %s" % (role, ins))
    if len(sel) != 1 or sel[0]["l7.rows"] != 1:
        bad.append("pgsql %s select: %s" % (role, sel))
    if len(err) != 1 or not err[0]["l7.error"] or "syntax error" not in err[0]["l7.error_text"]:
        bad.append("pgsql %s error: %s" % (role, err))
upd = [r for r in recs if r["proc.name"] == "pgbench" and r["l7.method"] == "UPDATE" and r["net.role"] == "client"]
if len(upd) != 450 or not all(r["l7.rows"] == 1 for r in upd):
    bad.append("pgbench ran 300 + 150 updates, the trace shows %d (rows %s)" % (len(upd), set(r["l7.rows"] for r in upd)))
begins = len([r for r in recs if r["proc.name"] == "pgbench" and r["l7.method"] == "BEGIN"])
if begins != 150:
    bad.append("pgbench BEGINs %d != 100 + 50 (a prepare counted as a run?)" % begins)
prep = [r for r in recs if r["proc.name"] == "pgbench" and r["l7.method"] == "PREPARE" and r["net.role"] == "client"]
if len(prep) != 14 or len({r["l7.target"] for r in prep}) != 7:
    bad.append("pgbench -M prepared: 7 statements prepared on each of 2 connections, the trace shows %s"
               % sorted(r["l7.target"] for r in prep))
# MariaDB: statements, rows (returned or affected), the error, both sides.
for role, comm in (("client", "mariadb"), ("server", "mariadbd")):
    mine = [r for r in recs if r["l7.protocol"] == "mysql" and r["net.role"] == role and r["proc.name"] == comm]
    got = {(r["l7.method"], r["l7.target"], r["l7.rows"], r["l7.error"]) for r in mine}
    for want in (("INSERT", "insert into d.t values (?),(?),(?)", 3, False), ("SELECT", "select * from d.t where k > ?", 2, False),
                 ("UPDATE", "update d.t set k = k + ?", 3, False), ("SELEC", "selec oops", -1, True)):
        if want not in got:
            bad.append("mysql %s: %s not in %s" % (role, want, sorted(got)))
# DNS: names, types and rcodes, both sides.
for role in ("client", "server"):
    a = find("dns", role, "A", "a.example.test")
    if len(a) != 1 or a[0]["l7.status"] != 0 or a[0]["l7.rows"] != 1:
        bad.append("dns %s a.example.test: %s" % (role, a))
    n = find("dns", role, "A", "nope.invalid")
    if len(n) != 1 or n[0]["l7.status"] != 5 or n[0]["dns.rcode"] != "REFUSED" or not n[0]["l7.error"]:
        bad.append("dns %s nope.invalid (REFUSED): %s" % (role, n))
    t = find("dns", role, "A", "tcp.example.test", "dig" if role == "client" else "dnsmasq")
    if len(t) != 1 or t[0]["dns.rcode"] != "NOERROR" or t[0]["l7.rows"] != 1 or t[0]["l7.request_bytes"] < 30:
        bad.append("dns over tcp %s tcp.example.test: %s" % (role, t))
    elif role == "client" and t[0]["thread.name"] == "dig":
        bad.append("dig's request ran on its worker thread (isc-net-*), not %s" % t[0]["thread.name"])
if bad:
    print("\n".join(bad)); sys.exit(1)
PY

# Routes that cluster themselves: 20000 requests to /api/u/user<n>/x<m> (one keep-alive
# connection) are one series, none __overflow__; a route template the configuration gives wins.
curl -sf -o /dev/null "http://127.0.0.1:$hport/api/u/user[1-1000]/x[1-20]" || fail "curl /api/u/..."
curl -sf -o /dev/null "http://127.0.0.1:$hport/api/files/report[1-30].pdf" || fail "curl /api/files/..."
sleep 2

# The agent: the same counts as metrics, no loss, and the service map.
metrics=$(curl -sf http://127.0.0.1:$aport/metrics)
sum() { awk -v pat="$1" '$0 ~ pat && !/^#/ {s += $NF} END {printf "%d", s}' <<<"$metrics"; }
users='^sightline_l7_route_requests_total\{comm="nginx",protocol="http",role="server",method="GET",target="/api/u/'
[[ $(sum "$users") == 20000 ]] || fail "nginx served 20000 /api/u/ requests, the agent counted $(sum "$users")"
series=$(grep -cE "$users" <<<"$metrics")
(( series == 1 )) || fail "$series series for /api/u/ routes: $(grep -E "$users" <<<"$metrics" | head)"
[[ $(sum "${users}\{x\}/\{x\}\"") == 20000 ]] || fail "/api/u/{x}/{x}: $(grep -E "$users" <<<"$metrics" | tail -3)"
grep -q 'sightline_l7_route_requests_total{[^}]*__overflow__' <<<"$metrics" && fail "RED series overflowed"
[[ $(sum '^sightline_l7_route_requests_total\{comm="nginx",protocol="http",role="server",method="GET",target="/api/files/\{name\}",status="2xx"\}') == 30 ]] \
  || fail "the route template: $(grep 'api/files' <<<"$metrics" | head -3)"
n=$(sum 'sightline_l7_route_requests_total\{comm="wrk",protocol="http",role="client",method="GET",target="/api/items/\{id\}",status="2xx"\}')
[[ $n == "$wrk_done" ]] || fail "agent counted $n wrk requests, wrk completed $wrk_done"
n=$(sum 'sightline_l7_route_requests_total\{comm="redis-benchmark",protocol="redis",role="client",method="SET"')
[[ $n == 2000 ]] || fail "agent counted $n redis-benchmark SETs, want 2000"
n=$(sum 'sightline_l7_route_requests_total\{comm="dnsmasq",protocol="dns",role="server",method="A",target="nope.invalid",status="REFUSED"\}')
[[ $n == 1 ]] || fail "agent counted $n REFUSED answers by dnsmasq: $(grep 'protocol="dns"' <<<"$metrics")"
grep -qE '^sightline_l7_route_duration_seconds_bucket\{comm="nginx",protocol="http",role="server",method="GET",target="/api/items/\{id\}",status="2xx",le="[^"]+"\} [1-9]' <<<"$metrics" \
  || fail "no latency histogram for nginx"
# The kernel's own counts (every exchange, without the route) agree.
n=$(sum '^sightline_l7_requests_total\{comm="wrk",protocol="http",role="client",method="GET",status="2xx"\}')
[[ $n == "$wrk_done" ]] || fail "the kernel counted $n wrk requests, wrk completed $wrk_done"
n=$(sum '^sightline_l7_requests_total\{comm="redis-benchmark",protocol="redis",role="client",method="SET",status="ok"\}')
[[ $n == 2000 ]] || fail "the kernel counted $n redis-benchmark SETs, want 2000"
n=$(sum '^sightline_l7_errors_total\{comm="nginx",protocol="http",role="server",method="GET",status="5xx"\}')
[[ $n == 1 ]] || fail "the kernel counted $n 5xx answers by nginx, want 1 (/busy)"
n=$(sum '^sightline_l7_requests_total\{comm="dnsmasq",protocol="dns",role="server",method="A",status="REFUSED"\}')
[[ $n == 1 ]] || fail "the exact family has $n REFUSED answers by dnsmasq"
[[ $(sum 'sightline_events_lost_total\{source="l7"') == 0 ]] || fail "l7 events lost: $(grep events_lost <<<"$metrics")"
(( $(sum '^sightline_dns_names ') >= 2 )) || fail "the agent learnt no names from the DNS answers: $(grep dns_names <<<"$metrics")"
grep -q 'sightline_l7_parser_resyncs_total{protocol="http"} 0' <<<"$metrics" || fail "http parser lost sync: $(grep "^sightline_l7_parser" <<<"$metrics")"
map=$(curl -sf http://127.0.0.1:$aport/api/v1/service_map)
python3 - "$map" "$wrk_done" <<'PY' || fail "service map: $map"
import json, sys
edges = json.loads(sys.argv[1])["edges"]
def edge(c, s, p):
    return [e for e in edges if e["client"] == c and e["server"] == s and e["protocol"] == p]
w = edge("wrk", "nginx", "http")
assert len(w) == 1 and w[0]["requests"] >= int(sys.argv[2]) and w[0]["mean_latency_seconds"] > 0, w
assert len(edge("redis-benchmark", "redis-server", "redis")) == 1
assert len(edge("pgbench", "postgres", "pgsql")) == 1
assert len(edge("mariadb", "mariadbd", "mysql")) == 1
assert len(edge("curl", "nginx", "http")) == 1 and edge("curl", "nginx", "http")[0]["errors"] == 1
assert not [e for e in edges if e["client"] == "wrk" and e["server"] != "nginx"], "a local request counted twice"
PY
echo "l7 e2e: ok"
