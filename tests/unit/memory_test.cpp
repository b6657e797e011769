// The memory budget: its shares, the refusal of a limit below what the sources need, what is
// counted as the agent's (RSS less the BPF maps it maps), and when the guard sheds.
#include "agent/memory.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

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
  EXPECT_EQ(dflt.symbol_cache_bytes, 16 * kMiB);
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
  EXPECT_NE(st.message().find("70 MiB"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("30 MiB of BPF maps"), std::string::npos) << st.message();
}

TEST(MemoryUse, BpfMapsMappedIntoTheAgentAreNotItsOwn) {
  std::string path = testing::TempDir() + "/smaps";
  {
    std::ofstream out(path);
    out << "55d0c0000000-55d0c0100000 r-xp 00000000 fd:01 123 /usr/bin/sightline\n"
           "Size:               1024 kB\nRss:                 800 kB\nAnonHugePages:         0 kB\n"
           "7f0000000000-7f0000802000 r--s 00000000 00:0f 1045 anon_inode:bpf-map\n"
           "Size:               8200 kB\nRss:                8200 kB\nFilePmdMapped:         0 kB\n"
           "7f0001000000-7f0001001000 rw-s 00000000 00:0f 1045 anon_inode:bpf-map\n"
           "Size:                  4 kB\nRss:                   4 kB\n"
           "7f0002000000-7f0002100000 rw-p 00000000 00:00 0 \n"
           "Size:               1024 kB\nRss:                 512 kB\n"
           // a perf buffer (kernels without the ring buffer): kernel pages too
           "7f0003000000-7f0003021000 rw-s 00000000 00:0f 1046 anon_inode:[perf_event]\n"
           "Size:                132 kB\nRss:                  68 kB\n";
  }
  EXPECT_EQ(read_bpf_mapped_bytes(path), (8200 + 4 + 68) * 1024ULL);
  EXPECT_EQ(read_bpf_mapped_bytes(path + ".missing"), 0u);
  MemoryUse u{100 * kMiB, 40 * kMiB, 22 * kMiB};
  EXPECT_EQ(u.user(), 60 * kMiB);
  EXPECT_EQ(u.total(), 82 * kMiB) << "the kernel's map memory once, not the two mappings of a ring";
  EXPECT_GT(read_rss_bytes(), 0u);
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
