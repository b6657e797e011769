// CPython frames in profiles: the interpreter's own frame chain, read in the kernel where the
// sampled thread holds the GIL (its PyThreadState is _PyRuntime's tstate_current), comes here
// as (code object, instruction index) pairs (SL_UNW_PY_* in sightline/profile.h); this names
// them `module.qualname (file.py:line)` from the live process's memory (process_vm_readv) and
// merges them into the native stack in place of the _PyEval_EvalFrameDefault frames that ran
// them. Struct offsets are pinned per CPython version (3.11, read from python3.11-dbg's DWARF).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sightline/profile.h"

namespace sightline::symbols {

struct Frame;

// The offsets the kernel's walk needs (sl_unw_python) and the ones naming needs, of a version.
struct PythonLayout {
  sl_unw_python walk{};
  uint16_t code_name = 0, code_qualname = 0, code_filename = 0, code_firstlineno = 0, code_linetable = 0;
  uint16_t ascii_state = 32, ascii_data = 48, compact_data = 72, bytes_size = 16, bytes_data = 32;
};

// "3.11" from an interpreter's file name (python3.11, libpython3.11.so.1.0); empty otherwise.
std::string python_version_of(std::string_view path);
// The pinned layout of a CPython version; false for one we have none for.
bool python_layout(std::string_view version, PythonLayout* out);

// The address (link-time) of data symbol `name` of ELF file `path` (.dynsym, else .symtab).
bool elf_data_symbol(const std::string& path, std::string_view name, uint64_t* vaddr);

// CPython 3.11's location table (co_linetable, Objects/locations.md): the line of code unit
// `index`, or -1 where the table says none or ends before it.
int python_line(std::string_view linetable, int firstlineno, uint32_t index);

class PythonFrames {
 public:
  static constexpr size_t kMaxCodes = 16384;  // code objects named (cleared when full)

  // The frame of code object `code` at code unit `index` in process `pid`.
  Frame name(uint32_t pid, uint64_t code, uint32_t index, const PythonLayout& layout);
  void forget(uint32_t pid);

 private:
  struct Code {
    std::string qualname, module, file, linetable;
    int firstlineno = 0;
    bool ok = false;
  };
  std::unordered_map<uint64_t, Code> codes_;  // key: pid << 48 ^ code
};

// Merges python frames (leaf first, SL_UNW_PY_* encoded) into native frames (leaf first,
// named): each run of Python frames up to an entry frame replaces one _PyEval_EvalFrameDefault
// frame, innermost first; runs left over go outside the outermost. Returns leaf first.
std::vector<Frame> merge_python(const std::vector<Frame>& native, const std::vector<std::pair<Frame, bool>>& python);

}  // namespace sightline::symbols
