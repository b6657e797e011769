#include "core/clock.h"

#include <time.h>

namespace sightline::core {
namespace {
uint64_t read(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + ts.tv_nsec;
}
}  // namespace

uint64_t now_boot_ns() { return read(CLOCK_BOOTTIME); }
uint64_t now_wall_ns() { return read(CLOCK_REALTIME); }

void WallClock::resync() {
  uint64_t best_gap = ~0ULL, best = 0;
  for (int i = 0; i < 5; i++) {
    uint64_t b0 = read(CLOCK_BOOTTIME);
    uint64_t w = read(CLOCK_REALTIME);
    uint64_t b1 = read(CLOCK_BOOTTIME);
    if (b1 - b0 < best_gap) {
      best_gap = b1 - b0;
      best = w - (b0 + (b1 - b0) / 2);
    }
  }
  offset_ns_.store(best, std::memory_order_relaxed);
}

}  // namespace sightline::core

#include "core/wall_clock.h"
namespace sightline::core {
WallClock& wall_clock() {
  static WallClock clock;
  return clock;
}
}  // namespace sightline::core
