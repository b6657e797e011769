#include "agent/memory.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

namespace sightline::agent {

MemoryPlan plan_memory(uint64_t limit) {
  MemoryPlan p;
  p.limit = limit;
  p.store_queue_bytes = std::clamp<uint64_t>(limit / 8, 4 * kMiB, 64 * kMiB);
  p.sqlite_cache_bytes = std::clamp<uint64_t>(limit / 32, 1 * kMiB, 16 * kMiB);
  p.query_bytes = std::clamp<uint64_t>(limit / 16, 1 * kMiB, 64 * kMiB);
  // The writer's cache, two queries at their bound, and SQLite's own structures.
  p.sqlite_heap_bytes = p.sqlite_cache_bytes + 2 * p.query_bytes + 4 * kMiB;
  p.wal_bytes = std::clamp<uint64_t>(limit / 2, 8 * kMiB, 64 * kMiB);
  p.exporter_queue_bytes = std::clamp<uint64_t>(limit / 16, 2 * kMiB, 64 * kMiB);
  p.symbol_cache_bytes = std::clamp<uint64_t>(limit * 3 / 16, 6 * kMiB, 768 * kMiB);
  p.process_table_bytes = std::clamp<uint64_t>(limit / 8, 4 * kMiB, 256 * kMiB);
  p.dns_names = std::clamp<uint64_t>(limit / (16 * 1024), 1024, 65536);
  p.conn_state_bytes = std::clamp<uint64_t>(limit / 8, 2 * kMiB, 512 * kMiB);
  return p;
}

core::Status check_memory_limit(uint64_t limit, uint64_t kernel_bytes) {
  uint64_t need = kUserFloor + kernel_bytes;
  if (limit >= need) return {};
  auto mib = [](uint64_t b) { return std::to_string((b + kMiB - 1) / kMiB) + " MiB"; };
  return core::Status::error(EINVAL, "memory_limit " + mib(limit) + " is below what the enabled sources need: " +
                                         mib(need) + " (" + mib(kernel_bytes) + " of BPF maps and ring buffers + " +
                                         mib(kUserFloor) +
                                         " for the agent itself); raise it, or turn sources off or shrink their "
                                         "ring_bytes");
}

HeapUse read_heap() {
  struct mallinfo2 mi = mallinfo2();
  return {mi.uordblks + mi.hblkhd, mi.fordblks};
}

Resident read_resident(const std::string& statm_path) {
  FILE* f = fopen(statm_path.c_str(), "re");
  if (!f) return {};
  unsigned long long size = 0, resident = 0, shared = 0;
  int n = fscanf(f, "%llu %llu %llu", &size, &resident, &shared);
  fclose(f);
  static const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  if (n != 3) return {};
  return {resident * page, resident > shared ? (resident - shared) * page : 0};
}

int MemoryGuard::observe(uint64_t total, uint64_t now_s) {
  peak_ = std::max(peak_, total);
  if (!limit_) return 0;
  auto past = [&](double share) { return total >= static_cast<uint64_t>(static_cast<double>(limit_) * share); };
  int level = past(kDetailAt) ? 3 : past(kCachesAt) ? 2 : past(kTrimAt) ? 1 : 0;
  for (int l = level + 1; l < 4; l++) acted_[l] = false;  // under a mark: its next crossing acts at once
  if (!level || (acted_[level] && now_s - last_act_s_[level] < kRepeatS)) return 0;
  acted_[level] = true;
  last_act_s_[level] = now_s;
  return level;
}

}  // namespace sightline::agent
