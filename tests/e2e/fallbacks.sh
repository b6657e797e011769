#!/usr/bin/env bash
# The fallback paths, run on a kernel that has everything: the feature probe is told
# (SIGHTLINE_DISABLE_FEATURES) that the kernel lacks a feature, and the sources' own bpf tests run
# on the path they take then:
#   tp_btf          (before 5.5): raw tracepoints and classic tracepoints instead of tp_btf (sched,
#                   and with it request timelines, need tp_btf: left out);
#   htab_mem_alloc, bpf_loop, task_pt_regs, task_storage, sched_switch_state: together, as a
#                   5.10 kernel lacks them (6.1, 5.17, 5.15, 5.11, 5.18): hash maps preallocated to
#                   their bound, a pipelined Redis write counting one request (that test is left
#                   out), per-thread state in an LRU hash by thread id, security and l7 through one
#                   tp_btf sys_exit program that has the registers, the switched-out task's state
#                   read from the task (the 6.1 guest runs the suite with task storage off alone,
#                   tests/vm/kernel_6_1.sh);
#   ringbuf, ktime_get_boot_ns (before 5.8): per-CPU perf buffers, the monotonic clock plus the
#                   boot offset; l7 cannot run there (its tests are left out), loss stays exact.
# doctor says what it disabled, and names a feature it does not know.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
BPF_TESTS=$(dirname "$SL")/tests/bpf_tests
[[ -x $BPF_TESTS ]] || fail "$BPF_TESTS missing: scripts/build.sh builds it"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

SIGHTLINE_DISABLE_FEATURES=tp_btf,nosuch "$SL" doctor >"$tmp/doctor.txt" 2>&1 || true
grep -qE "tp_btf +disabled by SIGHTLINE_DISABLE_FEATURES" "$tmp/doctor.txt" || fail "doctor: $(grep -i tp_btf "$tmp/doctor.txt")"
grep -q "names no feature 'nosuch'" "$tmp/doctor.txt" || fail "doctor does not name the unknown feature"

# A test that fails is run once more on its own (as the 6.1 guest's are: a block test once saw a
# read too many or too few in CI, passing on every run before and after); the retry is
# reported, never hidden, and a second failure shows what gtest said.
run() {  # run DISABLED FILTER
  echo "== SIGHTLINE_DISABLE_FEATURES=$1"
  if ! SIGHTLINE_DISABLE_FEATURES=$1 "$BPF_TESTS" --gtest_filter="$2" --gtest_brief=1 >"$tmp/out.txt" 2>&1; then
    local failed
    failed=$(sed -n 's/^\[  FAILED  \] \([A-Za-z0-9_]*\.[A-Za-z0-9_]*\) .*/\1/p' "$tmp/out.txt" | sort -u | paste -sd:)
    [[ -n $failed ]] || fail "bpf tests with $1 disabled: $(tail -20 "$tmp/out.txt")"
    echo "retried after: $failed ($(grep -m3 -A3 -E 'Failure$' "$tmp/out.txt" | cut -c1-300 | paste -sd' '))"
    SIGHTLINE_DISABLE_FEATURES=$1 "$BPF_TESTS" --gtest_filter="$failed" --gtest_brief=1 >"$tmp/retry.txt" 2>&1 ||
      fail "bpf tests with $1 disabled, $failed twice: $(grep -A12 -E 'Failure$' "$tmp/retry.txt" | cut -c1-400 | head -60)"
  fi
  grep -E '^\[  PASSED' "$tmp/out.txt" || true
}
# (Request timelines and parent-based sampling need the sched source's serving mark, and the
# sched source needs tp_btf: their tests are left out there.)
run tp_btf 'L7Source.*:FileSource.*:ProcessSource.*:SecuritySource.*:Programs.*:-L7Source.PipelinedRedisWriteCountsEachCommand:L7Source.AServerRequestsTimelineSplitsItsThreadsTime:L7Source.CallsMadeWhileServingFollowTheServedRequestsSample:L7Source.ACallIsLinkedToAHeldServedRequestThatGoesOutAfterIt'
run htab_mem_alloc,bpf_loop,task_pt_regs,task_storage,sched_switch_state '*:-L7Source.PipelinedRedisWriteCountsEachCommand'
run ringbuf,ktime_get_boot_ns '*:-L7Source.*'
echo "ok: the fallback paths pass their sources' tests"
