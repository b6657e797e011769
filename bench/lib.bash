# Shared helpers of the bench/*.sh scripts (sourced).
# ns per op printed by a workload ("ops=N ns_per_op=X")
ns_of() { sed -n 's/.*ns_per_op=\([0-9.]*\).*/\1/p'; }
# CPU ticks (user + system) a process used so far; 0 if it is gone
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# median of the space-separated numbers on stdin
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
# a free TCP port on 127.0.0.1
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
