// Read-only SQL on the embedded store: a connection of its own opened read-only, statements
// that only read (an authorizer refuses writes, ATTACH and PRAGMAs that change state), a time
// limit and a row limit. `sightline query` and GET /api/v1/query use it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sightline::store {

struct QueryOptions {
  std::string path;             // the store's file
  uint32_t timeout_ms = 10000;  // the statement is interrupted past this
  size_t max_rows = 10000;      // rows beyond are not returned (truncated = true)
  // Memory of one query: its largest value (a string or blob SQLite builds) and the text of its
  // whole result. Past either the query is refused with an error naming the bound.
  uint64_t max_bytes = 16ULL << 20;
};

struct QueryCell {
  enum Type : uint8_t { kNull, kInt, kReal, kText } type = kNull;
  int64_t i = 0;
  double d = 0;
  std::string s;
};

struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::vector<QueryCell>> rows;
  bool truncated = false;
  double seconds = 0;
};

core::Status run_query(const QueryOptions& opts, std::string_view sql, QueryResult* out);

// Renderings: an aligned text table, RFC 4180 CSV with a header, JSON
// {"columns":[...],"rows":[[...]],"truncated":false,"seconds":0.001}.
std::string format_table(const QueryResult& r);
std::string format_csv(const QueryResult& r);
std::string format_json(const QueryResult& r);

// Every table and column, from the schema table (what `sightline query --schema` prints), as
// text or as JSON {"tables":[{"name","doc","columns":[{"name","type","doc"}]}]}.
struct SchemaColumn {
  std::string name, type, doc;
};
struct SchemaTable {
  std::string name, doc;
  std::vector<SchemaColumn> columns;
};
std::vector<SchemaTable> schema_tables();
std::string schema_text();
std::string schema_json();
// Another backend's tables; `backend` names its SQL dialect ("sqlite", "clickhouse") for the UI.
std::string schema_json(const std::vector<SchemaTable>& tables, std::string_view backend = "sqlite");

}  // namespace sightline::store
