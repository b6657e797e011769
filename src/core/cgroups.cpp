#include "core/cgroups.h"

#include <sys/stat.h>

#include <cstring>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/clock.h"

namespace sightline::core {

namespace {
bool all_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}
}  // namespace

ContainerInfo container_info_from_path(std::string_view path) {
  ContainerInfo info;
  info.id = container_id_from_path(path);
  // Components from the root inwards: kubepods, its QoS class, the pod, the runtime's scope.
  bool kube = false;
  std::string_view rest = path;
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string_view comp = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (comp.empty()) continue;
    std::string_view c = comp;
    if (c.ends_with(".slice")) c.remove_suffix(6);
    if (c.ends_with(".scope")) c.remove_suffix(6);
    if (c == "kubepods" || c.starts_with("kubepods-") || c == "kubepods.slice") kube = true;
    if (kube) {
      for (std::string_view q : {"burstable", "besteffort", "guaranteed"})
        if (c == q || c.ends_with("-" + std::string(q))) info.qos = q;
      size_t pod = c.rfind("pod");
      if (pod != std::string_view::npos && (pod == 0 || c[pod - 1] == '-')) {
        std::string uid(c.substr(pod + 3));
        for (auto& ch : uid)
          if (ch == '_') ch = '-';  // the systemd driver writes the uid's dashes as _
        if (uid.size() >= 8 && uid.find_first_not_of("0123456789abcdef-") == std::string::npos) info.pod_uid = uid;
      }
    }
    for (auto [prefix, runtime] : {std::pair{"docker-", "docker"}, std::pair{"cri-containerd-", "containerd"},
                                   std::pair{"crio-", "crio"}, std::pair{"libpod-", "podman"}})
      if (c.starts_with(prefix) && c.size() == strlen(prefix) + 64 && all_hex(c.substr(strlen(prefix))))
        info.runtime = runtime;
    if (c == "docker" && !rest.empty()) info.runtime = "docker";  // cgroupfs driver: /docker/<id>
  }
  if (!info.pod_uid.empty() && info.qos.empty()) info.qos = "guaranteed";  // no QoS level in its path
  return info;
}

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

std::shared_ptr<const ContainerInfo> CgroupResolver::container(uint64_t cgroup_id) {
  {
    std::lock_guard lock(mu_);
    if (auto it = containers_.find(cgroup_id); it != containers_.end()) return it->second;
  }
  std::string p = path(cgroup_id);
  std::shared_ptr<const ContainerInfo> info;
  if (ContainerInfo c = container_info_from_path(p); !c.id.empty())
    info = std::make_shared<const ContainerInfo>(std::move(c));
  std::lock_guard lock(mu_);
  if (p.empty()) return info;  // unknown yet: ask again next time
  if (containers_.size() >= kMaxCgroups) containers_.clear();
  containers_[cgroup_id] = info;
  return info;
}

}  // namespace sightline::core
