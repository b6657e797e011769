// OTLP both ways: what the agent encodes (metrics, event logs, request spans) decoded by the
// aggregator's decoder; the aggregator's merge across nodes; malformed bytes refused.
#include <gtest/gtest.h>

#include <map>

#include <cstdlib>
#include <fstream>

#include "aggregator/aggregator.h"
#include "aggregator/otlp_decode.h"
#include "core/clock.h"
#include "export/otlp.h"
#include "export/protobuf.h"

using namespace sightline;

namespace {

std::vector<core::MetricFamily> families(double counter, uint64_t lat_ns) {
  core::MetricFamily c{"sightline_events_total", "Events", core::MetricType::kCounter};
  c.series.push_back({{{"source", "process"}, {"kind", "exec"}}, counter});
  core::MetricFamily g{"sightline_process_table_entries", "Processes", core::MetricType::kGauge};
  g.series.push_back({{}, 7});
  core::MetricFamily h{"lat_seconds", "Latency", core::MetricType::kHistogram};
  h.scale = 1e-9;
  h.bounds = {1000, 1000000};
  core::MetricSeries s;
  s.labels = {{"op", "read"}};
  s.hist.add(500);
  s.hist.add(lat_ns);
  h.series.push_back(s);
  return {c, g, h};
}

const aggregator::Point* find(const std::vector<aggregator::Point>& ps, const std::string& name,
                              const core::Labels& labels) {
  for (const auto& p : ps)
    if (p.name == name && p.labels == labels) return &p;
  return nullptr;
}

// The fuzzer's seeds are requests this encoder wrote (SL_WRITE_OTLP_SEEDS=DIR).
void seed(const std::string& name, const std::string& body) {
  if (const char* dir = getenv("SL_WRITE_OTLP_SEEDS")) std::ofstream(std::string(dir) + "/" + name, std::ios::binary) << body;
}

}  // namespace

TEST(Otlp, MetricsRoundTrip) {
  auto b = exporter::otlp_metrics(families(42, 2000), {"node-a", 1}, 2);
  seed("metrics", b.body);
  EXPECT_EQ(b.target, "/v1/metrics");
  std::vector<aggregator::Point> pts;
  aggregator::DecodeStats st;
  ASSERT_TRUE(aggregator::decode_metrics(b.body, &pts, &st));
  const auto* c = find(pts, "sightline_events_total", {{"kind", "exec"}, {"source", "process"}});
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->value, 42);
  EXPECT_EQ(c->node, "node-a");
  EXPECT_EQ(c->type, core::MetricType::kCounter);
  EXPECT_EQ(c->time_ns, 2u);
  const auto* g = find(pts, "sightline_process_table_entries", {});
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->type, core::MetricType::kGauge);
  // The histogram as Prometheus would name it: cumulative buckets, sum, count.
  const auto* b1 = find(pts, "lat_seconds_bucket", {{"le", "1e-06"}, {"op", "read"}});
  const auto* b2 = find(pts, "lat_seconds_bucket", {{"le", "0.001"}, {"op", "read"}});
  const auto* inf = find(pts, "lat_seconds_bucket", {{"le", "+Inf"}, {"op", "read"}});
  ASSERT_TRUE(b1 && b2 && inf);
  EXPECT_EQ(b1->value, 1);
  EXPECT_EQ(b2->value, 2);
  EXPECT_EQ(inf->value, 2);
  const auto* cnt = find(pts, "lat_seconds_count", {{"op", "read"}});
  ASSERT_NE(cnt, nullptr);
  EXPECT_EQ(cnt->value, 2);
}

TEST(Otlp, EventLogsRebuildTheSchemaRecord) {
  exporter::OtlpBuffer buf({"node-b", 1});
  core::Event e;
  e.kind = core::EventKind::kExec;
  e.ts_wall_ns = 1700000000000000000ULL;
  e.pid = 4242;
  e.comm = "curl";
  e.path = "/usr/bin/curl";
  static const char argv[] = "curl\0-s\0x\"y\0";
  e.args = std::string_view(argv, sizeof argv - 1);
  e.args_count = 3;
  e.ret = -2;
  buf.add_event_log(e);
  core::Event req;
  req.kind = core::EventKind::kRequest;
  req.protocol = "http";
  req.method = "GET";
  req.target = "/users/{id}";
  req.request = "GET /users/7?x=1 HTTP/1.1";
  req.status = 500;
  req.error = true;
  req.role = 2;
  req.duration_ns = 1000;
  req.ts_wall_ns = 5000;
  buf.add_request_span(req);
  auto batches = buf.take();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].target, "/v1/logs");
  EXPECT_EQ(batches[1].target, "/v1/traces");
  EXPECT_TRUE(buf.take().empty());
  seed("logs", batches[0].body);
  seed("traces", batches[1].body);

  std::vector<aggregator::EventRow> rows;
  aggregator::DecodeStats st;
  ASSERT_TRUE(aggregator::decode_logs(batches[0].body, &rows, &st));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].node, "node-b");
  // The rebuilt record equals the agent's own.
  core::Record want;
  core::make_record(e, &want);
  const auto& got = rows[0].record;
  ASSERT_EQ(got.cells.size(), want.cells.size());
  EXPECT_EQ(got.time_ns, e.ts_wall_ns);
  for (size_t i = 0; i < want.cells.size(); i++) {
    EXPECT_EQ(got.cells[i].is_text, want.cells[i].is_text) << i;
    if (want.cells[i].is_text)
      EXPECT_EQ(got.str(got.cells[i]), want.str(want.cells[i])) << i;
    else
      EXPECT_EQ(got.cells[i].i, want.cells[i].i) << i;
  }
  EXPECT_TRUE(aggregator::decode_traces(batches[1].body, &st));
  EXPECT_EQ(st.spans, 1u);
}

TEST(Otlp, ProfileMinutesReachTheAggregator) {
  exporter::OtlpBuffer buf({"node-c", 1});
  buf.add_profile_log(180000000000, "burn;main;spin 40\n");
  auto batches = buf.take();
  ASSERT_EQ(batches.size(), 1u);
  std::vector<aggregator::EventRow> rows;
  std::vector<aggregator::ProfileRow> profiles;
  aggregator::DecodeStats st;
  ASSERT_TRUE(aggregator::decode_logs(batches[0].body, &rows, &st, &profiles));
  EXPECT_TRUE(rows.empty());
  ASSERT_EQ(profiles.size(), 1u);
  EXPECT_EQ(profiles[0].node, "node-c");
  EXPECT_EQ(profiles[0].minute_ns, 180000000000u);
  EXPECT_EQ(profiles[0].folded, "burn;main;spin 40\n");
  EXPECT_EQ(st.profiles, 1u);
}

TEST(Otlp, AlertsReachTheAggregatorWhole) {
  exporter::OtlpBuffer buf({"node-d", 1});
  core::Alert a;
  a.time_ns = 1700000000123456789ULL;
  a.rule = "Shell in a container";
  a.priority = "Warning";
  a.output = "A shell ran (proc.name=bash)";
  a.tags_json = R"(["container","shell"])";
  a.ancestry_json = R"(["containerd-shim","init"])";
  a.kind = "exec";
  a.pid = 77;
  a.proc_name = "bash";
  a.container_id = "0123456789ab";
  a.event_json = R"({"proc.name":"bash"})";
  buf.add_alert_log(a);
  auto batches = buf.take();
  ASSERT_EQ(batches.size(), 1u);
  std::vector<aggregator::EventRow> rows;
  std::vector<aggregator::AlertRow> alerts;
  aggregator::DecodeStats st;
  ASSERT_TRUE(aggregator::decode_logs(batches[0].body, &rows, &st, nullptr, &alerts));
  ASSERT_EQ(alerts.size(), 1u);
  const core::Alert& b = alerts[0].alert;
  EXPECT_EQ(alerts[0].node, "node-d");
  EXPECT_EQ(b.time_ns, a.time_ns);
  EXPECT_EQ(b.rule, a.rule);
  EXPECT_EQ(b.priority, a.priority);
  EXPECT_EQ(b.output, a.output);
  EXPECT_EQ(b.tags_json, a.tags_json);
  EXPECT_EQ(b.ancestry_json, a.ancestry_json);
  EXPECT_EQ(b.kind, a.kind);
  EXPECT_EQ(b.pid, a.pid);
  EXPECT_EQ(b.proc_name, a.proc_name);
  EXPECT_EQ(b.container_id, a.container_id);
  EXPECT_EQ(b.event_json, a.event_json);
  EXPECT_EQ(st.alerts, 1u);
}

TEST(Otlp, MalformedBytesAreRefused) {
  auto b = exporter::otlp_metrics(families(1, 1), {"n", 1}, 2);
  std::vector<aggregator::Point> pts;
  aggregator::DecodeStats st;
  for (size_t cut : {size_t{1}, b.body.size() / 2, b.body.size() - 1}) {
    pts.clear();
    EXPECT_FALSE(aggregator::decode_metrics(std::string_view(b.body).substr(0, cut), &pts, &st)) << cut;
  }
  EXPECT_FALSE(aggregator::decode_metrics("\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", &pts, &st));
  std::vector<aggregator::EventRow> rows;
  EXPECT_FALSE(aggregator::decode_logs("\x0a\x05\x12", &rows, &st));
  EXPECT_TRUE(aggregator::decode_metrics("", &pts, &st));  // an empty request is a valid one
}

TEST(Aggregator, SumsNodesOrKeepsThem) {
  agent::AgentConfig cfg = agent::default_config();
  cfg.exporters.remote_write_url = "http://127.0.0.1:1/api/v1/write";  // nothing sent in this test
  cfg.exporters.spool_dir = "";
  for (bool keep : {false, true}) {
    cfg.aggregator.keep_node_label = keep;
    std::unique_ptr<aggregator::Aggregator> agg;
    ASSERT_TRUE(aggregator::Aggregator::create(cfg, &agg));
    ASSERT_TRUE(agg->ingest_metrics(exporter::otlp_metrics(families(10, 2000), {"a", 1}, 2).body));
    ASSERT_TRUE(agg->ingest_metrics(exporter::otlp_metrics(families(5, 2000), {"b", 1}, 2).body));
    // A later point of a node replaces its earlier one.
    ASSERT_TRUE(agg->ingest_metrics(exporter::otlp_metrics(families(12, 2000), {"a", 1}, 3).body));
    auto fams = agg->merged(core::now_wall_ns());
    const core::MetricFamily* ev = nullptr;
    for (const auto& f : fams)
      if (f.name == "sightline_events_total") ev = &f;
    ASSERT_NE(ev, nullptr);
    if (!keep) {
      ASSERT_EQ(ev->series.size(), 1u);
      EXPECT_EQ(ev->series[0].value, 17);
    } else {
      ASSERT_EQ(ev->series.size(), 2u);
      double a = 0, b = 0;
      for (const auto& s : ev->series)
        for (const auto& [k, v] : s.labels)
          if (k == "node") (v == "a" ? a : b) = s.value;
      EXPECT_EQ(a, 12);
      EXPECT_EQ(b, 5);
    }
    EXPECT_FALSE(agg->ingest_metrics("\x0a\x05"));
  }
}

TEST(Aggregator, NeedsSomewhereToSend) {
  agent::AgentConfig cfg = agent::default_config();
  std::unique_ptr<aggregator::Aggregator> agg;
  auto st = aggregator::Aggregator::create(cfg, &agg);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("no exporter configured"), std::string::npos);
}

// A request that carried a W3C traceparent continues its trace: the span has its trace id and,
// as parent, the calling span; one without starts a trace of its own (no parent).
TEST(Otlp, RequestSpansContinueTheTraceparentsTrace) {
  exporter::OtlpBuffer buf({"node-a", 1});
  core::Event with, without;
  for (core::Event* e : {&with, &without}) {
    e->kind = core::EventKind::kRequest;
    e->protocol = "http";
    e->method = "GET";
    e->target = "/x";
    e->role = 2;
    e->ts_wall_ns = 5000;
  }
  with.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  with.parent_span_id = "00f067aa0ba902b7";
  buf.add_request_span(with);
  buf.add_request_span(without);
  auto batches = buf.take();
  ASSERT_EQ(batches.size(), 1u);
  // ExportTraceServiceRequest.resource_spans(1).scope_spans(2).spans(2)
  std::vector<std::pair<std::string, std::string>> spans;  // trace id, parent id
  exporter::pb::Reader req(batches[0].body);
  while (req.next())
    if (req.field() == 1)
      for (exporter::pb::Reader rs(req.bytes()); rs.next();)
        if (rs.field() == 2)
          for (exporter::pb::Reader ss(rs.bytes()); ss.next();)
            if (ss.field() == 2) {
              std::string trace, parent;
              for (exporter::pb::Reader sp(ss.bytes()); sp.next();) {
                if (sp.field() == 1) trace = sp.bytes();
                if (sp.field() == 4) parent = sp.bytes();
              }
              spans.push_back({trace, parent});
            }
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].first, std::string("\x4b\xf9\x2f\x35\x77\xb3\x4d\xa6\xa3\xce\x92\x9d\x0e\x0e\x47\x36", 16));
  EXPECT_EQ(spans[0].second, std::string("\x00\xf0\x67\xaa\x0b\xa9\x02\xb7", 8));
  EXPECT_EQ(spans[1].first.size(), 16u);
  EXPECT_NE(spans[1].first, spans[0].first);
  EXPECT_TRUE(spans[1].second.empty()) << "no traceparent: a root span";
}

// A server request's timeline goes out as sightline.req.* attributes of its span (times in ns).
TEST(Otlp, ARequestsTimelineIsItsSpansAttributes) {
  exporter::OtlpBuffer buf({"node-a", 1});
  core::Event e;
  e.kind = core::EventKind::kRequest;
  e.protocol = "http";
  e.method = "GET";
  e.target = "/x";
  e.role = 2;
  e.ts_wall_ns = 5000;
  e.timeline = 1;
  e.tl_cpu_ns = 50000000;
  e.tl_wait_ns[1] = 80000000;
  e.downstream = 1;
  buf.add_request_span(e);
  auto batches = buf.take();
  ASSERT_EQ(batches.size(), 1u);
  // KeyValue{key, AnyValue{int_value(3)}}: the key, then its value's varint.
  std::map<std::string, int64_t> ints;
  std::string timeline;
  exporter::pb::Reader req(batches[0].body);
  while (req.next())
    if (req.field() == 1)
      for (exporter::pb::Reader rs(req.bytes()); rs.next();)
        if (rs.field() == 2)
          for (exporter::pb::Reader ss(rs.bytes()); ss.next();)
            if (ss.field() == 2)
              for (exporter::pb::Reader sp(ss.bytes()); sp.next();)
                if (sp.field() == 9) {
                  std::string key;
                  for (exporter::pb::Reader kv(sp.bytes()); kv.next();) {
                    if (kv.field() == 1) key = std::string(kv.bytes());
                    if (kv.field() == 2)
                      for (exporter::pb::Reader v(kv.bytes()); v.next();) {
                        if (v.field() == 3) ints[key] = v.i64();
                        if (v.field() == 1 && key == "sightline.req.timeline") timeline = std::string(v.bytes());
                      }
                  }
                }
  EXPECT_EQ(timeline, "thread");
  EXPECT_EQ(ints["sightline.req.cpu_time"], 50000000);
  EXPECT_EQ(ints["sightline.req.lock_time"], 80000000);
  EXPECT_EQ(ints["sightline.req.downstream"], 1);
}
