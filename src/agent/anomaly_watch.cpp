#include "agent/anomaly_watch.h"

#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <string_view>

namespace sightline::agent {
namespace {

using core::Direction;
using core::SignalSpec;

// Directions and floors: a rate both ways (±50% at the default threshold, 1/s at least); a
// latency up (+50%, 2.5 ms at least); an error ratio up (5 points); the node's CPU up (15 points);
// the run queue's mean up by 0.5 ms at least (a busy 2-CPU node's own noise). Not its p99: on a
// shared node it flips between two slots of the histogram (0.8 and 3.7 ms here) with no cause
// on the node, 5 false anomalies in a quiet half hour.
// A latency is judged from 3 requests in the interval (when a fault makes requests rare, their
// latency matters most), an error ratio from anomaly.min_requests.
constexpr int64_t kMinLatencyCount = 3;
constexpr SignalSpec kL7Rate{"l7.rate", "/s", Direction::kBoth, 0.2, 0.1};
constexpr SignalSpec kL7Errors{"l7.error_ratio", "ratio", Direction::kUp, 0.01, 0};
constexpr SignalSpec kL7Latency{"l7.latency_mean", "s", Direction::kUp, 0.0005, 0.1};
constexpr SignalSpec kEndpointRate{"l7.endpoint.rate", "/s", Direction::kBoth, 0.2, 0.1};
constexpr SignalSpec kEndpointLatency{"l7.endpoint.latency_mean", "s", Direction::kUp, 0.0005, 0.1};
constexpr SignalSpec kCpu{"node.cpu_busy", "ratio", Direction::kUp, 0.03, 0};
constexpr SignalSpec kRunqMean{"runq.latency_mean", "s", Direction::kUp, 100e-6, 0.1};
constexpr SignalSpec kDisk{"disk.latency_mean", "s", Direction::kUp, 200e-6, 0.1};
constexpr SignalSpec kRetransmits{"tcp.retransmits", "/s", Direction::kUp, 0.2, 0.2};
constexpr SignalSpec kLost{"agent.events_lost", "/s", Direction::kUp, 0.2, 0.2};

constexpr const SignalSpec* kSpecs[] = {&kL7Rate, &kL7Errors, &kL7Latency, &kEndpointRate, &kEndpointLatency, &kCpu,
                                        &kRunqMean, &kDisk, &kRetransmits, &kLost};

// "comm=nginx protocol=http role=server": the labels but those named.
std::string subject_of(const core::Labels& labels, std::initializer_list<std::string_view> drop) {
  std::string s;
  for (const auto& [k, v] : labels) {
    bool skip = false;
    for (auto d : drop) skip |= k == d;
    if (skip) continue;
    s += (s.empty() ? "" : " ") + k + "=" + v;
  }
  return s;
}

// Which group a family feeds, and the labels that do not name the subject.
struct Feed {
  std::string_view family, group;
  bool hist;
  std::initializer_list<std::string_view> drop;
  bool errors = false;  // counts into b, not a
};
const Feed kFeeds[] = {
    {"sightline_l7_requests_total", "l7", false, {"method", "status"}},
    {"sightline_l7_errors_total", "l7", false, {"method", "status"}, true},
    {"sightline_l7_request_duration_seconds", "l7lat", true, {"method", "status"}},
    {"sightline_l7_route_requests_total", "ep", false, {"status"}},
    {"sightline_l7_route_duration_seconds", "eplat", true, {"status"}},
    {"sightline_runqueue_latency_seconds", "runq", true, {}},
    {"sightline_block_io_latency_seconds", "disk", true, {"op"}},
    {"sightline_tcp_retransmitted_segments_total", "retr", false, {}},
    {"sightline_events_lost_total", "lost", false, {"source", "reason"}},
};

}  // namespace

bool read_cpu_ticks(uint64_t* busy, uint64_t* all) {
  FILE* f = fopen("/proc/stat", "re");
  if (!f) return false;
  unsigned long long v[8] = {};
  int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                 &v[7]);
  fclose(f);
  if (n < 5) return false;
  *all = 0;
  for (auto x : v) *all += x;
  *busy = *all - v[3] - v[4];  // less idle and iowait
  return true;
}

AnomalyWatch::AnomalyWatch(const AnomalyConfig& c)
    : c_(c), interval_ns_(uint64_t{c.interval_s} * 1000000000ULL), detector_([&] {
        core::AnomalyOptions o;
        o.step_s = c.interval_s;
        o.threshold = c.threshold;
        o.warmup = c.warmup_points;
        o.max_series = c.max_series;
        return o;
      }()) {}

void AnomalyWatch::point(const std::string& subject, const SignalSpec& spec, double v, uint64_t wall_s) {
  points_++;
  detector_.feed(subject.empty() ? std::string(spec.name) : std::string(spec.name) + " " + subject, spec, subject, v,
                 wall_s);
}

std::vector<core::Anomaly> AnomalyWatch::observe(const std::vector<core::MetricFamily>& families,
                                                 uint64_t cpu_busy_ticks, uint64_t cpu_all_ticks, uint64_t wall_ns,
                                                 uint64_t mono_ns) {
  std::lock_guard lock(mu_);
  const double dt = last_mono_ns_ ? double(mono_ns - last_mono_ns_) / 1e9 : 0;
  if (last_mono_ns_ && std::fabs(double(wall_ns - last_wall_ns_) / 1e9 - dt) > 5) clock_jumps_++;
  const uint64_t wall_s = wall_ns / 1000000000ULL;

  // The totals now, by group and subject.
  std::map<std::string, Prev> cur;
  std::map<std::string, double> scale;  // histograms' unit to seconds
  for (const auto& f : families)
    for (const auto& feed : kFeeds) {
      if (f.name != feed.family) continue;
      for (const auto& s : f.series) {
        std::string key = std::string(feed.group) + "|" + subject_of(s.labels, feed.drop);
        Prev& p = cur[key];
        if (feed.hist) p.h.merge(s.hist), scale[key] = f.scale;
        else (feed.errors ? p.b : p.a) += s.value;
      }
    }

  if (dt > 0) {
    for (const auto& [key, c] : cur) {
      auto it = prev_.find(key);
      if (it == prev_.end()) continue;  // first seen: its growth shows next interval
      const Prev& p = it->second;
      const size_t bar = key.find('|');
      const std::string_view group(key.data(), bar);
      const std::string subject = key.substr(bar + 1);
      const double da = c.a - p.a, db = c.b - p.b;
      const int64_t dn = int64_t(c.h.count()) - int64_t(p.h.count());
      if (da < 0 || db < 0 || dn < 0 || c.h.sum() < p.h.sum()) {
        resets_++;  // went back: no point this interval
        continue;
      }
      const double mean = dn > 0 ? double(c.h.sum() - p.h.sum()) / double(dn) * scale[key] : 0;
      if (group == "l7") {
        point(subject, kL7Rate, da / dt, wall_s);
        if (da >= c_.min_requests) point(subject, kL7Errors, db / da, wall_s);
      } else if (group == "l7lat") {
        if (dn >= kMinLatencyCount) point(subject, kL7Latency, mean, wall_s);
      } else if (group == "ep") {
        point(subject, kEndpointRate, da / dt, wall_s);
      } else if (group == "eplat") {
        if (dn >= kMinLatencyCount) point(subject, kEndpointLatency, mean, wall_s);
      } else if (group == "runq") {
        if (dn >= int64_t(c_.min_requests)) point(subject, kRunqMean, mean, wall_s);
      } else if (group == "disk") {
        if (dn >= 5) point(subject, kDisk, mean, wall_s);
      } else if (group == "retr") {
        point(subject, kRetransmits, da / dt, wall_s);
      } else if (group == "lost") {
        point(subject, kLost, da / dt, wall_s);
      }
    }
    if (prev_cpu_all_ && cpu_all_ticks > prev_cpu_all_ && cpu_busy_ticks >= prev_cpu_busy_)
      point("", kCpu, double(cpu_busy_ticks - prev_cpu_busy_) / double(cpu_all_ticks - prev_cpu_all_), wall_s);
  }
  prev_ = std::move(cur);  // bounded by the families' own bounds on series
  prev_cpu_busy_ = cpu_busy_ticks;
  prev_cpu_all_ = cpu_all_ticks;
  last_mono_ns_ = mono_ns;
  last_wall_ns_ = wall_ns;
  detector_.expire(wall_s);
  return detector_.take_changes();
}

std::string AnomalyWatch::save() const {
  std::lock_guard lock(mu_);
  return detector_.save();
}

core::Status AnomalyWatch::load(std::string_view image, size_t* loaded) {
  std::lock_guard lock(mu_);
  return detector_.load(
      image,
      [](std::string_view name) -> const SignalSpec* {
        for (const auto* s : kSpecs)
          if (name == s->name) return s;
        return nullptr;  // a signal this version no longer models
      },
      loaded);
}

std::string AnomalyWatch::json() const {
  std::lock_guard lock(mu_);
  std::string j = detector_.json();
  j.pop_back();
  j += ",\"interval_s\":" + std::to_string(c_.interval_s) + ",\"counter_resets\":" + std::to_string(resets_) +
       ",\"clock_jumps\":" + std::to_string(clock_jumps_) + "}";
  return j;
}

void AnomalyWatch::metrics(std::vector<core::MetricFamily>& out) const {
  using core::MetricType;
  std::lock_guard lock(mu_);
  auto one = [&](const char* name, MetricType t, const char* help, double v) {
    out.push_back(core::MetricFamily{name, help, t});
    out.back().series.push_back({{}, v});
  };
  one("sightline_anomaly_series", MetricType::kGauge, "Series the anomaly models hold (anomaly.max_series at most)",
      double(detector_.series()));
  one("sightline_anomaly_series_refused_total", MetricType::kCounter,
      "Points of series past anomaly.max_series: counted, not modelled", double(detector_.refused_series()));
  one("sightline_anomaly_points_total", MetricType::kCounter, "Points given to the anomaly models", double(points_));
  one("sightline_anomaly_points_refused_total", MetricType::kCounter,
      "Points refused: at or before their series' last (the wall clock went back), or not a number",
      double(detector_.refused_points()));
  one("sightline_anomaly_series_resets_total", MetricType::kCounter,
      "Intervals a counter went back (a source restarted): no point that interval", double(resets_));
  one("sightline_anomaly_bytes", MetricType::kGauge, "Memory the anomaly models hold", double(detector_.bytes()));
  one("sightline_anomalies_active", MetricType::kGauge, "Anomalies going on now", double(detector_.active().size()));
  one("sightline_anomalies_total", MetricType::kCounter, "Anomalies that started", double(detector_.started_total()));
}

}  // namespace sightline::agent
