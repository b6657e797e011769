#include "store/query.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "core/record.h"
#include "core/render.h"
#include "core/schema.h"

namespace sightline::store {
namespace {

// Reading statements only: no writes, no ATTACH (another file), no PRAGMA but a few that
// read, no extension loading (off by default in the library).
int authorize(void*, int action, const char* a, const char*, const char*, const char*) {
  switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE:
      return SQLITE_OK;
    case SQLITE_PRAGMA: {
      std::string_view p = a ? a : "";
      for (std::string_view ok : {"table_info", "table_xinfo", "table_list", "index_list", "index_info"})
        if (p == ok) return SQLITE_OK;
      return SQLITE_DENY;
    }
    case SQLITE_UPDATE:
      // Table-valued functions (json_each) register themselves in the schema as they are
      // first used; the connection is read-only, the file stays as it is.
      return a && std::string_view(a) == "sqlite_master" ? SQLITE_OK : SQLITE_DENY;
    default:
      return SQLITE_DENY;
  }
}

struct Deadline {
  std::chrono::steady_clock::time_point at;
  bool hit = false;
};

int progress(void* p) {
  auto* d = static_cast<Deadline*>(p);
  if (std::chrono::steady_clock::now() > d->at) {
    d->hit = true;
    return 1;
  }
  return 0;
}


}  // namespace

std::vector<SchemaTable> schema_tables() {
  std::vector<SchemaTable> out;
  for (const auto& k : core::kinds()) {
    SchemaTable t{std::string(k.name), "Events of kind " + std::string(k.name) + " (" + std::string(k.source) +
                                        " source): " + std::string(k.doc), {}};
    auto add = [&](const core::FieldDef& f) {
      std::string doc(f.doc);
      if (f.type == core::FieldType::kTime) doc += " (ns since the epoch)";
      if (f.type == core::FieldType::kDuration) doc += " (ns)";
      if (f.type == core::FieldType::kBool) doc += " (0 or 1)";
      if (f.type == core::FieldType::kArgv) doc += " (a JSON array: json_each() reads it)";
      t.columns.push_back({core::column_name(f.name),
                           core::column_type(f.type) == core::ColumnType::kText ? "TEXT" : "INTEGER", doc});
    };
    for (const auto& f : core::common_fields()) add(f);
    for (const auto& f : k.fields) add(f);
    out.push_back(std::move(t));
  }
  out.push_back({"alerts", "Alerts the detection rules raised",
                 {{"time", "INTEGER", "Time of the event that matched (ns since the epoch)"},
                  {"rule", "TEXT", "Rule name"},
                  {"priority", "TEXT", "Emergency, Alert, Critical, Error, Warning, Notice, Informational or Debug"},
                  {"output", "TEXT", "The rule's output, fields filled in"},
                  {"tags", "TEXT", "The rule's tags (a JSON array)"},
                  {"ancestry", "TEXT", "Parent, grandparent ... process names (a JSON array)"},
                  {"evt_type", "TEXT", "Kind of the event that matched"},
                  {"proc_pid", "INTEGER", "Process id"},
                  {"proc_name", "TEXT", "Process name"},
                  {"container_id", "TEXT", "Container id, empty on the host"},
                  {"event", "TEXT", "The whole event (a JSON object, schema names as keys)"}}});
  out.push_back({"metric_series", "Metric series the agent exports (one row per name and label set)",
                 {{"id", "INTEGER", "Series id (metric_samples.series_id)"},
                  {"name", "TEXT", "Metric name as /metrics shows it (histograms as _bucket, _sum, _count)"},
                  {"labels", "TEXT", "Labels (a JSON object: json_extract(labels, '$.comm'))"}}});
  out.push_back({"metric_samples",
                 "The agent's own /metrics, sampled every store.metrics_interval; ordered by series, then time (a "
                 "query names its series: by metric_series.name, or series_id)",
                 {{"series_id", "INTEGER", "metric_series.id"},
                  {"time", "INTEGER", "Sample time (ns since the epoch)"},
                  {"value", "REAL", "Value (counters are cumulative)"}}});
  out.push_back({"metric_times", "The times metric_samples were taken (the latest: SELECT max(time) FROM metric_times)",
                 {{"time", "INTEGER", "Sample time (ns since the epoch)"}}});
  out.push_back({"request_rollup",
                 "Stored request rows summed by ten minutes: long ranges of the request table read fast here",
                 {{"time", "INTEGER", "Start of the ten minutes (ns since the epoch)"},
                  {"proc_name", "TEXT", "Process name"},
                  {"net_role", "TEXT", "client or server"},
                  {"l7_protocol", "TEXT", "http, pgsql, mysql, redis or dns"},
                  {"l7_error", "INTEGER", "1: failed"},
                  {"latency_log2", "INTEGER", "round(log2(latency in ns)), 10 (1 us) at least"},
                  {"requests", "INTEGER", "sum(l7_weight) of the rows: the requests they stand for"}}});
  out.push_back({"metrics", "View: metric_samples joined with metric_series",
                 {{"time", "INTEGER", "Sample time (ns since the epoch)"},
                  {"name", "TEXT", "Metric name"},
                  {"labels", "TEXT", "Labels (a JSON object)"},
                  {"value", "REAL", "Value"}}});
  out.push_back({"profiles", "CPU profile, aggregated per minute (profile source)",
                 {{"time", "INTEGER", "Start of the minute (ns since the epoch)"},
                  {"stack", "TEXT", "Folded stack, root first: process;frame;frame"},
                  {"samples", "INTEGER", "On-CPU samples of this stack in the minute"}}});
  out.push_back({"request_stacks",
                 "Stacks of a slow or failed server request's thread while it served it (profile source, with sched "
                 "and l7): join the request by proc_tid and evt_time = time",
                 {{"time", "INTEGER", "The request's evt_time (its start, ns since the epoch)"},
                  {"proc_pid", "INTEGER", "Process id"},
                  {"proc_tid", "INTEGER", "The serving thread's id (the request's proc_tid)"},
                  {"offcpu", "INTEGER", "0: on-CPU samples; 1: off-CPU time (sources.profile.off_cpu)"},
                  {"stack", "TEXT", "Folded stack, root first: thread;frame;frame"},
                  {"value", "INTEGER", "Samples (at sources.profile.hz), or off-CPU ns"}}});
  return out;
}

namespace {

void append_cell_json(std::string& out, const QueryCell& c) {
  char buf[40];
  switch (c.type) {
    case QueryCell::kNull: out += "null"; break;
    case QueryCell::kInt: out += std::to_string(c.i); break;
    case QueryCell::kReal:
      if (!std::isfinite(c.d)) {
        out += "null";
        break;
      }
      snprintf(buf, sizeof buf, "%.17g", c.d);
      out += buf;
      break;
    case QueryCell::kText: core::append_json_string(out, c.s); break;
  }
}

std::string cell_text(const QueryCell& c) {
  char buf[40];
  switch (c.type) {
    case QueryCell::kNull: return "";
    case QueryCell::kInt: return std::to_string(c.i);
    case QueryCell::kReal: snprintf(buf, sizeof buf, "%.15g", c.d); return buf;
    case QueryCell::kText: return c.s;
  }
  return "";
}

}  // namespace

core::Status run_query(const QueryOptions& opts, std::string_view sql, QueryResult* out) {
  *out = {};
  struct stat st;
  if (stat(opts.path.c_str(), &st) != 0)
    return core::Status::error(ENOENT, opts.path + ": no store here (is the agent running with store.enabled?)");
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(opts.path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  struct Closer {
    sqlite3* db;
    ~Closer() { sqlite3_close_v2(db); }
  } closer{db};
  if (rc != SQLITE_OK)
    return core::Status::error(EIO, opts.path + ": cannot open: " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
  sqlite3_busy_timeout(db, static_cast<int>(opts.timeout_ms));
  sqlite3_set_authorizer(db, authorize, nullptr);
  Deadline deadline{std::chrono::steady_clock::now() + std::chrono::milliseconds(opts.timeout_ms)};
  sqlite3_progress_handler(db, 1000, progress, &deadline);
  // A value larger than the bound fails inside SQLite ("string or blob too big") before it is
  // allocated; the sorter and cache stay small.
  const int max_len = static_cast<int>(std::min<uint64_t>(opts.max_bytes, 1000000000ULL));
  sqlite3_limit(db, SQLITE_LIMIT_LENGTH, max_len);
  (void)sqlite3_exec(db, "PRAGMA cache_size = -2048", nullptr, nullptr, nullptr);
  auto too_big = [&] {
    return core::Status::error(E2BIG, "the query needs more than " + std::to_string(opts.max_bytes >> 20) +
                                          " MiB (one query's bound, from memory_limit): ask for fewer or smaller "
                                          "values (LIMIT, substr(), fewer columns)");
  };
  uint64_t result_bytes = 0;

  auto t0 = std::chrono::steady_clock::now();
  sqlite3_stmt* s = nullptr;
  const char* tail = nullptr;
  std::string text(sql);
  rc = sqlite3_prepare_v2(db, text.c_str(), static_cast<int>(text.size()), &s, &tail);
  struct Finalizer {
    sqlite3_stmt*& s;
    ~Finalizer() { sqlite3_finalize(s); }
  } fin{s};
  if (rc != SQLITE_OK) {
    std::string m = sqlite3_errmsg(db);
    if (m.find("not authorized") != std::string::npos)
      m = "only reading statements are allowed (SELECT, WITH ... SELECT, and table_info pragmas)";
    return core::Status::error(EINVAL, m);
  }
  if (!s) return core::Status::error(EINVAL, "no statement");
  for (const char* p = tail; p && *p; p++)
    if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r' && *p != ';')
      return core::Status::error(EINVAL, "one statement at a time (text follows the first: '" +
                                             std::string(p).substr(0, 40) + "')");
  if (!sqlite3_stmt_readonly(s)) return core::Status::error(EINVAL, "only reading statements are allowed");
  int ncol = sqlite3_column_count(s);
  for (int i = 0; i < ncol; i++) out->columns.emplace_back(sqlite3_column_name(s, i));
  for (;;) {
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) {
      if (rc == SQLITE_TOOBIG) return too_big();
      if (deadline.hit)
        return core::Status::error(ETIMEDOUT, "the query ran longer than " + std::to_string(opts.timeout_ms) +
                                                  " ms (the limit) and was stopped");
      return core::Status::error(EIO, sqlite3_errmsg(db));
    }
    if (out->rows.size() >= opts.max_rows) {
      out->truncated = true;
      break;
    }
    auto& row = out->rows.emplace_back(static_cast<size_t>(ncol));
    for (int i = 0; i < ncol; i++) {
      auto& c = row[static_cast<size_t>(i)];
      switch (sqlite3_column_type(s, i)) {
        case SQLITE_INTEGER: c.type = QueryCell::kInt, c.i = sqlite3_column_int64(s, i); break;
        case SQLITE_FLOAT: c.type = QueryCell::kReal, c.d = sqlite3_column_double(s, i); break;
        case SQLITE_NULL: break;
        default: {
          c.type = QueryCell::kText;
          const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
          c.s.assign(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(s, i)));
        }
      }
      result_bytes += sizeof(QueryCell) + c.s.size();
    }
    if (result_bytes > opts.max_bytes) return too_big();
  }
  out->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return {};
}

std::string format_table(const QueryResult& r) {
  std::vector<size_t> width(r.columns.size());
  std::vector<std::vector<std::string>> cells;
  for (size_t i = 0; i < r.columns.size(); i++) width[i] = r.columns[i].size();
  for (const auto& row : r.rows) {
    auto& out = cells.emplace_back();
    for (size_t i = 0; i < row.size(); i++) {
      std::string t = cell_text(row[i]);
      for (auto& ch : t)
        if (ch == '\n' || ch == '\t') ch = ' ';
      width[i] = std::max(width[i], std::min<size_t>(t.size(), 80));
      out.push_back(std::move(t));
    }
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& v, const std::vector<std::vector<QueryCell>>::value_type* row) {
    for (size_t i = 0; i < v.size(); i++) {
      std::string t = v[i].size() > 80 ? v[i].substr(0, 79) + "~" : v[i];
      bool right = row && ((*row)[i].type == QueryCell::kInt || (*row)[i].type == QueryCell::kReal);
      size_t pad = width[i] - std::min(width[i], t.size());
      if (right) out.append(pad, ' ');
      out += t;
      if (i + 1 < v.size()) {
        if (!right) out.append(pad, ' ');
        out += "  ";
      }
    }
    out += '\n';
  };
  line(r.columns, nullptr);
  for (size_t i = 0; i < cells.size(); i++) line(cells[i], &r.rows[i]);
  char tail[96];
  snprintf(tail, sizeof tail, "(%zu row%s%s, %.3f s)\n", r.rows.size(), r.rows.size() == 1 ? "" : "s",
           r.truncated ? ", truncated at the row limit" : "", r.seconds);
  out += tail;
  return out;
}

std::string format_csv(const QueryResult& r) {
  std::string out;
  auto field = [&](const std::string& t) {
    if (t.find_first_of(",\"\n\r") == std::string::npos) {
      out += t;
      return;
    }
    out += '"';
    for (char c : t) {
      if (c == '"') out += '"';
      out += c;
    }
    out += '"';
  };
  for (size_t i = 0; i < r.columns.size(); i++) {
    if (i) out += ',';
    field(r.columns[i]);
  }
  out += "\r\n";
  for (const auto& row : r.rows) {
    for (size_t i = 0; i < row.size(); i++) {
      if (i) out += ',';
      field(cell_text(row[i]));
    }
    out += "\r\n";
  }
  return out;
}

std::string format_json(const QueryResult& r) {
  std::string out = "{\"columns\":[";
  for (size_t i = 0; i < r.columns.size(); i++) {
    if (i) out += ',';
    core::append_json_string(out, r.columns[i]);
  }
  out += "],\"rows\":[";
  for (size_t j = 0; j < r.rows.size(); j++) {
    out += j ? ",[" : "[";
    for (size_t i = 0; i < r.rows[j].size(); i++) {
      if (i) out += ',';
      append_cell_json(out, r.rows[j][i]);
    }
    out += ']';
  }
  char tail[80];
  snprintf(tail, sizeof tail, "],\"truncated\":%s,\"seconds\":%.6f}\n", r.truncated ? "true" : "false", r.seconds);
  out += tail;
  return out;
}

std::string schema_text() {
  std::string out;
  for (const auto& t : schema_tables()) {
    out += t.name + "\n  " + t.doc + "\n";
    size_t w = 0;
    for (const auto& c : t.columns) w = std::max(w, c.name.size());
    for (const auto& c : t.columns) {
      out += "  " + c.name + std::string(w - c.name.size() + 2, ' ') + c.type +
             std::string(9 - std::min<size_t>(8, c.type.size()), ' ') + c.doc + "\n";
    }
    out += "\n";
  }
  out += "Times are ns since the epoch: datetime(evt_time / 1e9, 'unixepoch') reads one.\n";
  return out;
}

std::string schema_json() { return schema_json(schema_tables()); }

std::string schema_json(const std::vector<SchemaTable>& tables, std::string_view backend) {
  std::string out = "{\"backend\":";
  core::append_json_string(out, backend);
  out += ",\"tables\":[";
  bool ft = true;
  for (const auto& t : tables) {
    out += ft ? "{" : ",{";
    ft = false;
    out += "\"name\":";
    core::append_json_string(out, t.name);
    out += ",\"doc\":";
    core::append_json_string(out, t.doc);
    out += ",\"columns\":[";
    for (size_t i = 0; i < t.columns.size(); i++) {
      out += i ? ",{" : "{";
      out += "\"name\":";
      core::append_json_string(out, t.columns[i].name);
      out += ",\"type\":";
      core::append_json_string(out, t.columns[i].type);
      out += ",\"doc\":";
      core::append_json_string(out, t.columns[i].doc);
      out += "}";
    }
    out += "]}";
  }
  out += "]}\n";
  return out;
}

}  // namespace sightline::store
