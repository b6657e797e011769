// Addresses to names for profiles and uprobes: kernel addresses from /proc/kallsyms (module
// names included), user addresses through a process's mappings (/proc/PID/maps, snapshotted
// when the process is first seen, so it can exit before its stacks are named) and the ELF
// files behind them (cached by dev:inode:mtime, bounded), and perf map files
// (/tmp/perf-PID.map) for JIT code.
#pragma once

#include <cstdint>
#include <istream>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "symbols/elf_symbols.h"

namespace sightline::symbols {

struct Frame {
  std::string function;  // demangled; "[unknown]" when no symbol covers the address
  std::string module;    // binary or library path, "[kernel]" or a module name, "[jit]"
  uint64_t offset = 0;   // from the function's start (or the module's when unknown)
  bool kernel = false;
};

struct Mapping {
  uint64_t start = 0, end = 0, pgoff = 0;
  uint64_t dev = 0, inode = 0;
  std::string path;  // may be "[anon]", "[vdso]", "//anon" ...
};

// Parses /proc/PID/maps text: executable mappings only.
std::vector<Mapping> parse_maps(const std::string& text);

class KernelSymbols {
 public:
  // Parses kallsyms text ("ffffffff81000000 T _stext [module]"); text symbols only.
  void load_text(const std::string& text);
  bool load(const std::string& path = "/proc/kallsyms");
  void load_stream(std::istream& in);
  Frame lookup(uint64_t addr) const;
  size_t size() const { return syms_.size(); }
  uint64_t memory_bytes() const { return syms_.capacity() * sizeof(Sym) + names_.capacity(); }

 private:
  // ~120k text symbols on a distribution kernel: 16 bytes each and their names in one block
  // (~5 MiB, where a string per name took ~13 MiB).
  struct Sym {
    uint64_t addr;
    uint32_t name;    // offset in names_, NUL-terminated
    uint32_t module;  // offset in names_ of "[module]" or "[kernel]"
  };
  std::vector<Sym> syms_;
  std::string names_;
};

// Perf map (JIT): "START SIZE name" per line, hex.
class PerfMap {
 public:
  void load_text(const std::string& text);
  const Symbol* find(uint64_t addr) const;
  bool empty() const { return syms_.empty(); }

 private:
  std::vector<Symbol> syms_;
};

class Symbolizer {
 public:
  // ELF files kept open at once; the least recently used go first.
  static constexpr size_t kMaxFiles = 512;
  // Processes whose maps are kept.
  static constexpr size_t kMaxProcesses = 8192;

  explicit Symbolizer(std::string proc_root = "/proc", std::string debug_root = "/usr/lib/debug")
      : proc_root_(std::move(proc_root)), debug_root_(std::move(debug_root)) {}

  // Takes a snapshot of the process's mappings now (call when a process is first seen; again
  // after it exec'd). False when the process is gone. An address outside every mapping also
  // takes a new snapshot (at most once a second per process): libraries loaded later.
  bool remember(uint32_t pid);
  void forget(uint32_t pid);
  Frame user(uint32_t pid, uint64_t addr);
  // The same with the functions inlined there after it (DWARF): caller first, innermost last.
  std::vector<Frame> user_frames(uint32_t pid, uint64_t addr);
  Frame kernel(uint64_t addr);

  // Byte bounds (memory_limit's shares): symbol tables of the cached files, and decompressed
  // DWARF kept open for inlined frames. The least recently used go first; a file whose DWARF
  // alone is over its bound gets no inlined frames (counted).
  void set_budget(uint64_t files_bytes, uint64_t dwarf_bytes);
  // Whether stripped binaries' unnamed functions are named binary+0xADDRESS (ElfSymbols::load):
  // where user stacks are unwound with tables; set before the first lookup.
  void set_name_unnamed(bool on) { name_unnamed_ = on; }
  // Drops every cached file and its DWARF (memory pressure); processes' mappings and kernel
  // symbols stay. Returns the bytes the caches held.
  uint64_t release_caches();

  // Cache figures, for the agent's own metrics.
  size_t files_cached() const { return files_.size(); }
  uint64_t file_evictions() const { return evictions_; }
  uint64_t files_bytes() const { return files_bytes_; }
  uint64_t dwarf_bytes() const { return dwarf_bytes_; }
  uint64_t dwarf_evictions() const { return dwarf_evictions_; }
  uint64_t dwarf_refused() const { return dwarf_refused_; }
  // Files whose symbol table alone is larger than the files' bound: not kept, and not read
  // again (each stack through one would read it anew); their frames are named file+0xoffset.
  uint64_t files_refused() const { return files_refused_; }

 private:
  struct Proc {
    std::vector<Mapping> maps;
    uint64_t miss_ns = 0;  // CLOCK_MONOTONIC of the last snapshot an unmapped address asked for
    std::unique_ptr<PerfMap> jit;
    bool tried_jit = false;
  };
  struct FileEntry;
  // The cached file behind a mapping (loaded on first use); its key in files_ in `*key`.
  FileEntry* file(const Mapping& m, uint32_t pid, const std::string** key);
  // After inlined(): takes the file's DWARF into the account, closing others past the bound.
  void account_dwarf(FileEntry& e, const std::string& key);
  void evict_file();
  bool lookup_locked(uint32_t pid, uint64_t addr, Frame* out, std::vector<std::string>* inlined = nullptr);

  std::string proc_root_, debug_root_;
  bool name_unnamed_ = true;
  std::mutex mu_;
  KernelSymbols kernel_;
  bool kernel_loaded_ = false;
  std::unordered_map<uint32_t, Proc> procs_;
  // key "dev:inode" (+ path) -> symbols; LRU order in lru_
  struct FileEntry {
    std::unique_ptr<ElfSymbols> syms;  // null: not an ELF we could read
    std::list<std::string>::iterator lru;
    uint64_t dwarf = 0;  // its DWARF's bytes in dwarf_bytes_ (0: not open)
    bool refused_counted = false;
    std::list<std::string>::iterator dwarf_lru;
  };
  std::unordered_map<std::string, FileEntry> files_;
  std::list<std::string> lru_, dwarf_lru_;
  uint64_t evictions_ = 0;
  uint64_t files_budget_ = 64ULL << 20, dwarf_budget_ = 16ULL << 20;
  uint64_t files_bytes_ = 0, dwarf_bytes_ = 0;
  uint64_t dwarf_evictions_ = 0, dwarf_refused_ = 0, files_refused_ = 0;
  std::unordered_map<std::string, bool> too_large_;  // keys of files refused (bounded: kMaxFiles)
};

}  // namespace sightline::symbols
