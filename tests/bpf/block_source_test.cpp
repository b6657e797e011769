// block source against the real kernel: O_DIRECT I/O of a known count and size to a file on a
// real block device.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <set>

#include "harness.h"

using namespace sightline;
using test::Harness;


namespace {
constexpr int kBlocks = 64, kSize = 4096;

// A child named sl-block-test makes kBlocks O_DIRECT reads of kSize each, and lives until the
// source's metrics are collected.
void direct_reads(Harness& h, const sources::SourceOptions& o) {
  // /var/tmp is on the root file system (a real block device; /tmp may be tmpfs).
  std::string path = "/var/tmp/sl-block-test-" + std::to_string(getpid());
  {
    int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    std::string data(kBlocks * kSize, 'b');
    ASSERT_EQ(write(fd, data.data(), data.size()), (ssize_t)data.size());
    fsync(fd);
    close(fd);
  }
  h.start("block", o);
  int done[2], go[2];
  ASSERT_EQ(pipe(done), 0);
  ASSERT_EQ(pipe(go), 0);
  pid_t child = fork();
  if (child == 0) {
    prctl(PR_SET_NAME, "sl-block-test");
    int fd = open(path.c_str(), O_RDONLY | O_DIRECT);
    if (fd < 0) _exit(2);
    void* buf;
    if (posix_memalign(&buf, kSize, kSize)) _exit(3);
    for (int i = 0; i < kBlocks; i++)
      if (pread(fd, buf, kSize, (off_t)i * kSize) != kSize) _exit(4);
    close(fd);
    char c = 'd';
    if (write(done[1], &c, 1) != 1 || read(go[0], &c, 1) != 1) _exit(5);  // alive until collected
    _exit(0);
  }
  char c = 0;
  bool ran = read(done[0], &c, 1) == 1;
  h.runner().collect_all();
  ASSERT_EQ(write(go[1], "g", 1), 1);
  int st = 0;
  waitpid(child, &st, 0);
  for (int fd : {done[0], done[1], go[0], go[1]}) close(fd);
  ASSERT_TRUE(ran && WIFEXITED(st) && WEXITSTATUS(st) == 0) << "child status " << st;
  unlink(path.c_str());
}
}  // namespace

TEST(BlockSource, DirectReadsOfAKnownCountAndSize) {
  Harness h;
  direct_reads(h, test::self_included());
  const core::Labels reads = {{"comm", "sl-block-test"}, {"op", "read"}};
  EXPECT_EQ(h.metric("sightline_block_ios_total", reads), kBlocks);
  EXPECT_EQ(h.metric("sightline_block_io_bytes_total", reads), kBlocks * kSize);
  EXPECT_GE(h.metric("sightline_block_io_latency_seconds", {{"op", "read"}}), kBlocks);
  EXPECT_GE(h.metric("sightline_block_io_size_bytes", {{"op", "read"}}), kBlocks);
}

// Each I/O as a block_io event (biosnoop): the 64 reads, named by their submitter though they
// complete in an interrupt, with size, op, sector and latency; the histograms still count them.
TEST(BlockSource, EachIoIsAnEventNamedByItsSubmitter) {
  Harness h;
  auto o = test::self_included();
  o.kinds = {core::EventKind::kBlockIo};
  direct_reads(h, o);
  if (HasFatalFailure()) return;
  auto reads = [&] {
    return h.find(core::EventKind::kBlockIo, [](auto& e) { return e.comm == "sl-block-test" && e.path == "read"; });
  };
  ASSERT_TRUE(h.pump_until([&] { return reads().size() == kBlocks; })) << h.dump();
  std::set<uint64_t> sectors;
  for (const auto& e : reads()) {
    EXPECT_EQ(e.bytes_sent, (uint64_t)kSize);
    EXPECT_GT(e.duration_ns, 0u);
    EXPECT_EQ(e.ret, 0);
    sectors.insert(e.connect_ns);
  }
  EXPECT_EQ(sectors.size(), (size_t)kBlocks) << "64 distinct sectors";
  EXPECT_EQ(h.metric("sightline_block_ios_total", {{"comm", "sl-block-test"}, {"op", "read"}}), kBlocks);
}
