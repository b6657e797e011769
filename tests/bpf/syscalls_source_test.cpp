// syscalls source against the real kernel: exact counts and errno buckets of a known workload.
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>

#include "harness.h"
#include "sources/syscalls/syscalls_source.h"

using namespace sightline;
using test::Harness;

namespace {

void exact_counts(bool latency) {
  Harness h;
  auto opts = test::self_included();
  opts.own_as<sources::SyscallsOptions>().latency = latency;
  h.start("syscalls", opts);
  int go[2], done[2];
  ASSERT_EQ(pipe(go), 0);
  ASSERT_EQ(pipe(done), 0);
  constexpr int kOk = 1000, kFailed = 250;
  pid_t child = fork();
  if (child == 0) {
    char c;
    if (read(go[0], &c, 1) != 1) _exit(1);
    prctl(PR_SET_NAME, "sl-sys-test");
    for (int i = 0; i < kOk; i++) syscall(SYS_getppid);
    for (int i = 0; i < kFailed; i++) close(-1);  // EBADF
    if (write(done[1], "d", 1) != 1) _exit(1);
    if (read(go[0], &c, 1) != 1) _exit(1);  // stay alive until collected
    _exit(0);
  }
  ASSERT_EQ(write(go[1], "g", 1), 1);
  char c;
  ASSERT_EQ(read(done[0], &c, 1), 1);
  h.runner().collect_all();
  const core::Labels getppid = {{"comm", "sl-sys-test"}, {"syscall", "getppid"}};
  const core::Labels closes = {{"comm", "sl-sys-test"}, {"syscall", "close"}};
  EXPECT_EQ(h.metric("sightline_syscalls_total", getppid), kOk);
  EXPECT_EQ(h.metric("sightline_syscalls_total", closes), kFailed);
  EXPECT_EQ(h.metric("sightline_syscall_errors_total",
                     {{"comm", "sl-sys-test"}, {"syscall", "close"}, {"errno", "EBADF"}}),
            kFailed);
  EXPECT_EQ(h.metric("sightline_syscall_errors_total", {{"comm", "sl-sys-test"}, {"syscall", "getppid"}}), -1)
      << "getppid never fails";
  if (latency) {
    EXPECT_GE(h.metric("sightline_syscall_latency_seconds", {{"syscall", "getppid"}}), kOk);
    EXPECT_GT(h.metric("sightline_syscall_seconds_total", getppid), 0);
  } else {
    EXPECT_EQ(h.metric("sightline_syscall_latency_seconds", {}), -1) << "no histograms without latency";
  }

  // The process exits: its kernel keys are dropped, its totals stay (counters never go down).
  ASSERT_EQ(write(go[1], "g", 1), 1);
  waitpid(child, nullptr, 0);
  h.runner().collect_all();
  h.runner().collect_all();
  EXPECT_EQ(h.metric("sightline_syscalls_total", getppid), kOk);
  EXPECT_EQ(h.metric("sightline_syscalls_total", closes), kFailed);
  auto st = h.runner().sources().at(0).source->stats();
  EXPECT_EQ(st.map_full, 0u);
  for (int fd : {go[0], go[1], done[0], done[1]}) close(fd);
}

}  // namespace

TEST(SyscallsSource, ExactCountsAndErrnoBucketsOfAKnownWorkload) { exact_counts(true); }
// One hook at exit: the same counts, the number read from the saved registers.
TEST(SyscallsSource, CountsWithoutLatencyFromTheExitHookAlone) { exact_counts(false); }

// The governor sheds latency at run time: the counts stay exact across both switches (calls that
// entered before one and left after it included), latency is measured only while not shed.
TEST(SyscallsSource, LatencyShedAtRunTimeKeepsCountsExact) {
  Harness h;
  auto opts = test::self_included();
  opts.own_as<sources::SyscallsOptions>().latency = true;
  h.start("syscalls", opts);
  auto* src = h.runner().sources().at(0).source.get();
  int go[2], done[2];
  ASSERT_EQ(pipe(go), 0);
  ASSERT_EQ(pipe(done), 0);
  constexpr int kPhase = 300;  // getppid calls a phase: timed, shed, timed again
  pid_t child = fork();
  if (child == 0) {
    prctl(PR_SET_NAME, "sl-sys-shed");
    char c;
    for (int phase = 0; phase < 3; phase++) {
      if (read(go[0], &c, 1) != 1) _exit(1);
      for (int i = 0; i < kPhase; i++) syscall(SYS_getppid);
      if (write(done[1], "d", 1) != 1) _exit(1);
    }
    if (read(go[0], &c, 1) != 1) _exit(1);
    _exit(0);
  }
  char c;
  for (int phase = 0; phase < 3; phase++) {
    if (phase == 1) {
      EXPECT_EQ(src->shed(1), "syscall latency (counts and errors stay)");
    } else if (phase == 2) {
      EXPECT_EQ(src->shed(0), "");
    }
    ASSERT_EQ(write(go[1], "g", 1), 1);
    ASSERT_EQ(read(done[0], &c, 1), 1);
  }
  h.runner().collect_all();
  const core::Labels getppid = {{"comm", "sl-sys-shed"}, {"syscall", "getppid"}};
  const core::Labels reads = {{"comm", "sl-sys-shed"}, {"syscall", "read"}};
  EXPECT_EQ(h.metric("sightline_syscalls_total", getppid), 3 * kPhase);
  // each phase's read of the go byte began before the switch and ended after it
  EXPECT_EQ(h.metric("sightline_syscalls_total", reads), 3);
  double timed = h.metric("sightline_syscall_latency_seconds", {{"syscall", "getppid"}});
  EXPECT_GE(timed, 2 * kPhase) << "timed in the first and last phases";
  EXPECT_LT(timed, 3 * kPhase) << "not while shed";
  ASSERT_EQ(write(go[1], "g", 1), 1);
  waitpid(child, nullptr, 0);
  for (int fd : {go[0], go[1], done[0], done[1]}) close(fd);
}

// process_labels: [comm, pid] keeps one series per process; the labels come in that order.
TEST(SyscallsSource, ProcessLabelsChooseTheDimensions) {
  Harness h;
  h.runner().set_process_labels({"comm", "pid"});
  h.start("syscalls", test::self_included());
  int done[2], go[2];
  ASSERT_EQ(pipe(done), 0);
  ASSERT_EQ(pipe(go), 0);
  pid_t kids[2];
  for (pid_t& kid : kids) {
    kid = fork();
    if (kid == 0) {
      prctl(PR_SET_NAME, "sl-sys-dims");
      for (int i = 0; i < 300; i++) syscall(SYS_getppid);
      char c;
      if (write(done[1], "d", 1) != 1 || read(go[0], &c, 1) != 1) _exit(1);
      _exit(0);
    }
  }
  char c;
  for (int i = 0; i < 2; i++) ASSERT_EQ(read(done[0], &c, 1), 1);
  h.runner().collect_all();
  for (pid_t kid : kids)
    EXPECT_EQ(h.metric("sightline_syscalls_total",
                       {{"comm", "sl-sys-dims"}, {"pid", std::to_string(kid)}, {"syscall", "getppid"}}),
              300);
  EXPECT_EQ(h.metric("sightline_syscalls_total", {{"comm", "sl-sys-dims"}, {"syscall", "getppid"}}), 600);
  bool ordered = false;
  h.runner().visit_metrics([&](const core::MetricFamily& f) {
    if (f.name == "sightline_syscalls_total" && !f.series.empty())
      ordered = f.series[0].labels.size() == 3 && f.series[0].labels[0].first == "comm" &&
                f.series[0].labels[1].first == "pid" && f.series[0].labels[2].first == "syscall";
  });
  EXPECT_TRUE(ordered);
  ASSERT_EQ(write(go[1], "gg", 2), 2);
  for (pid_t kid : kids) waitpid(kid, nullptr, 0);
  for (int fd : {go[0], go[1], done[0], done[1]}) close(fd);
}
