#include "core/units.h"

#include <cerrno>
#include <cstdint>

namespace sightline::core {

Status parse_duration(std::string_view text, uint64_t* seconds) {
  if (text.empty()) return Status::error(EINVAL, "empty duration");
  uint64_t n = 0;
  size_t i = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; i++) {
    if (n > (UINT64_MAX - 9) / 10) return Status::error(EINVAL, "'" + std::string(text) + "' is too large");
    n = n * 10 + static_cast<uint64_t>(text[i] - '0');
  }
  if (i == 0) return Status::error(EINVAL, "'" + std::string(text) + "' is not a duration (7d, 12h, 30m, 45s)");
  std::string_view unit = text.substr(i);
  uint64_t mul = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400
                 : unit == "w"                                                      ? 7 * 86400
                                                                                    : 0;
  if (!mul) return Status::error(EINVAL, "'" + std::string(text) + "': unit must be s, m, h, d or w");
  if (n > UINT64_MAX / mul) return Status::error(EINVAL, "'" + std::string(text) + "' is too large");
  *seconds = n * mul;
  return {};
}

Status parse_size(std::string_view text, uint64_t* bytes) {
  uint64_t n = 0;
  size_t i = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; i++) {
    if (n > (UINT64_MAX - 9) / 10) return Status::error(EINVAL, "'" + std::string(text) + "' is too large");
    n = n * 10 + static_cast<uint64_t>(text[i] - '0');
  }
  if (i == 0) return Status::error(EINVAL, "'" + std::string(text) + "' is not a size (1GiB, 512MiB, 100MB)");
  std::string_view u = text.substr(i);
  while (!u.empty() && u.front() == ' ') u.remove_prefix(1);
  struct {
    std::string_view name;
    uint64_t mul;
  } static constexpr units[] = {{"", 1},          {"B", 1},           {"KB", 1000},       {"KiB", 1024},
                                {"MB", 1000000},  {"MiB", 1 << 20},   {"GB", 1000000000}, {"GiB", 1ULL << 30},
                                {"TB", 1000000000000ULL}, {"TiB", 1ULL << 40}};
  for (const auto& un : units)
    if (u == un.name) {
      if (n > UINT64_MAX / un.mul) return Status::error(EINVAL, "'" + std::string(text) + "' is too large");
      *bytes = n * un.mul;
      return {};
    }
  return Status::error(EINVAL, "'" + std::string(text) + "': unit must be B, KB, KiB, MB, MiB, GB, GiB, TB or TiB");
}

}  // namespace sightline::core
