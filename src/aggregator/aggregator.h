// `sightline aggregator`: takes OTLP/HTTP from agents (POST /v1/metrics, /v1/logs, /v1/traces),
// merges metrics across agents (the latest point of every node's series; sums over nodes, or
// per node with keep_node_label), and forwards through the same exporters the agent has:
// merged metrics by remote-write and OTLP, event rows to ClickHouse, logs and traces to an
// OTLP upstream as they came. Stateless but for its spool: run several behind a balancer.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent/config.h"
#include "aggregator/otlp_decode.h"
#include "core/metrics.h"
#include "export/clickhouse.h"
#include "export/delivery.h"

namespace sightline::aggregator {

class Aggregator {
 public:
  static core::Status create(const agent::AgentConfig& config, std::unique_ptr<Aggregator>* out);
  ~Aggregator();

  // One request body of each signal; an error is a 400 for the sender (malformed bytes).
  core::Status ingest_metrics(std::string_view body);
  core::Status ingest_logs(std::string_view body);
  core::Status ingest_traces(std::string_view body);
  // Forwards what is due (merged metrics every interval, rows every batch); call often.
  void tick(uint64_t now_ns);
  // The merged families as they would be forwarded now (tests, /metrics of merged data).
  std::vector<core::MetricFamily> merged(uint64_t now_ns) const;
  // Every node that sent metrics, as /api/v1/nodes' JSON: when it last did, its series, and
  // from its latest points its events, events lost, memory and CPU seconds (the fleet overview).
  std::string nodes_json(uint64_t now_ns) const;
  // sightline_aggregator_* and sightline_exporter_* families.
  void metrics(std::vector<core::MetricFamily>& out) const;

 private:
  Aggregator() = default;
  agent::AgentConfig config_;
  std::unique_ptr<exporter::Delivery> remote_write_, clickhouse_, otlp_;
  std::unique_ptr<exporter::ClickHouseRows> rows_;
  bool ch_kinds_[static_cast<size_t>(core::EventKind::kCount)] = {};

  struct Series {
    std::string name, help;
    core::MetricType type;
    core::Labels labels;
    std::map<std::string, std::pair<double, uint64_t>> by_node;  // node -> (value, received ns)
  };
  mutable std::mutex mu_;
  std::map<std::string, Series> series_;  // key: name + labels (+ node when kept)
  uint64_t last_forward_ns_ = 0, last_rows_ns_ = 0;
  std::atomic<uint64_t> requests_[3] = {}, rejected_[3] = {}, series_dropped_ = 0;
  DecodeStats stats_;
};

}  // namespace sightline::aggregator
