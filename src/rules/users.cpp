#include "rules/users.h"

#include <pwd.h>

#include <charconv>
#include <fstream>
#include <sstream>

#include "core/files.h"

namespace sightline::rules {

std::string passwd_name(std::string_view passwd, uint32_t uid) {
  while (!passwd.empty()) {
    size_t nl = passwd.find('\n');
    std::string_view line = passwd.substr(0, nl);
    passwd = nl == std::string_view::npos ? std::string_view() : passwd.substr(nl + 1);
    size_t c1 = line.find(':');
    size_t c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos || c1 == 0 || line[0] == '#') continue;
    size_t c3 = line.find(':', c2 + 1);
    std::string_view field = line.substr(c2 + 1, c3 == std::string_view::npos ? std::string_view::npos : c3 - c2 - 1);
    uint32_t v = 0;
    auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
    if (ec == std::errc() && end == field.data() + field.size() && !field.empty() && v == uid)
      return std::string(line.substr(0, c1));
  }
  return {};
}

std::string UserNames::name(uint32_t uid, uint32_t pid, std::string_view container_id) {
  auto key = std::make_pair(std::string(container_id), uid);
  if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  std::string name;
  if (container_id.empty()) {
    passwd pw, *res = nullptr;
    char buf[1024];
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res) name = res->pw_name;
  } else {
    int err = 0;
    std::string text = core::read_file(proc_ + "/" + std::to_string(pid) + "/root/etc/passwd", 4u << 20, &err);
    if (err) return {};  // gone, or no passwd: not cached, the next event may tell
    name = passwd_name(text, uid);
  }
  if (cache_.size() >= kMaxEntries) cache_.clear();
  cache_.emplace(std::move(key), name);
  return name;
}

}  // namespace sightline::rules
