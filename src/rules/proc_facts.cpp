#include "rules/proc_facts.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/files.h"

namespace sightline::rules {

namespace {


std::string link(const std::string& path) {
  char buf[4096];
  ssize_t n = readlink(path.c_str(), buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// The value of "Key:\t..." in a /proc/PID/status text.
std::string_view status_value(std::string_view status, std::string_view key) {
  size_t at = 0;
  while (at < status.size()) {
    size_t nl = status.find('\n', at);
    std::string_view line = status.substr(at, nl == std::string_view::npos ? std::string_view::npos : nl - at);
    if (line.starts_with(key) && line.size() > key.size() && line[key.size()] == ':') {
      line.remove_prefix(key.size() + 1);
      while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
      return line;
    }
    if (nl == std::string_view::npos) break;
    at = nl + 1;
  }
  return {};
}

constexpr const char* kCaps[] = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"};


}  // namespace

std::string cap_names(uint64_t caps) {
  std::string out;
  for (unsigned b = 0; b < 64; b++) {
    if (!(caps >> b & 1)) continue;
    if (!out.empty()) out += ' ';
    out += b < std::size(kCaps) ? std::string(kCaps[b]) : "CAP_" + std::to_string(b);
  }
  return out;
}

std::string ptrace_request_name(uint64_t r) {
  static const std::pair<uint64_t, const char*> kNames[] = {
      {0, "PTRACE_TRACEME"},       {1, "PTRACE_PEEKTEXT"},      {2, "PTRACE_PEEKDATA"},      {3, "PTRACE_PEEKUSR"},
      {4, "PTRACE_POKETEXT"},      {5, "PTRACE_POKEDATA"},      {6, "PTRACE_POKEUSR"},       {7, "PTRACE_CONT"},
      {8, "PTRACE_KILL"},          {9, "PTRACE_SINGLESTEP"},    {12, "PTRACE_GETREGS"},      {13, "PTRACE_SETREGS"},
      {14, "PTRACE_GETFPREGS"},    {15, "PTRACE_SETFPREGS"},    {16, "PTRACE_ATTACH"},       {17, "PTRACE_DETACH"},
      {24, "PTRACE_SYSCALL"},      {0x4200, "PTRACE_SETOPTIONS"}, {0x4201, "PTRACE_GETEVENTMSG"},
      {0x4202, "PTRACE_GETSIGINFO"}, {0x4203, "PTRACE_SETSIGINFO"}, {0x4204, "PTRACE_GETREGSET"},
      {0x4205, "PTRACE_SETREGSET"}, {0x4206, "PTRACE_SEIZE"},     {0x4207, "PTRACE_INTERRUPT"},
      {0x4208, "PTRACE_LISTEN"}};
  for (const auto& [v, n] : kNames)
    if (v == r) return n;
  return "PTRACE_" + std::to_string(r);
}

std::string socket_domain_name(uint64_t d) {
  static const std::pair<uint64_t, const char*> kNames[] = {
      {1, "AF_UNIX"},  {2, "AF_INET"},    {10, "AF_INET6"}, {16, "AF_NETLINK"}, {17, "AF_PACKET"},
      {4, "AF_IPX"},   {5, "AF_APPLETALK"}, {15, "AF_KEY"}, {29, "AF_CAN"},     {31, "AF_BLUETOOTH"},
      {38, "AF_ALG"},  {40, "AF_VSOCK"},  {44, "AF_XDP"}};
  for (const auto& [v, n] : kNames)
    if (v == d) return n;
  return "AF_" + std::to_string(d);
}

std::string absolute_path(std::string_view base, std::string_view path) {
  std::vector<std::string_view> parts;
  auto walk = [&](std::string_view p) {
    while (!p.empty()) {
      size_t slash = p.find('/');
      std::string_view c = p.substr(0, slash);
      if (c == "..") {
        if (!parts.empty()) parts.pop_back();
      } else if (!c.empty() && c != ".") {
        parts.push_back(c);
      }
      if (slash == std::string_view::npos) break;
      p.remove_prefix(slash + 1);
    }
  };
  if (path.empty() || path[0] != '/') walk(base);
  walk(path);
  std::string out;
  for (auto c : parts) out.append("/").append(c);
  return out.empty() ? "/" : out;
}

bool overlay_upper_file(std::string_view mountinfo, std::string_view path, std::string* upper_file) {
  // "36 35 0:40 / /merged rw,relatime shared:1 - overlay overlay rw,lowerdir=..,upperdir=/u,workdir=.."
  size_t best_len = 0;
  bool found = false;
  std::istringstream in{std::string(mountinfo)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, devno, root, point;
    if (!(f >> id >> parent >> devno >> root >> point)) continue;
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype, source, opts;
    if (!(tail >> fstype >> source >> opts) || fstype != "overlay") continue;
    bool under = point == "/" || path == point || (path.starts_with(point) && path.size() > point.size() && path[point.size()] == '/');
    if (!under || point.size() < best_len) continue;
    size_t u = opts.find("upperdir=");
    if (u == std::string::npos) continue;
    std::string upper = opts.substr(u + 9, opts.find(',', u) == std::string::npos ? std::string::npos : opts.find(',', u) - u - 9);
    best_len = point.size();
    std::string_view rel = point == "/" ? path : path.substr(point.size());
    *upper_file = upper + std::string(rel);
    found = true;
  }
  return found;
}

std::string read_proc_file(const std::string& proc_root, uint32_t pid, ProcFile what, int arg) {
  std::string dir = proc_root + "/" + std::to_string(pid);
  switch (what) {
    case ProcFile::kCwd: return link(dir + "/cwd");
    case ProcFile::kFd: return link(dir + "/fd/" + std::to_string(arg));
    case ProcFile::kTty: {
      std::string stat = core::read_file(dir + "/stat", 4096);
      size_t close = stat.rfind(')');
      if (close == std::string::npos) return {};
      std::istringstream f(stat.substr(close + 1));
      std::string state, ppid, pgrp, session, tty;
      if (!(f >> state >> ppid >> pgrp >> session >> tty)) return {};
      return tty;
    }
    case ProcFile::kCapEffective:
    case ProcFile::kCapSysAdmin: {
      std::string status = core::read_file(dir + "/status", 1 << 16);
      std::string_view v = status_value(status, "CapEff");
      if (v.empty()) return {};
      uint64_t caps = strtoull(std::string(v).c_str(), nullptr, 16);
      if (what == ProcFile::kCapEffective) return cap_names(caps);
      return (caps >> 21 & 1) ? "true" : "false";  // CAP_SYS_ADMIN
    }
    case ProcFile::kLoginUid: {
      std::string s = core::read_file(dir + "/loginuid", 64);
      if (s.empty()) return {};
      unsigned long long v = strtoull(s.c_str(), nullptr, 10);
      return v == 4294967295ULL ? "-1" : std::to_string(v);
    }
    case ProcFile::kExeLink: return link(dir + "/exe");
    case ProcFile::kExeUpperLayer: {
      std::string exe = link(dir + "/exe");
      if (exe.empty()) return {};
      if (exe.ends_with(" (deleted)")) exe.resize(exe.size() - 10);
      std::string upper;
      if (!overlay_upper_file(core::read_file(dir + "/mountinfo", 1 << 20), exe, &upper)) return "false";
      struct stat st;
      return lstat(upper.c_str(), &st) == 0 ? "true" : "false";
    }
  }
  return {};
}

void split_image(std::string_view image, std::string* repository, std::string* tag) {
  repository->clear();
  tag->clear();
  if (size_t at = image.find('@'); at != std::string_view::npos) image = image.substr(0, at);
  size_t slash = image.rfind('/');
  size_t colon = image.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    *tag = std::string(image.substr(colon + 1));
    image = image.substr(0, colon);
  }
  *repository = std::string(image);
}

bool parse_docker_meta(std::string_view config_v2, std::string_view hostconfig, ContainerMeta* out) {
  bool any = false;
  try {
    if (!config_v2.empty()) {
      YAML::Node c = YAML::Load(std::string(config_v2));
      if (YAML::Node img = c["Config"]["Image"]; img && img.IsScalar()) out->image = img.Scalar(), any = true;
      if (YAML::Node l = c["Config"]["Labels"]; l && l.IsMap()) {
        if (l["io.kubernetes.pod.namespace"]) out->ns = l["io.kubernetes.pod.namespace"].Scalar();
        if (l["io.kubernetes.pod.name"]) out->pod = l["io.kubernetes.pod.name"].Scalar();
      }
    }
    if (!hostconfig.empty()) {
      YAML::Node h = YAML::Load(std::string(hostconfig));
      if (YAML::Node p = h["Privileged"]; p && p.IsScalar()) out->privileged = p.as<bool>() ? 1 : 0, any = true;
    }
  } catch (const YAML::Exception&) {
    return any;
  }
  return any;
}

bool parse_oci_meta(std::string_view config_json, ContainerMeta* out) {
  try {
    YAML::Node a = YAML::Load(std::string(config_json))["annotations"];
    if (!a || !a.IsMap()) return false;
    auto get = [&](const char* k, std::string* v) {
      if (YAML::Node n = a[k]; n && n.IsScalar() && v->empty()) *v = n.Scalar();
    };
    get("io.kubernetes.cri.image-name", &out->image);      // containerd
    get("io.kubernetes.cri-o.ImageName", &out->image);     // CRI-O
    get("org.opencontainers.image.ref.name", &out->image);
    get("io.kubernetes.cri.sandbox-namespace", &out->ns);  // containerd
    get("io.kubernetes.pod.namespace", &out->ns);          // CRI-O
    get("io.kubernetes.cri.sandbox-name", &out->pod);
    get("io.kubernetes.pod.name", &out->pod);
    return !out->image.empty() || !out->ns.empty();
  } catch (const YAML::Exception&) {
    return false;
  }
}

ContainerMeta ContainerMetaCache::load(std::string_view short_id) const {
  ContainerMeta m;
  // Directories named by the full 64-hex id: the one that starts with the short id.
  auto find = [&](const std::string& parent) -> std::string {
    DIR* d = opendir(parent.c_str());
    if (!d) return {};
    std::string hit;
    while (dirent* e = readdir(d))
      if (std::string_view(e->d_name).starts_with(short_id)) {
        hit = parent + "/" + e->d_name;
        break;
      }
    closedir(d);
    return hit;
  };
  if (std::string dir = find(root_ + "/var/lib/docker/containers"); !dir.empty())
    if (parse_docker_meta(core::read_file(dir + "/config.v2.json", 1 << 20), core::read_file(dir + "/hostconfig.json", 1 << 20), &m)) return m;
  for (const char* bundles : {"/run/containerd/io.containerd.runtime.v2.task/k8s.io",
                              "/run/containerd/io.containerd.runtime.v2.task/moby",
                              "/run/containerd/io.containerd.runtime.v2.task/default",
                              "/run/containers/storage/overlay-containers",
                              "/var/lib/containers/storage/overlay-containers"}) {
    std::string dir = find(root_ + bundles);
    if (dir.empty()) continue;
    std::string cfg = core::read_file(dir + "/config.json", 1 << 20);
    if (cfg.empty()) cfg = core::read_file(dir + "/userdata/config.json", 1 << 20);
    if (parse_oci_meta(cfg, &m)) return m;
  }
  return m;
}

ContainerMeta ContainerMetaCache::get(std::string_view short_id) {
  if (short_id.empty()) return {};
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(short_id); it != cache_.end()) return it->second;
  }
  ContainerMeta m = load(short_id);
  std::lock_guard lock(mu_);
  if (cache_.size() >= kMaxEntries) cache_.clear();  // bounded: start over
  cache_.emplace(std::string(short_id), m);
  return m;
}

}  // namespace sightline::rules
