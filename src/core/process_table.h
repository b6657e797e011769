// What the agent knows of every live process: seeded from /proc at start, kept current by the
// process source's exec/fork/exit events, and used to enrich every event of every source with
// parent name, executable and container. Bounded; overflow is counted.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "core/cgroups.h"
#include "core/event.h"

namespace sightline::core {

struct ProcessInfo {
  uint32_t pid = 0, ppid = 0, uid = 0, gid = 0;
  uint64_t cgroup_id = 0;
  uint64_t start_boot_ns = 0;
  uint64_t exited_boot_ns = 0;  // non-zero: exited, kept a grace period for late events
  bool forked_only = false;     // made by a fork and not exec'd since: its name may be about to change
  std::string comm, exe, args;  // args NUL-separated
  std::shared_ptr<const ContainerInfo> container;  // nullptr: on the host
};

class ProcessTable {
 public:
  // A node with more live processes than this is far past normal (pid_max is 4M, typical nodes
  // run hundreds to a few thousand).
  static constexpr size_t kDefaultMaxEntries = 131072;
  // The bytes the entries may hold (memory_limit's share, agent/memory.h): an entry costs
  // kEntryBytes plus its strings (a command line up to 4 KiB), so the entry bound alone would
  // let long command lines take hundreds of MiB.
  static constexpr size_t kDefaultMaxBytes = 16ULL << 20;
  static constexpr size_t kEntryBytes = sizeof(ProcessInfo) + 48;  // the hash node and its bucket
  // Events of other sources can arrive after the exit event of their process (they cross
  // different ring buffers): keep an exited process this long.
  static constexpr uint64_t kExitGraceNs = 5'000'000'000ULL;

  using ContainerResolver = std::function<std::shared_ptr<const ContainerInfo>(uint64_t cgroup_id)>;

  explicit ProcessTable(size_t max_entries = kDefaultMaxEntries, size_t max_bytes = kDefaultMaxBytes)
      : max_entries_(max_entries), max_bytes_(max_bytes) {}
  void set_container_resolver(ContainerResolver r) { resolver_ = std::move(r); }

  // Adds every process under proc_root; returns how many. Afterwards, an event whose parent the
  // table does not hold (forked while fork events were off or lost) reads that parent there.
  size_t seed_from_proc(const std::string& proc_root = "/proc");
  // Applies a process event to the table, then enriches `e` (pname, exe, container id).
  void observe(Event& e);
  // Drops processes that exited more than the grace period before now.
  void sweep(uint64_t now_boot_ns);

  const ProcessInfo* find(uint32_t pid) const;
  size_t size() const { return size_.load(std::memory_order_relaxed); }
  // What the entries hold now (kEntryBytes and their strings' bytes), and its bound.
  size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  size_t max_bytes() const { return max_bytes_; }
  // Processes not added because the table was full (entries or bytes).
  uint64_t overflows() const { return overflows_.load(std::memory_order_relaxed); }

 private:
  ProcessInfo* insert(uint32_t pid);  // nullptr when full (counted)
  ProcessInfo* from_event(const Event& e);
  void load_parent(uint32_t ppid);
  std::shared_ptr<const ContainerInfo> container_of(uint64_t cgroup_id);
  static size_t cost(const ProcessInfo& p) { return kEntryBytes + p.comm.size() + p.exe.size() + p.args.size(); }
  // After an entry changed from `before` bytes: the total follows.
  void recharge(const ProcessInfo& p, size_t before);
  bool full() const { return procs_.size() >= max_entries_ || bytes() + kEntryBytes > max_bytes_; }

  size_t max_entries_, max_bytes_;
  std::unordered_map<uint32_t, ProcessInfo> procs_;
  ContainerResolver resolver_;
  std::string proc_root_, cg_root_;  // where seed_from_proc read, for load_parent
  std::atomic<size_t> size_{0}, bytes_{0};
  std::atomic<uint64_t> overflows_{0};
};

}  // namespace sightline::core
