// The user side of sightline/hist.h: merged per-CPU histograms, cumulative counts at bucket
// boundaries (for Prometheus `le`), quantile estimates.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "sightline/hist.h"

namespace sightline::core {

class LogHistogram {
 public:
  static constexpr size_t kSlots = SL_HIST_SLOTS;

  void add(uint64_t value, uint64_t n = 1);
  // Corrects the sum where values were added by their bucket, not themselves (a kernel
  // histogram of log2 buckets whose exact sum is kept apart).
  void add_sum(uint64_t delta) { sum_ += delta; }
  void merge(const sl_hist& h);
  void merge(const LogHistogram& h);
  void clear() { *this = LogHistogram(); }

  uint64_t count() const;
  uint64_t sum() const { return sum_; }
  // Values strictly below `bound`; exact when bound is a slot boundary (every power of two is).
  uint64_t count_below(uint64_t bound) const;
  // Estimate of the q-quantile (0..1): the upper bound of the slot where it falls.
  uint64_t quantile(double q) const;
  const std::array<uint64_t, kSlots>& slots() const { return slots_; }

  // Power-of-two boundaries from 2^lo_pow to 2^hi_pow every `step` powers: the `le` values
  // exposed for a histogram of this shape (few, so series stay cheap).
  static std::vector<uint64_t> pow2_bounds(unsigned lo_pow, unsigned hi_pow, unsigned step);

 private:
  std::array<uint64_t, kSlots> slots_{};
  uint64_t sum_ = 0;
};

}  // namespace sightline::core
