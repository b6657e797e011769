// The anomaly detector's evaluation on synthetic series with labelled anomalies (bench/
// anomaly_eval.sh, `sightline anomaly-eval`, and a unit test): what it finds (recall), how
// much of what it says is right (precision), and how soon (time to detect).
//
// Each series is one of four shapes the agent models: a request rate (Poisson counts with a
// daily cycle of up to ±60% and, for some, quieter weekends), a latency (log-normal noise
// around a daily cycle), an error ratio (binomial over the interval's requests) and a node
// gauge (CPU busy: a daily cycle with noise). After train_days clean days, the test days carry
// at most two labelled anomalies a series, 12 h apart at least, of three types:
// - level shift, 1-4 h: a rate ×0.3-0.6 or ×1.4-1.8, a latency ×1.5-3, an error ratio
//   +3-15 points, a gauge +0.2-0.4;
// - spike, 5-15 min: a rate or a latency ×2-5, an error ratio +5-30 points, a gauge +0.3-0.5;
// - slow drift: a ramp over 3-6 h to a level shift's size, then back at once.
// A third of the series carry none. An alert is true when it starts inside a labelled
// interval (or within 3 steps after it); every other alert, training days included, is false.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "core/anomaly.h"

namespace sightline::core {

struct EvalOptions {
  uint64_t seed = 1;
  size_t series = 200;
  uint32_t train_days = 14, test_days = 7;
  uint32_t step_s = 60;
  bool verbose = false;  // each false alert and missed anomaly on stderr
};

struct EvalReport {
  size_t series = 0, points = 0, labelled = 0, found = 0;
  size_t alerts = 0, true_alerts = 0, false_alerts = 0, false_in_training = 0;
  double precision = 0, recall = 0;
  double ttd_median_s = 0, ttd_p90_s = 0;
  std::map<std::string, std::pair<size_t, size_t>> by_type;  // type -> found, labelled
  std::map<std::string, double> ttd_median_by_type;
  double seconds = 0;  // the detector's own time, all points
  size_t bytes_per_series = 0;
};

EvalReport evaluate_synthetic(const EvalOptions& e, AnomalyOptions o);
std::string render_eval(const EvalOptions& e, const AnomalyOptions& o, const EvalReport& r);

}  // namespace sightline::core
