# Shared helpers of the bench/*.sh scripts (sourced).
# ns per op printed by a workload ("ops=N ns_per_op=X")
ns_of() { sed -n 's/.*ns_per_op=\([0-9.]*\).*/\1/p'; }
# CPU ticks (user + system) a process used so far; 0 if it is gone
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# median of the space-separated numbers on stdin
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
# start_nginx DIR PORT: nginx (one worker, no logs) on 127.0.0.1:PORT answering "ok" to every
# path, its files and pid in DIR; stop it with: kill "$(cat DIR/nginx.pid)"
start_nginx() {
  local dir=$1 port=$2
  cat >"$dir/nginx.conf" <<CONF
daemon on; pid $dir/nginx.pid; error_log $dir/error.log; worker_processes 1;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fcgi;
       uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
       server { listen 127.0.0.1:$port; location / { return 200 "ok\n"; } } }
CONF
  nginx -c "$dir/nginx.conf" -p "$dir" 2>/dev/null
  for i in $(seq 50); do curl -sf "http://127.0.0.1:$port/" >/dev/null && return 0; sleep 0.1; done
  echo "nginx did not start: $(cat "$dir/error.log" 2>/dev/null)" >&2
  return 1
}
# a free TCP port on 127.0.0.1
free_port() { SL_PORTS_FILE=${SL_PORTS_FILE:-/tmp/sl-ports.$$} "$(dirname "${BASH_SOURCE[0]}")/../scripts/free-port"; }
# memcg_make NAME [LIMIT_BYTES]: a memory cgroup to run a process alone in, v2 where the
# unified hierarchy has the memory controller, else v1's (this machine's). Sets MEMCG (its
# directory). Move a shell into it with: echo $$ > "$MEMCG/cgroup.procs". memcg_usage: bytes
# charged now (page cache and kernel memory such as BPF maps included); memcg_ooms: OOM kills
# in it so far; memcg_remove when its processes are gone.
memcg_make() {
  local name=$1 limit=${2:-max} v2
  v2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
  if [[ -n $v2 ]] && grep -qw memory "$v2/cgroup.controllers" 2>/dev/null; then
    MEMCG=$v2/$name
    mkdir -p "$MEMCG"
    echo "$limit" >"$MEMCG/memory.max"
    echo 0 >"$MEMCG/memory.swap.max" 2>/dev/null || true
  else
    MEMCG=$(awk '$3 == "cgroup" && $4 ~ /(^|,)memory(,|$)/ {print $2; exit}' /proc/mounts)/$name
    mkdir -p "$MEMCG"
    [[ $limit == max ]] && limit=-1
    echo "$limit" >"$MEMCG/memory.limit_in_bytes"
    echo "$limit" >"$MEMCG/memory.memsw.limit_in_bytes" 2>/dev/null || true
  fi
}
# memcg_limit BYTES: a new limit for MEMCG (lowering it fails when more is charged now).
memcg_limit() {
  if [[ -f $MEMCG/memory.max ]]; then
    echo "$1" >"$MEMCG/memory.max"
  else
    echo "$1" >"$MEMCG/memory.limit_in_bytes"
    echo "$1" >"$MEMCG/memory.memsw.limit_in_bytes" 2>/dev/null || true
  fi
}
memcg_peak() { cat "$MEMCG/memory.peak" 2>/dev/null || cat "$MEMCG/memory.max_usage_in_bytes"; }
memcg_usage() { cat "$MEMCG/memory.current" 2>/dev/null || cat "$MEMCG/memory.usage_in_bytes"; }
memcg_ooms() { awk '$1 == "oom_kill" {print $2}' "$MEMCG/memory.events" 2>/dev/null || awk '$1 == "oom_kill" {print $2}' "$MEMCG/memory.oom_control"; }
memcg_remove() { rmdir "$MEMCG" 2>/dev/null || true; }

# Events a peer tool reported lost ("Lost N" lines, libbpf-tools and bpftrace): tracer_rounds'
# seen_lost helpers use it.
peer_lost() { cat "$@" | grep -oE 'Lost [0-9]+' | awk '{s+=$2} END{print s+0}' || true; }
# The loss sightline trace's closing line reports.
sl_lost() { sed -n 's/^sightline: [0-9]* events, \([0-9]*\) lost.*/\1/p' "$1"; }

# tracer_bench WORKLOAD N_DEFAULT "$@": the set-up of a tracer benchmark (bench/*_overhead.sh
# over tracer_rounds): N and ROUNDS from the arguments, SL and LOOP (build/bench/WORKLOAD)
# checked, tmp made, the running tracer (tp) stopped and tmp removed at exit, CMD and READY
# declared for the caller to fill.
tracer_bench() {
  local workload=$1 n_default=$2
  shift 2
  N=${1:-$n_default}
  ROUNDS=${2:-3}
  SL=./build/sightline
  LOOP=./build/bench/$workload
  [[ -x $SL && -x $LOOP ]] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
  tmp=$(mktemp -d)
  tp=
  trap '[[ -n $tp ]] && kill -INT $tp 2>/dev/null; rm -rf "$tmp"' EXIT
  declare -gA CMD READY
}

# tracer_rounds WHAT: ROUNDS rounds of the workload `$LOOP $N` (which prints ns_per_op=), bare
# then under each of TRACERS (CMD[t]: its command line, output to a file; READY[t]: a line that
# says it is attached, or empty to wait 4 s), interleaved. The caller defines
# `seen_lost TRACER OUT ERR`, printing "SEEN LOST". Prints each round, then the medians: ratio to
# bare, the tracer's CPU seconds per million events, seen, lost, seen+lost. Uses $tmp; sets tp.
tracer_rounds() {
  local what=$1 r t base with out c0 c1 i sl seen lost ratio cpu s l
  declare -A RATIO CPU SEEN LOST
  for ((r = 1; r <= ROUNDS; r++)); do
    for t in "${TRACERS[@]}"; do
      base=$($LOOP "$N" | ns_of)
      out="$tmp/$t.out"
      bash -c "exec ${CMD[$t]}" >"$out" 2>"$tmp/$t.err" &
      tp=$!
      if [[ -n ${READY[$t]} ]]; then
        for ((i = 0; i < 300; i++)); do grep -q "${READY[$t]}" "$out" "$tmp/$t.err" 2>/dev/null && break; sleep 0.1; done
        sleep 0.5
      else
        sleep 4  # bpftrace compiles its program with LLVM first; peers' headers are block-buffered
      fi
      c0=$(cpu_ticks $tp)
      with=$($LOOP "$N" | ns_of)
      sleep "${DRAIN_S:-1.5}"  # let the tracer drain what is buffered (DRAIN_S: a benchmark that needs longer)
      c1=$(cpu_ticks $tp)
      kill -INT $tp 2>/dev/null || echo "$t exited before the end: $(tail -3 "$tmp/$t.err")" >&2
      wait $tp 2>/dev/null || true
      tp=
      read -r seen lost <<<"$(seen_lost "$t" "$out" "$tmp/$t.err")"
      ratio=$(echo "scale=3; $with / $base" | bc)
      cpu=$(echo "scale=2; ($c1 - $c0) / 100 / ($N / 1000000)" | bc)
      printf 'round %d %-18s bare %7.1f ns/op  with %7.1f ns/op  ratio %5.2f  tracer %5.2f cpu-s/M ev  seen %8d  lost %s\n' \
        "$r" "$t" "$base" "$with" "$ratio" "$cpu" "$seen" "${lost:-?}"
      RATIO[$t]+="$ratio "
      CPU[$t]+="$cpu "
      SEEN[$t]+="$seen "
      LOST[$t]+="${lost:-?} "
    done
  done
  echo
  echo "$what x $N, $ROUNDS rounds; medians (generated = $N per round)"
  printf '%-18s %7s %12s %10s %10s %s\n' tracer ratio cpu-s/M-ev seen lost "seen+lost"
  for t in "${TRACERS[@]}"; do
    s=$(median <<<"${SEEN[$t]}")
    l=$(median <<<"${LOST[$t]}")
    printf '%-18s %7s %12s %10s %10s %s\n' "$t" "$(median <<<"${RATIO[$t]}")" "$(median <<<"${CPU[$t]}")" \
      "$s" "$l" "$((s + ${l:-0}))"
  done
}
