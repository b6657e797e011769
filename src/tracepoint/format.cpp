#include "tracepoint/format.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/files.h"
#include "symbols/elf_symbols.h"

namespace sightline::tracepoint {

const Field* Format::find(std::string_view n) const {
  for (const auto& f : fields)
    if (f.name == n) return &f;
  return nullptr;
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool parse_u32(std::string_view s, uint32_t* out) {
  s = trim(s);
  if (s.empty() || s.size() > 9) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  *out = v;
  return true;
}

// "field:char prev_comm[16];	offset:8;	size:16;	signed:0;"
bool parse_field(std::string_view line, Field* f) {
  auto take = [&](std::string_view key, std::string_view* value) {
    size_t at = line.find(key);
    if (at == std::string_view::npos) return false;
    size_t start = at + key.size(), end = line.find(';', start);
    if (end == std::string_view::npos) return false;
    *value = line.substr(start, end - start);
    return true;
  };
  std::string_view decl, off, size, sign;
  if (!take("field:", &decl) || !take("offset:", &off) || !take("size:", &size)) return false;
  if (!parse_u32(off, &f->offset) || !parse_u32(size, &f->size)) return false;
  uint32_t s = 0;
  if (take("signed:", &sign) && !parse_u32(sign, &s)) return false;
  f->is_signed = s != 0;
  decl = trim(decl);
  // The name is the last identifier, before an optional [N].
  std::string_view d = decl;
  std::string array_suffix;
  size_t bracket = d.rfind('[');
  if (bracket != std::string_view::npos && d.back() == ']') {
    // "char prev_comm[16]" -> name before '['; "__data_loc char[] filename": the [] is in the type
    size_t sp = d.rfind(' ');
    if (sp == std::string_view::npos || sp < bracket) {
      array_suffix = std::string(d.substr(bracket));
      d = d.substr(0, bracket);
    }
  }
  size_t sp = d.find_last_of(" *");
  if (sp == std::string_view::npos || sp + 1 >= d.size()) return false;
  f->name = std::string(d.substr(sp + 1));
  for (char c : f->name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  f->type = std::string(trim(d.substr(0, sp + 1))) + array_suffix;
  f->data_loc = f->type.starts_with("__data_loc") || f->type.starts_with("__rel_loc");
  f->array = f->type.find('[') != std::string::npos;
  f->string = f->array && (f->type.find("char") != std::string::npos);
  f->common = f->name.starts_with("common_");
  return f->size > 0 && f->size <= 4096 && f->offset <= 65536;
}

}  // namespace

core::Status parse_format(std::string_view text, Format* out) {
  Format fmt;
  size_t pos = 0, line_no = 0;
  bool in_format = false;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = trim(text.substr(pos, end - pos));
    pos = end + 1;
    line_no++;
    if (line.starts_with("name:")) {
      fmt.name = std::string(trim(line.substr(5)));
    } else if (line.starts_with("ID:")) {
      if (!parse_u32(line.substr(3), &fmt.id))
        return core::Status::error(EINVAL, "line " + std::to_string(line_no) + ": bad ID");
    } else if (line.starts_with("format:")) {
      in_format = true;
    } else if (line.starts_with("print fmt:")) {
      break;
    } else if (in_format && line.starts_with("field:")) {
      Field f;
      if (!parse_field(line, &f))
        return core::Status::error(EINVAL, "line " + std::to_string(line_no) + ": cannot read field '" +
                                               std::string(line.substr(0, 80)) + "'");
      fmt.fixed_size = std::max(fmt.fixed_size, f.offset + f.size);
      fmt.fields.push_back(std::move(f));
    }
  }
  if (fmt.fields.empty()) return core::Status::error(EINVAL, "no fields: not a tracepoint format");
  *out = std::move(fmt);
  return {};
}

core::Status load_format(const std::string& events, const std::string& category, const std::string& name,
                         Format* out) {
  auto bad = [](const std::string& s) {
    return s.empty() || s.find('/') != std::string::npos || s.find("..") != std::string::npos;
  };
  if (bad(category) || bad(name)) return core::Status::error(EINVAL, "'" + category + ":" + name + "' is not a tracepoint name");
  int err = 0;
  std::string text = core::read_file(events + "/" + category + "/" + name + "/format", 1u << 20, &err);
  if (err) return core::Status::error(ENOENT, "no tracepoint " + category + ":" + name + " in this kernel (" + events + ")");
  if (auto st = parse_format(text, out); !st)
    return core::Status::error(EINVAL, category + ":" + name + ": " + st.message());
  out->category = category;
  out->name = name;
  return {};
}

bool field_value(const Field& f, const uint8_t* rec, size_t len, Value* out) {
  if (f.offset + f.size > len) return false;
  const uint8_t* p = rec + f.offset;
  *out = Value{};
  if (f.data_loc) {
    if (f.size != 4) return false;
    uint32_t loc;
    memcpy(&loc, p, 4);
    uint32_t off = loc & 0xffff, n = loc >> 16;
    if (f.type.starts_with("__rel_loc")) off += f.offset + 4;
    if (off > len) return false;
    n = std::min<uint32_t>(n, static_cast<uint32_t>(len - off));
    out->is_string = true;
    const char* s = reinterpret_cast<const char*>(rec + off);
    out->text.assign(s, strnlen(s, n));
    return true;
  }
  if (f.string) {
    out->is_string = true;
    const char* s = reinterpret_cast<const char*>(p);
    out->text.assign(s, strnlen(s, f.size));
    return true;
  }
  if (f.array || (f.size != 1 && f.size != 2 && f.size != 4 && f.size != 8)) {
    static const char hex[] = "0123456789abcdef";
    out->is_string = true;
    for (uint32_t i = 0; i < f.size && i < 64; i++) out->text += hex[p[i] >> 4], out->text += hex[p[i] & 15];
    return true;
  }
  uint64_t u = 0;
  int64_t i = 0;
  switch (f.size) {
    case 1: { uint8_t v; memcpy(&v, p, 1); u = v; i = f.is_signed ? int8_t(v) : int64_t(v); break; }
    case 2: { uint16_t v; memcpy(&v, p, 2); u = v; i = f.is_signed ? int16_t(v) : int64_t(v); break; }
    case 4: { uint32_t v; memcpy(&v, p, 4); u = v; i = f.is_signed ? int32_t(v) : int64_t(v); break; }
    default: { memcpy(&u, p, 8); i = static_cast<int64_t>(u); break; }
  }
  out->u = u;
  out->i = i;
  char buf[32];
  if (f.type.find('*') != std::string::npos)
    snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(u));
  else if (f.is_signed)
    snprintf(buf, sizeof buf, "%lld", static_cast<long long>(i));
  else
    snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(u));
  out->text = buf;
  return true;
}

core::Status Filter::parse(std::string_view expr, const Format& fmt, Filter* out) {
  Filter f;
  std::string e(expr);
  auto split = [](const std::string& s, const std::string& sep) {
    std::vector<std::string> parts;
    size_t pos = 0;
    for (size_t at; (at = s.find(sep, pos)) != std::string::npos; pos = at + sep.size())
      parts.push_back(s.substr(pos, at - pos));
    parts.push_back(s.substr(pos));
    return parts;
  };
  for (const auto& alt : split(e, "||")) {
    std::vector<Cond> ands;
    for (const auto& c : split(alt, "&&")) {
      std::string_view cs = trim(c);
      static const char* const ops[] = {"==", "!=", "<=", ">=", "<", ">", "~"};
      size_t at = std::string_view::npos;
      std::string op;
      for (const char* o : ops) {
        size_t p = cs.find(o);
        if (p != std::string_view::npos && (at == std::string_view::npos || p < at)) at = p, op = o;
      }
      if (at == std::string_view::npos || at == 0)
        return core::Status::error(EINVAL, "filter '" + std::string(cs) + "': expected FIELD OP VALUE "
                                                                           "(OP: == != < <= > >= ~)");
      std::string name(trim(cs.substr(0, at)));
      std::string value(trim(cs.substr(at + op.size())));
      if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front())
        value = value.substr(1, value.size() - 2);
      const Field* field = fmt.find(name);
      if (!field) {
        std::string names;
        for (const auto& fl : fmt.fields)
          if (!fl.common) names += (names.empty() ? "" : ", ") + fl.name;
        return core::Status::error(EINVAL, "filter: no field '" + name + "' in " + fmt.category + ":" + fmt.name +
                                               " (fields: " + names + ")");
      }
      Cond cond{field, op, value};
      bool str_field = field->string || field->data_loc || field->array;
      if (!str_field) {
        char* end = nullptr;
        errno = 0;
        if (field->is_signed)
          cond.num = strtoll(value.c_str(), &end, 0);
        else
          cond.unum = value.starts_with("-") ? (errno = ERANGE, 0) : strtoull(value.c_str(), &end, 0);
        if (value.empty() || !end || *end || errno)
          return core::Status::error(EINVAL, "filter: '" + value + "' is not a number (field " + name + " is " +
                                                 field->type + ")");
        cond.numeric = true;
        if (op == "~") return core::Status::error(EINVAL, "filter: ~ (glob) is for string fields; " + name + " is a number");
      }
      ands.push_back(std::move(cond));
    }
    f.ors_.push_back(std::move(ands));
  }
  *out = std::move(f);
  return {};
}

bool Filter::matches(const uint8_t* rec, size_t len) const {
  if (ors_.empty()) return true;
  for (const auto& ands : ors_) {
    bool all = true;
    for (const auto& c : ands) {
      Value v;
      if (!field_value(*c.field, rec, len, &v)) {
        all = false;
        break;
      }
      int cmp;
      if (c.numeric && c.field->is_signed) {
        cmp = v.i < c.num ? -1 : v.i > c.num ? 1 : 0;
      } else if (c.numeric) {
        cmp = v.u < c.unum ? -1 : v.u > c.unum ? 1 : 0;
      } else if (c.op == "~") {
        cmp = symbols::glob_match(c.value, v.text) ? 0 : 1;
      } else {
        cmp = v.text.compare(c.value);
        cmp = cmp < 0 ? -1 : cmp > 0 ? 1 : 0;
      }
      bool ok = c.op == "==" || c.op == "~" ? cmp == 0
                : c.op == "!="              ? cmp != 0
                : c.op == "<"               ? cmp < 0
                : c.op == "<="              ? cmp <= 0
                : c.op == ">"               ? cmp > 0
                                            : cmp >= 0;
      if (!ok) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}

}  // namespace sightline::tracepoint
