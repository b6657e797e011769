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

#include "sightline/profile.h"
#include "symbols/symbolizer.h"
#include "symbols/unwind_table.h"

namespace sightline::sources {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

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
  for (;;) {
    uint32_t tgid;
    {
      std::unique_lock lock(ask_mu_);
      ask_cv_.wait(lock, [&] { return stopping_ || !asks_.empty(); });
      if (stopping_) return;
      tgid = asks_.front();
      asks_.pop_front();
      asked_.erase(tgid);
    }
    (void)load(tgid);
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
  // Through the process's root: a container's files are in its own mount namespace.
  std::string via_root = proc_root_ + "/" + std::to_string(tgid) + "/root" + path;
  struct stat st{};
  if (path.ends_with(" (deleted)") || stat(via_root.c_str(), &st) != 0 || st.st_ino != ino) {
    counts_.replaced++;
    return nullptr;
  }
  *key = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
  auto it = files_.find(*key);
  if (it != files_.end()) return &it->second;
  File f;
  symbols::UnwindTable t;
  // One file takes a quarter of the rows at most (a browser or a large C++ server would take
  // them all and tens of MiB of the agent's heap to build): past it, frame pointers.
  core::Status s = symbols::build_unwind_table(via_root, &t, capacity_ / 4);
  if (!s && s.err() == E2BIG) {
    counts_.no_room++;
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
  }
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
}

bool UnwindTables::load(uint32_t tgid) {
  std::lock_guard lock(mu_);
  uint64_t built = counts_.files + counts_.no_room + counts_.no_table;
  bool ok = load_locked(tgid);
  // Reading a file's CFI takes MiBs of heap for a moment (libdw's parse, the rows): give them
  // back at once, not when the memory budget is pressed (this thread has an arena of its own).
  if (counts_.files + counts_.no_room + counts_.no_table != built) malloc_trim(0);
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
  std::string text = read_text(proc_root_ + "/" + std::to_string(tgid) + "/maps");
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
    File* f = m.path.starts_with("/") ? file(tgid, m.path, m.dev, m.inode, &key) : nullptr;
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
