#include "sources/profile/unwind_tables.h"

#include <bpf/bpf.h>
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "core/files.h"
#include "sightline/profile.h"
#include "symbols/symbolizer.h"
#include "symbols/unwind_table.h"

namespace sightline::sources {
namespace {


}  // namespace

UnwindTables::~UnwindTables() {
  {
    std::lock_guard lock(ask_mu_);
    stopping_ = true;
  }
  ask_cv_.notify_all();
  if (server_.joinable()) server_.join();
  if (rows_) munmap(rows_, rows_bytes_);
}

void UnwindTables::ask(uint32_t tgid) {
  {
    std::lock_guard lock(ask_mu_);
    if (asked_.count(tgid)) return;
    if (asks_.size() >= kMaxAsks) {
      std::lock_guard counts(mu_);
      counts_.deferred++;
      return;
    }
    asks_.push_back(tgid);
    asked_.insert(tgid);
    // Made by the first ask, from the polling thread: it inherits that thread's capabilities,
    // which the agent has reduced by then (a thread made at start would keep them all).
    if (!server_.joinable()) server_ = std::thread([this] { serve(); });
  }
  ask_cv_.notify_one();
}

void UnwindTables::serve() {
  // A token bucket of CPU time: each load spends what it took on this thread; past the
  // bucket's bottom the next waits until the share has paid it back.
  double tokens_ns = kBurstCpuNs;
  auto refilled = std::chrono::steady_clock::now();
  auto thread_cpu_ns = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
  };
  for (;;) {
    uint32_t tgid;
    {
      std::unique_lock lock(ask_mu_);
      ask_cv_.wait(lock, [&] { return stopping_ || !asks_.empty(); });
      if (stopping_) return;
      if (cpu_share_ > 0) {
        auto now = std::chrono::steady_clock::now();
        tokens_ns = std::min<double>(kBurstCpuNs, tokens_ns + std::chrono::duration<double, std::nano>(now - refilled).count() * cpu_share_);
        refilled = now;
        if (tokens_ns < 0) {
          auto wait = std::chrono::nanoseconds(static_cast<int64_t>(-tokens_ns / cpu_share_));
          if (ask_cv_.wait_for(lock, wait, [&] { return stopping_; })) return;
          continue;  // refilled at the top
        }
      }
      tgid = asks_.front();
      asks_.pop_front();
      asked_.erase(tgid);
    }
    double t0 = thread_cpu_ns();
    (void)load(tgid);
    tokens_ns -= thread_cpu_ns() - t0;
  }
}

core::Status UnwindTables::open(int rows_fd, uint32_t capacity, int procs_fd, std::string proc_root) {
  rows_bytes_ = (static_cast<size_t>(capacity) * sizeof(sl_unw_row) + 4095) & ~size_t(4095);
  void* p = mmap(nullptr, rows_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, rows_fd, 0);
  if (p == MAP_FAILED) return core::Status::error(errno, std::string("profile: mapping the unwind rows: ") + strerror(errno));
  rows_ = p;
  capacity_ = capacity;
  procs_fd_ = procs_fd;
  proc_root_ = std::move(proc_root);
  free_ = {{0, capacity}};
  counts_.rows_capacity = capacity;
  return {};
}

bool UnwindTables::allocate(uint32_t n, uint32_t* at) {
  for (;;) {
    for (auto it = free_.begin(); it != free_.end(); ++it)
      if (it->second >= n) {
        *at = it->first;
        uint32_t rest = it->second - n, start = it->first + n;
        free_.erase(it);
        if (rest) free_[start] = rest;
        counts_.rows_used += n;
        return true;
      }
    if (idle_.empty()) return false;
    // Room from the file no process has mapped for the longest.
    std::string key = idle_.front();
    idle_.pop_front();
    auto it = files_.find(key);
    if (it != files_.end()) {
      File& f = it->second;
      if (f.rows) {
        counts_.rows_used -= f.rows;
        auto next = free_.emplace(f.row, f.rows).first;
        // Coalesce with the neighbours.
        if (auto after = std::next(next); after != free_.end() && next->first + next->second == after->first) {
          next->second += after->second;
          free_.erase(after);
        }
        if (next != free_.begin()) {
          auto before = std::prev(next);
          if (before->first + before->second == next->first) {
            before->second += next->second;
            free_.erase(next);
          }
        }
      }
      files_.erase(it);
      counts_.evicted++;
    }
  }
}

UnwindTables::File* UnwindTables::file(uint32_t tgid, const std::string& path, uint64_t dev, uint64_t ino,
                                       std::string* key) {
  (void)dev;  // the device the process sees may differ from ours (overlay): the inode decides
  // Through the process's root: a container's files are in its own mount namespace. Then
  // as this agent sees the path, for a process that chroot'ed after mapping its libraries (a
  // browser's sandboxed processes): the same inode or nothing.
  std::string via_root = proc_root_ + "/" + std::to_string(tgid) + "/root" + path;
  struct stat st{};
  auto is_it = [&](const std::string& p) { return stat(p.c_str(), &st) == 0 && st.st_ino == ino; };
  if (path.ends_with(" (deleted)")) {
    counts_.replaced++;
    return nullptr;
  }
  if (!is_it(via_root)) {
    if (!is_it(path)) {
      counts_.replaced++;
      return nullptr;
    }
    via_root = path;
  }
  *key = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
  auto it = files_.find(*key);
  if (it != files_.end()) return &it->second;
  File f;
  symbols::UnwindTable t;
  // One file takes a quarter of the rows at most (a browser or a large C++ server would take
  // them all and tens of MiB of the agent's heap to build): past it, frame pointers.
  auto refused = no_room_.find(*key);
  core::Status s = refused != no_room_.end() && (refused->second == kNever || refused->second == room_epoch_)
                       ? core::Status::error(ENOSPC, "no room since the last try")
                       : symbols::build_unwind_table(via_root, &t, capacity_ / 4);
  if (!s && (s.err() == E2BIG || s.err() == ENOSPC)) {
    counts_.no_room++;
    if (s.err() == E2BIG) {
      if (no_room_.size() >= kMaxNoRoom) no_room_.clear();
      no_room_[*key] = kNever;
    }
  } else if (!s) {
    counts_.no_table++;
    SPDLOG_DEBUG("profile: no unwind table for {}: {}", path, s.message());
  } else if (uint32_t at = 0; t.rows.size() <= capacity_ && allocate(static_cast<uint32_t>(t.rows.size()), &at)) {
    memcpy(static_cast<sl_unw_row*>(rows_) + at, t.rows.data(), t.rows.size() * sizeof(sl_unw_row));
    f.row = at;
    f.rows = static_cast<uint32_t>(t.rows.size());
    f.segments = std::move(t.segments);
    counts_.files++;
  } else {
    counts_.no_room++;
    if (no_room_.size() >= kMaxNoRoom) no_room_.clear();
    no_room_[*key] = room_epoch_;
  }
  if (f.rows) no_room_.erase(*key);
  f.python = symbols::python_version_of(path);
  if (!f.python.empty() && !symbols::elf_data_symbol(via_root, "_PyRuntime", &f.py_runtime)) f.python.clear();
  return &files_.emplace(*key, std::move(f)).first->second;
}

void UnwindTables::release(const std::string& key) {
  auto it = files_.find(key);
  if (it == files_.end() || --it->second.users > 0) return;
  it->second.users = 0;
  if (!it->second.rows) {  // nothing kept: forget it (a later load tries again)
    files_.erase(it);
    return;
  }
  idle_.push_back(key);
  it->second.idle = std::prev(idle_.end());
  it->second.in_idle = true;
  room_epoch_++;  // its rows may be taken now
}

bool UnwindTables::load(uint32_t tgid) {
  std::lock_guard lock(mu_);
  uint64_t built = counts_.files + counts_.no_table;
  bool ok = load_locked(tgid);
  // Reading a file's CFI takes MiBs of heap for a moment (libdw's parse, the rows): give them
  // back soon, not when the memory budget is pressed; at most once a second (a trim after
  // every build of a burst of new processes cost more in page faults than the builds).
  auto now = std::chrono::steady_clock::now();
  if (counts_.files + counts_.no_table != built && now - trimmed_ >= std::chrono::seconds(1)) {
    trimmed_ = now;
    malloc_trim(0);
  }
  return ok;
}

bool UnwindTables::load_locked(uint32_t tgid) {
  if (!rows_) return false;
  auto now = std::chrono::steady_clock::now();
  if (now - window_ >= std::chrono::seconds(1)) window_ = now, window_loads_ = 0;
  if (window_loads_ >= kLoadsPerSecond) {
    counts_.deferred++;
    return false;
  }
  window_loads_++;
  std::string text = core::read_file(proc_root_ + "/" + std::to_string(tgid) + "/maps");
  if (text.empty()) {
    drop_process(tgid);
    return false;
  }
  counts_.loads++;
  std::vector<std::string> held;
  sl_unw_proc proc{};
  std::optional<symbols::PythonLayout> python;
  for (const auto& m : symbols::parse_maps(text)) {
    sl_unw_map e{};
    e.start = m.start;
    e.end = m.end;
    std::string key;
    // A memfd (a JIT's or a browser's code) is no file on disk: frame pointers.
    File* f = m.path.starts_with("/") && !m.path.starts_with("/memfd:") ? file(tgid, m.path, m.dev, m.inode, &key)
                                                                         : nullptr;
    uint64_t bias = 0;
    if (f && f->rows && symbols::mapping_bias(f->segments, m.start, m.end, m.pgoff, &bias)) {
      e.bias = bias;
      e.row = f->row;
      e.rows = f->rows;
      // The interpreter (or libpython): its frames are read where a layout is pinned.
      if (!f->python.empty() && !proc.py.runtime) {
        symbols::PythonLayout l;
        if (symbols::python_layout(f->python, &l)) {
          proc.py = l.walk;
          proc.py.runtime = f->py_runtime + bias;
          python = l;
        } else {
          counts_.python_unknown++;
        }
      }
    }
    if (f) {
      if (f->in_idle) idle_.erase(f->idle), f->in_idle = false;
      f->users++;
      held.push_back(key);
    }
    if (proc.n >= SL_UNW_MAX_MAPS) {
      counts_.maps_over++;
      continue;
    }
    proc.maps[proc.n++] = e;
  }
  // The files the process held before (an exec, new mappings) are released after the new ones
  // are taken, so the shared ones keep their rows.
  auto old = procs_.find(tgid);
  if (old != procs_.end()) {
    for (const auto& k : old->second) release(k);
    old->second = std::move(held);
  } else {
    procs_.emplace(tgid, std::move(held));
  }
  if (bpf_map_update_elem(procs_fd_, &tgid, &proc, BPF_ANY) != 0) {
    counts_.procs_full++;
    drop_process(tgid);
    return false;
  }
  if (python) python_[tgid] = *python;
  else python_.erase(tgid);
  return true;
}

void UnwindTables::drop_process(uint32_t tgid) {
  auto it = procs_.find(tgid);
  if (it == procs_.end()) return;
  for (const auto& k : it->second) release(k);
  procs_.erase(it);
  python_.erase(tgid);
  bpf_map_delete_elem(procs_fd_, &tgid);
}

void UnwindTables::sweep() {
  std::lock_guard lock(mu_);
  std::vector<uint32_t> gone;
  for (const auto& [tgid, files] : procs_)
    if (access((proc_root_ + "/" + std::to_string(tgid)).c_str(), F_OK) != 0) gone.push_back(tgid);
  for (uint32_t t : gone) drop_process(t);
}

UnwindTableCounts UnwindTables::counts() const {
  std::lock_guard lock(mu_);
  UnwindTableCounts c = counts_;
  c.procs = procs_.size();
  c.python = python_.size();
  for (const auto& [k, f] : files_) c.files_kept += f.rows > 0;
  return c;
}

}  // namespace sightline::sources
