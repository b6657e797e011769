// Any kernel tracepoint, decoded from its own description in tracefs
// (events/CATEGORY/NAME/format): field names, types, offsets and sizes. Pure parsing and
// decoding, unit-tested and fuzzed; the BPF side only copies records.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sightline::tracepoint {

struct Field {
  std::string name, type;  // "prev_comm", "char[16]" / "__data_loc char[]" / "pid_t"
  uint32_t offset = 0, size = 0;
  bool is_signed = false;
  bool data_loc = false;  // u32: (length << 16) | offset of the data in the record
  bool array = false;     // type ends in [N] or []
  bool string = false;    // char arrays (fixed or __data_loc)
  bool common = false;    // common_* fields of every event
};

struct Format {
  std::string category, name;
  uint32_t id = 0;
  std::vector<Field> fields;
  uint32_t fixed_size = 0;  // end of the last fixed field
  const Field* find(std::string_view name) const;
};

// Parses the text of a format file. A malformed line is an error naming it.
core::Status parse_format(std::string_view text, Format* out);
// Reads tracefs_events/CATEGORY/NAME/format.
core::Status load_format(const std::string& tracefs_events, const std::string& category,
                         const std::string& name, Format* out);

// A field's value in a record: integers as text in decimal (pointers and unsigned 8-byte
// "long"s of a pointer type in hex), strings as is; false if the record is too short for it.
struct Value {
  bool is_string = false;
  std::string text;
  int64_t i = 0;   // integers (sign-extended when signed)
  uint64_t u = 0;  // integers, raw
};
bool field_value(const Field& f, const uint8_t* rec, size_t len, Value* out);

// --filter: FIELD OP VALUE, joined by && and || (&& binds tighter), OP one of == != < <= > >=
// (numbers or strings) and ~ (glob on strings). Fields are checked against the format.
class Filter {
 public:
  static core::Status parse(std::string_view expr, const Format& fmt, Filter* out);
  bool matches(const uint8_t* rec, size_t len) const;
  bool empty() const { return ors_.empty(); }

 private:
  struct Cond {
    const Field* field;
    std::string op, value;
    bool numeric = false;
    int64_t num = 0;    // signed fields
    uint64_t unum = 0;  // unsigned fields
  };
  std::vector<std::vector<Cond>> ors_;  // OR of ANDs
};

}  // namespace sightline::tracepoint
