#include "aggregator/aggregator.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

#include "agent/exporters.h"
#include "core/render.h"
#include "core/clock.h"
#include "export/otlp.h"
#include "export/remote_write.h"

namespace sightline::aggregator {

core::Status Aggregator::create(const agent::AgentConfig& config, std::unique_ptr<Aggregator>* out) {
  std::unique_ptr<Aggregator> a(new Aggregator());
  a->config_ = config;
  const auto& x = config.exporters;
  if (x.remote_write_url.empty() && x.clickhouse_url.empty() && x.otlp_url.empty())
    return core::Status::error(EINVAL, "no exporter configured (exporters.remote_write, clickhouse or otlp): "
                                       "the aggregator would have nowhere to send");
  auto make = [&](const std::string& name, const std::string& url, std::unique_ptr<exporter::Delivery>* d) {
    return agent::make_delivery(x, name, url, d);
  };
  if (!x.remote_write_url.empty())
    if (auto st = make("remote_write", x.remote_write_url, &a->remote_write_); !st) return st;
  if (!x.otlp_url.empty())
    if (auto st = make("otlp", x.otlp_url, &a->otlp_); !st) return st;
  if (!x.clickhouse_url.empty()) {
    if (auto st = make("clickhouse", x.clickhouse_url, &a->clickhouse_); !st) return st;
    a->rows_ = std::make_unique<exporter::ClickHouseRows>(x.clickhouse_database, "");
    for (const auto& k : x.clickhouse_kinds)
      if (const auto* d = core::find_kind(k)) a->ch_kinds_[static_cast<size_t>(d->kind)] = true;
    for (auto& b : exporter::clickhouse_ddl(x.clickhouse_database)) a->clickhouse_->submit(std::move(b));
  }
  *out = std::move(a);
  return {};
}

Aggregator::~Aggregator() {
  std::lock_guard lock(mu_);
  if (rows_)
    for (auto& b : rows_->take()) clickhouse_->submit(std::move(b));
}

core::Status Aggregator::ingest_metrics(std::string_view body) {
  requests_[0]++;
  std::vector<Point> points;
  DecodeStats st;
  if (auto s = decode_metrics(body, &points, &st); !s) {
    rejected_[0]++;
    return s;
  }
  uint64_t now = core::now_wall_ns();
  std::lock_guard lock(mu_);
  stats_.points += st.points;
  for (auto& p : points) {
    core::Labels labels = p.labels;
    if (config_.aggregator.keep_node_label) {
      labels.emplace_back("node", p.node);
      std::sort(labels.begin(), labels.end());
    }
    std::string key = p.name;
    for (const auto& [k, v] : labels) key += '\x1f' + k + '\x1e' + v;
    auto it = series_.find(key);
    if (it == series_.end()) {
      if (series_.size() >= config_.aggregator.max_series) {
        series_dropped_++;
        continue;
      }
      it = series_.emplace(key, Series{p.name, p.help, p.type, std::move(labels), {}}).first;
    }
    it->second.by_node[p.node] = {p.value, now};
  }
  return {};
}

core::Status Aggregator::ingest_logs(std::string_view body) {
  requests_[1]++;
  std::vector<EventRow> rows;
  std::vector<ProfileRow> profiles;
  std::vector<AlertRow> alerts;
  DecodeStats st;
  if (auto s = decode_logs(body, &rows, &st, &profiles, &alerts); !s) {
    rejected_[1]++;
    return s;
  }
  std::lock_guard lock(mu_);
  stats_.logs += st.logs;
  stats_.events += st.events;
  stats_.alerts += st.alerts;
  stats_.other_logs += st.other_logs;
  stats_.profiles += st.profiles;
  if (rows_) {
    for (const auto& r : rows)
      if (ch_kinds_[static_cast<size_t>(r.record.kind)] && rows_->add(r.record, r.node))
        for (auto& b : rows_->take()) clickhouse_->submit(std::move(b));
    for (const auto& p : profiles)
      if (rows_->add_profile(p.minute_ns, p.folded, p.node))
        for (auto& b : rows_->take()) clickhouse_->submit(std::move(b));
    for (const auto& a : alerts)
      if (rows_->add_alert(a.alert, a.node))
        for (auto& b : rows_->take()) clickhouse_->submit(std::move(b));
  }
  if (otlp_) otlp_->submit({"/v1/logs", "application/x-protobuf", {}, std::string(body), st.logs});
  return {};
}

core::Status Aggregator::ingest_traces(std::string_view body) {
  requests_[2]++;
  DecodeStats st;
  if (auto s = decode_traces(body, &st); !s) {
    rejected_[2]++;
    return s;
  }
  std::lock_guard lock(mu_);
  stats_.spans += st.spans;
  if (otlp_) otlp_->submit({"/v1/traces", "application/x-protobuf", {}, std::string(body), st.spans});
  return {};
}

std::string Aggregator::nodes_json(uint64_t now_ns) const {
  struct Node {
    uint64_t last_ns = 0, series = 0;
    double events = 0, lost = 0, rss = 0, cpu = 0;
  };
  std::map<std::string, Node> nodes;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, s] : series_)
      for (const auto& [node, vt] : s.by_node) {
        Node& n = nodes[node];
        n.last_ns = std::max(n.last_ns, vt.second);
        n.series++;
        if (s.name == "sightline_events_total") n.events += vt.first;
        if (s.name == "sightline_events_lost_total") n.lost += vt.first;
        if (s.name == "process_resident_memory_bytes") n.rss += vt.first;
        if (s.name == "process_cpu_seconds_total") n.cpu += vt.first;
      }
  }
  std::string j = "{\"stale_seconds\":" + std::to_string(config_.aggregator.stale_s) + ",\"nodes\":[";
  bool first = true;
  for (const auto& [name, n] : nodes) {
    j += first ? "{" : ",{";
    first = false;
    j += "\"node\":";
    core::append_json_string(j, name);
    char nums[256];
    snprintf(nums, sizeof nums,
             ",\"last_seen\":%.3f,\"seconds_ago\":%.1f,\"series\":%llu,\"events\":%.0f,\"events_lost\":%.0f,"
             "\"agent_rss_bytes\":%.0f,\"agent_cpu_seconds\":%.3f}",
             static_cast<double>(n.last_ns) / 1e9, now_ns > n.last_ns ? static_cast<double>(now_ns - n.last_ns) / 1e9 : 0.0,
             static_cast<unsigned long long>(n.series), n.events, n.lost, n.rss, n.cpu);
    j += nums;
  }
  return j + "]}\n";
}

std::vector<core::MetricFamily> Aggregator::merged(uint64_t now_ns) const {
  std::lock_guard lock(mu_);
  std::map<std::string, core::MetricFamily> fams;
  uint64_t stale = uint64_t{config_.aggregator.stale_s} * 1000000000ULL;
  for (const auto& [key, s] : series_) {
    double sum = 0;
    size_t live = 0;
    for (const auto& [node, vt] : s.by_node)
      if (now_ns - std::min(now_ns, vt.second) <= stale) {
        sum += vt.first;
        live++;
      }
    if (!live) continue;
    auto& f = fams[s.name];
    if (f.name.empty()) f = core::MetricFamily{s.name, s.help, s.type};
    f.series.push_back({s.labels, sum});
  }
  std::vector<core::MetricFamily> out;
  for (auto& [_, f] : fams) out.push_back(std::move(f));
  return out;
}

void Aggregator::tick(uint64_t now_ns) {
  if (now_ns - last_forward_ns_ >= uint64_t{config_.aggregator.interval_s} * 1000000000ULL) {
    last_forward_ns_ = now_ns;
    auto fams = merged(now_ns);
    if (!fams.empty()) {
      if (remote_write_)
        remote_write_->submit(exporter::remote_write_batch(fams, {{"job", "sightline"}}, static_cast<int64_t>(now_ns / 1000000)));
      if (otlp_) otlp_->submit(exporter::otlp_metrics(fams, {"aggregator", now_ns}, now_ns));
    }
  }
  if (now_ns - last_rows_ns_ >= uint64_t{config_.exporters.batch_ms} * 1000000ULL) {
    last_rows_ns_ = now_ns;
    std::lock_guard lock(mu_);
    if (rows_)
      for (auto& b : rows_->take()) clickhouse_->submit(std::move(b));
  }
}

void Aggregator::metrics(std::vector<core::MetricFamily>& out) const {
  using core::MetricType;
  core::MetricFamily req{"sightline_aggregator_requests_total", "OTLP requests received, by signal", MetricType::kCounter};
  core::MetricFamily rej{"sightline_aggregator_requests_rejected_total", "OTLP requests refused as malformed, by signal",
                         MetricType::kCounter};
  const char* sig[] = {"metrics", "logs", "traces"};
  for (int i = 0; i < 3; i++) {
    req.series.push_back({{{"signal", sig[i]}}, static_cast<double>(requests_[i].load())});
    rej.series.push_back({{{"signal", sig[i]}}, static_cast<double>(rejected_[i].load())});
  }
  out.push_back(std::move(req));
  out.push_back(std::move(rej));
  DecodeStats st;
  size_t nseries;
  {
    std::lock_guard lock(mu_);
    st = stats_;
    nseries = series_.size();
  }
  core::MetricFamily items{"sightline_aggregator_items_total",
                           "What agents sent: metric points, event log records, alert log records, spans, profile minutes, other logs",
                           MetricType::kCounter};
  items.series.push_back({{{"item", "point"}}, static_cast<double>(st.points)});
  items.series.push_back({{{"item", "event"}}, static_cast<double>(st.events)});
  items.series.push_back({{{"item", "alert"}}, static_cast<double>(st.alerts)});
  items.series.push_back({{{"item", "span"}}, static_cast<double>(st.spans)});
  items.series.push_back({{{"item", "profile"}}, static_cast<double>(st.profiles)});
  items.series.push_back({{{"item", "other_log"}}, static_cast<double>(st.other_logs)});
  out.push_back(std::move(items));
  core::MetricFamily ser{"sightline_aggregator_series", "Merged series held", MetricType::kGauge};
  ser.series.push_back({{}, static_cast<double>(nseries)});
  out.push_back(std::move(ser));
  core::MetricFamily drop{"sightline_aggregator_series_dropped_total", "Points of new series refused at max_series",
                          MetricType::kCounter};
  drop.series.push_back({{}, static_cast<double>(series_dropped_.load())});
  out.push_back(std::move(drop));
  for (const auto* d : {remote_write_.get(), clickhouse_.get(), otlp_.get()})
    if (d) d->metrics(out);
}

}  // namespace sightline::aggregator
