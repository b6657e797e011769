#include "core/anomaly_eval.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace sightline::core {
namespace {

constexpr uint64_t kStart = 1767571200;  // Monday 2026-01-05 00:00 UTC
constexpr double kPi = 3.14159265358979323846;

enum Shape { kRate, kLatency, kRatio, kGauge };
enum Type { kShift, kSpike, kDrift };
const char* const kTypeNames[] = {"level_shift", "spike", "drift"};

constexpr SignalSpec kSpecs[] = {
    {"synthetic.rate", "/s", Direction::kBoth, 0.5, 0.05},
    {"synthetic.latency", "s", Direction::kUp, 1e-4, 0.05},
    {"synthetic.error_ratio", "ratio", Direction::kUp, 0.005, 0},
    {"synthetic.cpu", "ratio", Direction::kUp, 0.02, 0},
};

struct Label {
  Type type;
  uint64_t start, end;  // wall seconds
  double size;          // multiplicative (rate, latency) or additive (ratio, gauge)
  bool found = false;
  uint64_t detected = 0;
};

struct Series {
  Shape shape;
  std::string key;
  double level, amp, phase, weekend, noise, n_per_step;
  std::vector<Label> labels;
};

double uniform(std::mt19937_64& g, double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(g); }
double log_uniform(std::mt19937_64& g, double lo, double hi) { return std::exp(uniform(g, std::log(lo), std::log(hi))); }

Series make_series(std::mt19937_64& g, size_t i, const EvalOptions& e) {
  Series s;
  s.shape = static_cast<Shape>(i % 4);
  s.key = std::string(kSpecs[s.shape].name) + "#" + std::to_string(i);
  s.phase = uniform(g, 0, 2 * kPi);
  s.weekend = uniform(g, 0, 1) < 0.4 ? uniform(g, 0.5, 0.85) : 1;
  switch (s.shape) {
    case kRate: s.level = log_uniform(g, 5, 5000), s.amp = uniform(g, 0, 0.6), s.noise = uniform(g, 0.02, 0.06); break;
    case kLatency: s.level = log_uniform(g, 0.001, 0.5), s.amp = uniform(g, 0, 0.3), s.noise = uniform(g, 0.03, 0.12); break;
    case kRatio: s.level = log_uniform(g, 0.001, 0.03), s.amp = uniform(g, 0, 0.5), s.n_per_step = log_uniform(g, 200, 5000); break;
    case kGauge: s.level = uniform(g, 0.1, 0.5), s.amp = uniform(g, 0, 0.3), s.noise = 0.02; break;
  }
  // The test days' anomalies: none for a third, else one or two, 12 h apart at least.
  int n = uniform(g, 0, 1) < 0.33 ? 0 : uniform(g, 0, 1) < 0.5 ? 1 : 2;
  const uint64_t test0 = kStart + uint64_t(e.train_days) * 86400, span = uint64_t(e.test_days) * 86400;
  for (int k = 0; k < n; k++) {
    Label l;
    l.type = static_cast<Type>(std::uniform_int_distribution<int>(0, 2)(g));
    uint64_t len = l.type == kShift ? uint64_t(uniform(g, 3600, 4 * 3600))
                   : l.type == kSpike ? uint64_t(uniform(g, 300, 900))
                                      : uint64_t(uniform(g, 3 * 3600, 6 * 3600));
    // Each anomaly in its own half of the test days, so two are apart.
    uint64_t lo = test0 + k * span / 2, hi = test0 + (k + 1) * span / 2 - len - 12 * 3600;
    l.start = lo + uint64_t(uniform(g, 0, double(hi - lo)));
    l.end = l.start + len;
    bool spike = l.type == kSpike;
    switch (s.shape) {
      case kRate:
        l.size = spike ? uniform(g, 2, 5) : uniform(g, 0, 1) < 0.5 ? uniform(g, 0.3, 0.6) : uniform(g, 1.4, 1.8);
        break;
      case kLatency: l.size = spike ? uniform(g, 2, 5) : uniform(g, 1.5, 3); break;
      case kRatio: l.size = spike ? uniform(g, 0.05, 0.3) : uniform(g, 0.03, 0.15); break;
      case kGauge: l.size = spike ? uniform(g, 0.3, 0.5) : uniform(g, 0.2, 0.4); break;
    }
    s.labels.push_back(l);
  }
  return s;
}

double value_at(const Series& s, uint64_t t, uint32_t step, std::mt19937_64& g) {
  uint64_t day = (t - kStart) / 86400;
  double tod = double((t - kStart) % 86400) / 86400;
  double cycle = 1 + s.amp * std::sin(2 * kPi * tod + s.phase);
  if (day % 7 >= 5) cycle *= s.weekend;
  // The anomaly's effect now: 1 (none) .. its size; drifts ramp up to it.
  double mult = 1, add = 0;
  for (const auto& l : s.labels) {
    if (t < l.start || t >= l.end) continue;
    double f = l.type == kDrift ? double(t - l.start) / double(l.end - l.start) : 1;
    if (s.shape == kRate || s.shape == kLatency) mult = 1 + f * (l.size - 1);
    else add = f * l.size;
  }
  std::normal_distribution<double> n01(0, 1);
  switch (s.shape) {
    case kRate: {
      double lambda = s.level * cycle * mult * step;
      double count = std::max(0.0, lambda + std::sqrt(lambda) * n01(g)) * (1 + s.noise * n01(g));
      return std::max(0.0, count) / step;
    }
    case kLatency: return s.level * (0.7 + 0.3 * cycle) * mult * std::exp(s.noise * n01(g));
    case kRatio: {
      double p = std::min(1.0, s.level * cycle + add);
      return std::clamp(p + std::sqrt(p * (1 - p) / s.n_per_step) * n01(g), 0.0, 1.0);
    }
    case kGauge: return std::clamp(s.level * cycle + add + s.noise * n01(g), 0.0, 1.0);
  }
  return 0;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(q * double(v.size())))];
}

}  // namespace

EvalReport evaluate_synthetic(const EvalOptions& e, AnomalyOptions o) {
  std::mt19937_64 g(e.seed);
  o.step_s = e.step_s;
  o.max_series = std::max(o.max_series, e.series);
  std::vector<Series> series;
  std::map<std::string, size_t> by_key;
  for (size_t i = 0; i < e.series; i++) {
    series.push_back(make_series(g, i, e));
    by_key[series.back().key] = i;
  }
  AnomalyDetector d(o);
  EvalReport r;
  r.series = e.series;
  r.bytes_per_series = AnomalyDetector::bytes_per_series();
  const uint64_t end = kStart + uint64_t(e.train_days + e.test_days) * 86400;
  const uint64_t test0 = kStart + uint64_t(e.train_days) * 86400;
  const uint64_t grace = 3ull * e.step_s;
  std::chrono::steady_clock::duration spent{};
  for (uint64_t t = kStart; t < end; t += e.step_s) {
    for (auto& s : series) {
      double v = value_at(s, t, e.step_s, g);
      auto t0 = std::chrono::steady_clock::now();
      d.feed(s.key, kSpecs[s.shape], "", v, t);
      spent += std::chrono::steady_clock::now() - t0;
    }
    r.points += series.size();
    for (const auto& a : d.take_changes()) {
      if (a.until_s) continue;  // ends are not alerts
      r.alerts++;
      Series& s = series[by_key.at(a.key)];
      bool matched = false;
      for (auto& l : s.labels)
        if (a.since_s + grace >= l.start && a.since_s <= l.end + grace) {
          matched = true;
          if (!l.found) l.found = true, l.detected = a.last_s;
        }
      if (matched) r.true_alerts++;
      else {
        r.false_alerts++, r.false_in_training += a.since_s < test0;
        if (e.verbose)
          fprintf(stderr, "false alert: %s day %llu h %.1f %s dir %s z %.1f v %g e %g s %g\n", a.key.c_str(),
                  (unsigned long long)((a.since_s - kStart) / 86400), double((a.since_s - kStart) % 86400) / 3600,
                  a.baseline, direction_name(a.dir), a.score, a.value, a.expected, a.spread);
      }
    }
  }
  r.seconds = std::chrono::duration<double>(spent).count();
  std::vector<double> ttd;
  std::map<std::string, std::vector<double>> ttd_by;
  for (const auto& s : series)
    for (const auto& l : s.labels) {
      r.labelled++;
      auto& [found, labelled] = r.by_type[kTypeNames[l.type]];
      labelled++;
      if (!l.found) {
        if (e.verbose)
          fprintf(stderr, "missed: %s %s day %llu h %.1f len %llu size %g\n", s.key.c_str(), kTypeNames[l.type],
                  (unsigned long long)((l.start - kStart) / 86400), double((l.start - kStart) % 86400) / 3600,
                  (unsigned long long)(l.end - l.start), l.size);
        continue;
      }
      r.found++, found++;
      double dt = double(l.detected > l.start ? l.detected - l.start : 0);
      ttd.push_back(dt);
      ttd_by[kTypeNames[l.type]].push_back(dt);
    }
  r.precision = r.alerts ? double(r.true_alerts) / double(r.alerts) : 1;
  r.recall = r.labelled ? double(r.found) / double(r.labelled) : 1;
  r.ttd_median_s = quantile(ttd, 0.5);
  r.ttd_p90_s = quantile(ttd, 0.9);
  for (auto& [k, v] : ttd_by) r.ttd_median_by_type[k] = quantile(v, 0.5);
  return r;
}

std::string render_eval(const EvalOptions& e, const AnomalyOptions& o, const EvalReport& r) {
  char buf[512];
  std::string out;
  snprintf(buf, sizeof buf,
           "synthetic set: %zu series (rate, latency, error ratio, cpu), %u clean days then %u test days, a point "
           "every %u s, seed %llu\ndetector: threshold %.1f spreads, %u of %u points, warm-up %u points\n\n",
           r.series, e.train_days, e.test_days, e.step_s, static_cast<unsigned long long>(e.seed), o.threshold,
           o.confirm, o.of, o.warmup);
  out += buf;
  snprintf(buf, sizeof buf, "precision  %.3f  (%zu alerts: %zu true, %zu false, %zu of them in the clean days)\n",
           r.precision, r.alerts, r.true_alerts, r.false_alerts, r.false_in_training);
  out += buf;
  size_t test_alerts = r.alerts - r.false_in_training;
  snprintf(buf, sizeof buf, "           %.3f  on the test days alone (%zu alerts, %zu false)\n",
           test_alerts ? double(r.true_alerts) / double(test_alerts) : 1.0, test_alerts,
           r.false_alerts - r.false_in_training);
  out += buf;
  snprintf(buf, sizeof buf, "recall     %.3f  (%zu of %zu labelled anomalies found)\n", r.recall, r.found, r.labelled);
  out += buf;
  snprintf(buf, sizeof buf, "time to detect: median %.0f s, p90 %.0f s\n", r.ttd_median_s, r.ttd_p90_s);
  out += buf;
  for (const auto& [type, fl] : r.by_type) {
    auto m = r.ttd_median_by_type.find(type);
    snprintf(buf, sizeof buf, "  %-12s found %zu of %zu (recall %.3f), median time to detect %.0f s\n", type.c_str(),
             fl.first, fl.second, fl.second ? double(fl.first) / double(fl.second) : 1.0,
             m == r.ttd_median_by_type.end() ? 0.0 : m->second);
    out += buf;
  }
  snprintf(buf, sizeof buf, "cost: %.2f µs a point (%zu points), %zu bytes a modelled series\n",
           r.points ? r.seconds * 1e6 / double(r.points) : 0.0, r.points, r.bytes_per_series);
  out += buf;
  return out;
}

}  // namespace sightline::core
