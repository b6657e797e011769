# Shared helpers of the e2e scripts (sourced, not a test itself).
fail() { echo "FAIL: $*" >&2; exit 1; }
free_port() { SL_PORTS_FILE=${SL_PORTS_FILE:-/tmp/sl-ports.$$} "$(dirname "${BASH_SOURCE[0]}")/../../scripts/free-port"; }
# wait_for SECONDS CMD...: retries CMD every 0.1 s
wait_for() {
  local t=$1; shift
  for ((i = 0; i < t * 10; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
# Our BPF programs all start with sl_ (bpftool shows up to 15 characters of a name).
our_programs() { bpftool prog list 2>/dev/null | grep -cE 'name sl_' || true; }
# no_programs_left [SECONDS]: true once none is loaded (the kernel frees a closed program a little
# after its last holder exits, so a count right after `wait` can still see it).
no_programs_left() { wait_for "${1:-5}" bash -c '[[ $(bpftool prog list 2>/dev/null | grep -cE "name sl_") == 0 ]]'; }
# Background processes to stop on exit (SIGTERM: async jobs ignore SIGINT; then SIGKILL): register with `bg_pid PID`.
BG_PIDS=()
bg_pid() { BG_PIDS+=("$1"); }
# start_quiet_agent SL DIR PORT SOURCES: an agent on 127.0.0.1:PORT with its store in
# DIR/store.db, without rules, governor or anomaly models, its `sources:` block SOURCES (YAML,
# each line two spaces in); waits for its /healthz. Its log: DIR/agent.log.
start_quiet_agent() {
  printf 'listen: 127.0.0.1:%s\nstore: {path: %s/store.db}\nrules: {enabled: false}\noverhead: {max_cpu_percent: 0}\nanomaly: {enabled: false}\nsources:\n%s\n' \
    "$3" "$2" "$4" >"$2/agent.yaml"
  "$1" agent --config "$2/agent.yaml" >"$2/agent.log" 2>&1 &
  bg_pid $!
  wait_for 30 curl -sf "http://127.0.0.1:$3/healthz" || fail "agent: $(cat "$2/agent.log")"
}
stop_bg() {
  local p i
  for p in "${BG_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for ((i = 0; i < 30; i++)); do  # up to 3 s for a clean exit (the agent detaches everything)
    local alive=0
    for p in "${BG_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for p in "${BG_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  # Until each is really gone: a killed agent still closes its BPF objects and its node lock in
  # the kernel, and the next test's agent must not find that lock held.
  for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -f "/tmp/sl-ports.$$"
}
# L7 tests: start_l7_agent SL DIR PORT KIND...: an agent on PORT with the l7 source alone (every
# exchange in detail; more configuration lines in $L7_AGENT_EXTRA) and `sightline trace KIND...
# --json` into DIR/trace.jsonl, both up and tracing when it returns.
start_l7_agent() {
  local sl=$1 dir=$2 port=$3 s
  shift 3
  {
    echo "listen: 127.0.0.1:$port"
    echo "rules: {enabled: false}"
    echo "overhead: {max_cpu_percent: 0}"
    echo "sources:"
    for s in file net security syscalls sched block packets profile; do echo "  $s: {enabled: false}"; done
    # both ends of a local connection: the tests check what each saw (the default counts at
    # the server's end only; e2e l7_local_ends checks that)
    echo "  l7: {sample: 1, both_local_ends: ${L7_BOTH_ENDS:-true}${L7_AGENT_OWN:+, $L7_AGENT_OWN}}"  # L7_AGENT_OWN: more of l7's own options
    [[ -n ${L7_AGENT_EXTRA:-} ]] && echo "$L7_AGENT_EXTRA"
  } >"$dir/agent.yaml"
  "$sl" agent --config "$dir/agent.yaml" >"$dir/agent.log" 2>&1 &
  bg_pid $!
  "$sl" trace "$@" --json >"$dir/trace.jsonl" 2>"$dir/trace.err" &
  bg_pid $!
  wait_for 30 curl -sf http://127.0.0.1:$port/healthz || fail "agent: $(cat "$dir/agent.log")"
  wait_for 30 grep -q "tracing request" "$dir/trace.err" || fail "trace: $(cat "$dir/trace.err")"
}
# go_helper NAME DIR OUT [GO BUILD FLAGS...]: builds tests/e2e/helpers/NAME.go (the standard
# library and Debian's Go packages under /usr/share/gocode, no modules) into OUT, in DIR.
go_helper() {
  local name=$1 dir=$2 out=$3
  shift 3
  mkdir -p "$dir/src/$name"
  cp "$(dirname "${BASH_SOURCE[0]}")/helpers/$name.go" "$dir/src/$name/main.go"
  (cd "$dir/src/$name" && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$dir/gocache GOFLAGS= \
    go build "$@" -o "$out" .) >"$dir/go.log" 2>&1 || fail "go build $name: $(cat "$dir/go.log")"
}
# l7_agent_config FILE PORT DB L7: an agent that listens on 127.0.0.1:PORT, stores requests in
# DB, runs no rules and no governor, and every source off but l7 (its options L7, a YAML map,
# both ends of a local connection traced unless L7_BOTH_ENDS=false: the tests check each end).
l7_agent_config() {
  local file=$1 port=$2 db=$3 l7=$4 s
  l7=${l7#\{}
  l7=${l7%\}}
  l7="{both_local_ends: ${L7_BOTH_ENDS:-true}${l7:+, $l7}}"
  {
    echo "listen: 127.0.0.1:$port"
    echo "store: {path: $db, kinds: [request]}"
    echo "rules: {enabled: false}"
    echo "overhead: {max_cpu_percent: 0}"
    echo "sources:"
    for s in file net security syscalls sched block packets profile; do echo "  $s: {enabled: false}"; done
    echo "  l7: $l7"
  } >"$file"
}
# veth_ns NS VH VN HOST PEER: a network namespace NS joined to the host by a veth pair (VH the
# host's end with HOST/24, VN the namespace's with PEER/24), both up, and the namespace's lo;
# del_veth_ns NS VH removes them (in a cleanup trap).
veth_ns() {
  local ns=$1 vh=$2 vn=$3 host=$4 peer=$5
  ip netns add $ns
  ip link add $vh type veth peer name $vn
  ip link set $vn netns $ns
  ip addr add $host/24 dev $vh
  ip link set $vh up
  ip netns exec $ns ip addr add $peer/24 dev $vn
  ip netns exec $ns ip link set $vn up
  ip netns exec $ns ip link set lo up
}
del_veth_ns() {
  ip link del $2 2>/dev/null || true
  ip netns del $1 2>/dev/null || true
}
# metric_sum PATTERN: the sum of the samples in $metrics (an exposition) whose lines match PATTERN.
metric_sum() { awk -v pat="$1" '$0 ~ pat && !/^#/ {s += $NF} END {printf "%d", s}' <<<"$metrics"; }
# Backends on 127.0.0.1 for the exporter tests.
# start_prometheus DIR PORT [CONFIG]: Prometheus with the remote-write receiver, data in DIR;
# PROM_PID is its pid. CONFIG defaults to one that scrapes nothing.
start_prometheus() {
  local dir=$1 port=$2 cfg=${3:-$1/prometheus.yml}
  [[ -f $cfg ]] || printf 'global:\n  scrape_interval: 1h\n' >"$cfg"
  prometheus --config.file="$cfg" --storage.tsdb.path="$dir/prom" --web.enable-remote-write-receiver \
    --web.listen-address=127.0.0.1:$port >>"$dir/prom.log" 2>&1 &
  PROM_PID=$!
  bg_pid $PROM_PID
  wait_for 30 curl -sf http://127.0.0.1:$port/-/ready || { tail "$dir/prom.log"; fail "prometheus did not start"; }
}
# start_clickhouse DIR HTTP_PORT: a ClickHouse server (Debian's 18.16) with its data under
# DIR/ch; CH_PID is its pid.
start_clickhouse() {
  local dir=$1/ch port=$2
  mkdir -p "$dir"
  if [[ ! -f $dir/config.xml ]]; then
    cat >"$dir/config.xml" <<XML
<yandex>
  <logger><level>warning</level><log>$dir/log</log><errorlog>$dir/err</errorlog><console>0</console></logger>
  <http_port>$port</http_port>
  <tcp_port>$(free_port)</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/files/</user_files_path>
  <format_schema_path>$dir/schemas/</format_schema_path>
  <users_config>/etc/clickhouse-server/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>536870912</mark_cache_size>
</yandex>
XML
  fi
  clickhouse-server --config-file="$dir/config.xml" >>"$dir/out" 2>&1 &
  CH_PID=$!
  bg_pid $CH_PID
  wait_for 60 curl -sf "http://127.0.0.1:$port/?query=SELECT%201" || { tail "$dir/err" "$dir/out"; fail "clickhouse did not start"; }
}
# Database servers on 127.0.0.1 for the L7 tests (notes: ../shared/notes/servers.md).
PGBIN=/usr/lib/postgresql/15/bin
# start_postgres DIR PORT: PostgreSQL as its own user (it refuses root), data in DIR, answering.
start_postgres() {
  local dir=$1 port=$2
  mkdir -p "$dir" && chown postgres "$dir"
  runuser -u postgres -- $PGBIN/initdb -D "$dir" -A trust >"$dir.initdb.log" 2>&1 || fail "initdb: $(cat "$dir.initdb.log")"
  runuser -u postgres -- $PGBIN/pg_ctl -D "$dir" -o "-k $dir -h 127.0.0.1 -p $port" -l "$dir/log" start >/dev/null \
    || fail "postgres: $(cat "$dir/log")"
  wait_for 20 psql -h 127.0.0.1 -p "$port" -U postgres -X -q -c 'select 1' || fail "postgres did not answer"
}
stop_postgres() { [[ -f $1/postmaster.pid ]] && runuser -u postgres -- $PGBIN/pg_ctl -D "$1" -m immediate stop >/dev/null 2>&1 || true; }
# start_mariadb DIR PORT: MariaDB as the mysql user, data in DIR/data, answering root.
start_mariadb() {
  local dir=$1 port=$2
  mkdir -p "$dir/data" && chown -R mysql "$dir"
  mariadb-install-db --user=mysql --datadir="$dir/data" --auth-root-authentication-method=normal >"$dir/install.log" 2>&1 \
    || fail "mariadb-install-db: $(tail -5 "$dir/install.log")"
  mariadbd --user=mysql --datadir="$dir/data" --bind-address=127.0.0.1 --port="$port" --socket="$dir/sock" \
    --pid-file="$dir/pid" >"$dir/log" 2>&1 &
  wait_for 30 mariadb -h127.0.0.1 -P"$port" -uroot -e 'select 1' || fail "mariadb did not answer: $(tail -5 "$dir/log")"
}
stop_mariadb() { [[ -f $1/pid ]] && kill "$(cat "$1/pid")" 2>/dev/null || true; }
