#!/usr/bin/env bash
# The default rules over L7 requests, as a person relies on them: real servers on 127.0.0.1
# (PostgreSQL, MariaDB, Redis, nginx, dnsmasq) driven by real clients (psql, mariadb, redis-cli,
# curl, dig); each rule fires once for its trigger and stays quiet for a benign look-alike.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
for t in nginx redis-server redis-cli dnsmasq dig psql $PGBIN/initdb mariadbd mariadb mariadb-install-db; do
  command -v $t >/dev/null || fail "$t missing: scripts/deps.sh installs it"
done
tmp=$(mktemp -d)
chmod 755 "$tmp"  # nginx workers run as nobody
META=169.254.169.254
added_meta=
cleanup() {
  stop_postgres "$tmp/pg"
  stop_mariadb "$tmp/my"
  stop_bg
  [[ -f $tmp/nginx.pid ]] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null
  [[ -n $added_meta ]] && ip addr del $META/32 dev lo 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# The servers. nginx also answers on the metadata address (added to lo for the test).
hport=$(free_port) mdport=$(free_port) rport=$(free_port) dport=$(free_port) aport=$(free_port) pport=$(free_port) mport=$(free_port)
if ! ip addr show dev lo | grep "$META/32" >/dev/null; then
  ip addr add $META/32 dev lo && added_meta=1
fi
mkdir -p "$tmp/www" && echo hello >"$tmp/www/index.html"
cat >"$tmp/nginx.conf" <<CONF
daemon on; pid $tmp/nginx.pid; error_log $tmp/error.log; worker_processes 1;
events { worker_connections 64; }
http { access_log off; client_body_temp_path $tmp/body; proxy_temp_path $tmp/proxy; fastcgi_temp_path $tmp/fcgi;
       uwsgi_temp_path $tmp/uwsgi; scgi_temp_path $tmp/scgi;
       server { listen 127.0.0.1:$hport; root $tmp/www; location /latest/ { return 200 "meta\n"; } }
       server { listen $META:$mdport; location / { return 200 "creds\n"; } } }
CONF
nginx -c "$tmp/nginx.conf" -p "$tmp" 2>"$tmp/nginx.err" || fail "nginx: $(cat "$tmp/nginx.err")"
redis-server --port $rport --bind 127.0.0.1 --save '' --daemonize no >"$tmp/redis.log" 2>&1 &
bg_pid $!
dnsmasq --no-daemon --port=$dport --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts \
  --address=/example.test/10.9.8.7 >"$tmp/dnsmasq.log" 2>&1 &
bg_pid $!
start_postgres "$tmp/pg" $pport
psql_() { psql -h 127.0.0.1 -p $pport -U postgres -X -q "$@"; }
psql_ -c "create table t(k int, v text); insert into t values (1, 'x'); create table victim(k int); create table victim2(k int)"
start_mariadb "$tmp/my" $mport
my_() { mariadb -h127.0.0.1 -P$mport -uroot "$@"; }
wait_for 10 curl -sf http://127.0.0.1:$hport/index.html || fail "nginx did not start"
wait_for 10 redis-cli -p $rport ping || fail "redis did not start: $(cat "$tmp/redis.log")"
wait_for 10 dig +short +time=1 +tries=1 @127.0.0.1 -p $dport x.example.test || fail "dnsmasq did not start"

# The agent with its default sources and rules; alerts as JSON lines.
cat >"$tmp/agent.yaml" <<YAML
listen: 127.0.0.1:$aport
overhead: {max_cpu_percent: 0}  # the rules are under test, not the governor
store: {enabled: false}
rules: {json_file: $tmp/alerts.jsonl}
YAML
"$SL" agent --config "$tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
bg_pid $!
wait_for 30 curl -sf http://127.0.0.1:$aport/healthz || fail "agent: $(cat "$tmp/agent.log")"
sleep 1

# A program that is not a database tool: psql under another name (reportgen).
mkdir -p "$tmp/bin" && cp $PGBIN/psql "$tmp/bin/reportgen"  # the binary (psql itself is a perl wrapper)
reportgen_() { "$tmp/bin/reportgen" -h 127.0.0.1 -p $pport -U postgres -X -q "$@"; }
[[ $(head -c 2 "$tmp/bin/reportgen") == "#!" ]] && fail "psql is a script here: the renamed client would run as perl"

# Each trigger, then its benign look-alike.
reportgen_ -c 'DROP TABLE victim'                                   # schema change, unexpected client
psql_ -c 'DROP TABLE victim2'; reportgen_ -c 'SELECT count(*) FROM t' >/dev/null
psql_ -c "COPY t TO PROGRAM 'cat > /dev/null'"                      # COPY PROGRAM
psql_ -c 'COPY t TO STDOUT' >/dev/null
my_ -e "CREATE USER 'eve'@'%' IDENTIFIED BY 'pw'"                  # privileges
my_ -e 'SELECT user FROM mysql.user' >/dev/null
psql_ -c "SELECT * FROM t WHERE v = '' OR '1'='1'" >/dev/null      # injection
psql_ -c "SELECT * FROM t WHERE v = 'x'" >/dev/null
redis-cli -p $rport CONFIG SET maxmemory 100mb >/dev/null           # redis configuration
redis-cli -p $rport CONFIG GET maxmemory >/dev/null
python3 - $rport <<'PY'                                             # redis flush by a program
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"*1\r\n$8\r\nFLUSHALL\r\n"); assert s.recv(64).startswith(b"+OK")
PY
redis-cli -p $rport FLUSHALL >/dev/null                              # ... by redis-cli: fine
curl -sf http://$META:$mdport/latest/meta-data/iam/security-credentials/ >/dev/null   # metadata
curl -sf http://127.0.0.1:$hport/latest/meta-data/iam/security-credentials/ >/dev/null
curl -s --path-as-is http://127.0.0.1:$hport/../../etc/passwd >/dev/null   # traversal
curl -sf http://127.0.0.1:$hport/index.html >/dev/null
long=$(printf 'a%.0s' $(seq 55))
dig +short +time=1 +tries=1 @127.0.0.1 -p $dport $long.example.test >/dev/null    # tunnel-like label
dig +short +time=1 +tries=1 @127.0.0.1 -p $dport www.example.test >/dev/null
dig +short +time=1 +tries=1 @127.0.0.1 -p $dport x7k2q9vz4mw8jr1tb5.example.test >/dev/null   # random-looking
dig +short +time=1 +tries=1 @127.0.0.1 -p $dport documentation-server.example.test >/dev/null

expect() {  # rule, then a pattern its one alert's output holds
  local rule=$1 want=$2 n
  wait_for 10 grep -q "\"rule\":\"$rule\"" "$tmp/alerts.jsonl" || fail "no alert of '$rule': $(cut -c1-300 "$tmp/alerts.jsonl")"
  sleep 0.2
  n=$(grep -c "\"rule\":\"$rule\"" "$tmp/alerts.jsonl")
  [[ $n == 1 ]] || fail "'$rule' fired $n times (the benign look-alike too?): $(grep "\"rule\":\"$rule\"" "$tmp/alerts.jsonl" | cut -c1-400)"
  grep "\"rule\":\"$rule\"" "$tmp/alerts.jsonl" | grep -- "$want" >/dev/null || fail "'$rule': $(grep "\"rule\":\"$rule\"" "$tmp/alerts.jsonl")"
}
expect "Database schema changed by an unexpected client" "DROP sent to pgsql at 127.0.0.1:$pport by reportgen"
expect "Command execution through PostgreSQL COPY PROGRAM" "COPY PROGRAM run by postgres"
expect "Database privileges changed" "Privileges changed on mariadbd"
expect "SQL injection pattern in a query" "Injection-like query to postgres"
expect "Redis configuration changed at run time" "CONFIG on redis-server"
expect "Redis data flushed by an unexpected client" "FLUSHALL sent to Redis at 127.0.0.1:$rport by python3"
expect "HTTP request to the cloud metadata service" "GET /latest/meta-data/iam/security-credentials/ to the metadata service $META by curl"
expect "Path traversal or system file in an HTTP request" "/etc/passwd to nginx"
expect "DNS query with a very long label" "DNS tunnel-like query $long.example.test by /usr/bin/dig"
expect "DNS query for a random-looking name" "random-looking x7k2q9vz4mw8jr1tb5.example.test by /usr/bin/dig"
echo "rules_l7: ok (10 rules, each fired once and spared its look-alike)"
