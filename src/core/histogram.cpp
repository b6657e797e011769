#include "core/histogram.h"

#include <cmath>

namespace sightline::core {

void LogHistogram::add(uint64_t value, uint64_t n) {
  slots_[sl_hist_slot(value)] += n;
  sum_ += value * n;
}

void LogHistogram::merge(const sl_hist& h) {
  for (size_t i = 0; i < kSlots; i++) slots_[i] += h.slots[i];
  sum_ += h.sum;
}

void LogHistogram::merge(const LogHistogram& h) {
  for (size_t i = 0; i < kSlots; i++) slots_[i] += h.slots_[i];
  sum_ += h.sum_;
}

uint64_t LogHistogram::count() const {
  uint64_t n = 0;
  for (uint64_t s : slots_) n += s;
  return n;
}

uint64_t LogHistogram::count_below(uint64_t bound) const {
  uint64_t n = 0;
  for (size_t i = 0; i < kSlots; i++) {
    if (sl_hist_lower(static_cast<uint32_t>(i)) >= bound) break;
    n += slots_[i];
  }
  return n;
}

uint64_t LogHistogram::quantile(double q) const {
  uint64_t total = count();
  if (!total) return 0;
  auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < kSlots; i++) {
    seen += slots_[i];
    if (seen >= rank)
      return i + 1 < kSlots ? sl_hist_lower(static_cast<uint32_t>(i + 1)) : sl_hist_lower(static_cast<uint32_t>(i));
  }
  return sl_hist_lower(kSlots - 1);
}

std::vector<uint64_t> LogHistogram::pow2_bounds(unsigned lo_pow, unsigned hi_pow, unsigned step) {
  std::vector<uint64_t> b;
  for (unsigned p = lo_pow; p <= hi_pow && p < 63; p += step) b.push_back(1ULL << p);
  return b;
}

}  // namespace sightline::core
