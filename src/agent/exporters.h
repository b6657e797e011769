// The agent's exporters: Prometheus remote-write (the agent's metric families every interval)
// and ClickHouse (events as rows), each through a Delivery (queue, retry, spool). A sink of
// the runner for rows; tick() from the polling loop for timers.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "agent/config.h"
#include "core/metrics.h"
#include "core/record.h"
#include "export/clickhouse.h"
#include "export/delivery.h"
#include "export/otlp.h"
#include "core/alert.h"
#include "sources/source.h"

namespace sightline::agent {

// The delivery of exporter `name` to `url` as `config` sets it up (its spool under
// spool_dir/name, the spool's bound, an OTLP token); the aggregator's exporters too.
core::Status make_delivery(const ExportConfig& config, const std::string& name, const std::string& url,
                           std::unique_ptr<exporter::Delivery>* out);

class Exporters : public sources::EventSink {
 public:
  // Nothing configured: *out stays empty.
  static core::Status create(const ExportConfig& config, std::unique_ptr<Exporters>* out);
  ~Exporters() override;

  void on_event(core::Event& e) override;
  // Alerts (the rule engine's listener; polling thread).
  void on_alert(const core::Alert& a);
  // A finished minute of the continuous profile (folded stacks; polling thread).
  void on_profile(uint64_t minute_ns, const std::string& folded);
  // Sends what is due: remote-write every interval (collect() gives the families), buffered
  // rows every batch period.
  void tick(const std::function<std::vector<core::MetricFamily>()>& collect);
  void metrics(std::vector<core::MetricFamily>& out) const;
  // Counters of what each exporter produced (batches/items made, before delivery).
  const std::string& node() const { return node_; }

 private:
  Exporters() = default;
  ExportConfig config_;
  std::string node_;
  std::unique_ptr<exporter::Delivery> remote_write_, clickhouse_, otlp_;
  std::unique_ptr<exporter::OtlpBuffer> otlp_buf_;
  bool otlp_logs_[static_cast<size_t>(core::EventKind::kCount)] = {};
  uint64_t last_otlp_ns_ = 0, start_ns_ = 0;
  std::atomic<uint64_t> otlp_points_ = 0, otlp_records_ = 0;
  std::unique_ptr<exporter::ClickHouseRows> rows_;
  bool wanted_[static_cast<size_t>(core::EventKind::kCount)] = {};
  core::Record record_;
  uint64_t last_rw_ns_ = 0, last_rows_ns_ = 0;
  std::atomic<uint64_t> rw_batches_ = 0, rw_samples_ = 0, ch_rows_ = 0;  // read by /metrics
};

}  // namespace sightline::agent
