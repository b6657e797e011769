#include "symbols/python_frames.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <regex>

#include "symbols/symbolizer.h"

namespace sightline::symbols {
namespace {

bool read_mem(uint32_t pid, uint64_t addr, void* out, size_t n) {
  iovec local{out, n}, remote{reinterpret_cast<void*>(addr), n};
  return process_vm_readv(static_cast<pid_t>(pid), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(n);
}

template <class T>
bool read_val(uint32_t pid, uint64_t addr, T* v) {
  return read_mem(pid, addr, v, sizeof(T));
}

// A str object's text: compact ASCII or Latin-1 (what code names and file names are); else "?".
std::string read_str(uint32_t pid, uint64_t obj, const PythonLayout& l) {
  uint64_t len = 0;
  uint32_t state = 0;
  if (!obj || !read_val(pid, obj + 16, &len) || !read_val(pid, obj + l.ascii_state, &state)) return "?";
  unsigned kind = (state >> 2) & 7, compact = (state >> 5) & 1, ascii = (state >> 6) & 1;
  if (!compact || kind != 1) return "?";
  len = std::min<uint64_t>(len, 512);
  std::string s(len, '\0');
  if (len && !read_mem(pid, obj + (ascii ? l.ascii_data : l.compact_data), s.data(), len)) return "?";
  return s;
}

}  // namespace

std::string python_version_of(std::string_view path) {
  size_t slash = path.rfind('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  static const std::regex re(R"(^(?:lib)?python(3\.[0-9]+)(?:\.so(?:\..*)?)?$)");
  std::cmatch m;
  std::string b(base);
  if (!std::regex_match(b.c_str(), m, re)) return "";
  return m[1].str();
}

bool elf_data_symbol(const std::string& path, std::string_view want, uint64_t* vaddr) {
  elf_version(EV_CURRENT);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  bool found = false;
  for (Elf64_Word type : {SHT_DYNSYM, SHT_SYMTAB}) {
    for (Elf_Scn* scn = elf ? elf_nextscn(elf, nullptr) : nullptr; scn && !found; scn = elf_nextscn(elf, scn)) {
      GElf_Shdr sh;
      if (!gelf_getshdr(scn, &sh) || sh.sh_type != type || !sh.sh_entsize) continue;
      Elf_Data* d = elf_getdata(scn, nullptr);
      size_t n = d ? sh.sh_size / sh.sh_entsize : 0;
      for (size_t i = 0; i < n; i++) {
        GElf_Sym sym;
        if (!gelf_getsym(d, static_cast<int>(i), &sym) || GELF_ST_TYPE(sym.st_info) != STT_OBJECT || !sym.st_value) continue;
        const char* nm = elf_strptr(elf, sh.sh_link, sym.st_name);
        if (nm && want == nm) {
          *vaddr = sym.st_value;
          found = true;
          break;
        }
      }
    }
    if (found) break;
  }
  if (elf) elf_end(elf);
  close(fd);
  return found;
}

bool python_layout(std::string_view version, PythonLayout* out) {
  if (version != "3.11") return false;
  // CPython 3.11 (x86-64, release build), from python3.11-dbg's DWARF (gdb: p &((T*)0)->field).
  PythonLayout l;
  l.walk.tstate_current = 576;  // _PyRuntime.gilstate.tstate_current
  l.walk.ts_cframe = 56;
  l.walk.ts_tid = 160;          // native_thread_id
  l.walk.cframe_current = 8;
  l.walk.frame_code = 32;
  l.walk.frame_previous = 48;
  l.walk.frame_prev_instr = 56;
  l.walk.frame_is_entry = 68;
  l.walk.code_adaptive = 184;
  l.code_firstlineno = 72;
  l.code_filename = 112;
  l.code_name = 120;
  l.code_qualname = 128;
  l.code_linetable = 136;
  *out = l;
  return true;
}

int python_line(std::string_view t, int firstlineno, uint32_t index) {
  size_t i = 0;
  auto varint = [&](uint32_t* v) {
    uint32_t r = 0;
    int shift = 0;
    for (;;) {
      if (i >= t.size() || shift > 28) return false;
      uint8_t b = static_cast<uint8_t>(t[i++]);
      r |= static_cast<uint32_t>(b & 63) << shift;
      shift += 6;
      if (!(b & 64)) break;
    }
    *v = r;
    return true;
  };
  auto svarint = [&](int* v) {
    uint32_t u;
    if (!varint(&u)) return false;
    *v = (u & 1) ? -static_cast<int>(u >> 1) : static_cast<int>(u >> 1);
    return true;
  };
  int line = firstlineno;
  uint32_t at = 0;
  while (i < t.size()) {
    uint8_t first = static_cast<uint8_t>(t[i++]);
    if (!(first & 0x80)) return -1;  // not an entry's first byte: a table we do not read
    int code = (first >> 3) & 15;
    uint32_t len = (first & 7) + 1;
    int delta = 0;
    bool none = false;
    uint32_t skip;
    if (code == 15) {
      none = true;
    } else if (code == 14) {  // long form: line delta, end line delta, column, end column
      if (!svarint(&delta) || !varint(&skip) || !varint(&skip) || !varint(&skip)) return -1;
    } else if (code == 13) {  // no column
      if (!svarint(&delta)) return -1;
    } else if (code >= 10) {  // one-line forms: the delta in the code, two column bytes
      delta = code - 10;
      i += 2;
    } else {  // short form: same line, one column byte
      i += 1;
    }
    line += delta;
    if (index >= at && index < at + len) return none ? -1 : line;
    at += len;
  }
  return -1;
}

Frame PythonFrames::name(uint32_t pid, uint64_t code, uint32_t index, const PythonLayout& l) {
  uint64_t key = (static_cast<uint64_t>(pid) << 48) ^ code;
  auto it = codes_.find(key);
  if (it == codes_.end()) {
    if (codes_.size() >= kMaxCodes) codes_.clear();
    Code c;
    uint64_t name = 0, qualname = 0, file = 0, table = 0;
    int32_t first = 0;
    if (read_val(pid, code + l.code_qualname, &qualname) && read_val(pid, code + l.code_name, &name) &&
        read_val(pid, code + l.code_filename, &file) && read_val(pid, code + l.code_linetable, &table) &&
        read_val(pid, code + l.code_firstlineno, &first)) {
      c.qualname = read_str(pid, qualname, l);
      if (c.qualname == "?") c.qualname = read_str(pid, name, l);
      c.file = read_str(pid, file, l);
      c.firstlineno = first;
      uint64_t size = 0;
      if (table && read_val(pid, table + l.bytes_size, &size) && size <= (64u << 10)) {
        c.linetable.resize(size);
        if (size && !read_mem(pid, table + l.bytes_data, c.linetable.data(), size)) c.linetable.clear();
      }
      // The module: the file's name without .py (<frozen ...>, <string> as they are).
      std::string base = c.file.substr(c.file.rfind('/') == std::string::npos ? 0 : c.file.rfind('/') + 1);
      c.module = base.ends_with(".py") ? base.substr(0, base.size() - 3) : base;
      c.ok = c.qualname != "?";
    }
    it = codes_.emplace(key, std::move(c)).first;
  }
  const Code& c = it->second;
  if (!c.ok) return {"[python]", "[python]", 0, false};
  int line = python_line(c.linetable, c.firstlineno, index);
  std::string base = c.file.substr(c.file.rfind('/') == std::string::npos ? 0 : c.file.rfind('/') + 1);
  std::string name = c.module + "." + c.qualname + " (" + base + ":" + std::to_string(line < 0 ? c.firstlineno : line) + ")";
  return {name, c.file, 0, false};
}

void PythonFrames::forget(uint32_t pid) {
  for (auto it = codes_.begin(); it != codes_.end();)
    if ((it->first >> 48) == (static_cast<uint64_t>(pid) & 0xffff)) it = codes_.erase(it);
    else ++it;
}

std::vector<Frame> merge_python(const std::vector<Frame>& native, const std::vector<std::pair<Frame, bool>>& python) {
  // Runs of Python frames, innermost first, each ending at an entry frame.
  std::vector<std::vector<Frame>> runs(1);
  for (const auto& [f, entry] : python) {
    runs.back().push_back(f);
    if (entry) runs.emplace_back();
  }
  if (runs.back().empty()) runs.pop_back();
  std::vector<Frame> out;
  size_t next = 0;
  for (const auto& f : native) {
    if (f.function == "_PyEval_EvalFrameDefault" && next < runs.size()) {
      for (const auto& p : runs[next++]) out.push_back(p);
      continue;
    }
    out.push_back(f);
  }
  for (; next < runs.size(); next++)
    for (const auto& p : runs[next]) out.push_back(p);
  return out;
}

}  // namespace sightline::symbols
