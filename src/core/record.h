// An event copied out of its callback, in the column form stores and exporters take: one cell
// per schema field (common fields, then the kind's), each an integer or a text. The SQL store,
// ClickHouse and the log exporters all read events through this, so a field added to the
// schema is a column everywhere.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/schema.h"

namespace sightline::core {

enum class ColumnType : uint8_t { kInteger, kText };

// proc.pid -> proc_pid: field names as SQL identifiers (no quoting needed).
std::string column_name(std::string_view field);
// Integers: ints, unsigned, booleans (0/1), times (ns since the epoch), durations (ns), modes.
// Text: strings, argv (a JSON array), open flags (O_RDONLY|O_CLOEXEC), errno names.
ColumnType column_type(FieldType t);

struct Record {
  struct Cell {
    int64_t i = 0;
    uint32_t off = 0, len = 0;  // text: a slice of `text`
    bool is_text = false;
  };
  EventKind kind = EventKind::kExec;
  uint64_t time_ns = 0;  // evt.time
  std::vector<Cell> cells;
  std::string text;

  std::string_view str(const Cell& c) const { return std::string_view(text).substr(c.off, c.len); }
  size_t bytes() const { return sizeof(*this) + cells.size() * sizeof(Cell) + text.size(); }
};

// Fills `out` (reusing its buffers) from `e`: cells in the order of common_fields() then
// kind_def(e.kind).fields.
void make_record(const Event& e, Record* out);
// {"evt_time":..., "proc_pid":...}: column names as keys, integers as numbers, text as
// strings (ClickHouse's JSONEachRow).
void append_record_json_columns(std::string& out, const Record& r);

}  // namespace sightline::core
