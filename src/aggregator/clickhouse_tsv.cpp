// ClickHouse's answers read (no I/O here: the fuzz target runs it on any bytes).
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "aggregator/clickhouse_query.h"

namespace sightline::aggregator {
namespace {

// One field of a line, its escapes undone; false on a backslash that ends the field.
bool unescape(std::string_view f, std::string* out) {
  out->clear();
  out->reserve(f.size());
  for (size_t i = 0; i < f.size(); i++) {
    if (f[i] != '\\') {
      *out += f[i];
      continue;
    }
    if (++i == f.size()) return false;
    switch (f[i]) {
      case 'b': *out += '\b'; break;
      case 'f': *out += '\f'; break;
      case 'r': *out += '\r'; break;
      case 'n': *out += '\n'; break;
      case 't': *out += '\t'; break;
      case '0': *out += '\0'; break;
      case 'a': *out += '\a'; break;
      case 'v': *out += '\v'; break;
      default: *out += f[i];  // \\ \' and any other character stands for itself
    }
  }
  return true;
}

std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> out;
  size_t at = 0;
  for (;;) {
    size_t tab = line.find('\t', at);
    out.push_back(line.substr(at, tab == std::string_view::npos ? std::string_view::npos : tab - at));
    if (tab == std::string_view::npos) return out;
    at = tab + 1;
  }
}

// The type a column's cells take: Int8..UInt64 as integers, Float32/64 as reals (through
// Nullable()), everything else (String, DateTime, Array(...), Decimal ...) as text.
store::QueryCell::Type cell_type(std::string_view t) {
  while (t.starts_with("Nullable(") || t.starts_with("LowCardinality(")) {
    t.remove_prefix(t.find('(') + 1);
    if (t.ends_with(')')) t.remove_suffix(1);
  }
  if (t.starts_with("Int") || t.starts_with("UInt")) return store::QueryCell::kInt;
  if (t == "Float32" || t == "Float64") return store::QueryCell::kReal;
  return store::QueryCell::kText;
}

store::QueryCell cell(std::string_view raw, store::QueryCell::Type type, std::string* scratch) {
  store::QueryCell c;
  if (raw == "\\N") return c;  // NULL
  unescape(raw, scratch);
  c.type = store::QueryCell::kText;
  c.s = *scratch;
  if (type == store::QueryCell::kText || c.s.empty()) return c;
  char* end;
  errno = 0;
  if (type == store::QueryCell::kInt) {
    long long v = strtoll(c.s.c_str(), &end, 10);
    if (!*end && errno == 0) return store::QueryCell{store::QueryCell::kInt, v, 0, {}};
    return c;  // a UInt64 past INT64_MAX stays text, exact
  }
  double d = strtod(c.s.c_str(), &end);
  if (!*end && std::isfinite(d)) return store::QueryCell{store::QueryCell::kReal, 0, d, {}};
  return c;  // nan, inf: text
}

}  // namespace

core::Status parse_clickhouse_tsv(std::string_view body, size_t max_rows, store::QueryResult* out) {
  *out = {};
  auto next_line = [&](std::string_view* line) {
    if (body.empty()) return false;
    size_t nl = body.find('\n');
    *line = body.substr(0, nl);
    body.remove_prefix(nl == std::string_view::npos ? body.size() : nl + 1);
    return true;
  };
  std::string_view names, types;
  if (!next_line(&names) || !next_line(&types))
    return core::Status::error(EPROTO, "ClickHouse's answer has no names and types lines");
  std::string scratch;
  for (auto n : split(names)) {
    if (!unescape(n, &scratch)) return core::Status::error(EPROTO, "ClickHouse's answer: a column name ends in a backslash");
    out->columns.push_back(scratch);
  }
  std::vector<store::QueryCell::Type> kinds;
  for (auto t : split(types)) kinds.push_back(cell_type(t));
  if (kinds.size() != out->columns.size())
    return core::Status::error(EPROTO, "ClickHouse's answer names " + std::to_string(out->columns.size()) +
                                           " columns and types " + std::to_string(kinds.size()));
  std::string_view line;
  while (next_line(&line)) {
    if (out->rows.size() == max_rows) {
      out->truncated = true;
      break;
    }
    auto fields = split(line);
    if (fields.size() != kinds.size())
      return core::Status::error(EPROTO, "ClickHouse's answer: row " + std::to_string(out->rows.size() + 1) + " has " +
                                             std::to_string(fields.size()) + " fields, not " +
                                             std::to_string(kinds.size()));
    std::vector<store::QueryCell> row;
    row.reserve(fields.size());
    for (size_t i = 0; i < fields.size(); i++) row.push_back(cell(fields[i], kinds[i], &scratch));
    out->rows.push_back(std::move(row));
  }
  return {};
}

std::string clickhouse_error_reason(std::string_view body, int* code) {
  *code = 0;
  if (body.starts_with("Code: ")) *code = atoi(std::string(body.substr(6, 8)).c_str());
  std::string_view reason = body;
  constexpr std::string_view kText = "e.displayText() = ";
  if (size_t at = reason.find(kText); at != std::string_view::npos) reason.remove_prefix(at + kText.size());
  if (reason.starts_with("DB::Exception: ")) reason.remove_prefix(15);
  if (size_t w = reason.find(", e.what() = "); w != std::string_view::npos) reason = reason.substr(0, w);
  // Newer releases: "Code: 60. DB::Exception: Table x doesn't exist. (UNKNOWN_TABLE) (version ...)"
  if (size_t at = reason.find("DB::Exception: "); at != std::string_view::npos) reason.remove_prefix(at + 15);
  if (size_t v = reason.find(" (version "); v != std::string_view::npos) reason = reason.substr(0, v);
  while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.remove_suffix(1);
  return std::string(reason.substr(0, 2000));
}

}  // namespace sightline::aggregator
