#!/usr/bin/env bash
# The web UI end to end: an agent (UI from its binary) sees a real workload — nginx driven by
# wrk and curl, a program burning CPU in a function of known name, a read of /etc/shadow — then
# ui/tests/ui.test.mjs drives Debian's chromium through it. Screenshots: build/ui-screenshots/.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
shots=$(dirname "$(readlink -f "$SL")")/ui-screenshots
[[ -x /usr/bin/chromium ]] || fail "no /usr/bin/chromium (scripts/deps.sh installs it)"
[[ -d $root/ui/node_modules/playwright-core ]] || fail "ui/node_modules missing (the build runs npm ci)"
dir=$(mktemp -d)
chmod 755 "$dir"
mkdir -p "$shots"
port=$(free_port)
hport=$(free_port)
trap 'stop_bg; [[ -f $dir/nginx.pid ]] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null; rm -rf "$dir"' EXIT
cat >"$dir/agent.yaml" <<YAML
listen: 127.0.0.1:$port
api_socket: ""
store: {path: $dir/s.db, metrics_interval: 1s}
anomaly: {interval_s: 1, warmup_points: 12}
sources:
  profile: {off_cpu: true}
  l7: {both_local_ends: true}  # the waterfall's children: calls linked at their client ends
YAML
"$SL" agent -c "$dir/agent.yaml" >"$dir/agent.log" 2>&1 &
bg_pid $!
wait_for 20 curl -sf http://127.0.0.1:$port/healthz || { cat "$dir/agent.log"; fail "agent did not start"; }
grep -q '<title>Sightline</title>' <<<"$(curl -sf http://127.0.0.1:$port/)" || fail "the binary serves no UI"

mkdir -p "$dir/www" && echo hello >"$dir/www/index.html"
cat >"$dir/nginx.conf" <<CONF
daemon on; pid $dir/nginx.pid; error_log $dir/error.log; worker_processes 1;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fcgi;
       uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
       server { listen 127.0.0.1:$hport; root $dir/www; location /api/ { return 200 "ok\n"; } location /busy { return 503; } } }
CONF
nginx -c "$dir/nginx.conf" -p "$dir" 2>"$dir/nginx.err" || fail "nginx: $(cat "$dir/nginx.err")"
wait_for 10 curl -sf -o /dev/null http://127.0.0.1:$hport/index.html || fail "nginx did not start"
wrk -t1 -c4 -d3s http://127.0.0.1:$hport/api/items >/dev/null
for i in $(seq 1 20); do curl -s -o /dev/null http://127.0.0.1:$hport/api/users/$i; curl -s -o /dev/null http://127.0.0.1:$hport/busy; done
cat >"$dir/burn.c" <<'C'
#include <stdlib.h>
#include <time.h>
__attribute__((noinline)) unsigned long sl_ui_hot_function(unsigned long x) {
  for (int i = 0; i < 1000000; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
  return x;
}
#include <unistd.h>
#include <sys/syscall.h>
volatile int waits;
// Off-CPU stacks are walked by frame pointers, which glibc's frameless syscall wrappers break:
// the syscall is made here, so the sleeping frame is this function's own (x86_64).
__attribute__((noinline)) void sl_ui_wait_function(void) {
  struct timespec ts = {0, 2000000};
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(SYS_nanosleep), "D"(&ts), "S"(0) : "rcx", "r11", "memory");
  waits++;
}
int main(int argc, char** argv) {
  time_t end = time(0) + (argc > 1 ? atoi(argv[1]) : 5);
  volatile unsigned long x = 1;
  if (argc > 2) {  // blocked: off the CPU in a function of known name
    while (time(0) < end) sl_ui_wait_function();
    return 0;
  }
  while (time(0) < end) x = sl_ui_hot_function(x);
  return 0;
}
C
gcc -O1 -g -fno-omit-frame-pointer -o "$dir/burn" "$dir/burn.c"
# The anomaly models' warm-up (12 points of 1 s, from the agent's start) is over before the
# burners run: two of them, 6 s, make the node's CPU an anomaly the Anomalies page shows.
while ((SECONDS < 20)); do sleep 1; done
"$dir/burn" 6 &
burn=$!
"$dir/burn" 6 &
burn2=$!
"$dir/burn" 6 wait
wait $burn $burn2
python3 -c "open('/etc/shadow').read()"
# A thread-per-request server that burns CPU and calls a backend from its handler's thread: its
# requests' waterfall (timeline and child call) in the request detail. Both are slower than
# sources.l7.slow_ms, so they are sent in detail whatever the governor sheds (wrk above).
pport=$(free_port)
bport=$(free_port)
python3 - $pport $bport <<'PY' &
import http.client, http.server, sys, threading, time
class Front(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        t = time.thread_time()
        while time.thread_time() - t < 0.02:
            pass
        c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[2]))
        c.request("GET", "/api/stock")
        c.getresponse().read()
        c.close()
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
class Back(Front):
    def do_GET(self):
        time.sleep(0.12)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
back = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Back)
threading.Thread(target=back.serve_forever, daemon=True).start()
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Front).serve_forever()
PY
bg_pid $!
wait_for 10 curl -sf -o /dev/null http://127.0.0.1:$pport/orders/0 || fail "the python server did not start"
for i in 1 2 3; do curl -sf -o /dev/null http://127.0.0.1:$pport/orders/$i; done
sleep 3  # the profile's drain, the store's batch, two metric samples
(cd "$root/ui" && SL_URL=http://127.0.0.1:$port SL_SHOTS="$shots" node --test --test-reporter=spec tests/ui.test.mjs) \
  || fail "ui tests (screenshots in $shots; agent log: $(tail -3 "$dir/agent.log"))"
echo "ui e2e ok (screenshots in $shots)"
