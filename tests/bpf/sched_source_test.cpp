// sched source against the real kernel: CPU contention shows as run-queue wait, sleeping as
// blocked time.
#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "core/cgroups.h"

#include "harness.h"

using namespace sightline;
using test::Harness;

namespace {

void busy_on_cpu0(std::chrono::milliseconds d) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  sched_setaffinity(0, sizeof set, &set);
  auto end = std::chrono::steady_clock::now() + d;
  volatile uint64_t x = 0;
  while (std::chrono::steady_clock::now() < end) x = x + 1;
}

}  // namespace

TEST(SchedSource, ContentionIsRunQueueWaitAndSleepIsBlockedTime) {
  // The workload runs in a cgroup v2 of its own: its waits show in that cgroup's histogram.
  std::string root = core::cgroup2_mount();
  ASSERT_FALSE(root.empty()) << "no cgroup2 mount";
  std::string cg = "/sl-test-runq-" + std::to_string(getpid());
  ASSERT_EQ(mkdir((root + cg).c_str(), 0755), 0) << root + cg << ": " << strerror(errno);
  Harness h;
  h.start("sched", test::self_included());
  h.runner().collect_all();
  double hist_before = h.metric("sightline_runqueue_latency_seconds", {});
  int done[2], go[2];
  ASSERT_EQ(pipe(done), 0);
  ASSERT_EQ(pipe(go), 0);
  pid_t child = fork();
  if (child == 0) {
    prctl(PR_SET_NAME, "sl-sched-test");
    {
      std::ofstream procs(root + cg + "/cgroup.procs");
      procs << getpid() << std::endl;
      if (!procs) _exit(1);
    }
    // Two busy threads on one CPU: each waits while the other runs.
    std::thread a(busy_on_cpu0, std::chrono::milliseconds(600));
    std::thread b(busy_on_cpu0, std::chrono::milliseconds(600));
    a.join();
    b.join();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // blocked, not waiting
    char c = 'd';
    if (write(done[1], &c, 1) != 1) _exit(1);
    if (read(go[0], &c, 1) != 1) _exit(1);
    _exit(0);
  }
  char c;
  ASSERT_EQ(read(done[0], &c, 1), 1);
  h.runner().collect_all();
  const core::Labels me = {{"comm", "sl-sched-test"}};
  double cpu = h.metric("sightline_cpu_seconds_total", me);
  double runq = h.metric("sightline_runqueue_wait_seconds_total", me);
  double blocked = h.metric("sightline_blocked_seconds_total", me);
  double invol = h.metric("sightline_context_switches_total", {{"comm", "sl-sched-test"}, {"kind", "involuntary"}});
  double hist_after = h.metric("sightline_runqueue_latency_seconds", {});
  double in_cgroup = h.metric("sightline_cgroup_runqueue_latency_seconds", {{"cgroup", cg}});
  ASSERT_EQ(write(go[1], "g", 1), 1);
  waitpid(child, nullptr, 0);
  rmdir((root + cg).c_str());
  for (int fd : {done[0], done[1], go[0], go[1]}) close(fd);

  // Two threads sharing one CPU for 0.6 s: about 0.6 s of CPU between them, and each waits
  // for the other most of the time.
  EXPECT_GT(cpu, 0.4) << "cpu seconds";
  EXPECT_LT(cpu, 1.3) << "cpu seconds";
  EXPECT_GT(runq, 0.2) << "run-queue wait seconds";
  EXPECT_GT(invol, 10) << "involuntary switches";
  EXPECT_GT(blocked, 0.25) << "blocked seconds (the 300 ms sleep)";
  EXPECT_GT(hist_after, hist_before + 10) << "run-queue latency histogram";
  EXPECT_GT(in_cgroup, 10) << "run-queue latency histogram of the workload's cgroup";
}
