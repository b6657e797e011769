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

struct MetricSeries {
  Labels labels;
  double value = 0;      // counter, gauge
  LogHistogram hist;     // histogram (values in the family's unit, scaled on export)
};

struct MetricFamily {
  std::string name;  // with unit and _total as Prometheus names it
  std::string help;
  MetricType type = MetricType::kCounter;
  double scale = 1;               // histogram values * scale = exported unit (ns -> s: 1e-9)
  std::vector<uint64_t> bounds;   // histogram `le` boundaries, in the histogram's own unit
  std::vector<MetricSeries> series;
};

}  // namespace sightline::core
