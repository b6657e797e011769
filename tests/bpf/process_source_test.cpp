// process source against the real kernel: real forks, execs and exits.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "harness.h"

using namespace sightline;
using core::EventKind;
using test::Harness;

namespace {

// Forks a child that waits for a go, then runs `body`; returns its pid (the parent sends go
// right away: the source is already attached).
pid_t spawn(const std::function<void()>& body) {
  pid_t pid = fork();
  if (pid == 0) {
    body();
    _exit(99);
  }
  return pid;
}

int wait_status(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return st;
}

std::string nul_join(std::initializer_list<const char*> args) {
  std::string s;
  for (const char* a : args) s.append(a, strlen(a) + 1);
  return s;
}

}  // namespace

TEST(ProcessSource, ExecForkExitOfAChildWithUnusualArguments) {
  Harness h;
  h.start("process", test::self_included());
  pid_t child = spawn([] {
    const char* argv[] = {"sh", "-c", "exit 7", "with space", "ünïcödé", "", "q\"'", nullptr};
    execv("/bin/sh", const_cast<char**>(argv));
  });
  int st = wait_status(child);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 7);
  ASSERT_TRUE(h.pump_until([&] {
    return !h.find(EventKind::kExit, [&](auto& e) { return e.pid == (uint32_t)child; }).empty();
  })) << "no exit event for pid " << child << "; saw:\n" << h.dump();

  auto forks = h.find(EventKind::kFork, [&](auto& e) { return e.child_pid == (uint32_t)child; });
  ASSERT_EQ(forks.size(), 1u) << h.dump();
  EXPECT_EQ(forks[0].pid, (uint32_t)getpid());

  auto execs = h.find(EventKind::kExec, [&](auto& e) { return e.pid == (uint32_t)child; });
  ASSERT_EQ(execs.size(), 1u) << h.dump();
  EXPECT_EQ(execs[0].ret, 0);
  EXPECT_EQ(execs[0].ppid, (uint32_t)getpid());
  EXPECT_EQ(execs[0].path, "/bin/sh");
  EXPECT_EQ(execs[0].comm, "sh");
  EXPECT_EQ(execs[0].args, nul_join({"sh", "-c", "exit 7", "with space", "ünïcödé", "", "q\"'"}));
  EXPECT_EQ(execs[0].args_count, 7u);
  EXPECT_FALSE(execs[0].truncated);
  EXPECT_EQ(execs[0].exe, "/bin/sh");  // the process table learnt it from the exec
  EXPECT_EQ(execs[0].uid, getuid());

  auto exits = h.find(EventKind::kExit, [&](auto& e) { return e.pid == (uint32_t)child; });
  ASSERT_EQ(exits.size(), 1u);
  EXPECT_EQ(exits[0].exit_code, 7);
  EXPECT_EQ(exits[0].signal, 0u);
  EXPECT_EQ(exits[0].ppid, (uint32_t)getpid());
  EXPECT_GT(exits[0].duration_ns, 0u);
  EXPECT_LT(exits[0].duration_ns, 10'000'000'000ULL);
  // Wall-clock time is now, give or take.
  EXPECT_LT(std::llabs((long long)(exits[0].ts_wall_ns / 1000000000ULL) - (long long)time(nullptr)), 5);
}

TEST(ProcessSource, FailedExecCarriesErrnoAndTheProcessKeepsItsName) {
  Harness h;
  h.start("process", test::self_included());
  pid_t child = spawn([] {
    prctl(PR_SET_NAME, "sl-failexec");
    // On the stack, as shells build argv: a failed exec is read at sys_exit, where BPF cannot
    // fault in a page the process never touched (a literal in an untouched .rodata page).
    char a0[] = "nothing-here", a1[] = "arg1";
    char* argv[] = {a0, a1, nullptr};
    execv("/nonexistent/sl-no-such-binary", argv);
    _exit(3);
  });
  wait_status(child);
  ASSERT_TRUE(h.pump_until([&] {
    return !h.find(EventKind::kExit, [&](auto& e) { return e.pid == (uint32_t)child; }).empty();
  })) << h.dump();
  auto execs = h.find(EventKind::kExec, [&](auto& e) { return e.pid == (uint32_t)child; });
  ASSERT_EQ(execs.size(), 1u) << h.dump();
  EXPECT_EQ(execs[0].ret, -ENOENT);
  EXPECT_EQ(execs[0].path, "/nonexistent/sl-no-such-binary");
  EXPECT_EQ(execs[0].comm, "sl-failexec");
  EXPECT_EQ(execs[0].args, nul_join({"nothing-here", "arg1"}));
  auto exits = h.find(EventKind::kExit, [&](auto& e) { return e.pid == (uint32_t)child; });
  EXPECT_EQ(exits.at(0).exit_code, 3);
}

TEST(ProcessSource, KilledBySignal) {
  Harness h;
  h.start("process", test::self_included());
  pid_t child = spawn([] { raise(SIGKILL); });
  int st = wait_status(child);
  ASSERT_TRUE(WIFSIGNALED(st));
  ASSERT_TRUE(h.pump_until([&] {
    return !h.find(EventKind::kExit, [&](auto& e) { return e.pid == (uint32_t)child; }).empty();
  }));
  auto exits = h.find(EventKind::kExit, [&](auto& e) { return e.pid == (uint32_t)child; });
  EXPECT_EQ(exits.at(0).signal, (uint32_t)SIGKILL);
  EXPECT_EQ(exits.at(0).exit_code, 0);
}

TEST(ProcessSource, ArgvBeyondTheBoundIsCutAndFlagged) {
  Harness h;
  h.start("process", test::self_included());
  std::string long_arg(3000, 'L');
  pid_t many = spawn([] {
    std::vector<const char*> argv = {"true"};
    for (int i = 0; i < 200; i++) argv.push_back("a");
    argv.push_back(nullptr);
    execv("/bin/true", const_cast<char**>(argv.data()));
  });
  pid_t longer = spawn([&] {
    const char* argv[] = {"true", long_arg.c_str(), nullptr};
    execv("/bin/true", const_cast<char**>(argv));
  });
  // A failed exec reads argv from the caller: 64 arguments at most.
  pid_t failed = spawn([] {
    std::vector<const char*> argv = {"nope"};
    for (int i = 0; i < 100; i++) argv.push_back("b");
    argv.push_back(nullptr);
    execv("/nonexistent/sl-many", const_cast<char**>(argv.data()));
  });
  wait_status(many);
  wait_status(longer);
  wait_status(failed);
  auto exec_of = [&](pid_t p) {
    return h.find(EventKind::kExec, [&](auto& e) { return e.pid == (uint32_t)p; });
  };
  ASSERT_TRUE(h.pump_until([&] {
    return !exec_of(many).empty() && !exec_of(longer).empty() && !exec_of(failed).empty();
  })) << h.dump();
  auto m = exec_of(many)[0];
  EXPECT_FALSE(m.truncated);  // 405 bytes: whole
  EXPECT_EQ(m.args_count, 201u);
  auto l = exec_of(longer)[0];
  EXPECT_TRUE(l.truncated);
  EXPECT_EQ(l.args, std::string("true\0", 5) + std::string(2048 - 5, 'L'));
  EXPECT_EQ(l.args_count, 2u);
  auto f = exec_of(failed)[0];
  EXPECT_EQ(f.ret, -ENOENT);
  EXPECT_TRUE(f.truncated);
  EXPECT_EQ(f.args_count, 64u);
}

TEST(ProcessSource, ExecFromANonLeaderThreadIsPaired) {
  Harness h;
  h.start("process", test::self_included());
  pid_t child = spawn([] {
    std::thread t([] {
      const char* argv[] = {"true", "from-thread", nullptr};
      execv("/bin/true", const_cast<char**>(argv));
    });
    t.join();
  });
  int st = wait_status(child);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  ASSERT_TRUE(h.pump_until([&] {
    return !h.find(EventKind::kExit, [&](auto& e) { return e.pid == (uint32_t)child; }).empty();
  }));
  auto execs = h.find(EventKind::kExec, [&](auto& e) { return e.pid == (uint32_t)child; });
  ASSERT_EQ(execs.size(), 1u) << h.dump();
  EXPECT_EQ(execs[0].ret, 0);
  EXPECT_EQ(execs[0].args, nul_join({"true", "from-thread"}));
}

TEST(ProcessSource, ThreadsAreNotForks) {
  Harness h;
  h.start("process", test::self_included());
  std::atomic<pid_t> tid{0};
  std::thread t([&] { tid = gettid(); });
  t.join();
  pid_t sentinel = spawn([] { _exit(0); });
  wait_status(sentinel);
  ASSERT_TRUE(h.pump_until([&] {
    return !h.find(EventKind::kFork, [&](auto& e) { return e.child_pid == (uint32_t)sentinel; }).empty();
  }));
  EXPECT_TRUE(h.find(EventKind::kFork, [&](auto& e) { return e.child_pid == (uint32_t)tid.load(); }).empty());
}

TEST(ProcessSource, KernelFiltersCommAndFailures) {
  Harness h;
  auto opts = test::self_included();
  opts.filter.comm = "sl-comm-a";
  h.start("process", opts);
  Harness failed;
  auto fopts = test::self_included();
  fopts.filter.failed_only = true;
  failed.start("process", fopts);

  auto run = [](const char* name, const char* path) {
    return spawn([=] {
      prctl(PR_SET_NAME, name);
      const char* argv[] = {"x", nullptr};
      execv(path, const_cast<char**>(argv));
      _exit(5);
    });
  };
  pid_t a = run("sl-comm-a", "/bin/true");
  pid_t b = run("sl-comm-b", "/bin/true");
  pid_t bad = run("sl-comm-b", "/nonexistent/x");
  wait_status(a);
  wait_status(b);
  wait_status(bad);
  auto by = [](const Harness& hh, EventKind k, pid_t p) {
    return hh.find(k, [&](auto& e) { return e.pid == (uint32_t)p; });
  };
  ASSERT_TRUE(h.pump_until([&] { return !by(h, EventKind::kExec, a).empty(); })) << h.dump();
  ASSERT_TRUE(failed.pump_until([&] { return !by(failed, EventKind::kExit, bad).empty(); })) << failed.dump();
  h.runner().drain();
  failed.runner().drain();
  // comm filter: only the exec by "sl-comm-a" (its exit runs as "true": filtered too).
  EXPECT_TRUE(by(h, EventKind::kExec, b).empty());
  EXPECT_TRUE(by(h, EventKind::kExec, bad).empty());
  EXPECT_TRUE(by(h, EventKind::kExit, a).empty());
  // failed filter: the failed exec and its non-zero exit; no success, no clean exit, no fork.
  EXPECT_EQ(by(failed, EventKind::kExec, bad).size(), 1u);
  EXPECT_TRUE(by(failed, EventKind::kExec, a).empty());
  EXPECT_TRUE(by(failed, EventKind::kExit, a).empty());
  EXPECT_TRUE(failed.find(EventKind::kFork, [](auto&) { return true; }).empty());
}
