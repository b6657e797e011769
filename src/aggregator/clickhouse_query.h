// The aggregator's read side: SQL a person types (the UI's query page, /api/v1/query) run on the
// ClickHouse its rows go to, read-only. Each statement is POSTed with readonly=2 (reads only;
// the limits below may be set, `readonly` may not be lowered), a time limit and a row limit, in
// ClickHouse's TabSeparatedWithNamesAndTypes, which parse_clickhouse_tsv reads into the same
// QueryResult the agent's SQLite store answers: one API, two backends.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "store/query.h"

namespace sightline::aggregator {

// ClickHouse's TabSeparatedWithNamesAndTypes (a names line, a types line, then rows; \N is
// NULL, backslash escapes) into at most max_rows rows (truncated set past them). Integer and
// float types become numbers, everything else text. An error names what does not parse.
core::Status parse_clickhouse_tsv(std::string_view body, size_t max_rows, store::QueryResult* out);

// The reason in a ClickHouse error body ("Code: 60, e.displayText() = DB::Exception: Table x
// doesn't exist., e.what() = DB::Exception" -> "Table x doesn't exist."), and its code (0: none).
std::string clickhouse_error_reason(std::string_view body, int* code);

class ClickHouseQuery {
 public:
  // url: http://host:port (exporters.clickhouse.url); database: where the rows are.
  core::Status open(const std::string& url, std::string database);
  // Runs one statement. Errors: ETIMEDOUT (past timeout_ms), EHOSTUNREACH (ClickHouse does
  // not answer: the message names it), else ClickHouse's reason (a refused write among them).
  core::Status run(std::string_view sql, size_t max_rows, store::QueryResult* out) const;
  // The database's tables and columns as /api/v1/schema's JSON, with the schema's docs where a
  // table and column are the agent's (a kind's table has the node column first).
  core::Status schema_json(std::string* out) const;
  // The fleet's service map over the last `seconds`: each client request row joined to the
  // server's on the same connection (the client's local address and port are the server's
  // remote ones, and the other way round), whichever nodes sent them; a side no node saw is
  // named by its address. /api/v1/service_map's JSON, each end "process (node)", with
  // client_node, server_node and "fleet": true. Joined by connection, not time: a node's clock
  // some minutes off still joins (its rows are taken kSkewSlackS before the window).
  core::Status service_map_json(uint64_t seconds, std::string* out) const;
  static constexpr uint64_t kSkewSlackS = 300;

  uint32_t timeout_ms = 10000;
  uint64_t max_bytes = 16ULL << 20;  // of one answer

 private:
  std::string host_, path_, database_;
  int port_ = 0;
};

}  // namespace sightline::aggregator
