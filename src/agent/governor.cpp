#include "agent/governor.h"

#include <cstdio>

namespace sightline::agent {

bool Governor::observe(double cost_percent) {
  last_ = cost_percent;
  if (budget_ <= 0) return false;
  if (cost_percent > budget_) {
    over_++, under_ = 0;
  } else if (cost_percent < budget_ / 2) {
    under_++, over_ = 0;
  } else {
    over_ = under_ = 0;  // between half the budget and the budget: hold
  }
  if (over_ >= kUpAfter && level_ < kMaxLevel) {
    level_++, shed_steps_++, over_ = 0;
    return true;
  }
  if (under_ >= kDownAfter && level_ > 0) {
    level_--, restore_steps_++, under_ = 0;
    return true;
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
