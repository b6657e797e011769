#include "core/process_table.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/cgroups.h"
#include "core/files.h"

namespace sightline::core {
namespace {


// Fills comm, ppid and start time from /proc/PID/stat: "pid (comm) S ppid ... starttime(22)".
bool parse_stat(const std::string& stat, ProcessInfo& p) {
  size_t open = stat.find('('), close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return false;
  p.comm = stat.substr(open + 1, close - open - 1);
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  for (int i = 3; rest >> field; i++) {
    if (i == 4) p.ppid = static_cast<uint32_t>(std::strtoul(field.c_str(), nullptr, 10));
    if (i == 22) {
      static const long hz = sysconf(_SC_CLK_TCK);
      p.start_boot_ns = std::strtoull(field.c_str(), nullptr, 10) * (1000000000ULL / hz);
      return true;
    }
  }
  return false;
}

}  // namespace

std::shared_ptr<const ContainerInfo> ProcessTable::container_of(uint64_t cgroup_id) {
  return resolver_ && cgroup_id ? resolver_(cgroup_id) : nullptr;
}

ProcessInfo* ProcessTable::insert(uint32_t pid) {
  auto it = procs_.find(pid);
  if (it != procs_.end()) return &it->second;
  if (full()) {
    sweep(~0ULL >> 1);  // make room from the exited ones, if any
    if (full()) {
      overflows_.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
  }
  ProcessInfo& p = procs_[pid];
  p.pid = pid;
  size_.store(procs_.size(), std::memory_order_relaxed);
  bytes_.fetch_add(cost(p), std::memory_order_relaxed);
  return &p;
}

void ProcessTable::recharge(const ProcessInfo& p, size_t before) {
  bytes_.store(bytes() - before + cost(p), std::memory_order_relaxed);
}

namespace {
// What /proc/PID (dir) says of a process; false when it is gone.
bool load_from_proc(const std::string& dir, const std::string& cg_root, ProcessInfo* info) {
  if (!parse_stat(read_file(dir + "/stat", 4096), *info)) return false;
  std::istringstream status(read_file(dir + "/status", 65536));
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("Uid:")) info->uid = static_cast<uint32_t>(std::strtoul(line.c_str() + 4, nullptr, 10));
    if (line.starts_with("Gid:")) info->gid = static_cast<uint32_t>(std::strtoul(line.c_str() + 4, nullptr, 10));
  }
  info->args = read_file(dir + "/cmdline", 4096);
  char exe[4096];
  ssize_t len = readlink((dir + "/exe").c_str(), exe, sizeof exe);
  if (len > 0) info->exe.assign(exe, static_cast<size_t>(len));
  std::istringstream cg(read_file(dir + "/cgroup", 65536));
  for (std::string line; std::getline(cg, line);) {
    if (!line.starts_with("0::")) continue;
    std::string rel = line.substr(3);
    if (ContainerInfo c = container_info_from_path(rel); !c.id.empty())
      info->container = std::make_shared<const ContainerInfo>(std::move(c));
    struct stat st;
    if (!cg_root.empty() && stat((cg_root + rel).c_str(), &st) == 0) info->cgroup_id = st.st_ino;
  }
  return true;
}
}  // namespace

size_t ProcessTable::seed_from_proc(const std::string& proc_root) {
  DIR* d = opendir(proc_root.c_str());
  if (!d) return 0;
  std::string cg_root = cgroup2_mount(proc_root + "/mounts");
  proc_root_ = proc_root;
  cg_root_ = cg_root;
  size_t n = 0;
  while (struct dirent* de = readdir(d)) {
    char* end;
    unsigned long pid = std::strtoul(de->d_name, &end, 10);
    if (*end || pid == 0) continue;
    ProcessInfo info;
    if (!load_from_proc(proc_root + "/" + de->d_name, cg_root, &info)) continue;
    if (ProcessInfo* p = insert(static_cast<uint32_t>(pid))) {
      info.pid = p->pid;
      size_t before = cost(*p);
      *p = std::move(info);
      recharge(*p, before);
      n++;
    }
  }
  closedir(d);
  return n;
}

void ProcessTable::load_parent(uint32_t ppid) {
  // A parent forked after seeding whose fork was not seen (fork events off, or lost): while it
  // lives, /proc knows it (a PostgreSQL backend that runs a shell, say).
  if (proc_root_.empty()) return;  // not seeded from /proc: nothing to ask
  ProcessInfo info;
  if (!load_from_proc(proc_root_ + "/" + std::to_string(ppid), cg_root_, &info)) return;
  if (ProcessInfo* p = insert(ppid)) {
    info.pid = ppid;
    size_t before = cost(*p);
    *p = std::move(info);
    recharge(*p, before);
  }
}

ProcessInfo* ProcessTable::from_event(const Event& e) {
  bool fresh = procs_.find(e.pid) == procs_.end();
  ProcessInfo* p = insert(e.pid);
  if (p && fresh) {
    size_t before = cost(*p);
    p->ppid = e.ppid;
    p->uid = e.uid;
    p->gid = e.gid;
    p->comm.assign(e.comm);
    p->cgroup_id = e.cgroup_id;
    p->container = container_of(e.cgroup_id);
    // First sight of a process started after seeding whose exec we did not see (the process
    // source is off, or it was lost): it is most likely still alive, so ask /proc once.
    char link[64], exe[4096];
    snprintf(link, sizeof link, "/proc/%u/exe", e.pid);
    ssize_t len = readlink(link, exe, sizeof exe);
    if (len > 0) p->exe.assign(exe, static_cast<size_t>(len));
    recharge(*p, before);
  }
  return p;
}

void ProcessTable::observe(Event& e) {
  if (e.pid == 0) return;  // no owning process (a connection accepted and closed by the kernel)
  ProcessInfo* p = from_event(e);
  switch (e.kind) {
    case EventKind::kExec:
      if (p && e.ret == 0) {
        size_t before = cost(*p);
        p->forked_only = false;
        p->comm.assign(e.comm);
        p->exe.assign(e.path);
        p->args.assign(e.args);
        p->uid = e.uid;
        p->gid = e.gid;
        p->ppid = e.ppid;
        if (p->cgroup_id != e.cgroup_id) {
          p->cgroup_id = e.cgroup_id;
          p->container = container_of(e.cgroup_id);
        }
        recharge(*p, before);
      }
      break;
    case EventKind::kFork: {
      ProcessInfo parent = p ? *p : ProcessInfo{};
      if (ProcessInfo* c = insert(e.child_pid)) {
        uint32_t pid = e.child_pid;
        size_t before = cost(*c);
        *c = std::move(parent);
        c->pid = pid;
        c->ppid = e.pid;
        c->start_boot_ns = e.ts_boot_ns;
        c->exited_boot_ns = 0;
        c->forked_only = true;
        recharge(*c, before);
      }
      p = procs_.count(e.pid) ? &procs_[e.pid] : nullptr;  // insert may rehash
      break;
    }
    case EventKind::kExit:
      if (p) p->exited_boot_ns = e.ts_boot_ns ? e.ts_boot_ns : 1;
      break;
    default:
      break;
  }
  if (p) {
    e.exe = p->exe;
    if (const auto& c = p->container) {
      e.container_id = c->id;
      e.container_runtime = c->runtime;
      e.pod_uid = c->pod_uid;
      e.pod_qos = c->qos;
    }
    if (e.kind != EventKind::kExec && e.args.empty()) e.args = p->args;  // proc.cmdline of any event
  }
  auto parent = procs_.find(e.ppid);
  if (parent == procs_.end() && e.ppid && e.ppid != e.pid) {
    load_parent(e.ppid);
    parent = procs_.find(e.ppid);
  }
  if (parent != procs_.end()) e.pname = parent->second.comm;
  // The other task of a signal or an OOM kill, when the record does not name it.
  if ((e.kind == EventKind::kSignal || e.kind == EventKind::kOomKill) && e.target_comm.empty())
    if (const ProcessInfo* t = find(e.target_pid)) e.target_comm = t->comm;
}

void ProcessTable::sweep(uint64_t now_boot_ns) {
  for (auto it = procs_.begin(); it != procs_.end();) {
    if (it->second.exited_boot_ns && it->second.exited_boot_ns + kExitGraceNs <= now_boot_ns) {
      bytes_.fetch_sub(cost(it->second), std::memory_order_relaxed);
      it = procs_.erase(it);
    } else
      ++it;
  }
  size_.store(procs_.size(), std::memory_order_relaxed);
}

const ProcessInfo* ProcessTable::find(uint32_t pid) const {
  auto it = procs_.find(pid);
  return it == procs_.end() ? nullptr : &it->second;
}

}  // namespace sightline::core
