// uprobe source against the real kernel: functions of a program this test builds, called a
// known number of times with known durations; libc malloc in a known process; a C++ method by
// its demangled name; every call streamed with its arguments, string and return value.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "harness.h"
#include "sources/uprobe/uprobe_source.h"

using namespace sightline;
using core::EventKind;
using test::Harness;
namespace fs = std::filesystem;

namespace {

class Programs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("sl-uprobe-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    // Each program waits for a byte on stdin: the probes are attached by then.
    std::ofstream(dir_ / "work.c") <<
        "#include <stdlib.h>\n#include <time.h>\n#include <unistd.h>\n"
        "volatile long sink;\n"
        "int __attribute__((noinline)) work_a(int x) { struct timespec ts = {0, 2000000}; nanosleep(&ts, 0); return x + 1; }\n"
        "int __attribute__((noinline)) work_b(long y, const char* s) { sink += s[0]; return (int)(y * 2); }\n"
        "int main(void) { char c; if (read(0, &c, 1) != 1) return 1;\n"
        "  for (int i = 0; i < 100; i++) sink += work_a(i);\n"
        "  for (int i = 0; i < 50; i++) sink += work_b(i, \"hello\");\n"
        "  for (int i = 0; i < 30; i++) { void* p = malloc(1000 + i); sink += (long)p; free(p); }\n"
        "  return 0; }\n";
    std::ofstream(dir_ / "widget.cc") <<
        "#include <unistd.h>\n"
        "namespace ns { struct Widget { int __attribute__((noinline)) spin(int n); }; "
        "int Widget::spin(int n) { return n * 2 + 1; } }\n"
        "volatile int sink;\n"
        "int main() { char c; if (read(0, &c, 1) != 1) return 1; ns::Widget w;\n"
        "  for (int i = 0; i < 77; i++) sink += w.spin(i); return 0; }\n";
    std::string d = dir_.string();
    ASSERT_EQ(system(("cc -O1 -o " + d + "/work " + d + "/work.c").c_str()), 0);
    ASSERT_EQ(system(("c++ -O1 -o " + d + "/widget " + d + "/widget.cc").c_str()), 0);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static std::string path(const char* n) { return (dir_ / n).string(); }

  // Starts `prog` waiting on its stdin; go() lets it run, wait() reaps it.
  struct Child {
    pid_t pid = -1;
    int go_fd = -1;
    void go() {
      if (write(go_fd, "g", 1) != 1) ADD_FAILURE() << "go";
    }
    int wait() {
      int st = 0;
      waitpid(pid, &st, 0);
      close(go_fd);
      return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    }
  };
  static Child spawn(const std::string& prog) {
    int fds[2];
    if (pipe(fds) != 0) return {};
    pid_t pid = fork();
    if (pid == 0) {
      dup2(fds[0], 0);
      close(fds[1]);
      execl(prog.c_str(), prog.c_str(), nullptr);
      _exit(127);
    }
    close(fds[0]);
    return {pid, fds[1]};
  }
  static fs::path dir_;
};
fs::path Programs::dir_;

}  // namespace

TEST_F(Programs, CallsAndLatencyOfKnownFunctions) {
  Child c = spawn(path("work"));
  Harness h;
  sources::SourceOptions o;
  o.filter.pid = static_cast<uint32_t>(c.pid);
  o.own_as<sources::UprobeOptions>().probes = {{path("work") + ":work_*", true, false, 0}, {"libc:malloc", false, false, 0}};
  h.start("uprobe", o);
  c.go();
  ASSERT_EQ(c.wait(), 0);
  h.runner().collect_all();
  EXPECT_EQ(h.metric("sightline_uprobe_calls_total", {{"probe", "work:work_a"}}), 100);
  EXPECT_EQ(h.metric("sightline_uprobe_calls_total", {{"probe", "work:work_b"}}), 50);
  EXPECT_GE(h.metric("sightline_uprobe_calls_total", {{"probe", "libc:malloc"}}), 30);
  EXPECT_EQ(h.metric("sightline_uprobe_latency_seconds", {{"probe", "work:work_a"}}), 100);
  // Each work_a sleeps 2 ms: the histogram's sum is at least 0.2 s.
  double sum = -1;
  h.runner().visit_metrics([&](const core::MetricFamily& f) {
    if (f.name != "sightline_uprobe_latency_seconds") return;
    for (const auto& s : f.series)
      if (s.labels == core::Labels{{"probe", "work:work_a"}}) sum = double(s.hist.sum()) * f.scale;
  });
  EXPECT_GE(sum, 0.2);
  EXPECT_LT(sum, 2.0);
}

TEST_F(Programs, ACppMethodByItsDemangledName) {
  Child c = spawn(path("widget"));
  Harness h;
  sources::SourceOptions o;
  o.filter.pid = static_cast<uint32_t>(c.pid);
  o.own_as<sources::UprobeOptions>().probes = {{path("widget") + ":ns::Widget::spin(int)", false, false, 0}};
  h.start("uprobe", o);
  c.go();
  ASSERT_EQ(c.wait(), 0);
  h.runner().collect_all();
  EXPECT_EQ(h.metric("sightline_uprobe_calls_total", {{"probe", "widget:ns::Widget::spin(int)"}}), 77);
}

TEST_F(Programs, EveryCallStreamedWithArgumentsStringAndReturn) {
  Child c = spawn(path("work"));
  Harness h;
  sources::SourceOptions o;
  o.filter.pid = static_cast<uint32_t>(c.pid);
  o.own_as<sources::UprobeOptions>().probes = {{path("work") + ":work_b", true, true, 2}};
  h.start("uprobe", o);
  c.go();
  ASSERT_EQ(c.wait(), 0);
  ASSERT_TRUE(h.pump_until([&] { return h.find(EventKind::kUprobe, [](auto&) { return true; }).size() >= 50; }));
  // The Recorder keeps generic fields; check the payload through the schema-independent ones.
  auto evs = h.find(EventKind::kUprobe, [](auto&) { return true; });
  EXPECT_EQ(evs.size(), 50u);
  size_t with_str = 0;
  for (const auto& e : evs) {
    EXPECT_EQ(e.pid, (uint32_t)c.pid);
    EXPECT_EQ(e.path, "work:work_b");
    EXPECT_EQ(e.ret, int64_t(e.args_count) * 2) << "ret = 2 * the first argument";
    EXPECT_GT(e.duration_ns, 0u);
    with_str += e.args == "hello";
  }
  // A string on a page not touched yet cannot be read from a uprobe (no page faults there).
  EXPECT_GE(with_str, 45u);
}

TEST(UprobeTargets, BadTargetsAreClearErrors) {
  auto start = [&](const std::string& t) {
    agent::Runner r(bpf::probe_features());
    sources::SourceOptions o;
    o.own_as<sources::UprobeOptions>().probes = {{t, false, false, 0}};
    return r.start("uprobe", o);
  };
  auto st = start("nocolon");
  EXPECT_NE(st.message().find("expected BINARY:SYMBOL"), std::string::npos) << st.message();
  st = start("libc:sl_no_such_function_xyz");
  EXPECT_NE(st.message().find("no function 'sl_no_such_function_xyz'"), std::string::npos) << st.message();
  st = start("sl-no-such-binary:main");
  EXPECT_NE(st.message().find("no binary or library"), std::string::npos) << st.message();
  st = start("libc:*");
  EXPECT_NE(st.message().find("narrow the pattern"), std::string::npos) << st.message();
}
