// OTLP over HTTP (protobuf), written with export/protobuf.h: the agent's metric families
// (sums, gauges, explicit-bucket histograms, cumulative), L7 requests as spans with the
// OpenTelemetry semantic-convention attribute names, and events and alerts as log records whose
// attributes are the schema's fields (so a receiver can rebuild the event: the aggregator
// does). One resource per request: service.name=sightline, host.name=<node>.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/alert.h"
#include "core/event.h"
#include "core/metrics.h"
#include "export/delivery.h"
#include "export/protobuf.h"

namespace sightline::exporter {

struct OtlpResource {
  std::string node;       // host.name
  uint64_t start_ns = 0;  // start of the cumulative series (the agent's start)
};

// POST {url}/v1/metrics
Batch otlp_metrics(const std::vector<core::MetricFamily>& families, const OtlpResource& res, uint64_t now_ns);

// Log records (events, alerts) and spans (requests), accumulated until take().
class OtlpBuffer {
 public:
  explicit OtlpBuffer(OtlpResource res) : res_(std::move(res)) {}
  void add_event_log(const core::Event& e);
  void add_alert_log(const core::Alert& a);
  void add_request_span(const core::Event& e);
  // A minute of the continuous profile: a log record named sightline.profile whose attributes
  // are profile.time (the minute's start, ns) and profile.folded (the folded stacks).
  void add_profile_log(uint64_t minute_ns, std::string_view folded);
  size_t bytes() const { return logs_.data().size() + spans_.data().size(); }
  // POST {url}/v1/logs and {url}/v1/traces batches of what was added (none when empty).
  std::vector<Batch> take();

 private:
  OtlpResource res_;
  pb::Writer logs_, spans_;  // repeated LogRecord / Span bodies, wrapped at take()
  uint64_t n_logs_ = 0, n_spans_ = 0;
  uint64_t rng_ = 0;
};

// Attribute (KeyValue) writers shared by the encoders.
void otlp_attr(pb::Writer& parent, uint32_t field, std::string_view key, std::string_view value);
void otlp_attr(pb::Writer& parent, uint32_t field, std::string_view key, int64_t value);

}  // namespace sightline::exporter
