// user.name for rules: the name of a uid as the process itself sees it. A process in a
// container has its own /etc/passwd (read through /proc/PID/root), the host's users are not
// its users; on the host the C library's lookup (NSS) applies.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

namespace sightline::rules {

// The name of `uid` in the text of a passwd(5) file; empty if it has none. Lines that are not
// name:x:uid:... are skipped.
std::string passwd_name(std::string_view passwd, uint32_t uid);

class UserNames {
 public:
  // `proc_root`: where /proc is (tests point it elsewhere).
  explicit UserNames(std::string proc_root = "/proc") : proc_(std::move(proc_root)) {}
  // The name of `uid` for process `pid`; `container_id` empty: a host process.
  std::string name(uint32_t uid, uint32_t pid, std::string_view container_id);

 private:
  // (container id, uid) -> name. Bounded: cleared when full (names are re-read, never wrong).
  static constexpr size_t kMaxEntries = 4096;
  std::string proc_;
  std::map<std::pair<std::string, uint32_t>, std::string, std::less<>> cache_;
};

}  // namespace sightline::rules
