// The overhead governor: the agent's own cost (its BPF programs' run time plus its own CPU) as a
// share of the node, measured every second against a budget (overhead.max_cpu_percent). Past the
// budget for kUpAfter seconds in a row it sheds one level of detail; when the last kDownAfter
// seconds average under half the budget, none of them over it, it gives one back (hysteresis: no
// flapping at the edge; an idle node's cost that wanders around half the budget still averages
// under it, where "every second under half" waited forever). What each
// level sheds is the sources' business (Source::shed); counts the kernel keeps never degrade.
// Pure logic: the agent feeds it one measurement a second, the unit tests feed it series.
#pragma once

#include <cstdint>
#include <string>

namespace sightline::agent {

class Governor {
 public:
  static constexpr int kMaxLevel = 3;
  static constexpr int kUpAfter = 3;     // seconds over budget before shedding a level
  static constexpr int kDownAfter = 10;  // seconds averaging under half the budget before restoring one

  // budget_percent <= 0: off (observe never changes the level).
  explicit Governor(double budget_percent) : budget_(budget_percent) {}

  // One second's cost in percent of the node's CPUs. Returns true when the level changed.
  bool observe(double cost_percent);

  int level() const { return level_; }
  double budget() const { return budget_; }
  double last_cost() const { return last_; }
  uint64_t shed_steps() const { return shed_steps_; }
  uint64_t restore_steps() const { return restore_steps_; }
  // Why the level is what it is, for the log, /healthz and `sightline top`.
  std::string reason() const;

 private:
  double budget_;
  double last_ = 0;
  int level_ = 0;
  int over_ = 0;                 // consecutive seconds over the budget
  double window_[kDownAfter]{};  // the last seconds since the last step (ring)
  int next_ = 0, seen_ = 0;      // where the next second goes; seconds in window_ (up to kDownAfter)
  uint64_t shed_steps_ = 0, restore_steps_ = 0;
};

// The cost measure: CPU seconds (BPF run time + the agent's CPU) spent over `wall_s` seconds, as
// a percent of `cpus` CPUs.
double cost_percent(double cpu_seconds, double wall_s, unsigned cpus);

}  // namespace sightline::agent
