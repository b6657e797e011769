#!/usr/bin/env bash
# In-kernel unwinding with .eh_frame tables (the profiler's default) against the reference,
# `perf record --call-graph dwarf`, profiling the same process at the same time:
#  - a C++ program built -O2 -fomit-frame-pointer (PIE, and again not PIE): a worker thread
#    recursing 40 deep into a hot function of its own (70% of the calls) and one of a shared
#    library (30%);
#  - nginx (Debian's: stripped, no frame pointers) under wrk;
# each: >= 95% of the samples have a complete user stack (to main, _start or the thread's
# clone3), no [unknown] frame (stripped functions are binary+0xADDRESS), and the shares of the
# top 10 functions (each sample's innermost user-space one) are within 3 points of perf's. Then
# the off-CPU walk: a frameless glibc wrapper (nanosleep) keeps its caller. Then CPython 3.11's
# own frames, at the shares the program measured itself.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
command -v perf >/dev/null || { echo "unwind e2e: perf not installed"; exit 1; }
tmp=$(mktemp -d)
trap 'stop_bg; [[ -f $tmp/nginx.pid ]] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null; rm -rf "$tmp"' EXIT

cat >"$tmp/lib.cc" <<'C'
extern "C" __attribute__((noinline)) long lib_hot(long n) {
  volatile long s = 0;
  for (long i = 0; i < n; i++) s += i * i;
  return s;
}
C
cat >"$tmp/main.cc" <<'C'
#include <cstdlib>
#include <ctime>
#include <thread>
extern "C" long lib_hot(long n);
__attribute__((noinline)) long hot_own(long n) {
  volatile long s = 0;
  for (long i = 0; i < n; i++) s += i ^ (s >> 1);
  return s;
}
__attribute__((noinline)) long recurse(int depth, long n, bool lib) {
  if (depth == 0) return lib ? lib_hot(n) : hot_own(n);
  long r = recurse(depth - 1, n, lib);
  asm volatile("" : "+r"(r));  // no tail call: every level keeps its frame
  return r + depth;
}
int main(int argc, char** argv) {
  time_t end = time(nullptr) + atoi(argv[1]);
  std::thread t([end] {
    // Which function, and how long, drawn at random (xorshift): a fixed cycle of calls can
    // lock to the 999 Hz sampling and give either profiler shares of its own phases (8.5
    // points apart once).
    unsigned long x = 88172645463325252ul;
    while (time(nullptr) < end) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      recurse(40, 150000 + x % 100000, (x >> 32) % 10 < 3);
    }
  });
  t.join();
  return 0;
}
C
g++ -O2 -fomit-frame-pointer -fPIC -shared -o "$tmp/libhot.so" "$tmp/lib.cc"
g++ -O2 -fomit-frame-pointer -pie -fPIE -o "$tmp/deep_pie" "$tmp/main.cc" -L"$tmp" -lhot -Wl,-rpath,"$tmp" -pthread
g++ -O2 -fomit-frame-pointer -no-pie -fno-PIE -o "$tmp/deep_nopie" "$tmp/main.cc" -L"$tmp" -lhot -Wl,-rpath,"$tmp" -pthread

# Profiles process $1 for $2 s with both profilers at once (thousands of samples, so sampling
# noise stays well under the 3 points), then compares. $3: a label. $4...: a load (a command)
# for a process that is idle without it: it runs as perf's workload, so both profilers sample
# all of it and nothing else (with windows merely overlapping, the second one profiler had
# alone, perf's start or sightline's symbolizing, shifted nginx's epoll_wait share by up to 3.8
# points). perf samples every CPU's clock (-a, the process's samples kept), as sightline does,
# at 997 Hz against sightline's 999: at one rate the two timers keep one phase, each sampler's
# interrupt shifts nginx's next few microseconds under the other's, and nginx's shares differed
# by up to 5 points in either direction (writev, epoll_wait; 4.8 in a CI run); with the phase
# sweeping (2 us a sample) they agree within 2.
compare() {
  local pid=$1 secs=$2 label=$3
  shift 3
  local dur=$((secs + 1))
  (( $# )) && dur=$((secs + 60))  # ended by SIGINT once the load is done
  "$SL" profile -p "$pid" -F 999 -d "$dur" -o "$tmp/$label.folded" 2>"$tmp/$label.err" &
  local sl_pid=$!
  wait_for 30 grep -q '^profiling' "$tmp/$label.err" || fail "$label: profile: $(cat "$tmp/$label.err")"
  if (( $# )); then
    # perf enables its events before it starts the workload, and stops when it exits.
    perf record -q -F 997 --call-graph dwarf -a -o "$tmp/perf.data" -- "$@" >/dev/null 2>&1 \
      || fail "$label: perf record failed"
    kill -INT $sl_pid
  else
    # A steady process: perf starts once sightline samples and stops a second before it.
    perf record -q -F 997 --call-graph dwarf -a -o "$tmp/perf.data" -- sleep "$secs" >/dev/null 2>&1 \
      || fail "$label: perf record failed"
  fi
  wait $sl_pid || fail "$label: profile: $(cat "$tmp/$label.err")"
  perf script -i "$tmp/perf.data" --pid "$pid" -F ip,sym >"$tmp/perf.txt" 2>/dev/null
  local complete
  complete=$(sed -n 's/.*complete (reaching main\/_start\/clone): \([0-9.]*\)%.*/\1/p' "$tmp/$label.err")
  [[ ${complete%.*} -ge 95 ]] || fail "$label: $complete% of user stacks complete: $(cat "$tmp/$label.err")"
  ! grep -qE ';\[unknown\](;| )|;\[[^];]*\](;| )' "$tmp/$label.folded" \
    || fail "$label: unnamed frames: $(grep -E ';\[unknown\]|;\[[^];]*\](;| )' "$tmp/$label.folded" | head -3)"
  python3 - "$tmp/$label.folded" "$tmp/perf.txt" "$label" "$complete" <<'PY' || fail "$label: shares differ from perf's"
import sys, collections
ours, perf, label, complete = sys.argv[1:5]
def norm(name):
    name = name.removesuffix(' (inlined)').split('(')[0]  # perf names C++ functions without parameters
    # glibc's aliases of one address (perf: __GI___writev, __libc_recv; ours: __writev, recv)
    name = name.removeprefix('__GI_').removeprefix('__libc_').lstrip('_')
    # a stripped binary's function: ours name it by address, perf leaves it unknown
    return '[unknown]' if '+0x' in name or name.startswith('[') else name
# Each sample's innermost user-space function (what the user stack walk decides; the kernel's
# frames above it are the kernel's own walk).
a = collections.Counter()
for line in open(ours):
    stack, n = line.rsplit(' ', 1)
    user = [f for f in stack.split(';')[1:] if not f.endswith('_[k]')]
    if user: a[norm(user[-1])] += int(n)
b = collections.Counter()
leaf = None
for line in open(perf):
    line = line.strip()
    if not line:
        leaf = None
        continue
    parts = line.split(None, 1)
    if leaf is None and int(parts[0], 16) < 0x800000000000:
        leaf = norm(parts[1] if len(parts) > 1 else '[unknown]')
        b[leaf] += 1
ta, tb = sum(a.values()), sum(b.values())
assert ta > 1000 and tb > 1000, (ta, tb)
worst = 0
print(f'{label}: {ta} samples (sightline), {tb} (perf --call-graph dwarf); user stacks complete {complete}%')
for name, n in a.most_common(10):
    sa, sb = 100 * n / ta, 100 * b[name] / tb
    worst = max(worst, abs(sa - sb))
    print(f'  {name:40s} {sa:5.1f}% {sb:5.1f}%')
print(f'  largest difference: {worst:.1f} points')
sys.exit(worst > 3)
PY
}

for prog in deep_pie deep_nopie; do
  "$tmp/$prog" 30 &
  pid=$!
  bg_pid $pid
  sleep 0.5
  compare $pid 4 $prog
  # The whole recursion from the thread's entry: 40 levels of recurse over each hot function.
  for hot in 'hot_own\(long\)' lib_hot; do
    depth=$(grep -E "^$prog;(__)?clone3;start_thread;.*main::\{lambda\(\)#1\}.*;$hot [0-9]+$" "$tmp/$prog.folded" \
      | awk -F';recurse\\(' '{ if (NF - 1 > m) m = NF - 1 } END { print m + 0 }')
    (( depth >= 40 )) || fail "$prog: the deepest stack of $hot from clone3 has $depth levels of recurse (want 40)"
  done
  kill $pid
done

# nginx under wrk: the worker's stacks.
port=$(free_port)
mkdir -p "$tmp/logs"
cat >"$tmp/nginx.conf" <<EOF
daemon on; pid $tmp/nginx.pid; worker_processes 1; error_log $tmp/logs/error.log;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:$port; location / { return 200 "hello\n"; } } }
EOF
nginx -c "$tmp/nginx.conf" -p "$tmp" || fail "nginx did not start"
wait_for 10 curl -sf "http://127.0.0.1:$port/" || fail "nginx not answering"
worker=$(pgrep -P "$(cat "$tmp/nginx.pid")" | head -1)
compare "$worker" 5 nginx wrk -t1 -c20 -d5s "http://127.0.0.1:$port/"
grep -qE '^nginx;_start;__libc_start_main;.*main;ngx_master_process_cycle;.*ngx_process_events_and_timers;' "$tmp/nginx.folded" \
  || fail "nginx: no stack from _start through the event loop: $(head -3 "$tmp/nginx.folded")"
grep -qE ';nginx\+0x[0-9a-f]+;' "$tmp/nginx.folded" || fail "nginx: static functions not named by address"

# Off-CPU: nanosleep's glibc wrapper has no frame; the walk with tables keeps its caller.
cat >"$tmp/sleepy.c" <<'C'
#include <stdlib.h>
#include <time.h>
void __attribute__((noinline)) sleepy_wait(void) { struct timespec ts = {0, 20000000}; nanosleep(&ts, 0); }
int main(int argc, char** argv) { time_t end = time(0) + atoi(argv[1]); while (time(0) < end) sleepy_wait(); return 0; }
C
cc -O2 -fomit-frame-pointer -o "$tmp/sleepy" "$tmp/sleepy.c"
"$tmp/sleepy" 30 &
pid=$!
bg_pid $pid
sleep 0.3
"$SL" profile --off-cpu -p $pid -d 2 -o "$tmp/off.folded" 2>"$tmp/off.err" || fail "off-CPU: $(cat "$tmp/off.err")"
ms=$(awk '/^sleepy;_start;.*;main;sleepy_wait;.*nanosleep/ {s += $NF} END {printf "%.0f", s / 1e6}' "$tmp/off.folded")
(( ms > 1500 )) || fail "off-CPU under main;sleepy_wait: $ms ms of ~2000: $(cat "$tmp/off.folded")"
echo "off-CPU without frame pointers: $ms ms under main;sleepy_wait;...nanosleep"
# CPython 3.11 (Debian's interpreter): two hot Python functions, the time each took measured
# by the program itself; the profile names both as Python frames (module.function (file:line)
# in place of the interpreter's _PyEval_EvalFrameDefault) at shares within 5 points of that.
cat >"$tmp/hot.py" <<'PY'
import sys, time
def burn_a(n):
    s = 0
    for i in range(n):
        s += i * i
    return s
def burn_b(n):
    s = 0
    for i in range(n):
        s += i ^ 3
    return s
def main(seconds, out):
    end = time.perf_counter() + seconds
    spent = [0.0, 0.0]
    k = 0
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        if k % 10 < 7:
            burn_a(20000)
            spent[0] += time.perf_counter() - t0
        else:
            burn_b(20000)
            spent[1] += time.perf_counter() - t0
        k += 1
    with open(out, "w") as f:
        f.write("%.2f\n" % (100 * spent[0] / (spent[0] + spent[1])))
main(float(sys.argv[1]), sys.argv[2])
PY
/usr/bin/python3.11 "$tmp/hot.py" 6 "$tmp/truth" &
pid=$!
bg_pid $pid
sleep 0.5
"$SL" profile -p $pid -F 999 -d 4 -o "$tmp/py.folded" 2>"$tmp/py.err" || fail "python: $(cat "$tmp/py.err")"
wait $pid || fail "hot.py failed"
python3 - "$tmp/py.folded" "$(cat "$tmp/truth")" <<'PY' || fail "python frames: $(sort -t' ' -k2 -rn "$tmp/py.folded" | head -3)"
import sys
a = b = 0
for line in open(sys.argv[1]):
    stack, n = line.rsplit(' ', 1)
    frames = stack.split(';')
    if any(f.startswith('hot.burn_a (hot.py:') for f in frames): a += int(n)
    if any(f.startswith('hot.burn_b (hot.py:') for f in frames):
        b += int(n)
        assert any(f.startswith('hot.main (hot.py:') for f in frames), stack
        assert frames.index([f for f in frames if f.startswith('hot.main (')][0]) < frames.index([f for f in frames if f.startswith('hot.burn_b (')][0]), stack
        assert '_PyEval_EvalFrameDefault' not in frames, stack
truth = float(sys.argv[2])
share = 100 * a / max(a + b, 1)
print(f'python: burn_a {share:.1f}% of {a + b} samples in burn_a/burn_b (its own clock: {truth:.1f}%)')
sys.exit(a + b < 1500 or abs(share - truth) > 5)
PY
stop_bg
BG_PIDS=()
no_programs_left || fail "programs left loaded"
echo "unwind e2e: ok"
