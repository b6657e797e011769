#include "core/render.h"

#include <fcntl.h>
#include <time.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace sightline::core {
namespace {

void append_int(std::string& out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}
void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}
void append_pad(std::string& out, uint64_t v, int width) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  for (int n = static_cast<int>(r.ptr - buf); n < width; n++) out.push_back('0');
  out.append(buf, r.ptr);
}

// Formatting a timestamp is mostly the same second over and over: cache its text.
struct SecondCache {
  int64_t sec = -1;
  char text[40];
  size_t len = 0;
};

void format_second(SecondCache& c, int64_t sec, bool utc) {
  if (c.sec == sec) return;
  struct tm tm;
  time_t t = static_cast<time_t>(sec);
  if (utc)
    gmtime_r(&t, &tm);
  else
    localtime_r(&t, &tm);
  c.len = strftime(c.text, sizeof c.text, utc ? "%Y-%m-%dT%H:%M:%S" : "%H:%M:%S", &tm);
  c.sec = sec;
}

void append_argv(std::string& out, std::string_view args, bool json) {
  if (json) out.push_back('[');
  bool first = true;
  while (!args.empty()) {
    size_t end = args.find('\0');
    std::string_view a = args.substr(0, end);
    if (!first) out.push_back(json ? ',' : ' ');
    first = false;
    if (json)
      append_json_string(out, a);
    else
      append_shell_quoted(out, a);
    if (end == std::string_view::npos) break;
    args.remove_prefix(end + 1);
  }
  if (json) out.push_back(']');
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out.append("\\u00");
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(static_cast<char>(c));  // UTF-8 passes through
        }
    }
  }
  out.push_back('"');
}

std::string_view errno_name(int err) {
  if (const char* name = strerrorname_np(err)) return name;  // glibc 2.32+: every errno
  thread_local char buf[16];
  buf[0] = 'E';
  auto r = std::to_chars(buf + 1, buf + sizeof buf - 1, err);
  return std::string_view(buf, r.ptr - buf);
}

// The kernel sets O_LARGEFILE on 64-bit opens, but 64-bit libcs define it as 0: use the
// kernel's own value for this architecture.
#if defined(__aarch64__)
constexpr uint64_t kKernelLargefile = 0400000;
#else
constexpr uint64_t kKernelLargefile = 0100000;
#endif

void append_open_flags(std::string& out, uint64_t flags) {
  switch (flags & O_ACCMODE) {
    case O_RDONLY: out.append("O_RDONLY"); break;
    case O_WRONLY: out.append("O_WRONLY"); break;
    case O_RDWR: out.append("O_RDWR"); break;
    default: out.append("O_ACCMODE"); break;
  }
  static constexpr struct {
    uint64_t bit;
    const char* name;
  } kBits[] = {
      {O_CREAT, "O_CREAT"},       {O_EXCL, "O_EXCL"},         {O_NOCTTY, "O_NOCTTY"},
      {O_TRUNC, "O_TRUNC"},       {O_APPEND, "O_APPEND"},     {O_NONBLOCK, "O_NONBLOCK"},
      {O_DSYNC, "O_DSYNC"},       {O_DIRECT, "O_DIRECT"},     {kKernelLargefile, "O_LARGEFILE"},
      {O_DIRECTORY, "O_DIRECTORY"}, {O_NOFOLLOW, "O_NOFOLLOW"}, {O_NOATIME, "O_NOATIME"},
      {O_CLOEXEC, "O_CLOEXEC"},   {O_SYNC & ~O_DSYNC, "O_SYNC"},       {O_PATH, "O_PATH"},
      {O_TMPFILE & ~O_DIRECTORY, "O_TMPFILE"},
  };
  uint64_t rest = flags & ~static_cast<uint64_t>(O_ACCMODE);
  for (const auto& b : kBits) {
    if (b.bit && (rest & b.bit) == b.bit) {
      out.push_back('|');
      out.append(b.name);
      rest &= ~b.bit;
    }
  }
  if (rest) {
    char buf[24];
    out.append("|0x");
    auto r = std::to_chars(buf, buf + sizeof buf, rest, 16);
    out.append(buf, r.ptr);
  }
}

void append_rfc3339(std::string& out, uint64_t wall_ns) {
  thread_local SecondCache cache;
  format_second(cache, static_cast<int64_t>(wall_ns / 1000000000), true);
  out.append(cache.text, cache.len);
  out.push_back('.');
  append_pad(out, wall_ns % 1000000000, 9);
  out.push_back('Z');
}

void append_duration(std::string& out, uint64_t ns) {
  char buf[32];
  int n;
  if (ns < 1000)
    n = snprintf(buf, sizeof buf, "%lluns", static_cast<unsigned long long>(ns));
  else if (ns < 1000000)
    n = snprintf(buf, sizeof buf, "%.1fus", ns / 1e3);
  else if (ns < 1000000000)
    n = snprintf(buf, sizeof buf, "%.1fms", ns / 1e6);
  else if (ns < 60 * 1000000000ULL)
    n = snprintf(buf, sizeof buf, "%.3fs", ns / 1e9);
  else
    n = snprintf(buf, sizeof buf, "%llum%02llus", static_cast<unsigned long long>(ns / 60000000000ULL),
                 static_cast<unsigned long long>(ns / 1000000000ULL % 60));
  out.append(buf, n);
}

void append_shell_quoted(std::string& out, std::string_view arg) {
  bool plain = !arg.empty();
  for (unsigned char c : arg) {
    if (!(isalnum(c) || strchr("-_./=:,+@%^", c) || c >= 0x80)) {
      plain = false;
      break;
    }
  }
  if (plain) {
    out.append(arg);
    return;
  }
  out.push_back('\'');
  for (unsigned char c : arg) {
    if (c == '\'')
      out.append("'\\''");
    else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\x%02x", c);
      out.append(buf);
    } else
      out.push_back(static_cast<char>(c));
  }
  out.push_back('\'');
}

void append_value_json(std::string& out, const Value& v) {
  switch (v.type) {
    case FieldType::kInt: append_int(out, v.i); break;
    case FieldType::kUint:
    case FieldType::kDuration:
    case FieldType::kOctal: append_uint(out, v.u); break;
    case FieldType::kString: append_json_string(out, v.s); break;
    case FieldType::kBool: out.append(v.b ? "true" : "false"); break;
    case FieldType::kTime:
      out.push_back('"');
      append_rfc3339(out, v.u);
      out.push_back('"');
      break;
    case FieldType::kArgv: append_argv(out, v.s, true); break;
    case FieldType::kOpenFlags: {
      out.push_back('"');
      append_open_flags(out, v.u);
      out.push_back('"');
      break;
    }
    case FieldType::kErrno:
      append_json_string(out, v.i < 0 ? errno_name(static_cast<int>(-v.i)) : "");
      break;
  }
}

void append_value_text(std::string& out, const Value& v) {
  switch (v.type) {
    case FieldType::kInt: append_int(out, v.i); break;
    case FieldType::kUint: append_uint(out, v.u); break;
    case FieldType::kString: out.append(v.s); break;
    case FieldType::kBool: out.append(v.b ? "yes" : "no"); break;
    case FieldType::kTime: {
      thread_local SecondCache cache;
      format_second(cache, static_cast<int64_t>(v.u / 1000000000), false);
      out.append(cache.text, cache.len);
      out.push_back('.');
      append_pad(out, v.u / 1000000 % 1000, 3);
      break;
    }
    case FieldType::kDuration: append_duration(out, v.u); break;
    case FieldType::kArgv: append_argv(out, v.s, false); break;
    case FieldType::kOpenFlags: append_open_flags(out, v.u); break;
    case FieldType::kErrno:
      if (v.i < 0) out.append(errno_name(static_cast<int>(-v.i)));
      break;
    case FieldType::kOctal: {
      char buf[16];
      auto r = std::to_chars(buf, buf + sizeof buf, v.u, 8);
      out.push_back('0');
      out.append(buf, r.ptr);
      break;
    }
  }
}

void append_event_json(std::string& out, const Event& e) {
  out.push_back('{');
  bool first = true;
  auto emit = [&](const FieldDef& f) {
    if (!first) out.push_back(',');
    first = false;
    out.push_back('"');
    out.append(f.name);
    out.append("\":");
    append_value_json(out, f.get(e));
  };
  for (const auto& f : common_fields()) emit(f);
  for (const auto& f : kind_def(e.kind).fields) emit(f);
  out.push_back('}');
}

}  // namespace sightline::core
