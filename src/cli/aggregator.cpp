// `sightline aggregator`: the OTLP receiver of the aggregation tier (src/aggregator/).
#include <httplib.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <thread>
#include <tuple>

#include "agent/api.h"
#include "agent/config.h"
#include "aggregator/aggregator.h"
#include "aggregator/clickhouse_query.h"
#include "cli/commands.h"
#include "core/clock.h"
#include "export/delivery.h"
#include "export/prom_text.h"
#include "server/http_server.h"
#include "store/query.h"

namespace sightline::cli {

int aggregator(const std::string& config_path, const std::string& listen) {
  agent::AgentConfig cfg = agent::default_config();
  if (!config_path.empty())
    if (auto st = agent::load_config(config_path, &cfg); !st) {
      spdlog::error("{}", st.message());
      return 2;
    }
  std::unique_ptr<aggregator::Aggregator> agg;
  if (auto st = aggregator::Aggregator::create(cfg, &agg); !st) {
    spdlog::error("aggregator: {}", st.message());
    return 2;
  }
  std::string host;
  int port = 0;
  if (auto st = agent::check_listen(listen, cfg.api_token, &host, &port); !st) {
    spdlog::error("--listen: {} (agents send the token with exporters.otlp.token)", st.message());
    return 2;
  }
  server::HttpServer http;
  if (auto st = agent::secure_listener(http, cfg); !st) {
    spdlog::error("aggregator: {}", st.message());
    return 2;
  }
  auto receive = [&](core::Status (aggregator::Aggregator::*ingest)(std::string_view)) {
    return [&agg, ingest](const server::Request& req) {
      if (!req.content_type.starts_with("application/x-protobuf"))
        return server::Response{415, "text/plain; charset=utf-8",
                                "OTLP/HTTP protobuf only (Content-Type: application/x-protobuf)\n"};
      if (auto st = ((*agg).*ingest)(req.body); !st)
        return server::Response{400, "text/plain; charset=utf-8", st.message() + "\n"};
      // An empty ExportServiceResponse: full success.
      return server::Response{200, "application/x-protobuf", ""};
    };
  };
  http.post("/v1/metrics", receive(&aggregator::Aggregator::ingest_metrics));
  http.post("/v1/logs", receive(&aggregator::Aggregator::ingest_logs));
  http.post("/v1/traces", receive(&aggregator::Aggregator::ingest_traces));
  http.get("/metrics", [&](const server::Request& req) {
    std::vector<core::MetricFamily> fams;
    agg->metrics(fams);
    exporter::PromWriter w(exporter::wants_openmetrics(req.accept));
    for (const auto& f : fams) w.write(f);
    return server::Response{200, w.content_type(), w.finish()};
  });
  // What would be forwarded now: the merged series, as Prometheus text.
  http.get("/merged", [&](const server::Request&) {
    exporter::PromWriter w;
    for (const auto& f : agg->merged(core::now_wall_ns())) w.write(f);
    return server::Response{200, w.content_type(), w.finish()};
  });
  http.get("/healthz", [](const server::Request&) { return server::Response{200, "text/plain", "ok\n"}; });
  // The fleet's rows, read where they are: SQL on the ClickHouse the rows go to (read-only, 10 s),
  // in the same shape the agent's store answers, so the UI's query page is one.
  aggregator::ClickHouseQuery ch;
  bool ch_on = !cfg.exporters.clickhouse_url.empty();
  if (ch_on)
    if (auto st = ch.open(cfg.exporters.clickhouse_url, cfg.exporters.clickhouse_database); !st) {
      spdlog::error("aggregator: exporters.clickhouse.url: {}", st.message());
      return 2;
    }
  const char* no_ch = "no ClickHouse to read (exporters.clickhouse.url is not set)";
  http.get("/api/v1/query", [&](const server::Request& req) {
    if (!ch_on) return agent::json_error(404, no_ch);
    return agent::query_response(req, [&](std::string_view sql, size_t max_rows, store::QueryResult* r) {
      return ch.run(sql, max_rows, r);
    });
  });
  http.get("/api/v1/schema", [&](const server::Request&) {
    if (!ch_on) return agent::json_error(404, no_ch);
    std::string body;
    if (auto st = ch.schema_json(&body); !st) return agent::json_error(st.err() == EHOSTUNREACH ? 503 : 400, st.message());
    return server::Response{200, "application/json", body};
  });
  // The fleet's metric charts: PromQL over the last `seconds`, passed to aggregator.prometheus
  // (query_range) and its JSON answered as it is; 503 naming it when it does not answer.
  std::string prom_host, prom_path;
  int prom_port = 0;
  if (!cfg.aggregator.prometheus.empty())
    if (auto st = exporter::parse_http_url(cfg.aggregator.prometheus, &prom_host, &prom_port, &prom_path); !st) {
      spdlog::error("aggregator.prometheus: {}", st.message());
      return 2;
    }
  http.get("/api/v1/promql", [&](const server::Request& req) {
    if (prom_host.empty()) return agent::json_error(404, "no Prometheus to read (aggregator.prometheus is not set)");
    auto q = req.params.find("query");
    if (q == req.params.end() || q->second.empty()) return agent::json_error(400, "query: missing (?query=PromQL)");
    uint64_t seconds = 900, step = 15;
    for (auto [name, v, max] : {std::tuple{"seconds", &seconds, uint64_t{7 * 86400}}, std::tuple{"step", &step, uint64_t{3600}}})
      if (auto it = req.params.find(name); it != req.params.end()) {
        char* end;
        *v = strtoull(it->second.c_str(), &end, 10);
        if (*end || *v == 0 || *v > max) return agent::json_error(400, std::string(name) + ": a whole number from 1 to " + std::to_string(max));
      }
    uint64_t now = core::now_wall_ns() / 1000000000ULL;
    httplib::Client cli(prom_host, prom_port);
    cli.set_connection_timeout(3);
    cli.set_read_timeout(15);
    httplib::Params p{{"query", q->second}, {"start", std::to_string(now - seconds)}, {"end", std::to_string(now)},
                      {"step", std::to_string(step)}};
    auto res = cli.Post(prom_path + "/api/v1/query_range", p);
    if (!res)
      return agent::json_error(503, "Prometheus at " + cfg.aggregator.prometheus + " does not answer: " + httplib::to_string(res.error()));
    return server::Response{res->status == 200 ? 200 : 400, "application/json", res->body};
  });
  // The nodes that send (the fleet overview): from the latest metric points of each.
  http.get("/api/v1/nodes", [&](const server::Request&) {
    return server::Response{200, "application/json", agg->nodes_json(core::now_wall_ns())};
  });
  // The fleet's service map: client and server halves of each connection joined across nodes.
  http.get("/api/v1/service_map", [&](const server::Request& req) {
    if (!ch_on) return agent::json_error(404, no_ch);
    uint64_t seconds = 900;
    if (auto it = req.params.find("seconds"); it != req.params.end()) {
      char* end;
      seconds = strtoull(it->second.c_str(), &end, 10);
      if (*end || seconds == 0 || seconds > 7 * 86400) return agent::json_error(400, "seconds: a whole number from 1 to 604800");
    }
    std::string body;
    if (auto st = ch.service_map_json(seconds, &body); !st)
      return agent::json_error(st.err() == EHOSTUNREACH ? 503 : st.err() == ETIMEDOUT ? 408 : 400, st.message());
    return server::Response{200, "application/json", body};
  });
  agent::add_ui_routes(http);
  if (auto st = http.start(host, port); !st) {
    spdlog::error("{}", st.message());
    return 1;
  }
  spdlog::info("aggregator: OTLP/HTTP on http://{}:{} (/v1/metrics, /v1/logs, /v1/traces); merged series "
               "{} node labels, forwarded every {} s",
               host, port, cfg.aggregator.keep_node_label ? "keep their" : "summed over", cfg.aggregator.interval_s);
  while (!g_stop.load()) {
    agg->tick(core::now_wall_ns());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  spdlog::info("aggregator: stopping");
  http.stop();
  agg->tick(core::now_wall_ns());
  agg.reset();  // what is not sent goes to the spool
  return 0;
}

}  // namespace sightline::cli
