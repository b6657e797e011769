#include "agent/exporters.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "core/clock.h"
#include "export/remote_write.h"

namespace sightline::agent {

core::Status make_delivery(const ExportConfig& config, const std::string& name, const std::string& url,
                           std::unique_ptr<exporter::Delivery>* out) {
  exporter::DeliveryOptions o;
  o.name = name;
  o.url = url;
  if (name == "otlp" && !config.otlp_token.empty()) o.headers.emplace_back("Authorization", "Bearer " + config.otlp_token);
  o.spool_dir = config.spool_dir.empty() ? "" : config.spool_dir + "/" + name;
  o.spool_max_bytes = config.spool_max_bytes;
  o.queue_bytes = config.queue_bytes;
  return exporter::Delivery::create(o, out);
}

core::Status Exporters::create(const ExportConfig& config, std::unique_ptr<Exporters>* out) {
  if (config.remote_write_url.empty() && config.clickhouse_url.empty() && config.otlp_url.empty()) return {};
  std::unique_ptr<Exporters> x(new Exporters());
  x->config_ = config;
  x->node_ = config.node;
  x->start_ns_ = core::now_wall_ns();
  if (x->node_.empty()) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    x->node_ = host;
  }
  auto make = [&](const std::string& name, const std::string& url, std::unique_ptr<exporter::Delivery>* d) {
    return make_delivery(config, name, url, d);
  };
  if (!config.remote_write_url.empty())
    if (auto st = make("remote_write", config.remote_write_url, &x->remote_write_); !st) return st;
  if (!config.clickhouse_url.empty()) {
    if (auto st = make("clickhouse", config.clickhouse_url, &x->clickhouse_); !st) return st;
    x->rows_ = std::make_unique<exporter::ClickHouseRows>(config.clickhouse_database, x->node_);
    for (const auto& k : config.clickhouse_kinds)
      if (const auto* d = core::find_kind(k)) x->wanted_[static_cast<size_t>(d->kind)] = true;
    // The tables first: queued ahead of every row, so they exist before the first insert.
    for (auto& b : exporter::clickhouse_ddl(config.clickhouse_database)) x->clickhouse_->submit(std::move(b));
  }
  if (!config.otlp_url.empty()) {
    if (auto st = make("otlp", config.otlp_url, &x->otlp_); !st) return st;
    x->otlp_buf_ = std::make_unique<exporter::OtlpBuffer>(exporter::OtlpResource{x->node_, core::now_wall_ns()});
    for (const auto& k : config.otlp_log_kinds)
      if (const auto* d = core::find_kind(k)) x->otlp_logs_[static_cast<size_t>(d->kind)] = true;
  }
  *out = std::move(x);
  return {};
}

Exporters::~Exporters() {
  if (rows_ && clickhouse_)
    for (auto& b : rows_->take()) clickhouse_->submit(std::move(b));
  if (otlp_buf_)
    for (auto& b : otlp_buf_->take()) otlp_->submit(std::move(b));
}

void Exporters::on_alert(const core::Alert& a) {
  if (rows_ && rows_->add_alert(a, node_))
    for (auto& b : rows_->take()) clickhouse_->submit(std::move(b));
  if (!otlp_buf_ || !config_.otlp_alerts) return;
  otlp_buf_->add_alert_log(a);
  otlp_records_++;
}

void Exporters::on_profile(uint64_t minute_ns, const std::string& folded) {
  if (otlp_buf_ && config_.otlp_profiles) {
    otlp_buf_->add_profile_log(minute_ns, folded);
    otlp_records_++;
  }
  if (rows_ && config_.clickhouse_profiles && rows_->add_profile(minute_ns, folded, node_))
    for (auto& b : rows_->take()) clickhouse_->submit(std::move(b));
}

void Exporters::on_event(core::Event& e) {
  if (otlp_buf_) {
    size_t k = static_cast<size_t>(e.kind);
    if (otlp_logs_[k]) {
      otlp_buf_->add_event_log(e);
      otlp_records_++;
    }
    if (e.kind == core::EventKind::kRequest && config_.otlp_traces) {
      otlp_buf_->add_request_span(e);
      otlp_records_++;
    }
    if (otlp_buf_->bytes() >= (4u << 20))
      for (auto& b : otlp_buf_->take()) otlp_->submit(std::move(b));
  }
  if (!rows_ || !wanted_[static_cast<size_t>(e.kind)]) return;
  core::make_record(e, &record_);
  ch_rows_++;
  if (rows_->add(record_))
    for (auto& b : rows_->take()) clickhouse_->submit(std::move(b));
}

void Exporters::tick(const std::function<std::vector<core::MetricFamily>()>& collect) {
  uint64_t now = core::now_wall_ns();
  if (remote_write_ && now - last_rw_ns_ >= uint64_t{config_.remote_write_interval_s} * 1000000000ULL) {
    last_rw_ns_ = now;
    auto b = exporter::remote_write_batch(collect(), {{"node", node_}, {"job", "sightline"}},
                                          static_cast<int64_t>(now / 1000000));
    rw_batches_++;
    rw_samples_ += b.items;
    remote_write_->submit(std::move(b));
  }
  if (otlp_ && now - last_otlp_ns_ >= uint64_t{config_.otlp_interval_s} * 1000000000ULL) {
    last_otlp_ns_ = now;
    auto b = exporter::otlp_metrics(collect(), exporter::OtlpResource{node_, start_ns_}, now);
    otlp_points_ += b.items;
    otlp_->submit(std::move(b));
  }
  if (now - last_rows_ns_ >= uint64_t{config_.batch_ms} * 1000000ULL) {
    last_rows_ns_ = now;
    if (rows_)
      for (auto& b : rows_->take()) clickhouse_->submit(std::move(b));
    if (otlp_buf_)
      for (auto& b : otlp_buf_->take()) otlp_->submit(std::move(b));
  }
}

void Exporters::metrics(std::vector<core::MetricFamily>& out) const {
  core::MetricFamily made{"sightline_exporter_items_made_total",
                          "Samples or rows an exporter produced (delivered, spooled, pending or dropped: see "
                          "sightline_exporter_*)",
                          core::MetricType::kCounter};
  if (remote_write_) made.series.push_back({{{"exporter", "remote_write"}}, static_cast<double>(rw_samples_.load())});
  if (clickhouse_) made.series.push_back({{{"exporter", "clickhouse"}}, static_cast<double>(ch_rows_.load())});
  if (otlp_) made.series.push_back({{{"exporter", "otlp"}}, static_cast<double>(otlp_points_.load() + otlp_records_.load())});
  core::MetricFamily batches{"sightline_exporter_batches_made_total", "Batches an exporter produced",
                             core::MetricType::kCounter};
  if (remote_write_) batches.series.push_back({{{"exporter", "remote_write"}}, static_cast<double>(rw_batches_.load())});
  out.push_back(std::move(made));
  out.push_back(std::move(batches));
  if (remote_write_) remote_write_->metrics(out);
  if (clickhouse_) clickhouse_->metrics(out);
  if (otlp_) otlp_->metrics(out);
}

}  // namespace sightline::agent
