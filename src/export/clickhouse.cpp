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
  return out;
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
  return out;
}

}  // namespace sightline::exporter
