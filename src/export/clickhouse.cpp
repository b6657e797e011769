#include "export/clickhouse.h"

#include "core/render.h"
#include "core/schema.h"

namespace sightline::exporter {
namespace {

std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      out += static_cast<char>(c);
    else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Batch statement(const std::string& sql) {
  Batch b;
  b.target = "/";
  b.content_type = "text/plain";
  b.body = sql;
  return b;
}

}  // namespace

std::vector<Batch> clickhouse_ddl(const std::string& database) {
  std::vector<Batch> out;
  out.push_back(statement("CREATE DATABASE IF NOT EXISTS " + database));
  for (const auto& k : core::kinds()) {
    std::string sql = "CREATE TABLE IF NOT EXISTS " + database + "." + std::string(k.name) + " (node String";
    auto col = [&](const core::FieldDef& f) {
      sql += ", " + core::column_name(f.name) +
             (core::column_type(f.type) == core::ColumnType::kText ? " String" : " Int64");
    };
    for (const auto& f : core::common_fields()) col(f);
    for (const auto& f : k.fields) col(f);
    sql += ") ENGINE = MergeTree() ORDER BY evt_time";
    out.push_back(statement(sql));
  }
  // The agents' per-minute profiles, one row per stack (the store's profiles table and a node).
  out.push_back(statement("CREATE TABLE IF NOT EXISTS " + database +
                          ".profiles (node String, time Int64, stack String, samples Int64) ENGINE = MergeTree() ORDER BY time"));
  // The rules' alerts (the store's alerts table and a node).
  out.push_back(statement("CREATE TABLE IF NOT EXISTS " + database +
                          ".alerts (node String, time Int64, rule String, priority String, output String, tags String, "
                          "ancestry String, evt_type String, proc_pid Int64, proc_name String, container_id String, "
                          "event String) ENGINE = MergeTree() ORDER BY time"));
  return out;
}

bool ClickHouseRows::add_profile(uint64_t minute_ns, std::string_view folded, std::string_view node) {
  std::string head = "{\"node\":";
  core::append_json_string(head, node);
  head += ",\"time\":" + std::to_string(minute_ns) + ",\"stack\":";
  while (!folded.empty()) {
    size_t nl = folded.find('\n');
    std::string_view line = folded.substr(0, nl);
    folded.remove_prefix(nl == std::string_view::npos ? folded.size() : nl + 1);
    size_t sp = line.rfind(' ');
    if (sp == std::string_view::npos || sp == 0) continue;
    std::string_view count = line.substr(sp + 1);
    if (count.empty() || count.find_first_not_of("0123456789") != std::string_view::npos || count.size() > 19) continue;
    profiles_.body += head;
    core::append_json_string(profiles_.body, line.substr(0, sp));
    profiles_.body += ",\"samples\":";
    profiles_.body += count;
    profiles_.body += "}\n";
    profiles_.rows++;
  }
  return profiles_.body.size() >= kMaxBatchBytes;
}

bool ClickHouseRows::add(const core::Record& r, std::string_view node) {
  Buf& b = bufs_[static_cast<size_t>(r.kind)];
  size_t at = b.body.size();
  core::append_record_json_columns(b.body, r);
  // {"node":"...", then the record's own columns.
  std::string head = "{\"node\":";
  core::append_json_string(head, node);
  head += ',';
  b.body.replace(at, 1, head);
  b.body += '\n';
  b.rows++;
  return b.body.size() >= kMaxBatchBytes;
}

bool ClickHouseRows::add_alert(const core::Alert& a, std::string_view node) {
  std::string& j = alerts_.body;
  auto str = [&](const char* key, std::string_view v) {
    j += key;
    core::append_json_string(j, v);
  };
  str("{\"node\":", node);
  j += ",\"time\":" + std::to_string(a.time_ns);
  str(",\"rule\":", a.rule);
  str(",\"priority\":", a.priority);
  str(",\"output\":", a.output);
  str(",\"tags\":", a.tags_json);
  str(",\"ancestry\":", a.ancestry_json);
  str(",\"evt_type\":", a.kind);
  j += ",\"proc_pid\":" + std::to_string(a.pid);
  str(",\"proc_name\":", a.proc_name);
  str(",\"container_id\":", a.container_id);
  str(",\"event\":", a.event_json);
  j += "}\n";
  alerts_.rows++;
  return j.size() >= kMaxBatchBytes;
}

std::vector<Batch> ClickHouseRows::take() {
  std::vector<Batch> out;
  for (size_t i = 0; i < std::size(bufs_); i++) {
    Buf& b = bufs_[i];
    if (!b.rows) continue;
    Batch batch;
    batch.target = "/?query=" + url_encode("INSERT INTO " + database_ + "." + std::string(core::kinds()[i].name) +
                                           " FORMAT JSONEachRow");
    batch.content_type = "application/x-ndjson";
    batch.body = std::move(b.body);
    batch.items = b.rows;
    b = Buf{};
    out.push_back(std::move(batch));
  }
  for (auto [buf, table] : {std::pair{&profiles_, "profiles"}, std::pair{&alerts_, "alerts"}}) {
    if (!buf->rows) continue;
    Batch batch;
    batch.target = "/?query=" + url_encode("INSERT INTO " + database_ + "." + table + " FORMAT JSONEachRow");
    batch.content_type = "application/x-ndjson";
    batch.body = std::move(buf->body);
    batch.items = buf->rows;
    *buf = Buf{};
    out.push_back(std::move(batch));
  }
  return out;
}

}  // namespace sightline::exporter
