#include "agent/bpf_cost.h"

#include <cstdio>

namespace sightline::agent {

bool parse_bpf_stats_mode(const std::string& s, BpfStatsMode* out) {
  if (s == "auto") *out = BpfStatsMode::kAuto;
  else if (s == "sampled") *out = BpfStatsMode::kSampled;
  else if (s == "always") *out = BpfStatsMode::kAlways;
  else if (s == "off") *out = BpfStatsMode::kOff;
  else return false;
  return true;
}

const char* bpf_stats_mode_name(BpfStatsMode m) {
  switch (m) {
    case BpfStatsMode::kAuto: return "auto";
    case BpfStatsMode::kSampled: return "sampled";
    case BpfStatsMode::kAlways: return "always";
    case BpfStatsMode::kOff: return "off";
  }
  return "?";
}

BpfStatsMode resolve_bpf_stats_mode(BpfStatsMode m, const std::string& kernel_release) {
  if (m != BpfStatsMode::kAuto) return m;
  unsigned major = 0, minor = 0;
  if (std::sscanf(kernel_release.c_str(), "%u.%u", &major, &minor) != 2) return BpfStatsMode::kAlways;
  return major > 6 || (major == 6 && minor >= 4) ? BpfStatsMode::kSampled : BpfStatsMode::kAlways;
}

bool BpfCost::tick(uint64_t now_ns, const Counters& now, bool measuring) {
  if (mode_ == BpfStatsMode::kOff) return false;
  if (ticks_++ == 0) {  // the first look: where the counters start (other tools' runs before us are not ours)
    at_ = now;
    last_ns_ = covered_ns_ = now_ns;
    return true;
  }
  if (measuring && now_ns > last_ns_) {
    // The window since the last tick, scaled to the time since the last window (sampled) or
    // as it is (always: the window is that time).
    double window = static_cast<double>(now_ns - last_ns_);
    double scale = static_cast<double>(now_ns - covered_ns_) / window;
    double ns = 0;
    for (const auto& [key, c] : now) {
      auto was = at_.find(key);
      // a program loaded since (a source restarted): its counters start at 0
      uint64_t runs0 = was == at_.end() || was->second.first > c.first ? 0 : was->second.first;
      uint64_t ns0 = was == at_.end() || was->second.second > c.second ? 0 : was->second.second;
      Runs& t = totals_[key];
      t.count += static_cast<double>(c.first - runs0) * scale;
      t.ns += static_cast<double>(c.second - ns0) * scale;
      ns += static_cast<double>(c.second - ns0);
    }
    ns_per_s_ = ns / window * 1e9;
    covered_ns_ = now_ns;
  }
  std::erase_if(totals_, [&](const auto& t) { return !now.contains(t.first); });  // programs unloaded
  at_ = now;
  last_ns_ = now_ns;
  // sampled: on for the tick before each kPeriod-th (a one-tick window), off otherwise
  return mode_ == BpfStatsMode::kAlways || ticks_ % kPeriod == 0;
}

}  // namespace sightline::agent
