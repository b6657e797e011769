// cgroup v2 ids (what bpf_get_current_cgroup_id returns) to cgroup paths and container ids.
// The id is the inode number of the cgroup's directory in the v2 hierarchy, so a walk of that
// hierarchy resolves it, without touching /proc/PID of a process that may be gone already.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sightline::core {

// What a cgroup path tells of the container and Kubernetes pod a process runs in.
struct ContainerInfo {
  std::string id;       // 12-hex short id of the innermost container
  std::string runtime;  // docker, containerd, crio, podman; empty when the path does not say
  std::string pod_uid;  // Kubernetes pod uid (kubepods paths), with dashes
  std::string qos;      // guaranteed, burstable, besteffort (kubepods paths)
};
// Parses the shapes containerd, CRI-O, Docker and podman give cgroups under the systemd and
// cgroupfs drivers: /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/
// cri-containerd-<id>.scope, /kubepods/besteffort/pod<uid>/<id>, /system.slice/docker-<id>.scope ...
ContainerInfo container_info_from_path(std::string_view cgroup_path);

// "docker-<64 hex>.scope", "/docker/<64 hex>", "cri-containerd-<64 hex>.scope", "crio-...",
// "libpod-...", kubepods paths: the 12-hex short id of the innermost container, or empty.
std::string container_id_from_path(std::string_view cgroup_path);

// Where the cgroup v2 hierarchy is mounted: /sys/fs/cgroup on unified hosts,
// /sys/fs/cgroup/unified on hybrid ones; empty if none.
std::string cgroup2_mount(const std::string& mounts_file = "/proc/mounts");

class CgroupResolver {
 public:
  // Bounds the cache; a walk never records more than this many cgroups.
  static constexpr size_t kMaxCgroups = 16384;
  explicit CgroupResolver(std::string root = cgroup2_mount());

  // Path relative to the v2 root ("/system.slice/x.service"); empty if unknown. A miss rescans
  // the hierarchy, at most once per second.
  std::string path(uint64_t cgroup_id);
  std::string container_id(uint64_t cgroup_id);
  // The container of a cgroup, cached; nullptr on the host.
  std::shared_ptr<const ContainerInfo> container(uint64_t cgroup_id);
  uint64_t rescans() const { return rescans_; }

 private:
  void rescan_locked();
  std::string root_;
  std::mutex mu_;
  std::unordered_map<uint64_t, std::string> paths_;
  std::unordered_map<uint64_t, std::shared_ptr<const ContainerInfo>> containers_;
  uint64_t last_scan_ns_ = 0;
  uint64_t rescans_ = 0;
};

}  // namespace sightline::core
