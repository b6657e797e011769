#include "core/syscalls.h"

#include <charconv>
#include <cstring>

namespace sightline::core {
namespace {
struct Entry {
  uint32_t nr;
  const char* name;
};
constexpr Entry kTable[] = {
#include "syscall_names.inc"
};
}  // namespace

std::string_view syscall_name(uint32_t nr) {
  // The table is sorted by number in the header; a direct index covers x86-64 and arm64.
  static const auto* by_nr = [] {
    static std::string_view names[1024];
    for (const auto& e : kTable)
      if (e.nr < 1024) names[e.nr] = e.name;
    return names;
  }();
  if (nr < 1024 && !by_nr[nr].empty()) return by_nr[nr];
  thread_local char buf[32] = "syscall_";
  auto r = std::to_chars(buf + 8, buf + sizeof buf - 1, nr);
  return std::string_view(buf, r.ptr - buf);
}

int syscall_number(std::string_view name) {
  for (const auto& e : kTable)
    if (name == e.name) return static_cast<int>(e.nr);
  return -1;
}

}  // namespace sightline::core
