// What the agent's BPF programs cost, from the kernel's run-time statistics (bpf_stats: each run's
// count and time). Those statistics cost each run of every BPF program on the node two clock
// reads (~80 ns a run on this machine's kvm-clock, about a fifth of an L7 socket program's run),
// so by default they are on one second in every kPeriod (overhead.bpf_stats: sampled; `auto`
// chooses it where switching them is safe, see resolve_bpf_stats_mode): each
// window's counts, scaled to the time since the last window, estimate the whole. `always` keeps
// them on (exact counts; bench/program_cost.sh), `off` never turns them on (the governor sees the
// agent's own CPU only). Pure logic: the agent feeds it the kernel's counters once a second and
// turns the statistics on or off as told; the unit tests feed it series.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>

namespace sightline::agent {

enum class BpfStatsMode { kAuto, kSampled, kAlways, kOff };
// "auto", "sampled", "always", "off"; false for anything else.
bool parse_bpf_stats_mode(const std::string& s, BpfStatsMode* out);
// What `auto` (the default) is on the kernel of this release (uname -r): sampled from 6.4 on,
// always before. Each switch of the statistics patches kernel text (a static key, int3 and IPIs
// to every CPU); on Debian 12's 6.1 under memory-cgroup pressure that patching livelocked the
// node against our sched_switch programs (tests/vm/package.sh, docs/design.md). Kernels between
// 6.1 and 6.4 are untested and take the safe side. The other modes are what they say.
BpfStatsMode resolve_bpf_stats_mode(BpfStatsMode m, const std::string& kernel_release);
const char* bpf_stats_mode_name(BpfStatsMode m);

class BpfCost {
 public:
  static constexpr unsigned kPeriod = 5;  // seconds: one measured window of one second in each
  using Key = std::pair<std::string, std::string>;  // source, program
  struct Runs {
    double count = 0;
    double ns = 0;
  };
  // The kernel's counters now (cumulative since each program's load, counted while statistics were on).
  using Counters = std::map<Key, std::pair<uint64_t, uint64_t>>;

  explicit BpfCost(BpfStatsMode mode) : mode_(mode) {}

  // Whether the statistics are to be on from the start.
  bool start_on() const { return mode_ != BpfStatsMode::kOff; }
  // One tick (about a second apart) at `now_ns` with the counters read now; `measuring`: whether
  // the statistics were on since the last tick. Returns whether they are to be on until the next.
  bool tick(uint64_t now_ns, const Counters& now, bool measuring);

  // Runs and time of each program since the agent started: exact (always) or estimated (sampled).
  const std::map<Key, Runs>& totals() const { return totals_; }
  // BPF time a second of wall time, over the last window measured (0 before the first).
  double ns_per_s() const { return ns_per_s_; }
  BpfStatsMode mode() const { return mode_; }
  bool estimated() const { return mode_ == BpfStatsMode::kSampled; }

 private:
  BpfStatsMode mode_;
  unsigned ticks_ = 0;
  uint64_t last_ns_ = 0;      // the last tick
  uint64_t covered_ns_ = 0;   // the end of the time the totals stand for
  Counters at_;               // the counters at the last tick
  std::map<Key, Runs> totals_;
  double ns_per_s_ = 0;
};

}  // namespace sightline::agent
