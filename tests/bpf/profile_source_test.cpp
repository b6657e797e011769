// profile source against the real kernel: user stacks of code built without frame pointers,
// walked in the kernel with the .eh_frame tables (the default), across an exec that replaces
// the program (its tables with it).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "bpf/features.h"
#include "sources/profile/profile_source.h"

using namespace sightline;
namespace fs = std::filesystem;

namespace {

std::string names(const profile::Profile::Entry& e) {
  std::string s;
  for (const auto& f : e.frames)
    if (!f.kernel) s += ";" + f.function;
  return s;
}

double metric(const std::vector<core::MetricFamily>& fams, const std::string& name, const std::string& label) {
  for (const auto& f : fams)
    if (f.name == name)
      for (const auto& s : f.series)
        for (const auto& [k, v] : s.labels)
          if (v == label) return s.value;
  return -1;
}

TEST(ProfileSource, KernelUnwindingWalksCodeWithoutFramePointersAcrossAnExec) {
  fs::path dir = fs::temp_directory_path() / ("sl-prof-" + std::to_string(getpid()));
  fs::create_directories(dir);
  // first: burns 1.5 s in main -> level2 -> burn_cpu, then execs second, which burns in
  // main -> other_work -> spin. Both -O2 -fomit-frame-pointer: the frame-pointer walk gets
  // burn_cpu alone.
  std::ofstream(dir / "first.c") <<
      "#include <time.h>\n#include <unistd.h>\n"
      "int __attribute__((noinline)) burn_cpu(long n) { volatile long s = 0; for (long i = 0; i < n; i++) s += i; return (int)s; }\n"
      "int __attribute__((noinline)) level2(long n) { return burn_cpu(n) + 1; }\n"
      "int main(int argc, char** argv) { struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);\n"
      "  do { level2(1000000); clock_gettime(CLOCK_MONOTONIC, &b); } while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 1500);\n"
      "  execv(argv[1], argv + 1); return 1; }\n";
  std::ofstream(dir / "second.c") <<
      "#include <time.h>\n"
      "int __attribute__((noinline)) spin(long n) { volatile long s = 1; for (long i = 0; i < n; i++) s ^= i; return (int)s; }\n"
      "int __attribute__((noinline)) other_work(long n) { return spin(n) + 2; }\n"
      "int main(void) { time_t end = time(0) + 3; while (time(0) < end) other_work(1000000); return 0; }\n";
  std::string d = dir.string();
  ASSERT_EQ(system(("cc -O2 -fomit-frame-pointer -o " + d + "/first " + d + "/first.c").c_str()), 0);
  ASSERT_EQ(system(("cc -O2 -fomit-frame-pointer -o " + d + "/second " + d + "/second.c").c_str()), 0);

  int go[2];
  ASSERT_EQ(pipe(go), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    char c;
    close(go[1]);
    if (read(go[0], &c, 1) != 1) _exit(1);
    std::string first = d + "/first", second = d + "/second";
    execl(first.c_str(), "first", second.c_str(), nullptr);
    _exit(1);
  }
  close(go[0]);

  auto source = sources::make_profile_source();
  auto* prof = static_cast<sources::ProfileSource*>(source.get());
  sources::SourceOptions o;
  o.filter.pid = static_cast<uint32_t>(pid);
  o.own_as<sources::ProfileOptions>().hz = 199;
  o.own_as<sources::ProfileOptions>().kernel_unwind = true;
  o.own_as<sources::ProfileOptions>().tables_min_age_ms = 0;  // the program is asked for at once
  bpf::Features f = bpf::probe_features();
  // Without bpf_loop or bpf_task_pt_regs (kernels before 5.17, or disabled by the fallbacks
  // test) the source walks frame pointers: the stacks stop at the leaf, and it says why.
  bool tables = f.bpf_loop && f.task_pt_regs && f.tp_btf;
  core::Status st = source->start(o, f, nullptr);
  ASSERT_TRUE(st) << st.message();
  ASSERT_EQ(write(go[1], "g", 1), 1);
  profile::Profile all;
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(4200);
  while (std::chrono::steady_clock::now() < end) {
    for (int i = 0; i < 20; i++) std::this_thread::sleep_for(std::chrono::milliseconds(50)), source->consume();
    profile::Profile on, off;
    prof->drain(&on, &off);
    for (auto& e : on.entries) all.entries.push_back(std::move(e));
  }
  std::vector<core::MetricFamily> metrics;
  source->collect(metrics);
  sources::StackCounts c = prof->counts();
  source->stop();
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  close(go[1]);
  fs::remove_all(dir);

  uint64_t first = 0, first_full = 0, second = 0, second_full = 0;
  std::string some;  // a few stacks, for a failure's message
  for (const auto& e : all.entries) {
    std::string s = names(e);
    if (some.size() < 2000) some += s + " " + std::to_string(e.value) + "\n";
    if (s.ends_with(";burn_cpu")) {
      first += e.value;
      if (s.find(";main;level2;burn_cpu") != std::string::npos && s.starts_with(";_start;")) first_full += e.value;
    }
    if (s.ends_with(";spin")) {
      second += e.value;
      if (s.find(";main;other_work;spin") != std::string::npos && s.starts_with(";_start;")) second_full += e.value;
    }
  }
  // 1.5 s and ~2.5 s of CPU at 199 Hz; the ones in the first ask's moment go by frame pointers.
  EXPECT_GT(first, 150u);
  EXPECT_GT(second, 200u);
  if (!tables) {
    EXPECT_EQ(c.user_unwound, 0u);
    EXPECT_LT(first_full * 100, first * 5) << "frame pointers reached _start without them";
    bool said = false;
    for (const auto& h : source->plan(f, o))
      said |= h.program == "sl_unw_exec" && !h.enabled && h.note.find("needs") != std::string::npos;
    EXPECT_TRUE(said) << "the plan does not say why the tables are off";
    return;
  }
  // Each program's first samples, until its ask is served (the test consumes every 50 ms), go by
  // frame pointers: ~10 of 200.
  EXPECT_GE(first_full * 100, first * 90) << first_full << " of " << first << " complete before the exec; stacks:\n" << some;
  EXPECT_GE(second_full * 100, second * 90) << second_full << " of " << second << " complete after it";
  EXPECT_GT(c.user_unwound * 100, c.user_stacks * 90) << c.user_unwound << " of " << c.user_stacks << " unwound by tables";
  EXPECT_GT(metric(metrics, "sightline_profile_unwind_frames_total", "table"), 0);
  EXPECT_GE(metric(metrics, "sightline_profile_unwind_processes_total", "loaded"), 2);  // at start, after the exec
  EXPECT_GT(metric(metrics, "sightline_profile_unwind_rows", "used"), 0);
}

}  // namespace
