// Learnt behaviour (rules/baseline.h): a workload learns for its window, then each new value is
// one deviation (with what the profile held), repeats are quiet, bounds hold, and a workload
// that never settles is reported once.
#include <gtest/gtest.h>

#include "rules/baseline.h"

using namespace sightline;
using core::EventKind;

namespace {
constexpr uint64_t kS = 1000000000ULL;

core::Event exec_of(const char* path, uint32_t ppid = 10) {
  core::Event e;
  e.kind = EventKind::kExec;
  e.pid = 11;
  e.ppid = ppid;
  e.path = path;
  e.comm = "x";
  return e;
}

core::Event connect_to(const char* addr, uint16_t port, const char* exe = "/srv/app") {
  core::Event e;
  e.kind = EventKind::kTcp;
  e.role = 1;
  e.raddr = addr;
  e.rport = port;
  e.exe = exe;
  return e;
}

rules::Baseline make(size_t max_items = 256, size_t max_workloads = 1024) {
  rules::BaselineOptions o;
  o.window_ns = 10 * kS;
  o.max_items = max_items;
  o.max_workloads = max_workloads;
  return rules::Baseline(o, [](uint32_t ppid) { return ppid == 10 ? std::string("/srv/app") : std::string(); });
}
}  // namespace

TEST(Baseline, NewValuesAfterTheWindowOnceEach) {
  auto b = make();
  rules::Deviation d;
  for (int i = 0; i < 3; i++) {
    EXPECT_FALSE(b.observe(exec_of("/usr/bin/curl"), 1 * kS, &d));
    EXPECT_FALSE(b.observe(connect_to("10.0.0.5", 5432), 2 * kS, &d));
  }
  EXPECT_FALSE(b.observe(exec_of("/bin/sh"), 3 * kS, &d));
  // After the window: the learnt values are quiet, new ones are deviations, once.
  EXPECT_FALSE(b.observe(exec_of("/usr/bin/curl"), 20 * kS, &d));
  EXPECT_FALSE(b.observe(connect_to("10.0.0.5", 5432), 20 * kS, &d));
  ASSERT_TRUE(b.observe(exec_of("/usr/bin/nc"), 21 * kS, &d));
  EXPECT_EQ(d.workload, "/srv/app");  // an exec belongs to the program that ran it
  EXPECT_EQ(d.category, "executable");
  EXPECT_EQ(d.value, "/usr/bin/nc");
  EXPECT_EQ(d.known, 2u);
  EXPECT_EQ(d.most_seen, "/usr/bin/curl (4), /bin/sh (1)");
  EXPECT_FALSE(b.observe(exec_of("/usr/bin/nc"), 22 * kS, &d));
  ASSERT_TRUE(b.observe(connect_to("10.0.0.5", 6379), 23 * kS, &d));
  EXPECT_EQ(d.category, "outbound");
  EXPECT_EQ(d.value, "10.0.0.5:6379");
  // Another workload learns on its own clock.
  EXPECT_FALSE(b.observe(connect_to("10.0.0.9", 80, "/srv/other"), 23 * kS, &d));
}

TEST(Baseline, WritesListensAndContainers) {
  auto b = make();
  rules::Deviation d;
  core::Event w;
  w.kind = EventKind::kOpen;
  w.exe = "/srv/app";
  w.path = "/var/log/app/out.log";
  w.flags = 01 | 0100;  // O_WRONLY|O_CREAT
  w.ret = 3;
  EXPECT_FALSE(b.observe(w, 0, &d));
  w.path = "/var/log/app/other.log";
  EXPECT_FALSE(b.observe(w, 20 * kS, &d));  // same directory
  w.path = "/etc/cron.d/x";
  ASSERT_TRUE(b.observe(w, 20 * kS, &d));
  EXPECT_EQ(d.category, "write_dir");
  EXPECT_EQ(d.value, "/etc/cron.d");
  w.flags = 0;  // a read says nothing
  w.path = "/etc/passwd";
  EXPECT_FALSE(b.observe(w, 20 * kS, &d));
  core::Event l;
  l.kind = EventKind::kTcp;
  l.role = 2;
  l.lport = 8080;
  l.container_id = "abcdef012345";
  l.exe = "/srv/app";
  EXPECT_FALSE(b.observe(l, 0, &d));
  l.lport = 2222;
  ASSERT_TRUE(b.observe(l, 20 * kS, &d));
  EXPECT_EQ(d.workload, "container:abcdef012345");
  EXPECT_EQ(d.category, "listen_port");
  EXPECT_EQ(d.value, "2222");
}

TEST(Baseline, AWorkloadThatNeverSettlesIsReportedOnce) {
  auto b = make(/*max_items=*/3);
  rules::Deviation d;
  for (int port = 1; port <= 10; port++) EXPECT_FALSE(b.observe(connect_to("10.0.0.1", port), 0, &d));
  ASSERT_TRUE(b.observe(connect_to("10.0.0.1", 99), 20 * kS, &d));
  EXPECT_TRUE(d.unsettled);
  EXPECT_EQ(d.value, "outbound");
  for (int port = 100; port < 110; port++) EXPECT_FALSE(b.observe(connect_to("10.0.0.1", port), 21 * kS, &d));
  EXPECT_NE(b.json(21 * kS).find("\"unsettled\":true"), std::string::npos);
}

TEST(Baseline, BytesAreBounded) {
  rules::BaselineOptions o;
  o.window_ns = 10 * kS;
  o.max_bytes = 4096;
  rules::Baseline b(o, nullptr);
  rules::Deviation d;
  for (int port = 1; port < 1000; port++) b.observe(connect_to("10.0.0.1", port), 0, &d);
  EXPECT_LE(b.bytes(), 4096u);
  for (int i = 0; i < 100; i++) b.observe(connect_to("10.0.0.1", 1, ("/w" + std::to_string(i)).c_str()), 0, &d);
  EXPECT_LE(b.bytes(), 4096u);
  EXPECT_GT(b.workloads_dropped(), 0u);
}

TEST(Baseline, WorkloadsAreBounded) {
  auto b = make(256, /*max_workloads=*/2);
  rules::Deviation d;
  for (const char* exe : {"/a", "/b", "/c", "/d"}) b.observe(connect_to("10.0.0.1", 1, exe), 0, &d);
  EXPECT_EQ(b.workloads(), 2u);
  EXPECT_EQ(b.workloads_dropped(), 2u);
}

TEST(Baseline, SyscallKindsAreACategory) {
  auto b = make();
  rules::Deviation d;
  core::Event s;
  s.kind = EventKind::kSyscall;
  s.exe = "/srv/app";
  s.sys_name = "setuid";
  EXPECT_FALSE(b.observe(s, 1 * kS, &d));
  s.sys_name = "setresuid";  // the same kind: privileges
  EXPECT_FALSE(b.observe(s, 20 * kS, &d));
  s.sys_name = "ptrace";
  ASSERT_TRUE(b.observe(s, 21 * kS, &d));
  EXPECT_EQ(d.category, "syscall");
  EXPECT_EQ(d.value, "ptrace");
  EXPECT_EQ(d.most_seen, "privileges (2)");
}

// Saved profiles come back as they were: a settled workload stays settled (a new value is a
// deviation at once), a learning one resumes its window, the bounds hold.
TEST(Baseline, SavedProfilesLoadBack) {
  auto b = make();
  rules::Deviation d;
  EXPECT_FALSE(b.observe(exec_of("/usr/bin/curl"), 1 * kS, &d));
  EXPECT_FALSE(b.observe(connect_to("10.0.0.5", 5432, "/srv/other"), 18 * kS, &d));  // learning till 28 s
  std::string saved = b.json(20 * kS);
  EXPECT_NE(saved.find("\"age_s\":19"), std::string::npos) << saved;

  auto c = make();
  size_t n = 0;
  ASSERT_TRUE(c.load(saved, 100 * kS, &n).ok());
  EXPECT_EQ(n, 2u);
  EXPECT_FALSE(c.observe(exec_of("/usr/bin/curl"), 100 * kS, &d));  // learnt before the restart
  ASSERT_TRUE(c.observe(exec_of("/usr/bin/nc"), 101 * kS, &d));
  EXPECT_EQ(d.most_seen, "/usr/bin/curl (2)");  // once before the restart, once after
  // /srv/other had learnt 2 s of its 10: it learns 8 more.
  EXPECT_FALSE(c.observe(connect_to("10.0.0.6", 80, "/srv/other"), 105 * kS, &d));
  EXPECT_TRUE(c.observe(connect_to("10.0.0.7", 80, "/srv/other"), 109 * kS, &d));
  // Bad input is an error, never a crash; bounds hold on load.
  EXPECT_FALSE(c.load("{not json", 0, &n).ok());
  EXPECT_FALSE(c.load("{\"x\":1}", 0, &n).ok());
  auto small = make(256, 1);
  ASSERT_TRUE(small.load(saved, 100 * kS, &n).ok());
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(small.workloads_dropped(), 1u);
}
