#include "core/record.h"

#include "core/render.h"

namespace sightline::core {

std::string column_name(std::string_view field) {
  std::string s(field);
  for (auto& c : s)
    if (c == '.') c = '_';
  return s;
}

ColumnType column_type(FieldType t) {
  switch (t) {
    case FieldType::kString:
    case FieldType::kArgv:
    case FieldType::kOpenFlags:
    case FieldType::kErrno: return ColumnType::kText;
    default: return ColumnType::kInteger;
  }
}

namespace {

void add_cell(const Value& v, Record* r) {
  Record::Cell c;
  switch (v.type) {
    case FieldType::kInt: c.i = v.i; break;
    case FieldType::kUint:
    case FieldType::kTime:
    case FieldType::kDuration:
    case FieldType::kOctal: c.i = static_cast<int64_t>(v.u); break;
    case FieldType::kBool: c.i = v.b; break;
    case FieldType::kString:
    case FieldType::kArgv:
    case FieldType::kOpenFlags:
    case FieldType::kErrno: {
      c.is_text = true;
      c.off = static_cast<uint32_t>(r->text.size());
      if (v.type == FieldType::kString)
        r->text.append(v.s);
      else if (v.type == FieldType::kErrno) {
        if (v.i < 0) r->text.append(errno_name(static_cast<int>(-v.i)));
      } else if (v.type == FieldType::kOpenFlags)
        append_open_flags(r->text, v.u);
      else
        append_value_json(r->text, v);  // argv: a JSON array
      c.len = static_cast<uint32_t>(r->text.size() - c.off);
      break;
    }
  }
  r->cells.push_back(c);
}

}  // namespace

void make_record(const Event& e, Record* out) {
  out->kind = e.kind;
  out->time_ns = e.ts_wall_ns;
  out->cells.clear();
  out->text.clear();
  for (const auto& f : common_fields()) add_cell(f.get(e), out);
  for (const auto& f : kind_def(e.kind).fields) add_cell(f.get(e), out);
}

void append_record_json_columns(std::string& out, const Record& r) {
  out.push_back('{');
  size_t i = 0;
  auto emit = [&](const FieldDef& f) {
    if (i >= r.cells.size()) return;
    const auto& c = r.cells[i++];
    if (i > 1) out.push_back(',');
    out.push_back('"');
    out += column_name(f.name);
    out += "\":";
    if (c.is_text)
      append_json_string(out, r.str(c));
    else
      out += std::to_string(c.i);
  };
  for (const auto& f : common_fields()) emit(f);
  for (const auto& f : kind_def(r.kind).fields) emit(f);
  out.push_back('}');
}

}  // namespace sightline::core
