// The process table: seeding from a /proc tree, updates from events, enrichment, bounds.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/process_table.h"

using namespace sightline::core;
namespace fs = std::filesystem;

namespace {

class FakeProc : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("sl-proc-" + std::to_string(getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "proc");
    fs::create_directories(root_ / "cg" / "system.slice" / ("docker-" + std::string(64, 'a') + ".scope"));
    write("proc/mounts", "cgroup2 " + (root_ / "cg").string() + " cgroup2 rw 0 0\n");
    add(1, 0, "init", "/sbin/init", "/");
    add(100, 1, "bash (x)", "/usr/bin/bash", "/system.slice/docker-" + std::string(64, 'a') + ".scope");
    write("proc/self/stat", "garbage");  // not numeric: skipped
  }
  void TearDown() override { fs::remove_all(root_); }

  void write(const std::string& rel, const std::string& text) {
    fs::create_directories((root_ / rel).parent_path());
    std::ofstream(root_ / rel) << text;
  }
  void add(int pid, int ppid, const std::string& comm, const std::string& exe, const std::string& cg) {
    std::string d = "proc/" + std::to_string(pid);
    // Fields 3..22: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
    // stime cutime cstime priority nice threads itrealvalue starttime
    write(d + "/stat", std::to_string(pid) + " (" + comm + ") S " + std::to_string(ppid) +
                           " 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 500 0 0\n");
    write(d + "/status", "Name:\t" + comm + "\nUid:\t1000\t1000\t1000\t1000\nGid:\t100\t100\t100\t100\n");
    write(d + "/cmdline", std::string(exe) + std::string("\0--login\0", 9));
    write(d + "/cgroup", "0::" + cg + "\n");
    fs::create_symlink(exe, root_ / d / "exe");
  }
  std::string proc() const { return (root_ / "proc").string(); }
  fs::path root_;
};

Event make(EventKind kind, uint32_t pid, uint32_t ppid, std::string_view comm) {
  Event e;
  e.kind = kind;
  e.pid = e.tid = pid;
  e.ppid = ppid;
  e.comm = comm;
  e.ts_boot_ns = 1000;
  return e;
}

}  // namespace

TEST_F(FakeProc, SeedsFromProc) {
  ProcessTable t;
  EXPECT_EQ(t.seed_from_proc(proc()), 2u);
  const ProcessInfo* p = t.find(100);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->comm, "bash (x)");  // parenthesis inside comm does not confuse the parser
  EXPECT_EQ(p->ppid, 1u);
  EXPECT_EQ(p->uid, 1000u);
  EXPECT_EQ(p->gid, 100u);
  EXPECT_EQ(p->exe, "/usr/bin/bash");
  EXPECT_EQ(p->args, std::string("/usr/bin/bash\0--login\0", 22));
  ASSERT_NE(p->container, nullptr);
  EXPECT_EQ(p->container->id, "aaaaaaaaaaaa");
  EXPECT_EQ(p->container->runtime, "docker");
  struct stat st;
  ASSERT_EQ(stat((root_ / "cg" / "system.slice" / ("docker-" + std::string(64, 'a') + ".scope")).c_str(), &st), 0);
  EXPECT_EQ(p->cgroup_id, st.st_ino);
  EXPECT_EQ(p->start_boot_ns, 500ULL * (1000000000ULL / sysconf(_SC_CLK_TCK)));
}

TEST_F(FakeProc, ForkExecExitKeepTheTableCurrentAndEnrich) {
  ProcessTable t;
  t.seed_from_proc(proc());
  Event fork = make(EventKind::kFork, 100, 1, "bash (x)");
  fork.child_pid = 200;
  t.observe(fork);
  EXPECT_EQ(fork.pname, "init");
  const ProcessInfo* c = t.find(200);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->ppid, 100u);
  EXPECT_EQ(c->exe, "/usr/bin/bash");  // inherited until it execs
  ASSERT_NE(c->container, nullptr);
  EXPECT_EQ(c->container->id, "aaaaaaaaaaaa");

  Event exec = make(EventKind::kExec, 200, 100, "ls");
  exec.cgroup_id = c->cgroup_id;
  exec.path = "/usr/bin/ls";
  static const char args[] = "ls\0-l\0";
  exec.args = std::string_view(args, 6);
  t.observe(exec);
  EXPECT_EQ(exec.pname, "bash (x)");
  EXPECT_EQ(exec.exe, "/usr/bin/ls");
  EXPECT_EQ(exec.container_id, "aaaaaaaaaaaa");
  EXPECT_EQ(t.find(200)->comm, "ls");

  Event failed = make(EventKind::kExec, 200, 100, "ls");
  failed.path = "/nope";
  failed.ret = -2;
  t.observe(failed);
  EXPECT_EQ(t.find(200)->exe, "/usr/bin/ls");  // a failed exec changes nothing

  Event open = make(EventKind::kOpen, 200, 100, "ls");
  t.observe(open);
  EXPECT_EQ(open.exe, "/usr/bin/ls");

  Event exit = make(EventKind::kExit, 200, 100, "ls");
  exit.ts_boot_ns = 2000;
  t.observe(exit);
  EXPECT_NE(t.find(200), nullptr);  // kept for late events
  t.sweep(2000 + ProcessTable::kExitGraceNs - 1);
  EXPECT_NE(t.find(200), nullptr);
  t.sweep(2000 + ProcessTable::kExitGraceNs);
  EXPECT_EQ(t.find(200), nullptr);
  EXPECT_EQ(t.size(), 2u);
}

TEST(ProcessTable, UnknownProcessIsLearntFromItsFirstEvent) {
  ProcessTable t;
  Event e = make(EventKind::kOpen, 4000000, 1, "worker");
  e.uid = 33;
  t.observe(e);
  const ProcessInfo* p = t.find(4000000);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->comm, "worker");
  EXPECT_EQ(p->uid, 33u);
}

TEST(ProcessTable, BoundIsKeptAndOverflowCounted) {
  ProcessTable t(2);
  for (uint32_t pid = 10; pid < 15; pid++) {
    Event e = make(EventKind::kOpen, pid, 1, "x");
    t.observe(e);
  }
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.overflows(), 3u);
  // An exited process makes room again.
  Event exit = make(EventKind::kExit, 10, 1, "x");
  exit.ts_boot_ns = 1;
  t.observe(exit);
  Event e = make(EventKind::kOpen, 20, 1, "y");
  t.observe(e);
  EXPECT_NE(t.find(20), nullptr);
  EXPECT_EQ(t.find(10), nullptr);
  EXPECT_EQ(t.size(), 2u);
}

TEST(ProcessTable, BytesAreBoundedWhateverTheCommandLines) {
  // Room for about ten entries with 4 KiB command lines: long ones fill it long before the
  // entry bound, and the bytes follow every change back down.
  const size_t max = 10 * (ProcessTable::kEntryBytes + 4096 + 16);
  ProcessTable t(1000, max);
  std::string args(4096, 'a');
  for (uint32_t pid = 10; pid < 40; pid++) {
    Event e = make(EventKind::kExec, pid, 1, "long");
    e.path = "/bin/long";
    e.args = args;
    t.observe(e);
    EXPECT_LE(t.bytes(), max + 4096 + 16);  // past it by at most the last exec's strings
  }
  EXPECT_LT(t.size(), 12u);
  EXPECT_GT(t.size(), 7u);
  EXPECT_EQ(t.overflows(), 30u - t.size());
  // Exits and a sweep give the bytes back; short command lines then fit many more.
  for (uint32_t pid = 10; pid < 40; pid++) {
    Event e = make(EventKind::kExit, pid, 1, "long");
    t.observe(e);
  }
  t.sweep(~0ULL >> 1);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.bytes(), 0u);
  for (uint32_t pid = 100; pid < 150; pid++) {
    Event e = make(EventKind::kExec, pid, 1, "short");
    e.args = "short";
    t.observe(e);
  }
  EXPECT_EQ(t.size(), 50u);
  EXPECT_EQ(t.bytes(), 50 * (ProcessTable::kEntryBytes + 10));
}

TEST_F(FakeProc, ParentForkedUnseenIsReadFromProc) {
  ProcessTable t;
  t.seed_from_proc(proc());
  // A server forked a worker after the seed, with fork events off: the worker's child names it.
  add(300, 1, "postgres", "/usr/lib/postgresql/15/bin/postgres", "/");
  Event exec = make(EventKind::kExec, 301, 300, "sh");
  exec.path = "/bin/sh";
  t.observe(exec);
  EXPECT_EQ(exec.pname, "postgres");
  ASSERT_NE(t.find(300), nullptr);
  EXPECT_EQ(t.find(300)->exe, "/usr/lib/postgresql/15/bin/postgres");
  // A parent gone from /proc too stays unknown.
  Event orphan = make(EventKind::kExec, 401, 400, "sh");
  t.observe(orphan);
  EXPECT_EQ(orphan.pname, "");
  EXPECT_EQ(t.find(400), nullptr);
}
