// `sightline anomaly-eval`: the anomaly detector on synthetic series with labelled anomalies
// (core/anomaly_eval.h): precision, recall, time to detect, cost a point.
#include <cstdio>

#include "cli/commands.h"
#include "core/anomaly_eval.h"

namespace sightline::cli {

int anomaly_eval(const AnomalyEvalArgs& a) {
  core::EvalOptions e;
  e.seed = a.seed;
  e.series = a.series;
  e.train_days = a.train_days;
  e.test_days = a.test_days;
  e.step_s = a.step_s;
  e.verbose = a.verbose;
  core::AnomalyOptions o;
  if (a.threshold > 0) o.threshold = a.threshold;
  fprintf(stderr, "replaying %zu series over %u days, a point every %u s...\n", e.series, e.train_days + e.test_days,
          e.step_s);
  core::EvalReport r = core::evaluate_synthetic(e, o);
  fputs(core::render_eval(e, o, r).c_str(), stdout);
  return 0;
}

}  // namespace sightline::cli
