#!/usr/bin/env bash
# `sightline profile` on programs whose hot and blocking functions are known: the CPU profile
# is dominated by burn_cpu under main with a complete stack; the off-CPU profile shows about the
# time spent in nanosleep; pprof output reads with `go tool pprof`; folded output renders with
# `sightline flamegraph` into an SVG that parses.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
tmp=$(mktemp -d)
trap 'stop_bg; rm -rf "$tmp"' EXIT
cat >"$tmp/work.c" <<'C'
#include <stdlib.h>
#include <time.h>
int __attribute__((noinline)) burn_cpu(long n) { volatile long s = 0; for (long i = 0; i < n; i++) s += i; return (int)s; }
void __attribute__((noinline)) sleepy_wait(void) { struct timespec ts = {0, 20000000}; nanosleep(&ts, 0); }
int main(int argc, char** argv) {
  time_t end = time(0) + atoi(argv[1]);
  while (time(0) < end) { if (argc > 2) sleepy_wait(); else burn_cpu(10000000); }
  return 0;
}
C
cc -O2 -g -fno-omit-frame-pointer -o "$tmp/work" "$tmp/work.c"

# On-CPU: a busy loop, 3 s at 99 Hz.
"$tmp/work" 30 &
pid=$!
bg_pid $pid
sleep 0.3
ticks() { awk '{print $14 + $15}' /proc/$1/stat; }
t0=$(ticks $pid)
"$SL" profile -p $pid -d 3 -o "$tmp/cpu.folded" 2>"$tmp/cpu.err" || fail "profile: $(cat "$tmp/cpu.err")"
t1=$(ticks $pid)
total=$(awk '{s += $NF} END {print s+0}' "$tmp/cpu.folded")
burn=$(awk '/;main;burn_cpu( |$)/ {s += $NF} END {print s+0}' "$tmp/cpu.folded")
# 99 samples per second of the CPU time the process got in the window (it may share a CPU).
want=$(( (t1 - t0) * 99 / $(getconf CLK_TCK) ))
(( total * 100 >= want * 80 && total * 100 <= want * 120 + 500 )) \
  || fail "$total samples for $(( t1 - t0 )) ticks of CPU (want about $want): $(cat "$tmp/cpu.folded")"
(( burn * 100 >= total * 90 )) || fail "burn_cpu under main has $burn of $total samples: $(cat "$tmp/cpu.folded")"
grep -q "user stacks complete (reaching main/_start/clone): 100.0%" "$tmp/cpu.err" \
  || fail "frame-pointer stacks should all be complete: $(cat "$tmp/cpu.err")"

# Without frame pointers (how distributions build): the kernel's walk with .eh_frame tables
# (the default) and DWARF unwinding of a copied stack both reach _start; frame pointers do not.
cc -O2 -fomit-frame-pointer -o "$tmp/nofp" "$tmp/work.c"
"$tmp/nofp" 30 &
nofp=$!
bg_pid $nofp
sleep 0.3
declare -A share
for mode in kernel dwarf; do
  "$SL" profile -p $nofp -d 2 --unwind $mode -o "$tmp/$mode.folded" 2>"$tmp/$mode.err" || fail "profile ($mode): $(cat "$tmp/$mode.err")"
  grep -qE '^nofp;_start;__libc_start_main;(__libc_start_call_main;)?main;burn_cpu [0-9]+$' "$tmp/$mode.folded" \
    || fail "$mode-unwound stack of burn_cpu: $(cat "$tmp/$mode.folded")"
  share[$mode]=$(sed -n 's/.*complete (reaching main\/_start\/clone): \([0-9.]*\)%.*/\1/p' "$tmp/$mode.err")
  [[ ${share[$mode]%.*} -ge 95 ]] || fail "$mode unwinding completed ${share[$mode]}% of stacks: $(cat "$tmp/$mode.err")"
done
"$SL" profile -p $nofp -d 1 --unwind fp -o "$tmp/fp.folded" 2>"$tmp/fp.err" || fail "profile --unwind fp"
fpshare=$(sed -n 's/.*complete (reaching main\/_start\/clone): \([0-9.]*\)%.*/\1/p' "$tmp/fp.err")
echo "complete user stacks without frame pointers: kernel tables ${share[kernel]}%, dwarf ${share[dwarf]}%, fp $fpshare%"
kill $nofp

# Inlined functions appear as frames of their own (DWARF inline records).
cat >"$tmp/inl.c" <<'C'
#include <stdlib.h>
#include <time.h>
static inline __attribute__((always_inline)) long hot_inline(long n) { long s = 0; for (long i = 0; i < n; i++) s += i * i ^ (s >> 3); return s; }
volatile long sink;
long __attribute__((noinline)) burn_cpu(long n) { return hot_inline(n) + 1; }
int main(int argc, char** argv) { time_t end = time(0) + atoi(argv[1]); while (time(0) < end) sink += burn_cpu(10000000); return 0; }
C
cc -O2 -g -o "$tmp/inl" "$tmp/inl.c"
"$tmp/inl" 30 &
inl=$!
bg_pid $inl
sleep 0.3
"$SL" profile -p $inl -d 1.5 -o "$tmp/inl.folded" 2>/dev/null || fail "profile (inline)"
grep -qE ';main;burn_cpu;hot_inline [0-9]+$' "$tmp/inl.folded" || fail "no inlined frame: $(cat "$tmp/inl.folded")"
kill $inl

# pprof, gzipped as pprof writes them, read by go tool pprof.
"$SL" profile -p $pid -d 2 -o "$tmp/cpu.pb.gz" 2>/dev/null || fail "profile -o .pb.gz"
top=$(HOME=$tmp GOCACHE=$tmp/gocache go tool pprof -top "$tmp/cpu.pb.gz" 2>&1) || fail "go tool pprof: $top"
grep -qE '^ +[0-9.]+m?s +[0-9.]+% +[0-9.]+% +[0-9.]+m?s +[0-9.]+% +burn_cpu$' <<<"$top" || fail "pprof -top: $top"

# The project's flame graph of the folded output: well-formed SVG naming the hot function.
"$SL" flamegraph "$tmp/cpu.folded" -o "$tmp/cpu.svg" --title "burn" || fail "flamegraph"
python3 - "$tmp/cpu.svg" <<'PY' || fail "flame graph SVG"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
titles = [t.text for t in root.iter('{http://www.w3.org/2000/svg}title')]
assert any(t.startswith('burn_cpu (') for t in titles), titles[:10]
PY
"$SL" profile -p $pid -d 1 -o "$tmp/direct.svg" 2>/dev/null && grep -q '<svg' "$tmp/direct.svg" || fail "profile -o .svg"
printf 'a;b 1\nnot a count\n' >"$tmp/bad.folded"
out=$("$SL" flamegraph "$tmp/bad.folded" -o "$tmp/bad.svg" 2>&1) && fail "bad folded input accepted"
grep -q "line 2" <<<"$out" || fail "unclear error for bad folded input: $out"

# Off-CPU: a loop of 20 ms sleeps for 3 s is about 3 s blocked in nanosleep. Then the same on
# the path of kernels before 5.15 (thread state in a hash by thread id, the task's own state).
for disabled in "" task_pt_regs,task_storage,sched_switch_state; do
  "$tmp/work" 30 sleep &
  pid=$!
  bg_pid $pid
  sleep 0.3
  SIGHTLINE_DISABLE_FEATURES=$disabled "$SL" profile --off-cpu -p $pid -d 3 -o "$tmp/off.folded" 2>"$tmp/off.err" \
    || fail "profile --off-cpu ($disabled disabled): $(cat "$tmp/off.err")"
  kill $pid
  ns=$(awk '/;main;.*nanosleep/ {s += $NF} END {printf "%.0f", s / 1e6}' "$tmp/off.folded")
  (( ns > 2500 && ns < 3300 )) || fail "off-CPU in nanosleep under main ($disabled disabled): $ns ms of ~3000: $(cat "$tmp/off.folded")"
  grep -q 'schedule_\[k\]' "$tmp/off.folded" || fail "no kernel frames in the off-CPU stack"
  grep -q 'bpf_prog_' "$tmp/off.folded" && fail "our own BPF frames in the stack"
done

# The agent's continuous profile: the busy program shows in /profile within seconds.
port=$(free_port)
"$SL" agent --listen 127.0.0.1:$port >"$tmp/agent.log" 2>&1 &
bg_pid $!
wait_for 20 curl -sf http://127.0.0.1:$port/healthz || fail "agent: $(cat "$tmp/agent.log")"
"$tmp/work" 30 &
bg_pid $!
wait_for 10 bash -c "curl -sf 'http://127.0.0.1:$port/profile?seconds=30' | grep -qE '^work;.*main;burn_cpu [0-9]+$'" \
  || fail "continuous profile: $(curl -sf "http://127.0.0.1:$port/profile?seconds=30" | head -5)"
# (grep -q on a pipe would stop reading early, and pipefail would blame curl's SIGPIPE)
grep -q '<svg' <<<"$(curl -sf "http://127.0.0.1:$port/profile?seconds=30&format=svg")" || fail "/profile svg"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/profile?seconds=9999")
[[ $code == 400 ]] || fail "/profile?seconds=9999 gave $code"
grep -qE '^sightline_profile_samples_total\{comm="work"\} [1-9]' <(curl -sf http://127.0.0.1:$port/metrics) \
  || fail "samples metric"

# Bad input: a process that does not exist.
out=$("$SL" profile -p 999999999 -d 1 2>&1) && fail "profiled a missing process"
grep -q "no process" <<<"$out" || fail "unclear error: $out"
stop_bg
BG_PIDS=()
no_programs_left || fail "programs left loaded"
echo "profile e2e: ok"
