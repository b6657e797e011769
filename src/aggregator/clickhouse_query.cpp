#include "aggregator/clickhouse_query.h"

#include <httplib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <map>

#include "export/delivery.h"

namespace sightline::aggregator {

core::Status ClickHouseQuery::open(const std::string& url, std::string database) {
  if (auto st = exporter::parse_http_url(url, &host_, &port_, &path_); !st) return st;
  database_ = std::move(database);
  return {};
}

core::Status ClickHouseQuery::run(std::string_view sql, size_t max_rows, store::QueryResult* out) const {
  auto t0 = std::chrono::steady_clock::now();
  httplib::Client cli(host_, port_);
  time_t secs = static_cast<time_t>(timeout_ms / 1000 + 2);
  cli.set_connection_timeout(3);
  cli.set_read_timeout(secs);
  cli.set_write_timeout(secs);
  // readonly=2: reads only, and these settings may be given (readonly=1 would refuse them);
  // break: past the row or byte bound the answer ends, complete rows; wait_end_of_query: an
  // error after the first rows is still the status, not a tail in a 200.
  size_t rows = max_rows + 1;
  std::string target = path_ + "/?readonly=2&database=" + database_ +
                       "&max_execution_time=" + std::to_string((timeout_ms + 999) / 1000) +
                       "&max_result_rows=" + std::to_string(rows) + "&max_block_size=" +
                       std::to_string(std::min<size_t>(rows, 65536)) + "&max_result_bytes=" + std::to_string(max_bytes) +
                       "&result_overflow_mode=break&wait_end_of_query=1&default_format=TabSeparatedWithNamesAndTypes";
  auto res = cli.Post(target, std::string(sql), "text/plain; charset=utf-8");
  if (!res)
    return core::Status::error(EHOSTUNREACH, "ClickHouse at http://" + host_ + ":" + std::to_string(port_) +
                                                 " does not answer: " + httplib::to_string(res.error()));
  if (res->status != 200) {
    int code = 0;
    std::string reason = clickhouse_error_reason(res->body, &code);
    if (code == 159) return core::Status::error(ETIMEDOUT, "ClickHouse: " + reason);  // TIMEOUT_EXCEEDED
    return core::Status::error(EINVAL, "ClickHouse: " + reason);
  }
  if (auto st = parse_clickhouse_tsv(res->body, max_rows, out); !st)
    return core::Status::error(EPROTO, st.message() + " (a FORMAT clause of the statement's own is not read here)");
  out->truncated |= res->body.size() >= max_bytes;
  out->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return {};
}

core::Status ClickHouseQuery::schema_json(std::string* out) const {
  store::QueryResult r;
  if (auto st = run("SELECT table, name, type FROM system.columns WHERE database = currentDatabase()", 100000, &r); !st)
    return st;
  std::map<std::string, const store::SchemaTable*> ours;
  auto mine = store::schema_tables();
  for (const auto& t : mine) ours[t.name] = &t;
  std::vector<store::SchemaTable> tables;
  for (const auto& row : r.rows) {
    if (row.size() != 3) continue;
    const std::string &table = row[0].s, &name = row[1].s, &type = row[2].s;
    if (tables.empty() || tables.back().name != table) {
      auto it = ours.find(table);
      tables.push_back({table, it == ours.end() ? "" : it->second->doc + " (every node's, in ClickHouse)", {}});
    }
    std::string doc = name == "node" ? "The node that sent the row (its exporters.node)" : "";
    if (auto it = ours.find(table); it != ours.end())
      for (const auto& c : it->second->columns)
        if (c.name == name) doc = c.doc;
    tables.back().columns.push_back({name, type, doc});
  }
  *out = store::schema_json(tables);
  return {};
}

}  // namespace sightline::aggregator
