#include "aggregator/clickhouse_query.h"

#include <httplib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <map>

#include "core/render.h"
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
  *out = store::schema_json(tables, "clickhouse");
  return {};
}

core::Status ClickHouseQuery::service_map_json(uint64_t seconds, std::string* out) const {
  // Both sides' rows are taken from kSkewSlackS before the window: a node whose clock is off by
  // less still has its half of the window's connections there.
  std::string since = "(toInt64(now()) - " + std::to_string(seconds + kSkewSlackS) + ") * 1000000000";
  std::string weight = "if(l7_weight > 0, l7_weight, 1)";
  // Connections by 4-tuple as (a = the client's end, b = the server's): the clients' rows with
  // their counts, each connection's server (a node's process), the servers' rows with counts,
  // each connection a client was seen on.
  std::string clients = "SELECT node AS c_node, proc_name AS c_proc, l7_protocol AS protocol, fd_lip AS a_ip, fd_lport AS a_port, "
                        "fd_rip AS b_ip, fd_rport AS b_port, any(fd_rname) AS b_name, sum(" + weight + ") AS n, sum(l7_error * " +
                        weight + ") AS e, sum(l7_latency * " + weight + ") AS ns FROM request WHERE net_role = 'client' AND evt_time >= " +
                        since + " GROUP BY c_node, c_proc, protocol, a_ip, a_port, b_ip, b_port";
  std::string server_of = "SELECT fd_rip AS a_ip, fd_rport AS a_port, fd_lip AS b_ip, fd_lport AS b_port, any(node) AS s_node, "
                          "any(proc_name) AS s_proc FROM request WHERE net_role = 'server' AND evt_time >= " + since +
                          " GROUP BY a_ip, a_port, b_ip, b_port";
  std::string servers = "SELECT node AS s_node, proc_name AS s_proc, l7_protocol AS s_protocol, fd_rip AS a_ip, fd_rport AS a_port, "
                        "fd_lip AS b_ip, fd_lport AS b_port, sum(" + weight + ") AS sn, sum(l7_error * " + weight +
                        ") AS se, sum(l7_latency * " + weight + ") AS sns FROM request WHERE net_role = 'server' AND evt_time >= " +
                        since + " GROUP BY s_node, s_proc, s_protocol, a_ip, a_port, b_ip, b_port";
  std::string client_seen = "SELECT fd_lip AS a_ip, fd_lport AS a_port, fd_rip AS b_ip, fd_rport AS b_port, 1 AS seen FROM request "
                            "WHERE net_role = 'client' AND evt_time >= " + since + " GROUP BY a_ip, a_port, b_ip, b_port";
  // Every client's requests, with the server where a node saw that end (else its name or
  // address); then the servers' requests whose client no node saw (callers from outside the
  // fleet, named by address), counted at the server. (Shapes ClickHouse 18.16 joins.)
  std::string sql =
      "SELECT c_node, c_proc, s_node, if(s_node = '', if(b_name = '', concat(b_ip, ':', toString(b_port)), b_name), s_proc) AS server, "
      "protocol, sum(n), sum(e), sum(ns) FROM (" + clients + ") ALL LEFT JOIN (" + server_of + ") USING (a_ip, a_port, b_ip, b_port) "
      "GROUP BY c_node, c_proc, s_node, server, protocol UNION ALL "
      "SELECT '' AS c_node, a_ip AS c_proc, s_node, s_proc AS server, s_protocol AS protocol, sum(sn), sum(se), sum(sns) FROM (" +
      servers + ") ALL LEFT JOIN (" + client_seen + ") USING (a_ip, a_port, b_ip, b_port) WHERE seen = 0 "
      "GROUP BY a_ip, s_node, s_proc, s_protocol";
  store::QueryResult r;
  if (auto st = run(sql, 100000, &r); !st) return st;
  auto name = [](const store::QueryCell& proc, const store::QueryCell& node) {
    return node.s.empty() ? proc.s : proc.s + " (" + node.s + ")";
  };
  std::string j = "{\"fleet\":true,\"seconds\":" + std::to_string(seconds) + ",\"edges\":[";
  bool first = true;
  for (const auto& row : r.rows) {
    if (row.size() != 8 || row[5].i <= 0) continue;
    j += first ? "{" : ",{";
    first = false;
    j += "\"client\":";
    core::append_json_string(j, name(row[1], row[0]));
    j += ",\"server\":";
    core::append_json_string(j, name(row[3], row[2]));
    j += ",\"client_node\":";
    core::append_json_string(j, row[0].s);
    j += ",\"server_node\":";
    core::append_json_string(j, row[2].s);
    j += ",\"protocol\":";
    core::append_json_string(j, row[4].s);
    char nums[160];
    snprintf(nums, sizeof nums, ",\"requests\":%lld,\"errors\":%lld,\"mean_latency_seconds\":%.9f}",
             static_cast<long long>(row[5].i), static_cast<long long>(row[6].i),
             row[7].type == store::QueryCell::kInt ? static_cast<double>(row[7].i) / static_cast<double>(row[5].i) / 1e9 : 0.0);
    j += nums;
  }
  *out = j + "]}\n";
  return {};
}

}  // namespace sightline::aggregator
