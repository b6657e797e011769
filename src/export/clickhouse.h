// ClickHouse over its HTTP interface: a table per event kind (the schema's columns plus the
// node), created if missing, rows inserted as JSONEachRow in batches. Only what ClickHouse 18.16
// (Debian 12) and current releases both accept: MergeTree() ORDER BY, Int64 and String.
#pragma once

#include <string>
#include <vector>

#include "core/alert.h"
#include "core/record.h"
#include "export/delivery.h"

namespace sightline::exporter {

// CREATE DATABASE and CREATE TABLE IF NOT EXISTS statements, as batches to send first.
std::vector<Batch> clickhouse_ddl(const std::string& database);

// Rows of each kind, buffered until take() (the caller's batch timer or the size bound).
class ClickHouseRows {
 public:
  ClickHouseRows(std::string database, std::string node) : database_(std::move(database)), node_(std::move(node)) {}
  // Appends one row; true when the kind's buffer passed its bound (take() it now).
  bool add(const core::Record& r) { return add(r, node_); }
  // The same, for a row of another node (the aggregator's).
  bool add(const core::Record& r, std::string_view node);
  // A minute of the continuous profile (folded text, "frame;frame;frame N" lines) as rows of
  // the profiles table (node, time: the minute's start in ns, stack, samples); true: take() now.
  bool add_profile(uint64_t minute_ns, std::string_view folded, std::string_view node);
  // An alert as a row of the alerts table (the store's alerts columns and the node).
  bool add_alert(const core::Alert& a, std::string_view node);
  // Batches of everything buffered, one per kind (and one of profile rows).
  std::vector<Batch> take();

  static constexpr size_t kMaxBatchBytes = 4 << 20;

 private:
  std::string database_, node_;
  struct Buf {
    std::string body;
    uint64_t rows = 0;
  };
  Buf bufs_[static_cast<size_t>(core::EventKind::kCount)];
  Buf profiles_, alerts_;
};

}  // namespace sightline::exporter
