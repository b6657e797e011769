// Metric families as sources collect them (counters, gauges, histograms with labels); the
// exporters render them (Prometheus text today). Sources know this, not the exporters.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/histogram.h"

namespace sightline::core {

using Labels = std::vector<std::pair<std::string, std::string>>;

enum class MetricType { kCounter, kGauge, kHistogram };

// One observation behind a histogram's bucket, named by labels that find it elsewhere (an
// OpenMetrics exemplar: the request row in the store behind a latency bucket).
struct Exemplar {
  uint64_t value = 0;    // in the histogram's own unit
  uint64_t wall_ns = 0;  // when it was observed (ns since the epoch)
  Labels labels;
};

struct MetricSeries {
  Labels labels;
  double value = 0;      // counter, gauge
  LogHistogram hist;     // histogram (values in the family's unit, scaled on export)
  // Histograms: at most one per bucket; OpenMetrics text puts each on the bucket its value
  // falls in (below that `le`, not below the one before).
  std::vector<Exemplar> exemplars;
};

struct MetricFamily {
  std::string name;  // with unit and _total as Prometheus names it
  std::string help;
  MetricType type = MetricType::kCounter;
  double scale = 1;               // histogram values * scale = exported unit (ns -> s: 1e-9)
  std::vector<uint64_t> bounds;   // histogram `le` boundaries, in the histogram's own unit
  std::vector<MetricSeries> series;
};

// A family of one label: a series per (label value, value) pair.
inline MetricFamily by_label(std::string name, std::string help, MetricType type, const std::string& label,
                             std::initializer_list<std::pair<const char*, double>> values) {
  MetricFamily f{std::move(name), std::move(help), type};
  for (const auto& [v, n] : values) f.series.push_back({{{label, v}}, n, {}});
  return f;
}

}  // namespace sightline::core
