#include "rules/baseline.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "core/render.h"

namespace sightline::rules {

namespace {
constexpr const char* kNames[] = {"executable", "write_dir", "outbound", "listen_port", "syscall"};

// The kind of a security-relevant syscall: what a profile keeps of it.
std::string_view syscall_category(std::string_view name) {
  static const std::pair<const char*, const char*> kCats[] = {
      {"ptrace", "ptrace"}, {"process_vm_readv", "ptrace"}, {"process_vm_writev", "ptrace"}, {"bpf", "bpf"},
      {"init_module", "modules"}, {"finit_module", "modules"}, {"delete_module", "modules"},
      {"kexec_load", "modules"}, {"kexec_file_load", "modules"}, {"mount", "mount"}, {"umount", "mount"},
      {"pivot_root", "mount"}, {"chroot", "mount"}, {"setns", "namespaces"}, {"unshare", "namespaces"},
      {"clone", "namespaces"}, {"clone3", "namespaces"}, {"setuid", "privileges"}, {"setgid", "privileges"},
      {"setreuid", "privileges"}, {"setregid", "privileges"}, {"setresuid", "privileges"},
      {"setresgid", "privileges"}, {"capset", "privileges"}, {"chmod", "permissions"}, {"fchmod", "permissions"},
      {"fchmodat", "permissions"}, {"chown", "permissions"}, {"lchown", "permissions"}, {"fchownat", "permissions"},
      {"unlink", "file_removal"}, {"unlinkat", "file_removal"}, {"rename", "file_removal"},
      {"renameat", "file_removal"}, {"renameat2", "file_removal"}, {"symlink", "links"}, {"symlinkat", "links"},
      {"link", "links"}, {"linkat", "links"}, {"memfd_create", "memfd"}, {"open_by_handle_at", "open_by_handle"},
      {"userfaultfd", "userfaultfd"}, {"connect", "network"}, {"accept", "network"}, {"accept4", "network"},
      {"socket", "packet_socket"}, {"dup", "stdio_socket"}, {"dup2", "stdio_socket"}, {"dup3", "stdio_socket"}};
  for (const auto& [n, c] : kCats)
    if (name == n) return c;
  return name;
}
constexpr uint64_t kOpenWriteFlags = 01 | 02 | 0100 | 01000;  // O_WRONLY O_RDWR O_CREAT O_TRUNC

// The event's category and value; false when it says nothing the profile keeps.
bool categorize(const core::Event& e, int* cat, std::string* value) {
  switch (e.kind) {
    case core::EventKind::kExec:
      if (e.ret != 0 || e.path.empty()) return false;
      *cat = 0;
      *value = std::string(e.path);
      return true;
    case core::EventKind::kOpen: {
      if (e.ret < 0 || !(e.flags & kOpenWriteFlags) || e.path.empty() || e.path[0] != '/') return false;
      size_t slash = e.path.rfind('/');
      *cat = 1;
      *value = slash == 0 ? "/" : std::string(e.path.substr(0, slash));
      return true;
    }
    case core::EventKind::kTcp:
      if (e.role == 1) {  // client: where it connected
        *cat = 2;
        *value = std::string(e.rname.empty() ? e.raddr : e.rname) + ":" + std::to_string(e.rport);
        return !e.raddr.empty();
      }
      if (e.role == 2) {  // server: the port it accepted on
        *cat = 3;
        *value = std::to_string(e.lport);
        return true;
      }
      return false;
    case core::EventKind::kSyscall:
      if (e.sys_name.empty()) return false;
      *cat = 4;
      *value = std::string(syscall_category(e.sys_name));
      return true;
    default:
      return false;
  }
}

std::string most_seen(const std::map<std::string, uint64_t>& seen) {
  std::vector<std::pair<uint64_t, std::string>> v;
  for (const auto& [k, n] : seen) v.push_back({n, k});
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  std::string out;
  for (size_t i = 0; i < v.size() && i < 3; i++)
    out += (i ? ", " : "") + v[i].second + " (" + std::to_string(v[i].first) + ")";
  return out;
}
}  // namespace

Baseline::Baseline(BaselineOptions o, std::function<std::string(uint32_t)> parent_exe)
    : o_(o), parent_exe_(std::move(parent_exe)) {}

bool Baseline::observe(const core::Event& e, uint64_t now_ns, Deviation* out) {
  int cat;
  std::string value;
  if (!categorize(e, &cat, &value)) return false;
  // An exec belongs to the program that ran it: the new image is not yet anyone's workload.
  std::string key = !e.container_id.empty()            ? "container:" + std::string(e.container_id)
                    : e.kind == core::EventKind::kExec ? (parent_exe_ ? parent_exe_(e.ppid) : std::string())
                                                       : std::string(e.exe);
  if (key.empty()) return false;
  auto it = w_.find(key);
  if (it == w_.end()) {
    if (w_.size() >= o_.max_workloads || bytes_ + key.size() + 512 > o_.max_bytes) {
      dropped_++;
      return false;
    }
    bytes_ += key.size() + 512;  // the entry, its node and its four empty sets
    it = w_.emplace(key, Workload{}).first;
    it->second.first_ns = now_ns;
  }
  Workload& w = it->second;
  Set& s = w.sets[cat];
  const bool learning = now_ns < w.first_ns + o_.window_ns;
  auto known = s.seen.find(value);
  if (known != s.seen.end()) {
    known->second++;
    return false;
  }
  if (learning) {
    if (s.seen.size() >= o_.max_items || bytes_ + value.size() + 80 > o_.max_bytes) {
      s.overflow = w.unsettled = true;
      return false;
    }
    bytes_ += value.size() + 80;  // the string and its map node
    s.seen.emplace(value, 1);
    return false;
  }
  if (w.unsettled) {  // reported once, then quiet
    if (w.unsettled_reported) return false;
    w.unsettled_reported = true;
    std::string cats;
    for (int c = 0; c < kCategories; c++)
      if (w.sets[c].overflow) cats += (cats.empty() ? "" : ", ") + std::string(kNames[c]);
    *out = Deviation{key, kNames[cat], cats, s.seen.size(), "", true};
    return true;
  }
  *out = Deviation{key, kNames[cat], value, s.seen.size(), most_seen(s.seen), false};
  if (s.seen.size() < o_.max_items && bytes_ + value.size() + 80 <= o_.max_bytes) {  // reported once
    bytes_ += value.size() + 80;
    s.seen.emplace(value, 1);
  }
  return true;
}

std::string Baseline::json(uint64_t now_ns) const {
  std::map<std::string, const Workload*> sorted;
  for (const auto& [k, w] : w_) sorted[k] = &w;
  std::string j = "{\"window_s\":" + std::to_string(o_.window_ns / 1000000000ULL) + ",\"workloads_dropped\":" +
                  std::to_string(dropped_) + ",\"workloads\":[";
  bool first = true;
  for (const auto& [k, w] : sorted) {
    j += first ? "" : ",";
    first = false;
    j += "{\"workload\":";
    core::append_json_string(j, k);
    j += ",\"learning\":" + std::string(now_ns < w->first_ns + o_.window_ns ? "true" : "false");
    j += ",\"age_s\":" + std::to_string((now_ns > w->first_ns ? now_ns - w->first_ns : 0) / 1000000000ULL);
    j += ",\"unsettled\":" + std::string(w->unsettled ? "true" : "false");
    for (int c = 0; c < kCategories; c++) {
      j += ",\"" + std::string(kNames[c]) + "\":{";
      bool f = true;
      for (const auto& [v, n] : w->sets[c].seen) {
        j += f ? "" : ",";
        f = false;
        core::append_json_string(j, v);
        j += ":" + std::to_string(n);
      }
      j += "}";
    }
    j += "}";
  }
  return j + "]}";
}

core::Status Baseline::load(std::string_view text, uint64_t now_ns, size_t* loaded) {
  *loaded = 0;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return core::Status::error(EINVAL, "baseline: not JSON: " + e.msg);
  }
  YAML::Node ws = root["workloads"];
  if (!ws || !ws.IsSequence()) return core::Status::error(EINVAL, "baseline: no 'workloads' list");
  try {
    for (const auto& item : ws) {
      if (!item.IsMap() || !item["workload"] || !item["workload"].IsScalar()) continue;
      std::string key = item["workload"].Scalar();
      if (w_.count(key)) continue;  // what this run learnt already stays
      if (w_.size() >= o_.max_workloads || bytes_ + key.size() + 512 > o_.max_bytes) {
        dropped_++;
        continue;
      }
      Workload w;
      uint64_t age_ns = (item["age_s"] ? item["age_s"].as<uint64_t>() : 0) * 1000000000ULL;
      if (item["learning"] && !item["learning"].as<bool>()) age_ns = std::max(age_ns, o_.window_ns);
      w.first_ns = now_ns > age_ns ? now_ns - age_ns : 0;
      w.unsettled = item["unsettled"] && item["unsettled"].as<bool>();
      size_t bytes = key.size() + 512;
      for (int c = 0; c < kCategories; c++) {
        YAML::Node vals = item[kNames[c]];
        if (!vals || !vals.IsMap()) continue;
        for (const auto& kv : vals) {
          std::string v = kv.first.Scalar();
          if (w.sets[c].seen.size() >= o_.max_items || bytes_ + bytes + v.size() + 80 > o_.max_bytes) {
            w.sets[c].overflow = true;
            break;
          }
          bytes += v.size() + 80;
          w.sets[c].seen.emplace(std::move(v), kv.second.as<uint64_t>());
        }
      }
      bytes_ += bytes;
      w_.emplace(std::move(key), std::move(w));
      ++*loaded;
    }
  } catch (const YAML::Exception& e) {
    return core::Status::error(EINVAL, "baseline: " + e.msg);
  }
  return {};
}

}  // namespace sightline::rules
