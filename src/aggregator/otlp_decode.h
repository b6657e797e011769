// OTLP/HTTP protobuf requests as the aggregator takes them: metric points (histograms flattened
// into Prometheus' _bucket/_sum/_count), and sightline's event log records rebuilt into
// records of the schema. Untrusted input: bounded, malformed bytes give an error, never a crash.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/alert.h"
#include "core/metrics.h"
#include "core/record.h"
#include "core/status.h"

namespace sightline::aggregator {

struct Point {
  std::string node;  // the resource's host.name
  std::string name;
  core::MetricType type = core::MetricType::kGauge;  // counter or gauge (histograms flattened)
  std::string help;
  core::Labels labels;  // sorted by name
  double value = 0;
  uint64_t time_ns = 0;
};

struct EventRow {
  std::string node;
  core::Record record;
};

// A node's minute of the continuous profile (a sightline.profile log record).
struct ProfileRow {
  std::string node;
  uint64_t minute_ns = 0;
  std::string folded;
};

// A node's alert (a sightline.alert log record).
struct AlertRow {
  std::string node;
  core::Alert alert;
};

struct DecodeStats {
  uint64_t points = 0, logs = 0, events = 0, alerts = 0, spans = 0, other_logs = 0, profiles = 0;
};

// ExportMetricsServiceRequest.
core::Status decode_metrics(std::string_view body, std::vector<Point>* out, DecodeStats* stats);
// ExportLogsServiceRequest: records named sightline.<kind> become rows, sightline.profile
// minutes go to `profiles` and sightline.alert records to `alerts` (each dropped when null);
// everything is counted, foreign logs too.
core::Status decode_logs(std::string_view body, std::vector<EventRow>* out, DecodeStats* stats,
                         std::vector<ProfileRow>* profiles = nullptr, std::vector<AlertRow>* alerts = nullptr);
// ExportTraceServiceRequest: checked and counted (forwarded as they are).
core::Status decode_traces(std::string_view body, DecodeStats* stats);

}  // namespace sightline::aggregator
