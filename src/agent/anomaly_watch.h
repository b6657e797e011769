// The agent's series, modelled for anomalies (core/anomaly.h). Every interval it turns the
// metric families the sources collected into points: rates from counters' growth, error ratios,
// latency means and p99 from histograms' growth, and the node's CPU from /proc/stat; a counter
// that went back (a source restarted, a key re-used) gives no point that interval.
//
// The signals (each a static SignalSpec: its direction and the least change that matters):
//   l7.rate, l7.error_ratio, l7.latency_mean  per service (process, protocol, role), every request
//   l7.endpoint.rate, l7.endpoint.latency_mean  per route, from the requests seen in detail
//   node.cpu_busy  runq.latency_mean  disk.latency_mean per device
//   tcp.retransmits  agent.events_lost
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "agent/config.h"
#include "core/anomaly.h"
#include "core/histogram.h"
#include "core/metrics.h"

namespace sightline::agent {

class AnomalyWatch {
 public:
  explicit AnomalyWatch(const AnomalyConfig& c);

  // Whether an interval has passed since the last observe().
  bool due(uint64_t mono_ns) const { return !last_mono_ns_ || mono_ns - last_mono_ns_ >= interval_ns_; }
  // One interval: the families now, the node's CPU counters (user+nice+system+irq+softirq+steal,
  // and all, in ticks; 0 0 when unknown). Returns the anomalies that started or ended.
  std::vector<core::Anomaly> observe(const std::vector<core::MetricFamily>& families, uint64_t cpu_busy_ticks,
                                     uint64_t cpu_all_ticks, uint64_t wall_ns, uint64_t mono_ns);

  std::string json() const;  // GET /api/v1/anomalies
  // The models, kept across restarts (core::AnomalyDetector::save, load).
  std::string save() const;
  core::Status load(std::string_view image, size_t* loaded);
  void metrics(std::vector<core::MetricFamily>& out) const;

 private:
  struct Prev {
    double a = 0, b = 0;
    core::LogHistogram h;
  };
  void point(const std::string& subject, const core::SignalSpec& spec, double v, uint64_t wall_s);

  mutable std::mutex mu_;
  AnomalyConfig c_;
  uint64_t interval_ns_;
  core::AnomalyDetector detector_;
  std::map<std::string, Prev> prev_;  // by signal group and subject; bounded with the detector's series
  uint64_t last_mono_ns_ = 0, last_wall_ns_ = 0;
  uint64_t prev_cpu_busy_ = 0, prev_cpu_all_ = 0;
  uint64_t resets_ = 0, clock_jumps_ = 0, prev_refused_ = 0, points_ = 0;
};

// The node's CPU ticks from /proc/stat: busy (all but idle and iowait) and all.
bool read_cpu_ticks(uint64_t* busy, uint64_t* all);

}  // namespace sightline::agent
