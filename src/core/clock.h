// Boot-time to wall-clock conversion. The kernel stamps events with CLOCK_BOOTTIME (monotonic,
// counts suspend); people want wall time. The offset between the two moves with NTP steps and
// suspend, so it is re-sampled periodically (resync) rather than computed once.
#pragma once

#include <atomic>
#include <cstdint>

namespace sightline::core {

uint64_t now_boot_ns();
uint64_t now_wall_ns();

class WallClock {
 public:
  WallClock() { resync(); }
  // Samples realtime - boottime, taking the tightest of a few bracketed reads.
  void resync();
  uint64_t to_wall(uint64_t boot_ns) const {
    return boot_ns + offset_ns_.load(std::memory_order_relaxed);
  }
  uint64_t offset_ns() const { return offset_ns_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> offset_ns_{0};
};

}  // namespace sightline::core
