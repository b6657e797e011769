// Boot clock to wall clock.
#include <gtest/gtest.h>

#include "core/clock.h"

using namespace sightline::core;

TEST(WallClock, ConvertsBootTimeToNowWithinAMillisecond) {
  WallClock c;
  uint64_t boot = now_boot_ns();
  uint64_t wall = now_wall_ns();
  int64_t diff = static_cast<int64_t>(c.to_wall(boot)) - static_cast<int64_t>(wall);
  EXPECT_LT(std::abs(diff), 1000000) << diff;
}

TEST(WallClock, OffsetIsRealtimeMinusBoottime) {
  WallClock c;
  // The epoch offset is at least the time since 2020 and below the boot time plus now.
  EXPECT_GT(c.offset_ns(), 1577836800ULL * 1000000000ULL - now_boot_ns());
  EXPECT_LT(c.offset_ns(), now_wall_ns());
}
