// The agent's memory budget (`memory_limit`). The large user-space structures take their sizes
// from it (MemoryPlan). What the agent uses is measured two ways:
//   - user: its anonymous resident memory (heap, stacks, anonymous mappings): what a cgroup
//     cannot take back without killing it. File-backed pages (the binary's code, libraries,
//     the ELF and DWARF files the symbolizer maps) are page cache the kernel reclaims first, and
//     the BPF maps mapped into the agent (a ring's data twice) are file mappings too;
//   - kernel: the maps' own memory (memlock), counted once.
// Their sum is what a cgroup cannot reclaim from the agent, and what the budget is about. As the sum
// nears the limit, the guard sheds (MemoryGuard): caches first (level 1), then detail (level 2).
// Each step is counted, and the agent never dies of it. Pure logic except read_* below; the unit
// tests feed the guard series.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace sightline::agent {

constexpr uint64_t kMiB = 1ULL << 20;
constexpr uint64_t kDefaultMemoryLimit = 128 * kMiB;
// What the agent needs for itself with its caches empty: heap, thread stacks, the process
// table of a busy node (~13 MiB anonymous at idle here). A limit below this plus the kernel
// maps is refused.
constexpr uint64_t kUserFloor = 32 * kMiB;

// The shares of the budget, in bytes.
struct MemoryPlan {
  uint64_t limit = 0;
  uint64_t store_queue_bytes = 0;   // events waiting for the store's writer
  uint64_t sqlite_cache_bytes = 0;  // the writer's page cache
  uint64_t sqlite_heap_bytes = 0;   // all SQLite heap (writer and queries): a hard limit
  uint64_t query_bytes = 0;         // one query's largest value, and its whole result
  uint64_t wal_bytes = 0;           // the WAL file kept after a checkpoint (page cache)
  uint64_t exporter_queue_bytes = 0;  // batches in memory, per exporter (then the spool)
  uint64_t symbol_cache_bytes = 0;  // the profiler's symbol tables (2/3) and DWARF (1/3)
  uint64_t process_table_bytes = 0; // what the agent knows of each process (command lines ...)
  uint64_t dns_names = 0;           // addresses named from DNS answers (~256 bytes each)
  uint64_t conn_state_bytes = 0;    // the L7 parsers' connections: buffers, pending requests
};
MemoryPlan plan_memory(uint64_t limit);

// Refuses a limit the agent cannot honour: below the floor plus what the sources' maps take.
core::Status check_memory_limit(uint64_t limit, uint64_t kernel_bytes);

struct MemoryUse {
  uint64_t rss = 0;     // as ps shows it
  uint64_t anon = 0;    // of which anonymous (the rest: files and the BPF maps mapped here)
  uint64_t kernel = 0;  // the maps' memory, once
  uint64_t user() const { return anon; }
  uint64_t total() const { return anon + kernel; }
};
// The heap as malloc sees it: bytes in use, and bytes free but kept from the system.
struct HeapUse {
  uint64_t in_use = 0, free = 0;
};
HeapUse read_heap();
// Resident bytes of this process, all and anonymous (/proc/self/statm: resident less shared,
// the file and shmem pages): cheap, every second. `statm_path` for tests.
struct Resident {
  uint64_t rss = 0, anon = 0;
};
Resident read_resident(const std::string& statm_path = "/proc/self/statm");

// Decides when to give memory back. The level to act on: 1 (past kTrimAt of the limit) returns
// free heap to the system (malloc_trim: glibc keeps what a burst freed, and churn would
// otherwise grow RSS to the next mark); 2 (past kCachesAt) also drops caches (symbols, SQLite's
// cache); 3 (past kDetailAt) also detail (parser state, profile windows). A level acts at most
// once per kRepeatS seconds while the use stays above its mark.
class MemoryGuard {
 public:
  static constexpr double kTrimAt = 0.60;
  static constexpr double kCachesAt = 0.80;
  static constexpr double kDetailAt = 0.90;
  static constexpr uint64_t kRepeatS = 5;

  explicit MemoryGuard(uint64_t limit) : limit_(limit) {}
  // The level to act on now for `total` bytes in use (0: none). `now_s`: a monotonic second.
  int observe(uint64_t total, uint64_t now_s);
  uint64_t limit() const { return limit_; }
  uint64_t peak() const { return peak_; }

 private:
  uint64_t limit_;
  uint64_t peak_ = 0;
  uint64_t last_act_s_[4] = {};
  bool acted_[4] = {};
};

}  // namespace sightline::agent
