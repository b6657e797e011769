// process source against the real kernel: real forks, execs and exits.
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "harness.h"
#include "sources/process/process_source.h"

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

// Signals: who sent which to whom, and what became of it. SIGCHLD (every child exit sends one)
// stays in the kernel by default; with ignore_signals empty it comes up too.
TEST(ProcessSource, SignalsWithSenderTargetAndResult) {
  for (bool all : {false, true}) {
    Harness h;
    sources::SourceOptions o = test::self_included();
    o.kinds = {EventKind::kSignal};
    if (all) o.own_as<sources::ProcessOptions>().ignore_signals.clear();
    h.start("process", o);
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    pid_t child = spawn([&] {
      signal(SIGTERM, SIG_IGN);
      char c = 1;
      (void)!write(ready[1], &c, 1);
      for (;;) pause();
    });
    char c;
    ASSERT_EQ(read(ready[0], &c, 1), 1);  // SIGTERM is ignored from here
    kill(child, SIGTERM);
    kill(child, SIGUSR1);  // its default action ends it
    int st = wait_status(child);
    ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGUSR1);
    auto sent = [&](int sig) {
      return h.find(EventKind::kSignal, [&](auto& e) {
        return e.signal == (uint32_t)sig && e.target_pid == (uint32_t)child && e.pid == (uint32_t)getpid();
      });
    };
    ASSERT_TRUE(h.pump_until([&] { return !sent(SIGUSR1).empty(); })) << h.dump();
    ASSERT_EQ(sent(SIGTERM).size(), 1u) << h.dump();
    EXPECT_EQ(sent(SIGTERM)[0].sig_result, 1) << "ignored by the target";
    ASSERT_EQ(sent(SIGUSR1).size(), 1u);
    EXPECT_EQ(sent(SIGUSR1)[0].sig_result, 0) << "delivered";
    EXPECT_EQ(sent(SIGUSR1)[0].target_comm, sent(SIGUSR1)[0].comm) << "the child has its parent's name";
    // The child's exit sent SIGCHLD to us: there only when not ignored. A marker sent after
    // it (SIGUSR2, ignored here) bounds the wait; one more drain takes what other CPUs'
    // buffers held (perf buffers have no order across CPUs).
    signal(SIGUSR2, SIG_IGN);
    kill(getpid(), SIGUSR2);
    ASSERT_TRUE(h.pump_until([&] {
      return !h.find(EventKind::kSignal, [&](auto& e) { return e.signal == SIGUSR2 && e.pid == (uint32_t)getpid(); })
                  .empty();
    })) << h.dump();
    h.pump_until([] { return true; });
    bool chld = !h.find(EventKind::kSignal, [&](auto& e) {
                    return e.signal == SIGCHLD && e.target_pid == (uint32_t)getpid();
                  }).empty();
    EXPECT_EQ(chld, all) << h.dump();
    signal(SIGUSR2, SIG_DFL);
    close(ready[0]);
    close(ready[1]);
  }
}

TEST(ProcessSource, AnUnknownIgnoredSignalIsRefused) {
  uint64_t mask = 0;
  EXPECT_TRUE(sources::signal_mask({"SIGCHLD", "WINCH", "23"}, &mask));
  EXPECT_EQ(mask & ((1ULL << 17) | (1ULL << 28) | (1ULL << 23)), 0u);
  EXPECT_EQ(mask & (1ULL << 9), 1ULL << 9);
  auto st = sources::signal_mask({"SIGNOPE"}, &mask);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("'SIGNOPE' is not a signal"), std::string::npos) << st.message();
}

namespace {
// A memory cgroup of `limit` bytes for one process (v2 where the unified hierarchy has the
// memory controller, else v1; where neither is mounted, as in the 6.1 VM, a cgroup2 hierarchy
// of its own), removed on destruction.
struct MemCgroup {
  std::string dir, mounted;
  explicit MemCgroup(uint64_t limit) {
    std::string name = "sl-bpf-oom-" + std::to_string(getpid());
    auto write = [](const std::string& path, const std::string& v) {
      FILE* f = fopen(path.c_str(), "we");
      if (!f) return false;
      bool ok = fputs(v.c_str(), f) >= 0;
      return fclose(f) == 0 && ok;
    };
    if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0) {
      dir = "/sys/fs/cgroup/" + name;
      mkdir(dir.c_str(), 0755);
      if (!write(dir + "/memory.max", std::to_string(limit))) dir.clear();
      else write(dir + "/memory.swap.max", "0");
    }
    if (dir.empty() && access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) == 0) {
      dir = "/sys/fs/cgroup/memory/" + name;
      mkdir(dir.c_str(), 0755);
      if (!write(dir + "/memory.limit_in_bytes", std::to_string(limit))) dir.clear();
      else write(dir + "/memory.memsw.limit_in_bytes", std::to_string(limit));
    }
    if (dir.empty()) {
      char t[] = "/tmp/sl-cg2-XXXXXX";
      if (mkdtemp(t) && mount("cgroup2", t, "cgroup2", 0, nullptr) == 0) {
        mounted = t;
        write(mounted + "/cgroup.subtree_control", "+memory");
        dir = mounted + "/" + name;
        mkdir(dir.c_str(), 0755);
        if (!write(dir + "/memory.max", std::to_string(limit))) dir.clear();
        else write(dir + "/memory.swap.max", "0");
      }
    }
  }
  ~MemCgroup() {
    if (!dir.empty()) rmdir(dir.c_str());
    if (!mounted.empty()) {
      umount(mounted.c_str());
      rmdir(mounted.c_str());
    }
  }
};
}  // namespace

// `tail /dev/zero` (a line that never ends) in a 32 MiB memory cgroup: the OOM killer takes
// it, and the event names it (from the tracepoint on 6.8+, from the process table before).
TEST(ProcessSource, OomKillNamesTheVictim) {
  MemCgroup cg(32ULL << 20);
  ASSERT_FALSE(cg.dir.empty()) << "no memory cgroup could be made";
  Harness h;
  sources::SourceOptions o = test::self_included();
  o.kinds = {EventKind::kOomKill};
  h.start("process", o);
  std::string procs = cg.dir + "/cgroup.procs";
  pid_t child = spawn([&] {
    FILE* f = fopen(procs.c_str(), "we");
    if (!f || fprintf(f, "%d", getpid()) < 0 || fclose(f) != 0) _exit(3);
    execl("/usr/bin/tail", "tail", "/dev/zero", nullptr);
    _exit(4);
  });
  int st = wait_status(child);
  ASSERT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << "status " << st;
  ASSERT_TRUE(h.pump_until([&] {
    return !h.find(EventKind::kOomKill, [&](auto& e) { return e.target_pid == (uint32_t)child; }).empty();
  })) << h.dump();
  auto oom = h.find(EventKind::kOomKill, [&](auto& e) { return e.target_pid == (uint32_t)child; });
  ASSERT_EQ(oom.size(), 1u);
  EXPECT_EQ(oom[0].target_comm, "tail");
}
