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
memcg_usage() { cat "$MEMCG/memory.current" 2>/dev/null || cat "$MEMCG/memory.usage_in_bytes"; }
memcg_ooms() { awk '$1 == "oom_kill" {print $2}' "$MEMCG/memory.events" 2>/dev/null || awk '$1 == "oom_kill" {print $2}' "$MEMCG/memory.oom_control"; }
memcg_remove() { rmdir "$MEMCG" 2>/dev/null || true; }
