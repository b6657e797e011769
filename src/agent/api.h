// The agent's HTTP API and web UI (docs/api.md): /metrics, /healthz, /api/v1/query, /schema,
// /events (server-sent), /service_map, /profile and the UI's files, added to one listener.
#pragma once

#include <functional>
#include <vector>

#include "agent/live.h"
#include "agent/runner.h"
#include "core/metrics.h"
#include "server/http_server.h"

namespace sightline::store {
class Store;
struct QueryResult;
}

namespace sightline::agent {

// What the routes read; everything outlives the listener (the agent stops it first).
struct ApiContext {
  const Runner* runner = nullptr;
  const store::Store* db = nullptr;  // null: the store is off
  LiveFeed* live = nullptr;
  std::function<std::vector<core::MetricFamily>()> metrics;  // what /metrics shows, collected now
  std::function<std::string()> governor;                     // the overhead governor's state, a line
  uint64_t query_bytes = 16ULL << 20;                        // one SQL query's memory bound
  std::function<std::string()> baseline;                     // learnt profiles (JSON), "" when off
  std::function<std::string()> anomalies;                    // the anomaly models (JSON), "" when off
};

void add_api_routes(server::HttpServer& http, const ApiContext& ctx);

// The read-only SQL route over any backend (the agent's store, the aggregator's ClickHouse):
// ?sql=SELECT...&format=json|csv&limit=N (1..100000, default 10000). `run` answers at most
// max_rows rows; its error is a 400 with the reason (408: ETIMEDOUT, 503: EHOSTUNREACH, the
// backend is down).
using QueryFn = std::function<core::Status(std::string_view sql, size_t max_rows, store::QueryResult* out)>;
server::Response query_response(const server::Request& req, const QueryFn& run);
// {"error": message} with the code.
server::Response json_error(int code, const std::string& message);
// The web UI's files (/ and /assets/...).
void add_ui_routes(server::HttpServer& http);

struct AgentConfig;
// The TCP listener's token, the paths it serves without it, and TLS, from the configuration
// (the agent's and the aggregator's listeners alike). Call before start().
core::Status secure_listener(server::HttpServer& http, const AgentConfig& config);

}  // namespace sightline::agent
