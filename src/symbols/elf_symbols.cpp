#include "symbols/elf_symbols.h"

#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <lzma.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "symbols/unwind_table.h"

namespace sightline::symbols {

std::string demangle(const char* name) {
  if (name[0] != '_' || name[1] != 'Z') return name;
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || !d) return name;
  std::string out(d);
  free(d);
  return out;
}

namespace {
// One pattern element at p[pi] against c: '?', a class "[a-z0-9]" / "[!...]", or a literal.
// Sets *len to the element's length in the pattern.
bool element_matches(std::string_view p, size_t pi, char c, size_t* len) {
  if (p[pi] == '?') return *len = 1, true;
  if (p[pi] == '[') {
    size_t j = pi + 1;
    bool neg = j < p.size() && (p[j] == '!' || p[j] == '^');
    if (neg) j++;
    bool hit = false;
    size_t start = j;
    while (j < p.size() && (p[j] != ']' || j == start)) {
      if (j + 2 < p.size() && p[j + 1] == '-' && p[j + 2] != ']') {
        hit |= c >= p[j] && c <= p[j + 2];
        j += 3;
      } else {
        hit |= c == p[j++];
      }
    }
    if (j < p.size()) {  // a closed class
      *len = j - pi + 1;
      return hit != neg;
    }
  }
  *len = 1;  // a literal (an unclosed '[' too)
  return p[pi] == c;
}
}  // namespace

bool glob_match(std::string_view p, std::string_view s) {
  size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0, len = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi] != '*' && element_matches(p, pi, s[si], &len)) {
      pi += len, si++;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') pi++;
  return pi == p.size();
}

namespace {

struct ElfHandle {
  int fd = -1;
  Elf* elf = nullptr;
  ~ElfHandle() {
    if (elf) elf_end(elf);
    if (fd >= 0) close(fd);
  }
  bool open(const std::string& path) {
    elf_version(EV_CURRENT);
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
    return elf && elf_kind(elf) == ELF_K_ELF;
  }
};

Elf_Scn* section(Elf* elf, const char* name) {
  size_t shstrndx;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return nullptr;
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn))) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh)) continue;
    const char* n = elf_strptr(elf, shstrndx, sh.sh_name);
    if (n && strcmp(n, name) == 0) return scn;
  }
  return nullptr;
}

std::string read_build_id(Elf* elf) {
  Elf_Scn* scn = nullptr;
  while ((scn = elf_nextscn(elf, scn))) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data) continue;
    size_t off = 0, name_off, desc_off;
    GElf_Nhdr nh;
    while ((off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
      if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
          memcmp(static_cast<char*>(data->d_buf) + name_off, "GNU", 4) == 0) {
        static const char hex[] = "0123456789abcdef";
        std::string id;
        auto* d = static_cast<unsigned char*>(data->d_buf) + desc_off;
        for (size_t i = 0; i < nh.n_descsz; i++) id += hex[d[i] >> 4], id += hex[d[i] & 15];
        return id;
      }
    }
  }
  return {};
}

std::string read_debuglink(Elf* elf) {
  Elf_Scn* scn = section(elf, ".gnu_debuglink");
  if (!scn) return {};
  Elf_Data* data = elf_getdata(scn, nullptr);
  if (!data || !data->d_size) return {};
  const char* s = static_cast<const char*>(data->d_buf);
  return std::string(s, strnlen(s, data->d_size));
}

// Function symbols of .symtab (else .dynsym); appended to `out`.
void read_symbols(Elf* elf, std::vector<Symbol>& out) {
  for (const char* name : {".symtab", ".dynsym"}) {
    Elf_Scn* scn = section(elf, name);
    if (!scn) continue;
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (!data || !sh.sh_entsize) continue;
    size_t n = sh.sh_size / sh.sh_entsize, before = out.size();
    for (size_t i = 0; i < n; i++) {
      GElf_Sym sym;
      if (!gelf_getsym(data, static_cast<int>(i), &sym)) continue;
      int type = GELF_ST_TYPE(sym.st_info);
      if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_shndx == SHN_UNDEF || !sym.st_value) continue;
      const char* sn = elf_strptr(elf, sh.sh_link, sym.st_name);
      if (!sn || !*sn) continue;
      std::string_view raw(sn);
      size_t at = raw.find('@');  // "clock_nanosleep@@GLIBC_2.17": the version is not the name
      out.push_back({sym.st_value, sym.st_size, demangle(std::string(raw.substr(0, at)).c_str())});
    }
    if (out.size() > before) return;  // .symtab has everything .dynsym has
  }
}

// MiniDebugInfo (Fedora's binaries, GDB's "MiniDebugInfo"): .gnu_debugdata holds an xz-compressed
// ELF whose .symtab has the functions .dynsym lacks; appended to `out`. Bounded: a section that
// decompresses past 64 MiB, or is not xz, or not ELF, gives nothing.
void read_minidebuginfo(Elf* elf, std::vector<Symbol>& out) {
  Elf_Scn* scn = section(elf, ".gnu_debugdata");
  GElf_Shdr sh;
  if (!scn || !gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS) return;
  Elf_Data* data = elf_getdata(scn, nullptr);
  if (!data || !data->d_buf || !data->d_size) return;
  constexpr size_t kMax = 64 << 20;
  lzma_stream strm = LZMA_STREAM_INIT;
  if (lzma_stream_decoder(&strm, 256 << 20, 0) != LZMA_OK) return;
  std::vector<char> plain(std::min(kMax, data->d_size * 4 + 4096));
  strm.next_in = static_cast<const uint8_t*>(data->d_buf);
  strm.avail_in = data->d_size;
  strm.next_out = reinterpret_cast<uint8_t*>(plain.data());
  strm.avail_out = plain.size();
  lzma_ret r;
  while ((r = lzma_code(&strm, LZMA_FINISH)) == LZMA_OK && strm.avail_out == 0 && plain.size() < kMax) {
    size_t used = plain.size();
    plain.resize(std::min(kMax, used * 2));
    strm.next_out = reinterpret_cast<uint8_t*>(plain.data() + used);
    strm.avail_out = plain.size() - used;
  }
  size_t n = plain.size() - strm.avail_out;
  lzma_end(&strm);
  if (r != LZMA_STREAM_END) return;
  Elf* mini = elf_memory(plain.data(), n);
  if (!mini) return;
  if (elf_kind(mini) == ELF_K_ELF) read_symbols(mini, out);
  elf_end(mini);
}

// A Go binary's functions from its .gopclntab (the runtime's own table: it survives `-ldflags=-s
// -w` and strip, which remove .symtab). Layouts by the table's magic (Go's runtime/symtab.go):
// 1.2-1.15 0xfffffffb, 1.16-1.17 0xfffffffa, 1.18-1.19 0xfffffff0, 1.20+ 0xfffffff1. Sizes are the
// distance to the next function. Bounds are checked at every read: a table that does not hold
// together gives what it gave so far.
void read_go_pclntab(Elf* elf, std::vector<Symbol>& out) {
  Elf_Scn* scn = section(elf, ".gopclntab");
  GElf_Shdr sh;
  if (!scn || !gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS) return;
  Elf_Data* data = elf_getdata(scn, nullptr);
  if (!data || !data->d_buf || data->d_size < 16) return;
  std::string_view t(static_cast<const char*>(data->d_buf), data->d_size);
  auto u = [&](uint64_t off, size_t n, uint64_t* v) {  // little-endian (x86-64, arm64)
    if (off > t.size() || n > t.size() - off) return false;
    *v = 0;
    for (size_t i = 0; i < n; i++) *v |= static_cast<uint64_t>(static_cast<uint8_t>(t[off + i])) << (8 * i);
    return true;
  };
  uint64_t magic = 0, ptr = static_cast<uint8_t>(t[7]), nfunc = 0;
  u(0, 4, &magic);
  if (t[4] != 0 || t[5] != 0 || (ptr != 4 && ptr != 8) || !u(8, ptr, &nfunc) || nfunc > (1u << 24)) return;
  auto name_at = [&](uint64_t off) -> std::string_view {
    if (off >= t.size()) return {};
    size_t end = t.find('\0', off);
    return end == std::string_view::npos ? std::string_view() : t.substr(off, end - off);
  };
  uint64_t text = 0;
  if (Elf_Scn* ts = section(elf, ".text"); ts) {
    GElf_Shdr tsh;
    if (gelf_getshdr(ts, &tsh)) text = tsh.sh_addr;
  }
  std::vector<std::pair<uint64_t, std::string_view>> funcs;
  if (magic == 0xfffffff0 || magic == 0xfffffff1) {  // pcHeader: ..., textStart, funcnameOffset, cuOffset, filetab, pctab, pclnOffset
    uint64_t text_start = 0, names = 0, pcln = 0;
    if (!u(8 + 2 * ptr, ptr, &text_start) || !u(8 + 3 * ptr, ptr, &names) || !u(8 + 7 * ptr, ptr, &pcln)) return;
    if (!text_start) text_start = text;  // a PIE's is relocated at load: the file has 0
    for (uint64_t i = 0; i <= nfunc; i++) {  // functab: {entryoff, funcoff uint32}, one past the last: the end
      uint64_t entry = 0, fo = 0, name = 0;
      if (!u(pcln + 8 * i, 4, &entry) || !u(pcln + 8 * i + 4, 4, &fo)) return;
      if (i == nfunc) {
        funcs.push_back({text_start + entry, {}});
        break;
      }
      if (!u(pcln + fo + 4, 4, &name)) return;  // _func: entryOff uint32, nameOff int32
      funcs.push_back({text_start + entry, name_at(names + name)});
    }
  } else if (magic == 0xfffffffa || magic == 0xfffffffb) {  // entries are addresses, ptr-sized
    uint64_t names = 0, pcln = 8 + ptr;
    if (magic == 0xfffffffa && (!u(8 + 2 * ptr, ptr, &names) || !u(8 + 6 * ptr, ptr, &pcln))) return;
    for (uint64_t i = 0; i <= nfunc; i++) {
      uint64_t entry = 0, fo = 0, name = 0;
      if (!u(pcln + 2 * ptr * i, ptr, &entry)) return;
      if (i == nfunc) {
        funcs.push_back({entry, {}});
        break;
      }
      if (!u(pcln + 2 * ptr * i + ptr, ptr, &fo) || !u((magic == 0xfffffffa ? pcln : 0) + fo + ptr, 4, &name)) return;
      funcs.push_back({entry, name_at((magic == 0xfffffffa ? names : 0) + name)});
    }
  } else {
    return;
  }
  for (size_t i = 0; i + 1 < funcs.size(); i++)
    if (!funcs[i].second.empty() && funcs[i + 1].first > funcs[i].first)
      out.push_back({funcs[i].first, funcs[i + 1].first - funcs[i].first, std::string(funcs[i].second)});
}

// A stripped binary's functions that no symbol names (static ones: .dynsym lists the exported
// only) get `binary+0xADDRESS` from their .eh_frame_hdr entry: a frame there is that function,
// told apart from the others, never a bare [unknown] (perf's). Appended to `out`.
constexpr size_t kMaxUnnamed = 50000;
void name_unnamed_functions(Elf* elf, const std::string& path, std::vector<Symbol>& out) {
  std::vector<uint64_t> starts;
  if (!eh_frame_functions(elf, &starts)) return;
  std::vector<std::pair<uint64_t, uint64_t>> named;  // [addr, end) of the sized symbols
  for (const auto& s : out) named.emplace_back(s.addr, s.addr + std::max<uint64_t>(s.size, 1));
  std::sort(named.begin(), named.end());
  std::string base = std::filesystem::path(path).filename().string();
  char hex[32];
  size_t added = 0;
  for (uint64_t a : starts) {
    if (++added > kMaxUnnamed) break;  // a browser's 300k: its frames past that stay [binary]
    auto it = std::upper_bound(named.begin(), named.end(), std::make_pair(a, UINT64_MAX));
    if (it != named.begin() && a < std::prev(it)->second) continue;  // inside a named one
    snprintf(hex, sizeof hex, "+0x%llx", static_cast<unsigned long long>(a));
    out.push_back({a, 0, base + hex});
  }
}

bool has_symtab(Elf* elf) {
  Elf_Scn* scn = section(elf, ".symtab");
  GElf_Shdr sh;
  return scn && gelf_getshdr(scn, &sh) && sh.sh_type != SHT_NOBITS && sh.sh_size > 0;
}

}  // namespace

struct ElfSymbols::DwarfHandle {
  ElfHandle file;
  Dwarf* dw = nullptr;
  ~DwarfHandle() {
    if (dw) dwarf_end(dw);
  }
};

ElfSymbols::~ElfSymbols() = default;

std::vector<std::string> ElfSymbols::inlined(uint64_t vaddr, uint64_t max_dwarf_bytes) const {
  if (!dwarf_tried_) {
    dwarf_tried_ = true;
    auto h = std::make_unique<DwarfHandle>();
    if (!dwarf_file_.empty() && h->file.open(dwarf_file_)) {
      // What libdw will hold on the heap, known before it is paid: the .debug sections stored
      // compressed, decompressed (the others are read through the file's mapping), and its
      // index of the units.
      dwarf_bytes_ = 64 * 1024;
      size_t shstrndx;
      if (elf_getshdrstrndx(h->file.elf, &shstrndx) == 0)
        for (Elf_Scn* scn = nullptr; (scn = elf_nextscn(h->file.elf, scn));) {
          GElf_Shdr sh;
          GElf_Chdr ch;
          if (!gelf_getshdr(scn, &sh)) continue;
          const char* n = elf_strptr(h->file.elf, shstrndx, sh.sh_name);
          if (n && strncmp(n, ".debug", 6) == 0 && (sh.sh_flags & SHF_COMPRESSED) && gelf_getchdr(scn, &ch))
            dwarf_bytes_ += ch.ch_size;
          else if (n && strcmp(n, ".debug_aranges") == 0)
            dwarf_bytes_ += sh.sh_size * 4;
        }
      if (dwarf_bytes_ + kInlinedMemoBytes > max_dwarf_bytes)
        dwarf_refused_ = true;
      else if ((h->dw = dwarf_begin_elf(h->file.elf, DWARF_C_READ, nullptr)))
        dwarf_ = std::move(h);
    }
  }
  std::vector<std::string> out;
  if (!dwarf_) return out;
  if (auto it = inlined_memo_.find(vaddr); it != inlined_memo_.end()) return it->second;
  if (inlined_memo_.size() >= kInlinedMemo) inlined_memo_.clear();
  std::vector<std::string>& memo = inlined_memo_[vaddr];
  Dwarf_Die cu;
  if (!dwarf_addrdie(dwarf_->dw, vaddr, &cu)) return out;
  Dwarf_Die* scopes = nullptr;
  int n = dwarf_getscopes(&cu, vaddr, &scopes);
  for (int i = n - 1; i >= 0; i--) {  // outermost first
    if (dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine) continue;
    Dwarf_Attribute attr;
    const char* name = nullptr;
    if (dwarf_attr_integrate(&scopes[i], DW_AT_linkage_name, &attr) ||
        dwarf_attr_integrate(&scopes[i], DW_AT_MIPS_linkage_name, &attr))
      name = dwarf_formstring(&attr);
    if (!name && dwarf_attr_integrate(&scopes[i], DW_AT_name, &attr)) name = dwarf_formstring(&attr);
    out.push_back(name ? demangle(name) : "[inlined]");
  }
  free(scopes);
  memo = out;
  return out;
}

void ElfSymbols::close_dwarf(bool for_good) const {
  dwarf_.reset();
  inlined_memo_.clear();
  dwarf_tried_ = for_good;
  dwarf_refused_ = dwarf_refused_ || for_good;
}

core::Status ElfSymbols::load(const std::string& path, std::unique_ptr<ElfSymbols>* out,
                              const std::string& debug_root, bool name_unnamed) {
  ElfHandle h;
  if (!h.open(path))
    return core::Status::error(errno ? errno : EINVAL, path + ": not a readable ELF file");
  auto es = std::make_unique<ElfSymbols>();
  GElf_Ehdr eh;
  if (!gelf_getehdr(h.elf, &eh)) return core::Status::error(EINVAL, path + ": no ELF header");
  es->dyn_ = eh.e_type == ET_DYN;
  size_t nph = 0;
  elf_getphdrnum(h.elf, &nph);
  for (size_t i = 0; i < nph; i++) {
    GElf_Phdr ph;
    if (gelf_getphdr(h.elf, static_cast<int>(i), &ph) && ph.p_type == PT_LOAD)
      es->segments_.push_back({ph.p_offset, ph.p_vaddr, ph.p_filesz, (ph.p_flags & PF_X) != 0});
  }
  es->build_id_ = read_build_id(h.elf);
  read_symbols(h.elf, es->syms_);
  if (section(h.elf, ".debug_info")) es->dwarf_file_ = path;
  if (!has_symtab(h.elf)) {
    // Stripped: the debug file by build id, then by debuglink (next to it, .debug/, the root).
    std::vector<std::string> candidates;
    if (es->build_id_.size() > 2)
      candidates.push_back(debug_root + "/.build-id/" + es->build_id_.substr(0, 2) + "/" +
                           es->build_id_.substr(2) + ".debug");
    std::string link = read_debuglink(h.elf);
    if (!link.empty()) {
      std::filesystem::path dir = std::filesystem::path(path).parent_path();
      candidates.push_back((dir / link).string());
      candidates.push_back((dir / ".debug" / link).string());
      candidates.push_back(debug_root + dir.string() + "/" + link);
    }
    for (const auto& c : candidates) {
      if (c == path) continue;
      ElfHandle d;
      if (!d.open(c) || !has_symtab(d.elf)) continue;
      std::string id = read_build_id(d.elf);
      if (!es->build_id_.empty() && !id.empty() && id != es->build_id_) continue;  // another build
      read_symbols(d.elf, es->syms_);
      es->debug_file_ = c;
      if (es->dwarf_file_.empty() && section(d.elf, ".debug_info")) es->dwarf_file_ = c;
      break;
    }
    if (es->debug_file_.empty()) {
      read_minidebuginfo(h.elf, es->syms_);  // Fedora's stripped binaries
      read_go_pclntab(h.elf, es->syms_);     // a stripped Go binary
      if (name_unnamed) name_unnamed_functions(h.elf, path, es->syms_);
    }
  }
  auto& s = es->syms_;
  std::sort(s.begin(), s.end(), [](const Symbol& a, const Symbol& b) {
    return a.addr != b.addr ? a.addr < b.addr : a.size > b.size;
  });
  s.erase(std::unique(s.begin(), s.end(), [](const Symbol& a, const Symbol& b) { return a.addr == b.addr; }),
          s.end());
  s.shrink_to_fit();
  es->memory_bytes_ = sizeof(ElfSymbols) + s.capacity() * sizeof(Symbol);
  for (const auto& sym : s)
    if (sym.name.capacity() > 15) es->memory_bytes_ += sym.name.capacity() + 1;
  *out = std::move(es);
  return {};
}

bool ElfSymbols::section_of(const std::string& path, const char* name, size_t max, std::string* bytes,
                            uint16_t* machine) {
  ElfHandle h;
  if (!h.open(path)) return false;
  Elf_Scn* scn = section(h.elf, name);
  if (!scn) return false;
  if (machine) {
    GElf_Ehdr eh;
    *machine = gelf_getehdr(h.elf, &eh) ? eh.e_machine : 0;
  }
  if (bytes) {
    bytes->clear();
    GElf_Shdr sh;
    Elf_Data* data = gelf_getshdr(scn, &sh) && sh.sh_type != SHT_NOBITS ? elf_getdata(scn, nullptr) : nullptr;
    if (data && data->d_buf) bytes->assign(static_cast<const char*>(data->d_buf), std::min(max, data->d_size));
  }
  return true;
}

const Symbol* ElfSymbols::find(uint64_t vaddr) const {
  auto it = std::upper_bound(syms_.begin(), syms_.end(), vaddr,
                             [](uint64_t a, const Symbol& s) { return a < s.addr; });
  if (it == syms_.begin()) return nullptr;
  --it;
  if (it->size && vaddr >= it->addr + it->size) return nullptr;  // in a gap between functions
  return &*it;
}

bool ElfSymbols::offset_to_vaddr(uint64_t offset, uint64_t* vaddr) const {
  for (const auto& seg : segments_)
    if (offset >= seg.offset && offset < seg.offset + seg.filesz) {
      *vaddr = offset - seg.offset + seg.vaddr;
      return true;
    }
  return false;
}

bool ElfSymbols::vaddr_to_offset(uint64_t vaddr, uint64_t* offset) const {
  for (const auto& seg : segments_)
    if (vaddr >= seg.vaddr && vaddr < seg.vaddr + seg.filesz) {
      *offset = vaddr - seg.vaddr + seg.offset;
      return true;
    }
  return false;
}

std::vector<const Symbol*> ElfSymbols::match(std::string_view glob) const {
  std::vector<const Symbol*> out;
  for (const auto& s : syms_)
    if (glob_match(glob, s.name)) out.push_back(&s);
  return out;
}

}  // namespace sightline::symbols
