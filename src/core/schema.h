// The one table of event kinds and fields. JSON output, field lookup by name (rules, filters),
// `trace` columns, SQL columns and exporter attributes are all derived from it: adding a field
// is one line in schema.cpp plus its decoder.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "core/event.h"

namespace sightline::core {

enum class FieldType : uint8_t {
  kInt,       // signed integer
  kUint,      // unsigned integer
  kString,
  kBool,
  kTime,      // wall-clock ns since the epoch (rendered RFC 3339)
  kDuration,  // ns
  kArgv,      // NUL-separated argument list (JSON array)
  kOpenFlags, // O_* bit set (rendered O_RDONLY|O_CLOEXEC)
  kErrno,     // negative result -> errno name, empty on success
  kOctal,     // file mode
};

struct Value {
  FieldType type = FieldType::kInt;
  int64_t i = 0;
  uint64_t u = 0;
  std::string_view s;
  bool b = false;
};

struct FieldDef {
  std::string_view name;    // Falco-style dotted name: proc.pid, fd.name ...
  FieldType type;
  std::string_view unit;    // "ns", "bytes" ... or empty
  std::string_view doc;
  Value (*get)(const Event&);
  std::string_view header;  // `trace` table column title; empty: not a column
  uint8_t width;            // column width; 0 for the last, free-width column
};

struct KindDef {
  EventKind kind;
  std::string_view name;    // evt.type value
  std::string_view source;  // the source that produces it
  std::string_view doc;
  std::span<const FieldDef> fields;  // kind-specific; common_fields() apply to every kind
  bool node_wide = false;            // of the node, no process's (cachestat): its process fields are empty
};

std::span<const FieldDef> common_fields();
std::span<const KindDef> kinds();
const KindDef& kind_def(EventKind kind);
const KindDef* find_kind(std::string_view name);
// A field by name, among common and every kind's fields; nullptr if none.
const FieldDef* find_field(std::string_view name);
// Whether events of `kind` carry `field` (common fields always do).
bool kind_has_field(EventKind kind, const FieldDef* field);

}  // namespace sightline::core
