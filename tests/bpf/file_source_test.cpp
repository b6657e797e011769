// file source against the real kernel: real opens, filters, and exact loss accounting.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/mount.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include "core/cgroups.h"
#include "harness.h"
#include "sources/file/file_source.h"
#include "sightline/file.h"

using namespace sightline;
using core::EventKind;
using test::Harness;

namespace {

std::string unique_path(const std::string& tag) {
  static int n = 0;
  return "/tmp/sl-test-" + tag + "-" + std::to_string(getpid()) + "-" + std::to_string(n++);
}

std::vector<test::Recorded> opens_of(const Harness& h, const std::string& path) {
  return h.find(EventKind::kOpen, [&](auto& e) { return e.path == path; });
}

sources::SourceOptions only_me() {
  auto o = test::self_included();
  o.filter.pid = getpid();
  return o;
}

}  // namespace

TEST(FileSource, OpenOfExistingAndMissingPathsWithResultAndErrno) {
  Harness h;
  h.start("file", only_me());
  std::string existing = unique_path("exists"), missing = unique_path("missing");
  close(open(existing.c_str(), O_CREAT | O_WRONLY, 0600));
  int fd = open(existing.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  close(fd);
  ASSERT_LT(open(missing.c_str(), O_RDONLY), 0);
  ASSERT_TRUE(h.pump_until([&] { return !opens_of(h, missing).empty(); })) << h.dump();

  auto ex = opens_of(h, existing);
  ASSERT_EQ(ex.size(), 2u) << h.dump();
  EXPECT_EQ(ex[0].flags & (O_CREAT | O_ACCMODE), (uint64_t)(O_CREAT | O_WRONLY));
  EXPECT_EQ(ex[0].mode, 0600u);
  EXPECT_EQ(ex[1].ret, fd);
  EXPECT_EQ(ex[1].flags & (O_CLOEXEC | O_ACCMODE), (uint64_t)(O_CLOEXEC | O_RDONLY));
  EXPECT_EQ(ex[1].pid, (uint32_t)getpid());
  EXPECT_EQ(ex[1].syscall, SL_SYS_OPENAT);  // glibc's open() is openat
  auto mi = opens_of(h, missing);
  ASSERT_EQ(mi.size(), 1u);
  EXPECT_EQ(mi[0].ret, -ENOENT);
  unlink(existing.c_str());
}

TEST(FileSource, Openat2AndCreat) {
  Harness h;
  h.start("file", only_me());
  std::string created = unique_path("creat"), viaopenat2 = unique_path("openat2");
  int fd = creat(created.c_str(), 0640);
  ASSERT_GE(fd, 0);
  close(fd);
  struct open_how how = {};
  how.flags = O_RDONLY;
  long r = syscall(SYS_openat2, AT_FDCWD, viaopenat2.c_str(), &how, sizeof how);
  ASSERT_EQ(r, -1);
  ASSERT_TRUE(h.pump_until([&] { return !opens_of(h, viaopenat2).empty(); })) << h.dump();
  auto c = opens_of(h, created);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].syscall, SL_SYS_CREAT);
  EXPECT_EQ(c[0].mode, 0640u);
  EXPECT_EQ(c[0].flags, (uint64_t)(O_CREAT | O_WRONLY | O_TRUNC));
  auto o = opens_of(h, viaopenat2);
  EXPECT_EQ(o[0].syscall, SL_SYS_OPENAT2);
  EXPECT_EQ(o[0].ret, -ENOENT);
  unlink(created.c_str());
}

TEST(FileSource, LongPathIsCutAndFlagged) {
  Harness h;
  h.start("file", only_me());
  std::string path = "/tmp/" + std::string(300, 'p');
  open(path.c_str(), O_RDONLY);
  std::string cut = path.substr(0, SL_PATH_MAX - 1);
  ASSERT_TRUE(h.pump_until([&] { return !opens_of(h, cut).empty(); })) << h.dump();
  auto o = opens_of(h, cut);
  EXPECT_TRUE(o[0].truncated);
  EXPECT_EQ(o[0].ret, -ENAMETOOLONG);
  // Exactly SL_PATH_MAX - 1 bytes fits whole.
  std::string fits = "/tmp/" + std::string(SL_PATH_MAX - 1 - 5, 'f');
  open(fits.c_str(), O_RDONLY);
  ASSERT_TRUE(h.pump_until([&] { return !opens_of(h, fits).empty(); }));
  EXPECT_FALSE(opens_of(h, fits)[0].truncated);
}

TEST(FileSource, KernelFiltersPidAndFailures) {
  Harness mine, failed;
  mine.start("file", only_me());
  auto fo = only_me();
  fo.filter.failed_only = true;
  failed.start("file", fo);
  std::string ok = unique_path("ok"), bad = unique_path("bad"), other = unique_path("child");
  close(open(ok.c_str(), O_CREAT | O_WRONLY, 0600));
  open(bad.c_str(), O_RDONLY);
  pid_t child = fork();
  if (child == 0) {
    open(other.c_str(), O_RDONLY);
    _exit(0);
  }
  waitpid(child, nullptr, 0);
  ASSERT_TRUE(mine.pump_until([&] { return !opens_of(mine, bad).empty(); }));
  ASSERT_TRUE(failed.pump_until([&] { return !opens_of(failed, bad).empty(); }));
  mine.runner().drain();
  failed.runner().drain();
  EXPECT_EQ(opens_of(mine, ok).size(), 1u);
  EXPECT_TRUE(opens_of(mine, other).empty()) << "the pid filter let another process through";
  EXPECT_TRUE(opens_of(failed, ok).empty()) << "--failed let a successful open through";
  EXPECT_EQ(opens_of(failed, bad).size(), 1u);
  unlink(ok.c_str());
}

TEST(FileSource, EveryEventIsDeliveredOrCountedLost) {
  // One page of ring buffer holds about a dozen open records; 2000 opens without draining
  // must overflow it, and delivered + counted lost must equal what was generated.
  Harness h;
  auto o = only_me();
  o.ring_bytes = 4096;
  h.start("file", o);
  // libbpf itself opens tracefs id files while attaching, and the CPU list on its first
  // per-CPU read: let those happen and collect them first.
  (void)h.runner().sources().at(0).source->stats();
  h.runner().drain();
  auto before = h.runner().sources().at(0).source->stats();
  ASSERT_EQ(before.lost_ringbuf, 0u);
  std::string path = unique_path("flood");
  constexpr int kOpens = 2000;
  for (int i = 0; i < kOpens; i++) open(path.c_str(), O_RDONLY);
  h.runner().drain();
  h.runner().drain();
  size_t delivered = opens_of(h, path).size();
  auto st = h.runner().sources().at(0).source->stats();
  uint64_t lost = st.lost_ringbuf - before.lost_ringbuf;
  EXPECT_GT(lost, 0u);
  EXPECT_GT(delivered, 0u);
  EXPECT_EQ(delivered + lost, (size_t)kOpens) << "delivered " << delivered << " lost " << lost;
  // Nothing else matched the pid filter.
  auto others = h.find(EventKind::kOpen, [&](auto& e) { return e.path != path; });
  std::string seen;
  for (const auto& e : others) seen += e.path + " ";
  EXPECT_EQ(st.events - before.events, delivered) << "other opens: " << seen;
}

TEST(FileSource, PairedFallbackSeesTheSameOpens) {
  // Kernels before 5.15 pair sys_enter/sys_exit through a map; force that path here.
  Harness h;
  auto o = only_me();
  o.force_fallback_hooks = true;
  h.start("file", o);
  bool paired = false;
  for (const auto& p : h.runner().sources().at(0).source->program_stats()) paired |= p.name == "sl_enter_openat";
  ASSERT_TRUE(paired) << "the paired programs were not loaded";
  std::string missing = unique_path("paired");
  int fd = open("/dev/null", O_WRONLY | O_APPEND);
  close(fd);
  open(missing.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_TRUE(h.pump_until([&] { return !opens_of(h, missing).empty(); })) << h.dump();
  auto dn = opens_of(h, "/dev/null");
  ASSERT_EQ(dn.size(), 1u);
  EXPECT_EQ(dn[0].ret, fd);
  EXPECT_EQ(dn[0].flags & (O_ACCMODE | O_APPEND), (uint64_t)(O_WRONLY | O_APPEND));
  auto mi = opens_of(h, missing);
  EXPECT_EQ(mi[0].ret, -ENOENT);
  EXPECT_EQ(mi[0].flags & O_DIRECTORY, (uint64_t)O_DIRECTORY);
}

// The stat kind (statsnoop): each of the five calls on a file that exists and one that does not,
// with its syscall, path, flags and result; by the registers (5.15+) and by enter/exit pairs. No
// open is sent when only stat is asked for.
void stats_are_seen(bool fallback) {
  Harness h;
  auto o = only_me();
  o.kinds = {EventKind::kStat};
  o.force_fallback_hooks = fallback;
  h.start("file", o);
  std::string existing = unique_path("stat"), missing = unique_path("nostat");
  close(open(existing.c_str(), O_CREAT | O_WRONLY, 0600));
  struct stat st;
  struct statfs sfs;
  struct statx sx;
  for (const auto& p : {existing, missing}) {
    syscall(SYS_stat, p.c_str(), &st);
    syscall(SYS_lstat, p.c_str(), &st);
    syscall(SYS_newfstatat, AT_FDCWD, p.c_str(), &st, AT_SYMLINK_NOFOLLOW);
    syscall(SYS_statx, AT_FDCWD, p.c_str(), AT_SYMLINK_NOFOLLOW, STATX_SIZE, &sx);
    syscall(SYS_statfs, p.c_str(), &sfs);
  }
  auto of = [&](const std::string& p) { return h.find(EventKind::kStat, [&](auto& e) { return e.path == p; }); };
  ASSERT_TRUE(h.pump_until([&] { return of(missing).size() == 5; })) << h.dump();
  for (const auto& p : {existing, missing}) {
    auto ev = of(p);
    ASSERT_EQ(ev.size(), 5u) << h.dump();
    // By syscall, not arrival: perf buffers (no ring buffer) deliver each CPU's events apart.
    std::sort(ev.begin(), ev.end(), [](auto& a, auto& b) { return a.syscall < b.syscall; });
    for (uint16_t i = 0; i < 5; i++) {
      EXPECT_EQ(ev[i].syscall, SL_SYS_STAT + i);
      EXPECT_EQ(ev[i].ret, p == existing ? 0 : -ENOENT);
      EXPECT_EQ(ev[i].pid, (uint32_t)getpid());
    }
    EXPECT_EQ(ev[2].flags, (uint64_t)AT_SYMLINK_NOFOLLOW) << "newfstatat's flags";
    EXPECT_EQ(ev[3].flags, (uint64_t)AT_SYMLINK_NOFOLLOW) << "statx's flags";
  }
  EXPECT_TRUE(opens_of(h, existing).empty()) << "opens were not asked for";
  unlink(existing.c_str());
}

TEST(FileSource, StatCallsWithSyscallPathFlagsAndResult) { stats_are_seen(false); }
TEST(FileSource, StatCallsByThePairedFallback) { stats_are_seen(true); }

// mount and umount (mountsnoop): a tmpfs mounted read-only and unmounted, a mount on a missing
// directory; source, target, type, flags, options, result.
TEST(FileSource, MountsAndUmountsWithTheirArguments) {
  Harness h;
  auto o = only_me();
  o.kinds = {EventKind::kMount};
  h.start("file", o);
  std::string dir = unique_path("mnt"), missing = unique_path("nomnt");
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  ASSERT_EQ(mount("sl-test-tmpfs", dir.c_str(), "tmpfs", MS_RDONLY, "size=1m"), 0);
  ASSERT_EQ(umount2(dir.c_str(), MNT_DETACH), 0);
  ASSERT_NE(mount("sl-test-tmpfs", missing.c_str(), "tmpfs", 0, nullptr), 0);
  rmdir(dir.c_str());
  auto mounts = [&] { return h.find(EventKind::kMount, [](auto&) { return true; }); };
  ASSERT_TRUE(h.pump_until([&] { return mounts().size() == 3; })) << h.dump();
  auto m = mounts();
  // In call order, not arrival: perf buffers (no ring buffer) deliver each CPU's events apart.
  std::sort(m.begin(), m.end(), [](auto& a, auto& b) { return a.ts_wall_ns < b.ts_wall_ns; });
  EXPECT_EQ(m[0].sys_name, "mount");
  EXPECT_EQ(m[0].args, "sl-test-tmpfs");
  EXPECT_EQ(m[0].path, dir);
  EXPECT_EQ(m[0].fd_type, "tmpfs");
  EXPECT_EQ(m[0].flags, (uint64_t)MS_RDONLY);
  EXPECT_EQ(m[0].ns_flags, "size=1m");
  EXPECT_EQ(m[0].ret, 0);
  EXPECT_EQ(m[1].sys_name, "umount");
  EXPECT_EQ(m[1].path, dir);
  EXPECT_EQ(m[1].flags, (uint64_t)MNT_DETACH);
  EXPECT_EQ(m[2].path, missing);
  EXPECT_EQ(m[2].ret, -ENOENT);
}

TEST(FileSource, KernelFiltersCgroup) {
  // A cgroup v2 of our own; a child moved into it is seen, a child outside it is not.
  std::string root = core::cgroup2_mount();
  ASSERT_FALSE(root.empty()) << "no cgroup2 mount";
  std::string dir = root + "/sl-test-" + std::to_string(getpid());
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0) << dir << ": " << strerror(errno);
  struct stat st;
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  Harness h;
  auto o = test::self_included();
  o.filter.cgroup_id = st.st_ino;
  h.start("file", o);
  std::string inside = unique_path("cg-in"), outside = unique_path("cg-out");
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  pid_t in = fork();
  if (in == 0) {
    char c;
    if (read(go[0], &c, 1) != 1) _exit(1);
    open(inside.c_str(), O_RDONLY);
    _exit(0);
  }
  {
    std::ofstream procs(dir + "/cgroup.procs");
    procs << in << std::endl;
  }
  ASSERT_EQ(write(go[1], "x", 1), 1);
  pid_t out = fork();
  if (out == 0) {
    open(outside.c_str(), O_RDONLY);
    _exit(0);
  }
  waitpid(in, nullptr, 0);
  waitpid(out, nullptr, 0);
  bool seen = h.pump_until([&] { return !opens_of(h, inside).empty(); });
  h.runner().drain();
  rmdir(dir.c_str());
  close(go[0]);
  close(go[1]);
  ASSERT_TRUE(seen) << h.dump();
  EXPECT_TRUE(opens_of(h, outside).empty()) << "the cgroup filter let another cgroup through";
  EXPECT_EQ(h.events().size(), opens_of(h, inside).size()) << h.dump();
}

// Failed helper calls are counted at their file and line (sl_errors): an open of a bad pointer
// makes the path read fault; a flood into a one-page ring makes reservations fail.
TEST(FileSource, FailedHelperCallsAreCountedWhereTheyHappen) {
  Harness h;
  auto o = only_me();
  o.ring_bytes = 4096;
  h.start("file", o);
  const auto& src = *h.runner().sources().at(0).source;
  h.runner().drain();
  auto before = src.stats();
  constexpr int kBad = 3;
  for (int i = 0; i < kBad; i++)
    ASSERT_EQ(syscall(SYS_openat, AT_FDCWD, reinterpret_cast<const char*>(1), O_RDONLY), -1);
  std::string path = unique_path("errs");
  for (int i = 0; i < 2000; i++) open(path.c_str(), O_RDONLY);
  h.runner().drain();
  uint64_t lost = src.stats().lost_ringbuf - before.lost_ringbuf;
  ASSERT_GT(lost, 0u);

  std::ifstream in(std::string(SL_SOURCE_DIR) + "/bpf/file.bpf.c");
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  auto line_of = [&](const std::string& where) -> std::string {
    if (!where.starts_with("file.bpf.c:")) return "";
    size_t n = std::stoul(where.substr(strlen("file.bpf.c:")));
    return n >= 1 && n <= lines.size() ? lines[n - 1] : "";
  };
  uint64_t faults = 0, full = 0;
  std::string seen;
  for (const auto& e : src.helper_errors()) {
    seen += e.where + " " + e.helper + " " + e.err + " " + std::to_string(e.count) + "\n";
    if (e.helper == "probe_read_user_str" && e.err == "EFAULT") {
      faults += e.count;
      EXPECT_NE(line_of(e.where).find("sl_read_user_str"), std::string::npos) << e.where << ": " << line_of(e.where);
    }
    // The ring buffer refuses the reservation; the perf buffer (no ring buffer) the copy-out.
    if (e.helper == "ringbuf_reserve" && e.err == "ENOSPC") {
      full += e.count;
      EXPECT_NE(line_of(e.where).find("sl_reserve"), std::string::npos) << e.where << ": " << line_of(e.where);
    }
    if (e.helper == "perf_event_output" && e.err == "ENOSPC") {
      full += e.count;
      EXPECT_NE(line_of(e.where).find("sl_submit"), std::string::npos) << e.where << ": " << line_of(e.where);
    }
  }
  EXPECT_EQ(faults, (uint64_t)kBad) << seen;
  // Every reservation that failed is one lost event, counted in both places.
  EXPECT_EQ(full, src.stats().lost_ringbuf) << seen;
}

// fsslower: every write, fsync and pread of a regular file over the threshold (0 here: all),
// with the file's name, its file system, the offset and the result; a pipe's write is not file I/O.
TEST(FileSource, SlowIoOfRegularFilesOnly) {
  Harness h;
  auto o = test::self_included();
  o.kinds = {core::EventKind::kSlowIo};
  o.own_as<sources::FileOptions>().slow_io_ms = 0;
  h.start("file", o);
  std::string path = "/var/tmp/sl-slow-io-test-" + std::to_string(getpid());
  int fd = open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  char buf[8192] = {};
  ASSERT_EQ(write(fd, buf, 8192), 8192);
  ASSERT_EQ(fsync(fd), 0);
  ASSERT_EQ(pread(fd, buf, 100, 4096), 100);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  ASSERT_EQ(write(p[1], "x", 1), 1);
  std::string name = path.substr(path.rfind('/') + 1);
  // This process reads /proc files too (the process table): the test's file and the pipe only.
  auto mine = [&] {
    return h.find(core::EventKind::kSlowIo, [&](auto& e) {
      return e.pid == static_cast<uint32_t>(getpid()) && (e.path == name || e.fd_num == p[1]);
    });
  };
  ASSERT_TRUE(h.pump_until([&] { return mine().size() >= 3; })) << h.dump();
  auto ev = mine();
  ASSERT_EQ(ev.size(), 3u) << "the pipe's write is left out";
  for (const auto& e : ev) {
    EXPECT_EQ(e.path, name);
    EXPECT_EQ(e.fd_num, fd);
    EXPECT_FALSE(e.fd_type.empty()) << "the file system (ext4 here, 9p in the 6.1 VM)";
  }
  EXPECT_EQ(ev[0].sys_name, "write");
  EXPECT_EQ(ev[0].l4proto, "write");
  EXPECT_EQ(ev[0].ret, 8192);
  EXPECT_EQ(ev[0].connect_ns, 0u);
  EXPECT_EQ(ev[1].sys_name, "fsync");
  EXPECT_EQ(ev[1].l4proto, "sync");
  EXPECT_EQ(static_cast<int64_t>(ev[1].connect_ns), -1);
  EXPECT_EQ(ev[2].sys_name, "pread64");
  EXPECT_EQ(ev[2].l4proto, "read");
  EXPECT_EQ(ev[2].ret, 100);
  EXPECT_EQ(ev[2].connect_ns, 4096u);
  close(fd);
  close(p[0]);
  close(p[1]);
  unlink(path.c_str());
}

// filelife: a regular file created and deleted while the source runs (ext4's tracepoints) is one
// event at its unlink: the age, the size, the path as unlinkat was given it; a file that existed
// before is not.
TEST(FileSource, ShortLivedFilesWithAgeAndSize) {
  std::string dir = "/var/tmp";
  struct statfs sf;
  ASSERT_EQ(statfs(dir.c_str(), &sf), 0);
  if (sf.f_type != 0xEF53) GTEST_SKIP() << dir << " is not ext4 (the 6.1 VM's root is 9p)";
  std::string old = dir + "/sl-life-old-" + std::to_string(getpid());
  std::string young = dir + "/sl-life-young-" + std::to_string(getpid());
  { std::ofstream(old) << "before"; }
  Harness h;
  auto o = test::self_included();
  o.kinds = {core::EventKind::kFileLifetime};
  h.start("file", o);
  int fd = open(young.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
  ASSERT_GE(fd, 0);
  char buf[3000] = {};
  ASSERT_EQ(write(fd, buf, sizeof buf), static_cast<ssize_t>(sizeof buf));
  close(fd);
  usleep(200000);
  int d = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  std::string base = young.substr(dir.size() + 1);
  ASSERT_EQ(unlinkat(d, base.c_str(), 0), 0);
  ASSERT_EQ(unlink(old.c_str()), 0);
  close(d);
  auto mine = [&] {
    return h.find(core::EventKind::kFileLifetime,
                  [&](auto& e) { return e.pid == static_cast<uint32_t>(getpid()) && e.path.find("sl-life-") != std::string::npos; });
  };
  ASSERT_TRUE(h.pump_until([&] { return !mine().empty(); })) << h.dump();
  h.pump_until([] { return false; }, 1);  // the old file's unlink, if it were sent, by now
  auto ev = mine();
  ASSERT_EQ(ev.size(), 1u) << "the file that existed before is not short-lived: " << h.dump();
  EXPECT_EQ(ev[0].path, base);
  EXPECT_GE(ev[0].duration_ns, 200000000u);
  EXPECT_LT(ev[0].duration_ns, 5000000000u);
  EXPECT_EQ(ev[0].bytes_sent, 3000u) << "its size";
}
