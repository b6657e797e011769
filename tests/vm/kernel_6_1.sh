#!/usr/bin/env bash
# The agent on a kernel users have: Debian 12's own 6.1 kernel under qemu (scripts/vmtest.sh),
# booted twice. With Debian's default command line (BPF LSM active there): `doctor` sees
# kprobes, fentry and BPF LSM, every source loads, attaches and runs (`doctor -v`), and the agent
# starts, serves /metrics with every source up, stays up with its memory cgroup held at its limit
# while threads come and go (this once froze 6.1), and on SIGTERM exits 0 leaving no program. With
# lsm= without bpf: `doctor` says BPF LSM is built in but not active. Then the bpf test suite.
set -euo pipefail
source "$(dirname "$0")/../e2e/lib.bash"
SL=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A failed guest's last words: where vmtest found its CPUs, and its last 40 lines with the
# watchdog's repeats left out (a frozen guest prints nothing else), after its first report.
guest_tail() {
  grep '^vmtest.sh' "$1"
  grep -v '^vmtest.sh' "$1" | awk '/soft lockup|detected stall/ { if (seen++) next } { print }' | tail -40
}
cat >"$tmp/guest.sh" <<GUEST
set -u
SL=$SL
\$SL doctor -v >/tmp/doctor.txt 2>&1; echo "doctor exit \$?" >>/tmp/doctor.txt
cat /tmp/doctor.txt
port=9477
# Every source, the one off by default too. The store in the guest's own /tmp: the default path
# is the host's /var/lib/sightline under the overlay, whose database (85 MB after a day of tests
# on the host) the agent's first write copied up into the tmpfs, charged to its cgroup as
# unreclaimable shmem: the agent was killed at 160M for the host's history, not its own memory.
printf 'sources: {syscalls: {enabled: true}}\nstore: {path: /tmp/sl-store/sightline.db}\n' >/tmp/agent.yaml
# The agent in a memory cgroup, as its unit puts it (MemoryMax), for the pressure check below.
echo +memory >/sys/fs/cgroup/cgroup.subtree_control; mkdir -p /sys/fs/cgroup/agent
echo 160M >/sys/fs/cgroup/agent/memory.max
sh -c "echo \\\$\\\$ >/sys/fs/cgroup/agent/cgroup.procs; exec \$SL agent --listen 127.0.0.1:\$port --config /tmp/agent.yaml" >/tmp/agent.log 2>&1 &
pid=\$!
for i in \$(seq 600); do curl -sf http://127.0.0.1:\$port/healthz >/dev/null && break; sleep 0.2; done
curl -sf http://127.0.0.1:\$port/healthz | sed 's/^/healthz: /'
sleep 3
curl -sf http://127.0.0.1:\$port/metrics | grep -E '^sightline_(source_up|events_total)' | sed 's/^/metrics: /'
# Memory pressure: the agent's cgroup held at its limit by reclaimable page cache while new
# threads come and go. This froze 6.1 within seconds when sched_switch created task storage
# (kmalloc under the run-queue lock) or BPF statistics were switched on and off (text patching).
grep -o 'BPF run-time statistics [a-z ]* on kernel [0-9.]*' /tmp/agent.log | sed 's/^/governor: /'
sh -c 'echo \$\$ >/sys/fs/cgroup/agent/cgroup.procs; while :; do cat /usr/lib/x86_64-linux-gnu/*.so* /usr/bin/* >/dev/null 2>&1; done' &
hog=\$!
for r in 1 2 3 4 5 6 7 8; do for i in \$(seq 100); do /bin/true; done; done
kill \$hog
echo "pressure: max events \$(sed -n 's/^max //p' /sys/fs/cgroup/agent/memory.events), healthz \$(curl -sf -o /dev/null -w '%{http_code}' http://127.0.0.1:\$port/healthz)"
kill -TERM \$pid
# A stop that hangs (seen once in CI under TCG) shows where, instead of ending as a guest timeout.
for i in \$(seq 300); do [ -d /proc/\$pid ] && [ "\$(cut -d' ' -f3 /proc/\$pid/stat 2>/dev/null)" != Z ] || break; sleep 0.2; done
if [ -d /proc/\$pid ] && [ "\$(cut -d' ' -f3 /proc/\$pid/stat 2>/dev/null)" != Z ]; then
  echo "agent still running 60 s after SIGTERM; its threads:"
  for t in /proc/\$pid/task/*; do echo "  \$(cat \$t/comm) state=\$(cut -d' ' -f3 \$t/stat) wchan=\$(cat \$t/wchan)"; sed 's/^/    /' \$t/stack 2>/dev/null; done
  echo "agent log (last 40 lines):"; tail -40 /tmp/agent.log | sed 's/^/  /'
  kill -KILL \$pid
fi
wait \$pid; echo "agent exit \$?"
# The kernel frees a closed program a little after its holder exits: give it a second.
for i in \$(seq 10); do [ "\$(bpftool prog list 2>/dev/null | grep -cE 'name sl_')" = 0 ] && break; sleep 0.2; done
echo "programs left: \$(bpftool prog list 2>/dev/null | grep -cE 'name sl_')"
GUEST
# /tmp is the guest's own: the script goes in through the shared root.
mkdir -p "$root/build/vm" && cp "$tmp/guest.sh" "$root/build/vm/guest.sh"
out=$tmp/default.txt
(cd "$root" && bash scripts/vmtest.sh --timeout 900 --idle 240 -- sh build/vm/guest.sh) >"$out" 2>&1 \
  || fail "the guest failed: $(guest_tail "$out")"
echo "--- default boot"; cat "$out"
grep -q "^vmtest: kernel 6\.1\." "$out" || fail "not a 6.1 kernel"
for feat in kprobe fentry tp_btf bpf_lsm map:ringbuf; do
  grep -qE "^  ok +$feat " "$out" || fail "doctor does not see $feat on 6.1: $(grep -E " $feat " "$out")"
done
grep -q "verdict: the agent can run: 10 of 12 sources" "$out" || fail "doctor's verdict: $(grep verdict "$out")"
grep -q "doctor exit 0" "$out" || fail "doctor failed"
loaded=$(sed -n '/^load test/,/^doctor exit/p' "$out")
[[ $(grep -cE '^  [a-z0-9]+ +ok ' <<<"$loaded") == 10 ]] || fail "not every source loads on 6.1: $loaded"
grep -q FAILED <<<"$loaded" && fail "a source failed to load on 6.1: $loaded"
for s in process file net security l7 syscalls sched block packets profile; do
  grep -q "^healthz: $s: running" "$out" || fail "agent source $s not running on 6.1: $(grep healthz "$out")"
  grep -q "^metrics: sightline_source_up{source=\"$s\"} 1" "$out" || fail "sightline_source_up for $s"
done
grep -qE "^pressure: max events [1-9][0-9]*, healthz 200$" "$out" \
  || fail "the agent's cgroup at its limit: $(grep -E '^pressure:' "$out" || echo 'the guest did not get through it')"
grep -q "^governor: BPF run-time statistics always on on kernel 6\.1" "$out" \
  || fail "overhead.bpf_stats: auto should keep the statistics on before 6.4: $(grep '^governor:' "$out")"
grep -q "agent exit 0" "$out" || fail "the agent did not exit 0 on SIGTERM: $(sed -n '/^agent still running/,/^agent exit/p;/^agent exit/p' "$out")"
grep -q "programs left: 0" "$out" || fail "programs left after the agent stopped"

out=$tmp/nolsm.txt
# The same boot also loads every source on the pre-5.8 paths (perf buffers instead of the ring
# buffer, the monotonic clock instead of the boot clock), and on the pre-5.15 ones (per-thread
# state in a hash, security and l7 through one sys_exit program, sched_switch without prev_state), as
# kernels without them would: 6.1's verifier is older than this machine's.
(cd "$root" && bash scripts/vmtest.sh --no-lsm --timeout 600 --idle 240 -- sh -c \
  'build/sightline doctor; SIGHTLINE_DISABLE_FEATURES=ringbuf,ktime_get_boot_ns build/sightline doctor -v | sed -n "/^load test/,\$p" | sed "s/^/perf: /"
   SIGHTLINE_DISABLE_FEATURES=task_pt_regs,task_storage,sched_switch_state build/sightline doctor -v | sed -n "/^load test/,\$p" | sed "s/^/pre515: /"') \
  >"$out" 2>&1 || fail "doctor failed with BPF LSM off: $(guest_tail "$out")"
echo "--- lsm= without bpf"; grep -E "vmtest:|bpf_lsm|verdict|^perf: |^pre515: " "$out"
grep -qE "^  -- +bpf_lsm +built in but not active" "$out" || fail "BPF LSM off not reported: $(grep bpf_lsm "$out")"
for s in process file net security syscalls sched block packets profile; do
  grep -qE "^perf:   $s +ok " "$out" || fail "$s does not load on 6.1 without the ring buffer: $(grep "^perf:   $s " "$out")"
done
grep -q FAILED <<<"$(grep '^perf: ' "$out")" && fail "a source failed on the perf-buffer path: $(grep '^perf: ' "$out")"
for s in process file net security l7 syscalls sched block packets profile; do
  grep -qE "^pre515:   $s +ok " "$out" || fail "$s does not load on 6.1 on the pre-5.15 path: $(grep "^pre515:   $s " "$out")"
done
grep -q FAILED <<<"$(grep '^pre515: ' "$out")" && fail "a source failed on the pre-5.15 path: $(grep '^pre515: ' "$out")"
# The bpf test suite on 6.1, less what this kernel or this VM lacks, each named here:
#   BlockSource.DirectReads..., EachIo...: the guest has no block device (its root is 9p)
#   NetSource.UdpDatagrams..., NetSource.SocketTrafficCountedOnceBesideL7: per-process socket
#     bytes need sock_send_length (6.3+); no fallback yet (doctor says so)
#   PacketsSource...OverTcxLinks: tcx links are 6.6+ (the clsact test runs)
skip='BlockSource\.DirectReads|BlockSource\.EachIo|NetSource\.UdpDatagrams|NetSource\.SocketTrafficCountedOnceBesideL7|PacketsSource\.CountsKnownTrafficAndDropsOverTcxLinks'
out=$tmp/bpf.txt
# Under TCG a test now and then waits past its time (a uprobe test once hung here in CI while
# passing on every run before and after): a test that fails is run once more, and the retry is
# reported, never hidden.
# A guest that freezes (no test fails, the suite never ends) is stopped once its console is
# silent for 240 s (a test prints at least every 120 s). Under TCG this happens now and then
# (one CPU in exc_int3, the other in __schedule: twice in the CI runs of early December 2026,
# once on this machine, none on the same builds' reruns): the guest boots once more for the
# tests that had not passed, and the freeze is reported with where its CPUs were. A second
# freeze, or a test failing twice, fails with the last tests it ran.
run_bpf() {  # run_bpf EXCLUDE OUT
  (cd "$root" && bash scripts/vmtest.sh --timeout 900 --idle 240 -- sh -c "cd build && ctest -L bpf -E '$1' --timeout 120 --repeat until-pass:2 --output-on-failure") >"$2" 2>&1
}
rc=0
run_bpf "$skip" "$out" || rc=$?
if ((rc == 124)); then
  passed=$(grep -oE 'Test +#[0-9]+: [A-Za-z0-9_.]+ \.* +Passed' "$out" | awk '{print $3}' | sed 's/\./\\./g' | paste -sd'|')
  echo "retried after: the guest froze; $(grep -cE 'Test +#[0-9]+: .* Passed' "$out") tests had passed; $(grep '^vmtest.sh' "$out" | tr '\n' ' ')"
  cp "$out" "$tmp/bpf-froze.txt"
  rc=0
  run_bpf "$skip${passed:+|^($passed)\$}" "$out" || rc=$?
  cat "$tmp/bpf-froze.txt" >>"$out"  # the passes before the freeze count below
fi
((rc == 0)) || fail "bpf tests on 6.1: $(grep -E 'Failed|Timeout|tests passed' "$out" | head -20)
--- what they said:
$(grep -E -A3 'Failure$|\] FAILED|error: ' "$out" | head -40)
--- the guest's last lines:
$(guest_tail "$out")"
echo "--- bpf tests"; grep -E "tests passed" "$out"
grep -E '\*\*\*(Failed|Timeout)|Timeout' "$out" | sed 's/^/retried after: /' || true
(( $(grep -cE 'Test +#[0-9]+: .* Passed' "$out") >= 30 )) || fail "too few bpf tests ran on 6.1: $(guest_tail "$out")"
echo "kernel 6.1: ok"
