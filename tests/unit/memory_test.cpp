// The memory budget: its shares, the refusal of a limit below what the sources need, what is
// counted as the agent's (RSS less the BPF maps it maps), and when the guard sheds.
#include "agent/memory.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

using namespace sightline::agent;

TEST(MemoryPlan, SharesGrowWithTheLimitAndStayBounded) {
  MemoryPlan small = plan_memory(64 * kMiB), dflt = plan_memory(kDefaultMemoryLimit), big = plan_memory(64ULL << 30);
  for (const MemoryPlan* p : {&small, &dflt, &big}) {
    uint64_t shares = p->store_queue_bytes + p->sqlite_heap_bytes + p->symbol_cache_bytes +
                      p->process_table_bytes + p->conn_state_bytes + p->dns_names * 256;
    EXPECT_LT(shares, p->limit) << "the shares leave room for the rest: " << p->limit;
    EXPECT_LE(p->sqlite_cache_bytes + 2 * p->query_bytes, p->sqlite_heap_bytes) << "queries fit under SQLite's heap";
  }
  EXPECT_LT(small.store_queue_bytes, dflt.store_queue_bytes);
  EXPECT_EQ(dflt.store_queue_bytes, 16 * kMiB);
  EXPECT_EQ(dflt.symbol_cache_bytes, 24 * kMiB);
  // At the default, the bounds the tables had before they were derived: 16 MiB of processes
  // (~50k with typical command lines), 8192 DNS names, 16 MiB of L7 connections.
  EXPECT_EQ(dflt.process_table_bytes, 16 * kMiB);
  EXPECT_EQ(dflt.dns_names, 8192u);
  EXPECT_EQ(dflt.conn_state_bytes, 16 * kMiB);
  EXPECT_LT(small.conn_state_bytes, dflt.conn_state_bytes);
  EXPECT_EQ(big.store_queue_bytes, 64 * kMiB) << "capped: a large limit is not a reason to queue more";
}

TEST(MemoryPlan, ALimitBelowWhatTheSourcesNeedIsRefusedWithTheMinimum) {
  EXPECT_TRUE(check_memory_limit(128 * kMiB, 30 * kMiB));
  auto st = check_memory_limit(48 * kMiB, 30 * kMiB);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("62 MiB"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("30 MiB of BPF maps"), std::string::npos) << st.message();
}

TEST(MemoryUse, AnonymousMemoryCountsAndMappedFilesDoNot) {
  MemoryUse u{100 * kMiB, 40 * kMiB, 22 * kMiB};
  EXPECT_EQ(u.user(), 40 * kMiB);
  EXPECT_EQ(u.total(), 62 * kMiB) << "the kernel's map memory once; mapped files not at all";

  // The real thing: 32 MiB of heap touched counts; 32 MiB of a file read through a mapping
  // (as libelf reads a binary's symbols and DWARF) shows in RSS only.
  Resident r0 = read_resident();
  ASSERT_GT(r0.rss, 0u);
  ASSERT_GT(r0.anon, 0u);
  ASSERT_LE(r0.anon, r0.rss);
  const size_t n = 32 * kMiB;
  std::string path = testing::TempDir() + "/mapped";
  {
    std::ofstream out(path, std::ios::binary);
    std::string block(1 << 20, 'x');
    for (size_t i = 0; i < n; i += block.size()) out << block;
  }
  int fd = open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  void* m = mmap(nullptr, n, PROT_READ, MAP_PRIVATE, fd, 0);
  ASSERT_NE(m, MAP_FAILED);
  volatile uint64_t sum = 0;
  for (size_t i = 0; i < n; i += 4096) sum += static_cast<const char*>(m)[i];
  Resident r1 = read_resident();
  EXPECT_GE(r1.rss, r0.rss + n - 4 * kMiB) << "the file's pages are resident";
  EXPECT_LT(r1.anon, r0.anon + 4 * kMiB) << "and not anonymous";
  munmap(m, n);
  close(fd);
  unlink(path.c_str());
  std::vector<char> heap(n);
  for (size_t i = 0; i < n; i += 4096) heap[i] = 1;
  Resident r2 = read_resident();
  EXPECT_GE(r2.anon, r1.anon + n - 4 * kMiB) << "touched heap is anonymous";
  EXPECT_EQ(read_resident(path + ".missing").rss, 0u);
}

TEST(MemoryGuard, HeapFirstThenCachesThenDetailAtMostOnceAWindow) {
  MemoryGuard g(100 * kMiB);
  EXPECT_EQ(g.observe(50 * kMiB, 1), 0);
  EXPECT_EQ(g.observe(61 * kMiB, 2), 1) << "past 60%: free heap back";
  EXPECT_EQ(g.observe(62 * kMiB, 3), 0) << "not again within the window";
  EXPECT_EQ(g.observe(81 * kMiB, 4), 2) << "past 80%: caches, at once";
  EXPECT_EQ(g.observe(91 * kMiB, 5), 3) << "past 90%: detail, at once";
  EXPECT_EQ(g.observe(92 * kMiB, 6), 0);
  EXPECT_EQ(g.observe(92 * kMiB, 5 + MemoryGuard::kRepeatS), 3) << "still high after the window: again";
  EXPECT_EQ(g.observe(40 * kMiB, 20), 0);
  EXPECT_EQ(g.observe(85 * kMiB, 21), 2) << "a new crossing acts at once";
  EXPECT_EQ(g.peak(), 92 * kMiB);
}
