// Function symbols of one ELF file (.symtab, else .dynsym; the debug file's when the binary
// is stripped and has a .gnu_debuglink or a build id under /usr/lib/debug), its build id, and
// the PT_LOAD segments that turn a file offset into a symbol address. Pure file reading, no
// process: unit-tested on binaries the tests build.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sightline::symbols {

struct Symbol {
  uint64_t addr = 0;  // st_value: the link-time virtual address
  uint64_t size = 0;
  std::string name;   // demangled
};

struct Segment {  // a PT_LOAD segment
  uint64_t offset = 0, vaddr = 0, filesz = 0;
  bool exec = false;
};

class ElfSymbols {
 public:
  // Reads `path`. `debug_root` is where debug files live (/usr/lib/debug); tests point it
  // elsewhere. `name_unnamed`: a stripped binary's functions no symbol names get
  // `binary+0xADDRESS` from their FDEs (for complete stacks; frame-pointer walks through code
  // without them land on garbage addresses, each a name of its own).
  static core::Status load(const std::string& path, std::unique_ptr<ElfSymbols>* out,
                           const std::string& debug_root = "/usr/lib/debug", bool name_unnamed = true);

  // The symbol containing `vaddr` (or the closest one below it when sizes are unknown), or null.
  const Symbol* find(uint64_t vaddr) const;
  // A file offset (what /proc/PID/maps gives: addr - start + pgoff) -> link-time address;
  // false when no PT_LOAD segment holds it.
  bool offset_to_vaddr(uint64_t offset, uint64_t* vaddr) const;
  // The reverse, for uprobes (which take file offsets): false when no segment holds vaddr.
  bool vaddr_to_offset(uint64_t vaddr, uint64_t* offset) const;

  const std::string& build_id() const { return build_id_; }  // hex, empty if none
  const std::string& debug_file() const { return debug_file_; }  // where symbols came from, if not the file
  size_t size() const { return syms_.size(); }
  bool is_pie_or_shared() const { return dyn_; }
  // Every symbol whose name matches `glob` (* and ?), for uprobes by pattern.
  std::vector<const Symbol*> match(std::string_view glob) const;
  const std::vector<Symbol>& symbols() const { return syms_; }
  // Functions inlined at `vaddr`, from the outermost inlined call to the innermost (the
  // containing function itself is find()'s), from DWARF (.debug_info of the file or its debug
  // file); empty without DWARF or inlining. The DWARF is opened on first use.
  // `max_dwarf_bytes`: a DWARF that would take more heap than this is not opened (dwarf_refused()).
  // Answers are kept (kInlinedMemo addresses, part of dwarf_bytes()): a profile names the
  // same frames every second, and each answer walks a compile unit's DIEs.
  std::vector<std::string> inlined(uint64_t vaddr, uint64_t max_dwarf_bytes = UINT64_MAX) const;
  static constexpr size_t kInlinedMemo = 4096;
  static constexpr uint64_t kInlinedMemoBytes = kInlinedMemo * 96;  // ~an entry and a name
  // Heap the symbol table takes (an estimate: entries and names), for the symbolizer's budget.
  uint64_t memory_bytes() const { return memory_bytes_; }
  // Heap the open DWARF takes (its compressed sections, decompressed); 0 when not open.
  uint64_t dwarf_bytes() const { return dwarf_ ? dwarf_bytes_ + kInlinedMemoBytes : 0; }
  bool dwarf_refused() const { return dwarf_refused_; }
  // Closes the DWARF; the next inlined() opens it again, unless `for_good`.
  void close_dwarf(bool for_good) const;
  // Whether the ELF file `path` has section `name`; its first `max` bytes into *bytes (when not
  // null) and the file's e_machine into *machine (when not null). Section headers only: cheap.
  static bool section_of(const std::string& path, const char* name, size_t max = 0, std::string* bytes = nullptr,
                         uint16_t* machine = nullptr);
  ~ElfSymbols();

 private:
  std::vector<Symbol> syms_;  // sorted by addr, de-duplicated
  std::vector<Segment> segments_;
  std::string build_id_, debug_file_;
  std::string dwarf_file_;  // the file with .debug_info, if any
  bool dyn_ = false;
  struct DwarfHandle;
  mutable std::unique_ptr<DwarfHandle> dwarf_;
  mutable bool dwarf_tried_ = false;
  mutable uint64_t dwarf_bytes_ = 0;
  mutable bool dwarf_refused_ = false;
  mutable std::unordered_map<uint64_t, std::vector<std::string>> inlined_memo_;
  uint64_t memory_bytes_ = 0;
};

// C++ (Itanium ABI) names demangled; anything else returned as is.
std::string demangle(const char* name);
// fnmatch-style: * any run, ? one character, [a-z0-9] / [!x] one of (or not of) a class.
bool glob_match(std::string_view pattern, std::string_view s);

}  // namespace sightline::symbols
