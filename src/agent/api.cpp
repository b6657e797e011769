// The agent's HTTP API and its web UI: every route, served on the TCP listener and the Unix
// socket alike. Adding an endpoint touches this file only.
#include "agent/api.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "agent/config.h"
#include "core/render.h"
#include "export/prom_text.h"
#include "profile/profile.h"
#include "server/ui_assets.h"
#include "sources/l7/l7_source.h"
#include "sources/profile/profile_source.h"
#include "store/query.h"
#include "store/store.h"

namespace sightline::agent {
namespace {

server::Response render_metrics(const std::vector<core::MetricFamily>& families, bool openmetrics) {
  exporter::PromWriter w(openmetrics);
  for (const auto& f : families) w.write(f);
  return server::Response{200, w.content_type(), w.finish()};
}

// A file of the web UI, from the binary.
server::Response ui_file(std::string_view rel) {
  for (size_t i = 0; i < server::kUiAssetCount; i++)
    if (rel == server::kUiAssets[i].path)
      return server::Response{200, server::kUiAssets[i].content_type,
                              std::string(reinterpret_cast<const char*>(server::kUiAssets[i].data), server::kUiAssets[i].size)};
  return server::Response{404, "text/plain; charset=utf-8", "no such file\n"};
}

}  // namespace

server::Response json_error(int code, const std::string& message) {
  std::string j = "{\"error\":";
  core::append_json_string(j, message);
  return server::Response{code, "application/json", j + "}\n"};
}

server::Response query_response(const server::Request& req, const QueryFn& run) {
  auto it = req.params.find("sql");
  if (it == req.params.end() || it->second.empty()) return json_error(400, "sql: missing (?sql=SELECT ...)");
  size_t max_rows = 10000;
  if (auto l = req.params.find("limit"); l != req.params.end()) {
    char* end;
    unsigned long long n = strtoull(l->second.c_str(), &end, 10);
    if (*end || n == 0 || n > 100000) return json_error(400, "limit: a whole number from 1 to 100000");
    max_rows = n;
  }
  std::string format = req.params.count("format") ? req.params.at("format") : "json";
  if (format != "json" && format != "csv") return json_error(400, "format: json or csv");
  store::QueryResult r;
  if (auto st = run(it->second, max_rows, &r); !st)
    return json_error(st.err() == ETIMEDOUT ? 408 : st.err() == EHOSTUNREACH ? 503 : 400, st.message());
  if (format == "csv") return server::Response{200, "text/csv; charset=utf-8", store::format_csv(r)};
  return server::Response{200, "application/json", store::format_json(r)};
}

void add_ui_routes(server::HttpServer& http) {
  http.get("/", [](const server::Request&) {
    if (!server::kUiAssetCount)
      return server::Response{200, "text/plain; charset=utf-8",
                              "This sightline was built without its web UI (npm was missing at build time).\n"
                              "The API is here: /metrics, /healthz, /api/v1/query?sql=..., /api/v1/schema, /api/v1/events, "
                              "/api/v1/service_map, /profile\n"};
    return ui_file("index.html");
  });
  http.get(R"(/assets/[A-Za-z0-9._-]+)", [](const server::Request& req) { return ui_file(std::string_view(req.path).substr(1)); });
}

core::Status secure_listener(server::HttpServer& http, const AgentConfig& config) {
  http.set_token(config.api_token, {config.public_paths.begin(), config.public_paths.end()});
  if (config.tls_cert.empty()) return {};
  return http.enable_tls(config.tls_cert, config.tls_key);
}

void add_api_routes(server::HttpServer& http, const ApiContext& ctx) {
  http.get("/metrics", [ctx](const server::Request& req) {
    return render_metrics(ctx.metrics(), exporter::wants_openmetrics(req.accept));
  });
  // Read-only SQL on the store (query_response: ?sql=, format, limit; 10 s).
  http.get("/api/v1/query", [ctx](const server::Request& req) {
    if (!ctx.db) return json_error(404, "the store is off (store.enabled: false)");
    return query_response(req, [&](std::string_view sql, size_t max_rows, store::QueryResult* r) {
      store::QueryOptions qo;
      qo.path = ctx.db->options().path;
      qo.max_rows = max_rows;
      qo.max_bytes = ctx.query_bytes;
      return store::run_query(qo, sql, r);
    });
  });
  // Live events as server-sent events: ?filter=<condition in the rule language>.
  http.get_stream("/api/v1/events", [ctx](const server::Request& req) {
    server::HttpServer::Stream st;
    std::shared_ptr<LiveFeed::Subscriber> sub;
    std::string filter = req.params.count("filter") ? req.params.at("filter") : "";
    if (auto s = ctx.live->subscribe(filter, &sub); !s) {
      st.status = s.err() == EBUSY ? 503 : 400;
      st.content_type = "text/plain; charset=utf-8";
      st.body = s.message() + "\n";
      return st;
    }
    struct State {
      std::shared_ptr<LiveFeed::Subscriber> sub;
      LiveFeed* feed = nullptr;
      uint64_t missed = 0;
      int idle_ms = 0;
      bool hello = false;
      ~State() {
        if (feed) feed->unsubscribe(sub);
      }
    };
    auto state = std::make_shared<State>();  // no temporary: its destructor unsubscribes
    state->sub = sub;
    state->feed = ctx.live;
    st.next = [state](std::string* chunk) {
      if (!state->hello) {  // headers and a first byte at once, so the client knows it is on
        state->hello = true;
        *chunk = ": sightline live events\n\n";
        return true;
      }
      std::vector<std::string> lines;
      uint64_t missed = 0;
      bool open = LiveFeed::next(*state->sub, 500, &lines, &missed);
      for (const auto& l : lines) *chunk += "data: " + l + "\n\n";
      if (missed != state->missed) {
        *chunk += "event: missed\ndata: " + std::to_string(missed) + "\n\n";
        state->missed = missed;
      }
      state->idle_ms = chunk->empty() ? state->idle_ms + 500 : 0;
      if (state->idle_ms >= 2000) {  // a comment now and then finds a client that left
        *chunk = ": keepalive\n\n";
        state->idle_ms = 0;
      }
      return open;
    };
    return st;
  });
  http.get("/api/v1/schema", [](const server::Request&) {
    return server::Response{200, "application/json", store::schema_json()};
  });
  // The continuous profile of the last N seconds (default 60, at most 600): folded stacks, or
  // ?format=svg for a flame graph.
  http.get("/profile", [ctx](const server::Request& req) {
    const sources::ProfileSource* prof = nullptr;
    for (const auto& s : ctx.runner->sources())
      if (s.running && s.name == "profile") prof = static_cast<const sources::ProfileSource*>(s.source.get());
    if (!prof) return server::Response{404, "text/plain; charset=utf-8", "the profile source is not running\n"};
    uint64_t seconds = 60;
    if (auto it = req.params.find("seconds"); it != req.params.end()) {
      char* end;
      seconds = strtoull(it->second.c_str(), &end, 10);
      if (*end || seconds == 0 || seconds > 600)
        return server::Response{400, "text/plain; charset=utf-8", "seconds: a whole number from 1 to 600\n"};
    }
    std::string kind = req.params.count("kind") ? req.params.at("kind") : "cpu";
    if (kind != "cpu" && kind != "off")
      return server::Response{400, "text/plain; charset=utf-8", "kind: cpu or off (off-CPU time, sources.profile.off_cpu)\n"};
    std::string folded = prof->recent_folded(seconds, kind == "off");
    std::string format = req.params.count("format") ? req.params.at("format") : "folded";
    if (format == "folded") return server::Response{200, "text/plain; charset=utf-8", folded};
    if (format == "svg") {
      std::vector<profile::FoldedStack> stacks;
      (void)profile::parse_folded(folded, &stacks);
      return server::Response{200, "image/svg+xml",
                              profile::flamegraph_svg(stacks, (kind == "off" ? "Off-CPU, last " : "CPU, last ") +
                                                                  std::to_string(seconds) + " s",
                                                      kind == "off" ? "ns" : "samples")};
    }
    return server::Response{400, "text/plain; charset=utf-8", "format: folded or svg\n"};
  });
  // The service map the l7 source learnt: client -> server edges with requests, errors and
  // mean latency (as of the last collection, once a second).
  // The learnt behaviour of each workload (rules.baseline): what it did while learning.
  http.get("/api/v1/baseline", [ctx](const server::Request&) {
    std::string j = ctx.baseline ? ctx.baseline() : std::string();
    if (j.empty()) return server::Response{404, "text/plain; charset=utf-8", "the baseline is off (rules.baseline)\n"};
    return server::Response{200, "application/json", j};
  });
  // Anomalies going on and those that ended lately (anomaly.enabled), newest first.
  http.get("/api/v1/anomalies", [ctx](const server::Request&) {
    std::string j = ctx.anomalies ? ctx.anomalies() : std::string();
    if (j.empty()) return server::Response{404, "text/plain; charset=utf-8", "anomaly detection is off (anomaly.enabled)\n"};
    return server::Response{200, "application/json", j};
  });
  http.get("/api/v1/service_map", [ctx](const server::Request&) {
    std::string body = "{\"edges\":[";
    bool first = true;
    for (const auto& s : ctx.runner->sources()) {
      const auto* map = dynamic_cast<const sources::ServiceMapProvider*>(s.source.get());
      if (!s.running || !map) continue;
      for (const auto& e : map->service_map()) {
        body += first ? "" : ",";
        first = false;
        body += "{\"client\":";
        core::append_json_string(body, e.client);
        body += ",\"server\":";
        core::append_json_string(body, e.server);
        body += ",\"protocol\":";
        core::append_json_string(body, e.protocol);
        char nums[160];
        snprintf(nums, sizeof nums, ",\"requests\":%llu,\"errors\":%llu,\"mean_latency_seconds\":%.9f}",
                 static_cast<unsigned long long>(e.requests), static_cast<unsigned long long>(e.errors),
                 e.requests ? e.seconds / static_cast<double>(e.requests) : 0.0);
        body += nums;
      }
    }
    body += "]}\n";
    return server::Response{200, "application/json", body};
  });
  add_ui_routes(http);
  http.get("/healthz", [ctx](const server::Request&) {
    std::string body;
    bool ok = false;
    for (const auto& s : ctx.runner->sources()) {
      ok |= s.running;
      body += s.name + ": " + (s.running ? "running" : "not running: " + s.error) + "\n";
    }
    if (ctx.governor) body += "governor: " + ctx.governor() + "\n";
    return server::Response{ok ? 200 : 503, "text/plain; charset=utf-8", body};
  });
}

}  // namespace sightline::agent
