// The profiler's unwind tables in the kernel (unwind: kernel): the rows of every executable file
// that a profiled process maps, in one BPF array user space writes in place (mmap), shared
// between processes (files keyed by dev:inode:size:mtime), and each process's mappings
// (unw_procs). A process is loaded when the BPF program asks for it (a sample of a process it
// does not know, or of an address in no known mapping) and dropped when it exits. Bounded: the
// array's rows (files no process maps go first when room is needed), processes (the hash's
// size), loads per second, asks waiting; each miss counted.
//
// Asks are served by a thread of its own: building a file's table takes milliseconds (libcrypto
// 30-80), and the agent's one polling thread drains every source's ring (a whole node's tables
// at the agent's start held it for seconds: l7 lost connections). Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/status.h"
#include "symbols/elf_symbols.h"
#include "symbols/python_frames.h"

namespace sightline::sources {

struct UnwindTableCounts {
  uint64_t loads = 0;         // processes loaded (or loaded again)
  uint64_t files = 0;         // files whose table was built
  uint64_t no_table = 0;      // files without a usable table (no .eh_frame_hdr ...): frame pointers
  uint64_t no_room = 0;       // files whose table did not fit in the rows: frame pointers
  uint64_t replaced = 0;      // mappings whose file changed on disk since it was mapped
  uint64_t procs_full = 0;    // processes unw_procs had no room for
  uint64_t maps_over = 0;     // executable mappings past SL_UNW_MAX_MAPS in a process
  uint64_t deferred = 0;      // asks past the loads-per-second bound or the queue's (asked again later)
  uint64_t evicted = 0;       // tables of files no process mapped, dropped for room
  uint64_t rows_used = 0, rows_capacity = 0;
  uint64_t procs = 0, files_kept = 0;  // now: processes served, files with rows
  uint64_t python = 0;                 // processes whose CPython frames are read
  uint64_t python_unknown = 0;         // CPython versions without a pinned layout (native frames only)
};

class UnwindTables {
 public:
  static constexpr uint32_t kDefaultRows = 1u << 19;  // 4 MiB of kernel memory (8-byte rows)
  static constexpr uint32_t kMaxProcs = 1024;
  static constexpr uint32_t kLoadsPerSecond = 100;
  static constexpr size_t kMaxAsks = 1024;  // processes waiting to be loaded

  UnwindTables() = default;
  UnwindTables(const UnwindTables&) = delete;
  UnwindTables& operator=(const UnwindTables&) = delete;
  ~UnwindTables();

  // rows_fd: the BPF_F_MMAPABLE array of `capacity` rows; procs_fd: the hash of processes.
  core::Status open(int rows_fd, uint32_t capacity, int procs_fd, std::string proc_root = "/proc");
  // Queues a load of the process (a thread of its own, made by the first ask, serves it);
  // never blocks.
  void ask(uint32_t tgid);
  // Paces that thread to `cpus` of CPU time on average (0: unpaced), with a burst of
  // kBurstCpuNs: one process's tables at once, a hundred over seconds. Before the first ask.
  void set_cpu_share(double cpus) { cpu_share_ = cpus; }
  static constexpr uint64_t kBurstCpuNs = 100'000'000;
  // (Re)loads the process's mappings and its files' tables now. False when it is gone or deferred.
  bool load(uint32_t tgid);
  // Drops processes that exited; called about once a second.
  void sweep();
  // The CPython layout of a process whose interpreter frames are read.
  std::optional<symbols::PythonLayout> python(uint32_t tgid) const {
    std::lock_guard lock(mu_);
    auto it = python_.find(tgid);
    if (it == python_.end()) return std::nullopt;
    return it->second;
  }
  UnwindTableCounts counts() const;

 private:
  struct File {
    uint32_t row = 0, rows = 0;  // rows 0: no table
    int users = 0;
    std::vector<symbols::Segment> segments;
    std::list<std::string>::iterator idle;  // in idle_ while users == 0
    bool in_idle = false;
    std::string python;       // a CPython interpreter's version ("3.11"), its _PyRuntime:
    uint64_t py_runtime = 0;  // link-time address (0: none found)
  };
  bool load_locked(uint32_t tgid);
  void serve();
  File* file(uint32_t tgid, const std::string& path, uint64_t dev, uint64_t ino, std::string* key);
  bool allocate(uint32_t n, uint32_t* at);
  void release(const std::string& key);
  void drop_process(uint32_t tgid);

  std::string proc_root_;
  int procs_fd_ = -1;
  void* rows_ = nullptr;
  size_t rows_bytes_ = 0;
  uint32_t capacity_ = 0;
  std::map<uint32_t, uint32_t> free_;  // start -> length, coalesced
  std::unordered_map<std::string, File> files_;
  std::list<std::string> idle_;  // files no process maps, least recently released first
  // Files refused for room, with room_epoch_ then (kNever: larger than a file may take): not
  // built again until a file went idle since (a node's every new process would rebuild them).
  static constexpr uint64_t kNever = UINT64_MAX;
  static constexpr size_t kMaxNoRoom = 4096;
  std::unordered_map<std::string, uint64_t> no_room_;
  uint64_t room_epoch_ = 0;
  std::chrono::steady_clock::time_point trimmed_;
  std::unordered_map<uint32_t, std::vector<std::string>> procs_;  // the files each process holds
  std::unordered_map<uint32_t, symbols::PythonLayout> python_;     // CPython processes
  UnwindTableCounts counts_;
  std::chrono::steady_clock::time_point window_;
  uint32_t window_loads_ = 0;
  mutable std::mutex mu_;  // everything above
  // The asks and the thread that serves them.
  std::mutex ask_mu_;
  std::condition_variable ask_cv_;
  std::deque<uint32_t> asks_;
  std::unordered_set<uint32_t> asked_;
  bool stopping_ = false;
  std::thread server_;
  double cpu_share_ = 0;
};

}  // namespace sightline::sources
