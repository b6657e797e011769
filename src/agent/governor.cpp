#include "agent/governor.h"

#include <cstdio>

namespace sightline::agent {

bool Governor::observe(double cost_percent) {
  last_ = cost_percent;
  if (budget_ <= 0) return false;
  over_ = cost_percent > budget_ ? over_ + 1 : 0;
  window_[next_] = cost_percent;
  next_ = (next_ + 1) % kDownAfter;
  if (seen_ < kDownAfter) seen_++;
  if (over_ >= kUpAfter && level_ < kMaxLevel) {
    level_++, shed_steps_++, over_ = 0, seen_ = 0;
    return true;
  }
  if (seen_ >= kDownAfter && level_ > 0) {
    double sum = 0, max = 0;
    for (double c : window_) sum += c, max = c > max ? c : max;
    if (sum / kDownAfter < budget_ / 2 && max <= budget_) {
      level_--, restore_steps_++, seen_ = 0;
      return true;
    }
  }
  return false;
}

std::string Governor::reason() const {
  char buf[160];
  if (budget_ <= 0) return "off (overhead.max_cpu_percent: 0)";
  snprintf(buf, sizeof buf, "level %d of %d: cost %.2f%% of the node, budget %.2f%%", level_, kMaxLevel, last_,
           budget_);
  return buf;
}

double cost_percent(double cpu_seconds, double wall_s, unsigned cpus) {
  if (wall_s <= 0 || cpus == 0) return 0;
  return 100.0 * cpu_seconds / (wall_s * cpus);
}

}  // namespace sightline::agent
