#include "core/cgroups.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/clock.h"

namespace sightline::core {

std::string container_id_from_path(std::string_view path) {
  // Scan components from the innermost outwards; the first with a 64-hex id wins.
  while (!path.empty()) {
    size_t slash = path.rfind('/');
    std::string_view comp = slash == std::string_view::npos ? path : path.substr(slash + 1);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
    if (comp.ends_with(".scope")) comp.remove_suffix(6);
    size_t dash = comp.rfind('-');
    std::string_view id = dash == std::string_view::npos ? comp : comp.substr(dash + 1);
    if (id.size() != 64) continue;
    bool hex = true;
    for (char c : id) hex = hex && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    if (hex) return std::string(id.substr(0, 12));
  }
  return {};
}

std::string cgroup2_mount(const std::string& mounts_file) {
  std::ifstream in(mounts_file);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string dev, dir, type;
    ls >> dev >> dir >> type;
    if (type == "cgroup2") return dir;
  }
  return {};
}

CgroupResolver::CgroupResolver(std::string root) : root_(std::move(root)) {}

void CgroupResolver::rescan_locked() {
  uint64_t now = now_boot_ns();
  if (root_.empty() || (last_scan_ns_ && now - last_scan_ns_ < 1000000000ULL)) return;
  last_scan_ns_ = now;
  rescans_++;
  paths_.clear();
  std::error_code ec;
  struct stat st;
  if (stat(root_.c_str(), &st) == 0) paths_[st.st_ino].assign(1, '/');
  namespace fs = std::filesystem;
  for (auto it = fs::recursive_directory_iterator(root_, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (paths_.size() >= kMaxCgroups) break;
    if (!it->is_directory(ec) || it->is_symlink(ec)) {
      continue;
    }
    if (stat(it->path().c_str(), &st) != 0) continue;
    paths_[st.st_ino] = it->path().string().substr(root_.size());
  }
}

std::string CgroupResolver::path(uint64_t cgroup_id) {
  std::lock_guard lock(mu_);
  auto it = paths_.find(cgroup_id);
  if (it == paths_.end()) {
    rescan_locked();
    it = paths_.find(cgroup_id);
    if (it == paths_.end()) return {};
  }
  return it->second;
}

std::string CgroupResolver::container_id(uint64_t cgroup_id) {
  return container_id_from_path(path(cgroup_id));
}

}  // namespace sightline::core
