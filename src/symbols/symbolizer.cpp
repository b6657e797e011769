#include "symbols/symbolizer.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/files.h"

namespace sightline::symbols {

namespace {
uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

std::vector<Mapping> parse_maps(const std::string& text) {
  std::vector<Mapping> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    unsigned long long start, end, pgoff, inode;
    unsigned int major, minor;
    char perms[8] = {};
    int consumed = 0;
    if (sscanf(line.c_str(), "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &pgoff, &major,
               &minor, &inode, &consumed) < 7)
      continue;
    if (perms[2] != 'x') continue;
    Mapping m;
    m.start = start, m.end = end, m.pgoff = pgoff, m.inode = inode;
    m.dev = makedev(major, minor);
    m.path = consumed > 0 && static_cast<size_t>(consumed) <= line.size() ? line.substr(consumed) : "";
    while (!m.path.empty() && m.path.back() == ' ') m.path.pop_back();
    if (m.path.empty()) m.path = "[anon]";
    out.push_back(std::move(m));
  }
  return out;
}

void KernelSymbols::load_text(const std::string& text) {
  std::istringstream in(text);
  load_stream(in);
}

void KernelSymbols::load_stream(std::istream& in) {
  syms_.clear();
  names_.clear();
  std::unordered_map<std::string, uint32_t> modules;
  auto module_at = [&](const std::string& m) {
    auto [it, added] = modules.try_emplace(m, static_cast<uint32_t>(names_.size()));
    if (added) names_.append(m.empty() ? "[kernel]" : "[" + m + "]").push_back('\0');
    return it->second;
  };
  for (std::string line; std::getline(in, line);) {
    unsigned long long addr;
    char type;
    char name[256], module[128] = {};
    int n = sscanf(line.c_str(), "%llx %c %255s [%127[^]]]", &addr, &type, name, module);
    if (n < 3 || !addr) continue;
    if (type != 't' && type != 'T' && type != 'w' && type != 'W') continue;
    uint32_t mod = module_at(n == 4 ? module : "");
    syms_.push_back({addr, static_cast<uint32_t>(names_.size()), mod});
    names_.append(name).push_back('\0');
  }
  std::sort(syms_.begin(), syms_.end(), [](const Sym& a, const Sym& b) { return a.addr < b.addr; });
  syms_.shrink_to_fit();
  names_.shrink_to_fit();
}

bool KernelSymbols::load(const std::string& path) {
  std::ifstream in(path);
  load_stream(in);
  return !syms_.empty();
}

Frame KernelSymbols::lookup(uint64_t addr) const {
  auto it = std::upper_bound(syms_.begin(), syms_.end(), addr,
                             [](uint64_t a, const Sym& s) { return a < s.addr; });
  if (it == syms_.begin()) return {"[unknown]", "[kernel]", addr, true};
  --it;
  return {names_.c_str() + it->name, names_.c_str() + it->module, addr - it->addr, true};
}

void PerfMap::load_text(const std::string& text) {
  syms_.clear();
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    unsigned long long start, size;
    int consumed = 0;
    if (sscanf(line.c_str(), "%llx %llx %n", &start, &size, &consumed) < 2 || consumed <= 0) continue;
    syms_.push_back({start, size, line.substr(consumed)});
  }
  std::sort(syms_.begin(), syms_.end(), [](const Symbol& a, const Symbol& b) { return a.addr < b.addr; });
}

const Symbol* PerfMap::find(uint64_t addr) const {
  auto it = std::upper_bound(syms_.begin(), syms_.end(), addr,
                             [](uint64_t a, const Symbol& s) { return a < s.addr; });
  if (it == syms_.begin()) return nullptr;
  --it;
  return addr < it->addr + std::max<uint64_t>(it->size, 1) ? &*it : nullptr;
}

bool Symbolizer::remember(uint32_t pid) {
  std::string text = core::read_file(proc_root_ + "/" + std::to_string(pid) + "/maps");
  if (text.empty()) return false;
  std::lock_guard lock(mu_);
  if (procs_.size() >= kMaxProcesses && !procs_.count(pid)) procs_.erase(procs_.begin());
  Proc& p = procs_[pid];
  p.maps = parse_maps(text);
  p.jit.reset();
  p.tried_jit = false;
  return true;
}

void Symbolizer::forget(uint32_t pid) {
  std::lock_guard lock(mu_);
  procs_.erase(pid);
}

Symbolizer::FileEntry* Symbolizer::file(const Mapping& m, uint32_t pid, const std::string** key_out) {
  std::string key = std::to_string(m.dev) + ":" + std::to_string(m.inode) + ":" + m.path;
  auto it = files_.find(key);
  if (it != files_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    *key_out = &it->first;
    return &it->second;
  }
  // Through the process's root, so a file of a container (another mount namespace) or one
  // replaced on disk since is still the one mapped; the plain path otherwise.
  std::unique_ptr<ElfSymbols> syms;
  std::string via_root = proc_root_ + "/" + std::to_string(pid) + "/root" + m.path;
  if (!too_large_.contains(key) && !ElfSymbols::load(via_root, &syms, debug_root_, name_unnamed_))
    (void)ElfSymbols::load(m.path, &syms, debug_root_, name_unnamed_);
  uint64_t bytes = syms ? syms->memory_bytes() : 0;
  if (bytes > files_budget_) {
    syms.reset();
    bytes = 0;
    files_refused_++;
    if (too_large_.size() >= kMaxFiles) too_large_.clear();
    too_large_[key] = true;
  }
  while (!lru_.empty() && (files_.size() >= kMaxFiles || files_bytes_ + bytes > files_budget_)) evict_file();
  lru_.push_front(key);
  auto [pos, _] = files_.try_emplace(key);
  FileEntry& e = pos->second;
  e.syms = std::move(syms);
  e.lru = lru_.begin();
  files_bytes_ += bytes;
  *key_out = &pos->first;
  return &e;
}

void Symbolizer::evict_file() {
  auto it = files_.find(lru_.back());
  if (it != files_.end()) {
    if (it->second.syms) files_bytes_ -= it->second.syms->memory_bytes();
    if (it->second.dwarf) {
      dwarf_bytes_ -= it->second.dwarf;
      dwarf_lru_.erase(it->second.dwarf_lru);
    }
    files_.erase(it);
  }
  lru_.pop_back();
  evictions_++;
}

void Symbolizer::account_dwarf(FileEntry& e, const std::string& key) {
  if (!e.syms) return;
  uint64_t now = e.syms->dwarf_bytes();
  if (e.dwarf) {  // open and counted: most recently used now
    dwarf_lru_.splice(dwarf_lru_.begin(), dwarf_lru_, e.dwarf_lru);
    return;
  }
  if (e.syms->dwarf_refused() && !e.refused_counted) {
    e.refused_counted = true;
    dwarf_refused_++;
  }
  if (!now) return;
  while (!dwarf_lru_.empty() && dwarf_bytes_ + now > dwarf_budget_) {
    FileEntry& old = files_.at(dwarf_lru_.back());
    old.syms->close_dwarf(false);
    dwarf_bytes_ -= old.dwarf;
    old.dwarf = 0;
    dwarf_lru_.pop_back();
    dwarf_evictions_++;
  }
  dwarf_lru_.push_front(key);
  e.dwarf = now;
  e.dwarf_lru = dwarf_lru_.begin();
  dwarf_bytes_ += now;
}

void Symbolizer::set_budget(uint64_t files_bytes, uint64_t dwarf_bytes) {
  std::lock_guard lock(mu_);
  files_budget_ = files_bytes;
  dwarf_budget_ = dwarf_bytes;
}

uint64_t Symbolizer::release_caches() {
  std::lock_guard lock(mu_);
  uint64_t held = files_bytes_ + dwarf_bytes_;
  files_.clear();
  lru_.clear();
  dwarf_lru_.clear();
  files_bytes_ = dwarf_bytes_ = 0;
  return held;
}

bool Symbolizer::lookup_locked(uint32_t pid, uint64_t addr, Frame* out, std::vector<std::string>* inlined) {
  auto pit = procs_.find(pid);
  if (pit == procs_.end()) return false;
  Proc& p = pit->second;
  for (const auto& m : p.maps) {
    if (addr < m.start || addr >= m.end) continue;
    if (m.path[0] == '[' || m.path.starts_with("//anon") || m.path.starts_with("/memfd:")) {
      if (!p.tried_jit) {
        p.tried_jit = true;
        std::string text = core::read_file("/tmp/perf-" + std::to_string(pid) + ".map");
        if (!text.empty()) {
          p.jit = std::make_unique<PerfMap>();
          p.jit->load_text(text);
        }
      }
      const Symbol* s = p.jit ? p.jit->find(addr) : nullptr;
      *out = s ? Frame{s->name, "[jit]", addr - s->addr} : Frame{"[unknown]", m.path, addr - m.start};
      return true;
    }
    const std::string* key = nullptr;
    FileEntry* fe = file(m, pid, &key);
    const ElfSymbols* elf = fe->syms.get();
    uint64_t offset = addr - m.start + m.pgoff, vaddr;
    const Symbol* s = elf && elf->offset_to_vaddr(offset, &vaddr) ? elf->find(vaddr) : nullptr;
    *out = s ? Frame{s->name, m.path, vaddr - s->addr} : Frame{"[unknown]", m.path, offset};
    if (s && inlined) {
      *inlined = elf->inlined(vaddr, dwarf_budget_);
      account_dwarf(*fe, *key);
    }
    return true;
  }
  return false;
}

Frame Symbolizer::user(uint32_t pid, uint64_t addr) {
  Frame f;
  bool refresh;
  {
    std::lock_guard lock(mu_);
    if (lookup_locked(pid, addr, &f)) return f;
    // No mapping holds it: code mapped since the snapshot (dlopen, JIT), or never taken. Read
    // the mappings again, at most once a second per process (a gone one fails at once).
    auto it = procs_.find(pid);
    uint64_t now = now_ns();
    refresh = it == procs_.end() || !it->second.miss_ns || now - it->second.miss_ns >= 1000000000ULL;
    if (it != procs_.end() && refresh) it->second.miss_ns = now;
  }
  if (refresh && remember(pid)) {
    std::lock_guard lock(mu_);
    if (lookup_locked(pid, addr, &f)) return f;
  }
  return {"[unknown]", "[unknown]", addr};
}

std::vector<Frame> Symbolizer::user_frames(uint32_t pid, uint64_t addr) {
  std::vector<Frame> out;
  std::vector<std::string> inl;
  Frame f;
  bool found;
  {
    std::lock_guard lock(mu_);
    found = lookup_locked(pid, addr, &f, &inl);
  }
  if (!found) f = user(pid, addr);  // the refreshing path; no inline names then
  out.push_back(f);
  for (auto& name : inl) out.push_back({std::move(name), f.module, 0, false});
  return out;
}

Frame Symbolizer::kernel(uint64_t addr) {
  std::lock_guard lock(mu_);
  if (!kernel_loaded_) {
    kernel_.load();
    kernel_loaded_ = true;
  }
  return kernel_.lookup(addr);
}

}  // namespace sightline::symbols
