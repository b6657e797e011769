// Bucket math shared with the kernel side, merges, cumulative counts and quantiles.
#include <gtest/gtest.h>

#include <random>

#include "core/histogram.h"

using sightline::core::LogHistogram;

TEST(HistogramMath, EveryValueFallsInsideItsSlot) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 200000; i++) {
    uint64_t v = rng() >> (rng() % 64);
    uint32_t s = sl_hist_slot(v);
    ASSERT_LT(s, (uint32_t)SL_HIST_SLOTS);
    EXPECT_LE(sl_hist_lower(s), v) << v;
    if (s + 1 < SL_HIST_SLOTS) {
      EXPECT_LT(v, sl_hist_lower(s + 1)) << v;
    }
  }
}

TEST(HistogramMath, SlotsAreContiguousAndPowersOfTwoAreBoundaries) {
  for (uint32_t s = 1; s < SL_HIST_SLOTS; s++) {
    EXPECT_GT(sl_hist_lower(s), sl_hist_lower(s - 1));
    EXPECT_EQ(sl_hist_slot(sl_hist_lower(s)), s);
    EXPECT_EQ(sl_hist_slot(sl_hist_lower(s) - 1), s - 1);
  }
  for (unsigned p = SL_HIST_SUB_BITS; p < SL_HIST_MAX_POW; p++)
    EXPECT_EQ(sl_hist_lower(sl_hist_slot(1ULL << p)), 1ULL << p);
  EXPECT_EQ(sl_hist_slot(~0ULL), (uint32_t)SL_HIST_SLOTS - 1);
  EXPECT_EQ(sl_log2_u64(1), 0u);
  EXPECT_EQ(sl_log2_u64(1ULL << 63), 63u);
}

TEST(HistogramMath, RelativeErrorIsBounded) {
  for (uint64_t v = 4; v < (1ULL << 30); v = v * 3 / 2 + 1) {
    uint32_t s = sl_hist_slot(v);
    double width = double(sl_hist_lower(s + 1) - sl_hist_lower(s));
    EXPECT_LE(width / double(sl_hist_lower(s)), 1.0 / SL_HIST_SUB + 1e-9);
  }
}

TEST(Histogram, MergeCountSumAndCumulative) {
  LogHistogram a, b;
  a.add(1000, 3);    // ~1 us
  a.add(1000000);    // 1 ms
  sl_hist raw = {};
  raw.slots[sl_hist_slot(5000)] = 2;
  raw.sum = 10000;
  b.merge(raw);
  a.merge(b);
  EXPECT_EQ(a.count(), 6u);
  EXPECT_EQ(a.sum(), 3000u + 1000000u + 10000u);
  EXPECT_EQ(a.count_below(1024), 3u);
  EXPECT_EQ(a.count_below(8192), 5u);
  EXPECT_EQ(a.count_below(1ULL << 19), 5u);
  EXPECT_EQ(a.count_below(1ULL << 20), 6u);  // 1 ms = 1e6 < 2^20 = 1048576
}

TEST(Histogram, Quantiles) {
  LogHistogram h;
  for (int i = 0; i < 99; i++) h.add(1000);
  h.add(1000000000);  // one 1 s outlier
  EXPECT_LE(h.quantile(0.5), 1280u);
  EXPECT_GE(h.quantile(0.5), 1000u);
  EXPECT_GE(h.quantile(1.0), 1000000000u);
  EXPECT_EQ(LogHistogram().quantile(0.5), 0u);
}

TEST(Histogram, Pow2Bounds) {
  auto b = LogHistogram::pow2_bounds(10, 16, 2);
  EXPECT_EQ(b, (std::vector<uint64_t>{1024, 4096, 16384, 65536}));
}

TEST(HistogramMath, AddCountsTheSlotAndTheSum) {
  sl_hist h = {};
  sl_hist_add(&h, 1000);
  sl_hist_add(&h, 1000);
  sl_hist_add(&h, ~0ULL >> 1);
  EXPECT_EQ(h.slots[sl_hist_slot(1000)], 2u);
  EXPECT_EQ(h.slots[SL_HIST_SLOTS - 1], 1u);
  EXPECT_EQ(h.sum, 2000u + (~0ULL >> 1));
}
