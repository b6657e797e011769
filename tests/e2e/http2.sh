#!/usr/bin/env bash
# HTTP/2 and gRPC as a person checks them against real servers and clients on 127.0.0.1: nginx
# with h2c (prior knowledge) driven by h2load (10 streams at once on each connection) and curl,
# nginx with TLS and ALPN h2 driven by curl (the plaintext through OpenSSL's uprobes), and a
# python3-grpcio server and client (unary calls, a server-streaming call, a NOT_FOUND error).
# Both sides of each request are seen, counts exact, in the trace, the agent's exact family
# (sightline_l7_requests_total: HTTP/2 and gRPC are counted from their records) and the service map.
# Trace context: requests sent with a W3C traceparent (HTTP/1 and HTTP/2) carry it on both sides,
# and the agent's OTLP spans (to a receiver the test runs) continue that trace under its parent.
# Without one, a call a thread-per-request server (Python's ThreadingHTTPServer) makes to nginx
# while serving curl is a child of the served request, in the trace and in the spans.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
for t in nginx h2load curl openssl; do command -v $t >/dev/null || fail "$t missing: scripts/deps.sh installs it"; done
/usr/bin/python3 -c 'import grpc' 2>/dev/null || fail "python3-grpcio missing: scripts/deps.sh installs it"
tmp=$(mktemp -d)
chmod 755 "$tmp"
cleanup() {
  stop_bg
  [[ -f $tmp/nginx.pid ]] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

hport=$(free_port) sport=$(free_port) gport=$(free_port) aport=$(free_port) h1port=$(free_port) oport=$(free_port)
tport=$(free_port)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 2 -subj /CN=localhost 2>/dev/null \
  || fail "openssl req"
cat >"$tmp/nginx.conf" <<CONF
daemon on; pid $tmp/nginx.pid; error_log $tmp/error.log; worker_processes 1;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $tmp/body; proxy_temp_path $tmp/proxy; fastcgi_temp_path $tmp/fcgi;
       uwsgi_temp_path $tmp/uwsgi; scgi_temp_path $tmp/scgi;
       server { listen 127.0.0.1:$hport http2;
                location /items/ { return 200 "item\n"; }
                location /busy { return 503 "busy\n"; } }
       server { listen 127.0.0.1:$h1port; location / { return 200 "one\n"; } }
       server { listen 127.0.0.1:$sport ssl http2; ssl_certificate $tmp/cert.pem; ssl_certificate_key $tmp/key.pem;
                location /secure/ { return 200 "secret\n"; } } }
CONF
nginx -c "$tmp/nginx.conf" -p "$tmp" 2>"$tmp/nginx.err" || fail "nginx: $(cat "$tmp/nginx.err")"
wait_for 10 curl -sf --http2-prior-knowledge http://127.0.0.1:$hport/items/0 || fail "nginx h2c did not start"

{
  echo "listen: 127.0.0.1:$aport"
  echo "rules: {enabled: false}"
  echo "overhead: {max_cpu_percent: 0}"
  echo "sources:"
  for s in file net security syscalls sched block packets profile; do echo "  $s: {enabled: false}"; done
  echo '  l7: {sample: 1, both_local_ends: true}'
  echo "exporters: {spool_dir: $tmp/spool, batch: 1s, otlp: {url: \"http://127.0.0.1:$oport\", interval: 1h, logs: [], traces: true, alerts: false}}"
} >"$tmp/agent.yaml"
# An OTLP/HTTP receiver: each request's body kept as a file.
mkdir -p "$tmp/otlp"
/usr/bin/python3 - "$oport" "$tmp/otlp" >"$tmp/otlp.log" 2>&1 <<'PY' &
import http.server, sys, itertools
n = itertools.count()
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/traces":
            open("%s/%06d.pb" % (sys.argv[2], next(n)), "wb").write(body)
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
bg_pid $!
"$SL" agent --config "$tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
bg_pid $!
"$SL" trace http http2 grpc --json >"$tmp/trace.jsonl" 2>"$tmp/trace.err" &
bg_pid $!
wait_for 30 curl -sf http://127.0.0.1:$aport/healthz || fail "agent: $(cat "$tmp/agent.log")"
wait_for 30 grep -q "tracing request" "$tmp/trace.err" || fail "trace: $(cat "$tmp/trace.err")"
sleep 0.5

# h2c: 2 connections, 10 streams at once on each, 1000 requests; then one 503 by curl.
h2load -n 1000 -c 2 -m 10 http://127.0.0.1:$hport/items/7 >"$tmp/h2load.out" || fail "h2load: $(cat "$tmp/h2load.out")"
grep -q "1000 succeeded" "$tmp/h2load.out" || fail "h2load: $(cat "$tmp/h2load.out")"
[[ $(curl -s -o /dev/null -w '%{http_version} %{http_code}' --http2-prior-knowledge http://127.0.0.1:$hport/busy) == "2 503" ]] \
  || fail "curl h2c /busy"
# TLS, ALPN h2: the plaintext through OpenSSL (nginx and curl link it).
[[ $(curl -sk -o /dev/null -w '%{http_version} %{http_code}' --http2 https://127.0.0.1:$sport/secure/acct/12) == "2 200" ]] \
  || fail "curl https h2"
# W3C trace context, by HTTP/1 and by HTTP/2.
tp1=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 tp2=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
curl -sf -o /dev/null -H "traceparent: $tp1" http://127.0.0.1:$h1port/traced || fail "curl traced HTTP/1"
curl -sf -o /dev/null --http2-prior-knowledge -H "traceparent: $tp2" http://127.0.0.1:$hport/items/traced || fail "curl traced h2"
# Thread-per-request linking: a Python server (a thread per connection) that calls nginx while
# it serves, asked by curl without a traceparent.
/usr/bin/python3 - $tport $h1port >"$tmp/linked.log" 2>&1 <<'PY' &
import http.server, sys, urllib.request
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = urllib.request.urlopen("http://127.0.0.1:%s/stock/9" % sys.argv[2]).read()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
bg_pid $!
wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$tport" || fail "the linked server: $(cat "$tmp/linked.log")"
[[ $(curl -sf http://127.0.0.1:$tport/front) == one ]] || fail "curl the linked server: $(cat "$tmp/linked.log")"
# gRPC: 30 unary calls, a call streaming 5 replies, a NOT_FOUND.
/usr/bin/python3 "$(dirname "$0")/helpers/grpc_pair.py" $gport 30 >"$tmp/grpc.out" 2>&1 || fail "grpc: $(cat "$tmp/grpc.out")"
sleep 2

python3 - "$tmp/trace.jsonl" <<'PY' || fail "trace: $(head -c 3000 "$tmp/trace.jsonl")"
import json, sys, collections
recs = [json.loads(l) for l in open(sys.argv[1])]
count = collections.Counter((r["proc.name"], r["net.role"], r["l7.protocol"], r["l7.method"], r["l7.target"], r["l7.status"],
                             r["l7.no_response"]) for r in recs)
bad = []
def want(n, *key):
    if count[key] != n:
        bad.append("%s: %d, want %d" % (key, count[key], n))
want(1000, "h2load", "client", "http2", "GET", "/items/{id}", 200, False)
want(1000, "nginx", "server", "http2", "GET", "/items/{id}", 200, False)
want(1, "curl", "client", "http2", "GET", "/busy", 503, False)
want(1, "nginx", "server", "http2", "GET", "/busy", 503, False)
for role, comm in (("client", "curl"), ("server", "nginx")):
    tls = [r for r in recs if r["proc.name"] == comm and r["net.role"] == role and r["l7.request"] == "/secure/acct/12"]
    if len(tls) != 1 or not tls[0]["l7.tls"] or tls[0]["l7.status"] != 200 or tls[0]["l7.protocol"] != "http2":
        bad.append("https h2 %s: %s" % (role, tls))
for role in ("client", "server"):
    want(30, "python3", role, "grpc", "POST", "/demo.Greeter/SayHello", 0, False)
    want(1, "python3", role, "grpc", "POST", "/demo.Greeter/SayHello", 5, False)
    lst = [r for r in recs if r["net.role"] == role and r["l7.target"] == "/demo.Greeter/List"]
    if len(lst) != 1 or lst[0]["l7.rows"] != 5 or lst[0]["l7.status"] != 0:
        bad.append("grpc %s server-streaming call: %s" % (role, lst))
    nf = [r for r in recs if r["net.role"] == role and r["l7.protocol"] == "grpc" and r["l7.status"] == 5]
    if nf and (nf[0]["l7.error_text"] != "no such user: nobody" or not nf[0]["l7.error"]):
        bad.append("grpc %s NOT_FOUND: %s" % (role, nf[0]))
for path, proto, tp in (("/traced", "http", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
                        ("/items/traced", "http2", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")):
    for role in ("client", "server"):
        t = [r for r in recs if r["l7.request"] == path and r["net.role"] == role and r["l7.protocol"] == proto]
        if len(t) != 1 or t[0]["trace.id"] != tp[3:35] or t[0]["trace.parent_id"] != tp[36:52]:
            bad.append("traceparent of %s %s: %s" % (path, role, t))
if any(r["trace.id"] for r in recs if r["l7.request"] == "/items/7"):
    bad.append("a trace id on requests sent without a traceparent")
front = [r for r in recs if r["proc.name"] == "python3" and r["net.role"] == "server" and r["l7.target"] == "/front"]
stock = [r for r in recs if r["proc.name"] == "python3" and r["net.role"] == "client" and r["l7.target"] == "/stock/{id}"]
if len(front) != 1 or len(stock) != 1 or len(front[0]["span.id"]) != 16 or len(front[0]["trace.id"]) != 32 or \
        stock[0]["trace.parent_id"] != front[0]["span.id"] or stock[0]["trace.id"] != front[0]["trace.id"]:
    bad.append("the call made while serving /front is not its child: %s %s" % (front, stock))
if bad:
    print("\n".join(bad)); sys.exit(1)
PY

# The OTLP spans of the traced requests: both sides in the sender's trace, the sender's span
# their parent (a minimal protobuf walk: ExportTraceServiceRequest.resource_spans.scope_spans.spans).
wait_for 20 sh -c "ls $tmp/otlp | grep -q pb" || fail "no OTLP traces arrived: $(cat "$tmp/otlp.log")"
sleep 2
/usr/bin/python3 - "$tmp/otlp" <<'PY' || fail "OTLP spans"
import os, sys
def fields(b):
    i = 0
    while i < len(b):
        key = 0; shift = 0
        while True:
            c = b[i]; i += 1; key |= (c & 0x7f) << shift; shift += 7
            if c < 0x80: break
        f, w = key >> 3, key & 7
        if w == 0:
            v = 0; shift = 0
            while True:
                c = b[i]; i += 1; v |= (c & 0x7f) << shift; shift += 7
                if c < 0x80: break
        elif w == 1: v = b[i:i+8]; i += 8
        elif w == 5: v = b[i:i+4]; i += 4
        elif w == 2:
            n = 0; shift = 0
            while True:
                c = b[i]; i += 1; n |= (c & 0x7f) << shift; shift += 7
                if c < 0x80: break
            v = b[i:i+n]; i += n
        else: raise ValueError("wire type %d" % w)
        yield f, v
spans = []
for name in sorted(os.listdir(sys.argv[1])):
    for f, rs in fields(open(os.path.join(sys.argv[1], name), "rb").read()):
        if f != 1: continue
        for f2, ss in fields(rs):
            if f2 != 2: continue
            for f3, sp in fields(ss):
                if f3 != 2: continue
                d = {}
                for k, v in fields(sp):
                    d.setdefault(k, v)
                spans.append(d)
bad = []
# The agent's own link (its ids are its own, not the trace command's): python3's span of GET /front
# (a server span, a root) is the parent of its call to nginx, in one trace.
server = [s for s in spans if s.get(5) == b"GET /front" and s.get(6) == 2]
client = [s for s in spans if s.get(5) == b"GET /stock/{id}" and s.get(6) == 3]
if len(server) != 1 or len(client) != 1 or client[0].get(1) != server[0].get(1) or client[0].get(4) != server[0].get(2) or \
        4 in server[0]:
    bad.append("the call made while serving /front: server %s, client %s" % (server, client))
for trace, parent in (("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"), ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")):
    mine = [s for s in spans if s.get(1) == bytes.fromhex(trace)]
    kinds = sorted(s.get(6) for s in mine)
    if kinds != [2, 3] or any(s.get(4) != bytes.fromhex(parent) for s in mine):
        bad.append("trace %s: %d spans, kinds %s, parents %s" % (trace, len(mine), kinds, [s.get(4, b"").hex() for s in mine]))
if bad:
    print("\n".join(bad)); sys.exit(1)
PY

metrics=$(curl -sf http://127.0.0.1:$aport/metrics)
sum() { awk -v pat="$1" '$0 ~ pat && !/^#/ {s += $NF} END {printf "%d", s}' <<<"$metrics"; }
n=$(sum '^sightline_l7_requests_total\{comm="h2load",protocol="http2",role="client",method="GET",status="2xx"\}')
[[ $n == 1000 ]] || fail "the exact family counted $n h2load requests, want 1000: $(grep 'protocol="http2"' <<<"$metrics" | head)"
n=$(sum '^sightline_l7_requests_total\{comm="python3",protocol="grpc",role="server",method="POST",status="OK"\}')
[[ $n == 31 ]] || fail "the exact family counted $n OK gRPC calls served, want 31: $(grep 'protocol="grpc"' <<<"$metrics" | head)"
n=$(sum '^sightline_l7_errors_total\{comm="python3",protocol="grpc",role="server",method="POST",status="NOT_FOUND"\}')
[[ $n == 1 ]] || fail "gRPC NOT_FOUND errors: $n"
[[ $(sum '^sightline_l7_parser_resyncs_total\{protocol="http2"\}') == 0 ]] \
  || fail "the HTTP/2 parser lost sync: $(grep '^sightline_l7_parser' <<<"$metrics")"
[[ $(sum 'sightline_events_lost_total\{source="l7"') == 0 ]] || fail "l7 events lost: $(grep events_lost <<<"$metrics")"
map=$(curl -sf http://127.0.0.1:$aport/api/v1/service_map)
python3 - "$map" <<'PY' || fail "service map: $map"
import json, sys
edges = json.loads(sys.argv[1])["edges"]
h = [e for e in edges if e["client"] == "h2load" and e["server"] == "nginx" and e["protocol"] == "http2"]
assert len(h) == 1 and h[0]["requests"] == 1000, h
g = [e for e in edges if e["client"] == "python3" and e["server"] == "python3" and e["protocol"] == "grpc"]
assert len(g) == 1 and g[0]["requests"] == 32 and g[0]["errors"] == 1, g
PY
echo "http2 e2e: ok"
