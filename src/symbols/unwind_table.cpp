#include "symbols/unwind_table.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace sightline::symbols {
namespace {

constexpr int kRegRbp = 6, kRegRsp = 7, kRegRa = 16;  // DWARF numbering on x86-64

// Reads one value of DWARF pointer encoding `enc` (only the fixed-size forms .eh_frame_hdr
// uses); false past the end or for a form we do not read.
bool read_encoded(const uint8_t*& p, const uint8_t* end, uint8_t enc, int64_t* v) {
  size_t n;
  bool is_signed = enc & 0x08;
  switch (enc & 0x07) {
    case 0x00: n = 8; break;  // absptr (or sdata8/udata8 with the 0x04 form below)
    case 0x02: n = 2; break;
    case 0x03: n = 4; break;
    case 0x04: n = 8; break;
    default: return false;  // uleb128 forms: not used in .eh_frame_hdr
  }
  if (static_cast<size_t>(end - p) < n) return false;
  uint64_t u = 0;
  memcpy(&u, p, n);  // little-endian (x86-64)
  p += n;
  if (is_signed && n < 8 && (u >> (n * 8 - 1)) & 1) u |= ~0ULL << (n * 8);
  *v = static_cast<int64_t>(u);
  return true;
}

// The FDE start addresses (link-time, sorted) from .eh_frame_hdr's search table.
core::Status fde_starts(Elf* elf, std::vector<uint64_t>* out) {
  size_t shstrndx = 0;
  const uint8_t* data = nullptr;
  size_t size = 0;
  uint64_t vaddr = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) == 0) {
    for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
      GElf_Shdr sh;
      if (!gelf_getshdr(scn, &sh)) continue;
      const char* name = elf_strptr(elf, shstrndx, sh.sh_name);
      if (!name || strcmp(name, ".eh_frame_hdr") != 0 || sh.sh_type == SHT_NOBITS) continue;
      Elf_Data* d = elf_getdata(scn, nullptr);
      if (!d || !d->d_buf) break;
      data = static_cast<const uint8_t*>(d->d_buf);
      size = d->d_size;
      vaddr = sh.sh_addr;
      break;
    }
  }
  if (!data) {  // no section headers: the PT_GNU_EH_FRAME segment
    size_t nph = 0, raw_size = 0;
    const char* raw = elf_rawfile(elf, &raw_size);
    if (raw && elf_getphdrnum(elf, &nph) == 0)
      for (size_t i = 0; i < nph; i++) {
        GElf_Phdr ph;
        if (!gelf_getphdr(elf, static_cast<int>(i), &ph) || ph.p_type != PT_GNU_EH_FRAME) continue;
        if (ph.p_offset > raw_size || ph.p_filesz > raw_size - ph.p_offset) break;
        data = reinterpret_cast<const uint8_t*>(raw) + ph.p_offset;
        size = ph.p_filesz;
        vaddr = ph.p_vaddr;
        break;
      }
  }
  if (!data) return core::Status::error(ENOENT, "no .eh_frame_hdr");
  const uint8_t *p = data, *end = data + size;
  if (size < 4 || p[0] != 1) return core::Status::error(EINVAL, ".eh_frame_hdr: not version 1");
  uint8_t ptr_enc = p[1], count_enc = p[2], table_enc = p[3];
  p += 4;
  int64_t eh_frame_ptr = 0, count = 0;
  if (!read_encoded(p, end, ptr_enc, &eh_frame_ptr) || !read_encoded(p, end, count_enc, &count))
    return core::Status::error(EINVAL, ".eh_frame_hdr: unreadable header");
  if (table_enc != 0x3b)  // DW_EH_PE_datarel | DW_EH_PE_sdata4: what the linkers write
    return core::Status::error(EINVAL, ".eh_frame_hdr: search table encoding " + std::to_string(table_enc) +
                                           " not read");
  if (count < 0 || static_cast<uint64_t>(count) > static_cast<uint64_t>(end - p) / 8)
    return core::Status::error(EINVAL, ".eh_frame_hdr: " + std::to_string(count) + " entries do not fit");
  out->reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; i++) {
    int32_t loc;
    memcpy(&loc, p + i * 8, 4);
    out->push_back(vaddr + static_cast<uint64_t>(static_cast<int64_t>(loc)));
  }
  std::sort(out->begin(), out->end());
  out->erase(std::unique(out->begin(), out->end()), out->end());
  return {};
}

bool is_breg(const Dwarf_Op& op, int reg, int64_t* off) {
  if (op.atom == DW_OP_bregx && op.number == static_cast<Dwarf_Word>(reg)) {
    *off = static_cast<int64_t>(op.number2);
    return true;
  }
  if (op.atom == DW_OP_breg0 + reg) {
    *off = static_cast<int64_t>(op.number);
    return true;
  }
  return false;
}

// The CFA rule of `frame` as a row's cfa and cfa_off.
void cfa_rule(Dwarf_Frame* frame, sl_unw_row* r) {
  r->cfa = SL_UNW_CFA_NONE;
  Dwarf_Op* ops = nullptr;
  size_t nops = 0;
  if (dwarf_frame_cfa(frame, &ops, &nops) != 0 || nops == 0) return;
  int64_t off = 0;
  if (nops == 1) {
    int kind = is_breg(ops[0], kRegRsp, &off) ? SL_UNW_CFA_RSP : is_breg(ops[0], kRegRbp, &off) ? SL_UNW_CFA_RBP : 0;
    if (!kind || off < INT16_MIN || off > INT16_MAX) return;
    r->cfa = static_cast<uint8_t>(kind);
    r->cfa_off = static_cast<int16_t>(off);
    return;
  }
  // The PLT's: rsp + 8 + ((rip & 15) >= N) << 3, N 10 or 11 (the entry's second push).
  int64_t rsp_off = 0, rip_off = 0;
  if (nops == 9 && is_breg(ops[0], kRegRsp, &rsp_off) && rsp_off == 8 && is_breg(ops[1], kRegRa, &rip_off) &&
      rip_off == 0 && ops[2].atom == DW_OP_lit15 && ops[3].atom == DW_OP_and &&
      (ops[4].atom == DW_OP_lit10 || ops[4].atom == DW_OP_lit11) && ops[5].atom == DW_OP_ge &&
      ops[6].atom == DW_OP_lit3 && ops[7].atom == DW_OP_shl && ops[8].atom == DW_OP_plus) {
    r->cfa = SL_UNW_CFA_PLT;
    r->cfa_off = ops[4].atom - DW_OP_lit0;
  }
}

// Where register `reg` of the caller is: 1 saved at CFA + *off, 0 same value, -1 undefined,
// -2 another rule.
int reg_rule(Dwarf_Frame* frame, int reg, int64_t* off) {
  Dwarf_Op mem[3];
  Dwarf_Op* ops = nullptr;
  size_t nops = 0;
  if (dwarf_frame_register(frame, reg, mem, &ops, &nops) != 0) return -2;
  if (nops == 0) return ops == nullptr ? 0 : -1;
  if (ops[0].atom != DW_OP_call_frame_cfa) return -2;
  if (nops == 1) return *off = 0, 1;
  if (nops == 2 && ops[1].atom == DW_OP_plus_uconst) return *off = static_cast<int64_t>(ops[1].number), 1;
  return -2;
}

sl_unw_row row_of(Dwarf_Frame* frame, uint64_t pc) {
  sl_unw_row r{};
  r.pc = static_cast<uint32_t>(pc);
  bool signal = false;
  if (dwarf_frame_info(frame, nullptr, nullptr, &signal) < 0 || signal) {  // signal trampolines
    r.cfa = SL_UNW_CFA_NONE;
    return r;
  }
  int64_t off = 0;
  int ra = reg_rule(frame, kRegRa, &off);
  if (ra == -1) {  // the outermost frame
    r.cfa = SL_UNW_CFA_END;
    return r;
  }
  cfa_rule(frame, &r);
  if (ra != 1 || off != -8) r.cfa = SL_UNW_CFA_NONE;
  if (r.cfa == SL_UNW_CFA_NONE) {
    r.cfa_off = 0;
    return r;
  }
  int bp = reg_rule(frame, kRegRbp, &off);
  if (bp == 0)
    r.rbp = 0;
  else if (bp == 1 && off % 8 == 0 && off / 8 > SL_UNW_RBP_LOST && off / 8 <= INT8_MAX && off != 0)
    r.rbp = static_cast<int8_t>(off / 8);
  else
    r.rbp = SL_UNW_RBP_LOST;
  return r;
}

bool same_rules(const sl_unw_row& a, const sl_unw_row& b) {
  return a.cfa == b.cfa && a.cfa_off == b.cfa_off && a.rbp == b.rbp;
}

// libdw sizes a frame's register array by the largest register number its CFI names: a corrupt or
// hostile .eh_frame naming register 2^28 made it allocate 1.9 GB in one go (fuzz_unwind). Every
// instruction of every CIE and FDE is read here first, and a register past kMaxCfiReg (x86-64's
// DWARF numbers end at 130: k0-k7 are 118-125), an opcode or encoding not known, or a table
// that does not parse refuses the file before libdw runs any of it. Only a .eh_frame section is
// read; a file without section headers is refused with it (libdw would find the CFI through
// PT_GNU_EH_FRAME, whose extent this check would have to guess).
constexpr uint64_t kMaxCfiReg = 255;

struct CfiReader {
  const uint8_t *p, *end;
  bool ok = true;
  uint64_t uleb() {
    uint64_t v = 0;
    for (int shift = 0;; shift += 7) {
      if (p >= end || shift > 63) return ok = false, 0;
      uint8_t b = *p++;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
  }
  void sleb() { (void)uleb(); }
  void skip(uint64_t n) {
    if (!ok || n > static_cast<uint64_t>(end - p)) ok = false;
    else p += n;
  }
  // One value of pointer encoding `enc` (its format: the low four bits).
  void encoded(uint8_t enc) {
    switch (enc & 0x0f) {
      case 0x00: case 0x04: case 0x0c: skip(8); break;
      case 0x02: case 0x0a: skip(2); break;
      case 0x03: case 0x0b: skip(4); break;
      case 0x01: case 0x09: (void)uleb(); break;
      default: ok = false;
    }
  }
  void reg(uint64_t* max) { *max = std::max(*max, uleb()); }
};

// The largest register number in an instruction stream; false if it does not parse.
bool cfi_program_regs(const uint8_t* p, const uint8_t* end, uint8_t fde_enc, uint64_t* max) {
  CfiReader r{p, end};
  while (r.ok && r.p < r.end) {
    uint8_t op = *r.p++;
    switch (op >> 6) {
      case 1: continue;                       // advance_loc
      case 2: r.uleb(); continue;             // offset: register in the opcode (< 64)
      case 3: continue;                       // restore
    }
    switch (op) {
      case DW_CFA_nop: case DW_CFA_remember_state: case DW_CFA_restore_state: case DW_CFA_GNU_window_save: break;
      case DW_CFA_set_loc: r.encoded(fde_enc); break;
      case DW_CFA_advance_loc1: r.skip(1); break;
      case DW_CFA_advance_loc2: r.skip(2); break;
      case DW_CFA_advance_loc4: r.skip(4); break;
      case DW_CFA_offset_extended: case DW_CFA_val_offset: case DW_CFA_GNU_negative_offset_extended:
      case DW_CFA_def_cfa: r.reg(max), r.uleb(); break;
      case DW_CFA_offset_extended_sf: case DW_CFA_val_offset_sf: case DW_CFA_def_cfa_sf: r.reg(max), r.sleb(); break;
      case DW_CFA_restore_extended: case DW_CFA_undefined: case DW_CFA_same_value: case DW_CFA_def_cfa_register:
        r.reg(max);
        break;
      case DW_CFA_register: r.reg(max), r.reg(max); break;
      case DW_CFA_def_cfa_offset: case DW_CFA_GNU_args_size: r.uleb(); break;
      case DW_CFA_def_cfa_offset_sf: r.sleb(); break;
      case DW_CFA_def_cfa_expression: r.skip(r.uleb()); break;
      case DW_CFA_expression: case DW_CFA_val_expression: r.reg(max), r.skip(r.uleb()); break;
      default: return false;
    }
  }
  return r.ok;
}

core::Status cfi_registers_bounded(Elf* elf) {
  size_t shstrndx = 0;
  Elf_Data* data = nullptr;
  if (elf_getshdrstrndx(elf, &shstrndx) == 0)
    for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn; scn = elf_nextscn(elf, scn)) {
      GElf_Shdr sh;
      const char* name = gelf_getshdr(scn, &sh) ? elf_strptr(elf, shstrndx, sh.sh_name) : nullptr;
      if (name && strcmp(name, ".eh_frame") == 0 && sh.sh_type != SHT_NOBITS) {
        data = elf_getdata(scn, nullptr);
        break;
      }
    }
  if (!data || !data->d_buf) return core::Status::error(ENOENT, "no .eh_frame section");
  const unsigned char* ident = reinterpret_cast<const unsigned char*>(elf_getident(elf, nullptr));
  if (!ident) return core::Status::error(EINVAL, "no ELF ident");
  struct Cie {
    uint8_t fde_enc = 0;
    bool z = false;
  };
  std::vector<std::pair<Dwarf_Off, Cie>> cies;  // by offset, in file order (sorted)
  uint64_t max = 0;
  auto bad = [](Dwarf_Off at, const char* what) {
    return core::Status::error(EINVAL, ".eh_frame at " + std::to_string(at) + ": " + what);
  };
  for (Dwarf_Off off = 0, next = 0;; off = next) {
    Dwarf_CFI_Entry e;
    int r = dwarf_next_cfi(ident, data, true, off, &next, &e);
    if (r > 0) break;  // the end
    if (r < 0 || next <= off) return bad(off, "an entry that does not parse");
    if (dwarf_cfi_cie_p(&e)) {
      Cie c;
      std::string_view aug = e.cie.augmentation ? e.cie.augmentation : "";
      if (!aug.empty()) {
        if (aug[0] != 'z') return bad(off, "augmentation without 'z'");
        c.z = true;
        CfiReader a{e.cie.augmentation_data, e.cie.augmentation_data + e.cie.augmentation_data_size};
        for (char ch : aug.substr(1)) {
          if (ch == 'R') {
            if (a.p >= a.end) return bad(off, "augmentation data cut");
            c.fde_enc = *a.p++;
          } else if (ch == 'P') {
            if (a.p >= a.end) return bad(off, "augmentation data cut");
            a.encoded(*a.p++);
          } else if (ch == 'L') {
            a.skip(1);
          } else if (ch != 'S' && ch != 'B') {
            return bad(off, "augmentation not known");
          }
          if (!a.ok) return bad(off, "augmentation data cut");
        }
      }
      if (!cfi_program_regs(e.cie.initial_instructions, e.cie.initial_instructions_end, c.fde_enc, &max))
        return bad(off, "CIE instructions that do not parse");
      max = std::max<uint64_t>(max, e.cie.return_address_register);
      cies.push_back({off, c});
    } else {
      auto it = std::lower_bound(cies.begin(), cies.end(), std::make_pair(e.fde.CIE_pointer, Cie{}),
                                 [](const auto& a, const auto& b) { return a.first < b.first; });
      if (it == cies.end() || it->first != e.fde.CIE_pointer) return bad(off, "an FDE without its CIE before it");
      CfiReader f{e.fde.start, e.fde.end};
      f.encoded(it->second.fde_enc);  // initial_location
      f.encoded(it->second.fde_enc & 0x0f);  // address_range (no pc-relative part)
      if (it->second.z) f.skip(f.uleb());
      if (!f.ok || !cfi_program_regs(f.p, f.end, it->second.fde_enc, &max))
        return bad(off, "FDE instructions that do not parse");
    }
    if (max > kMaxCfiReg) return bad(off, ("register " + std::to_string(max) + " named").c_str());
  }
  return {};
}

core::Status build(Elf* elf, UnwindTable* out, size_t max_rows) {
  *out = {};
  std::vector<sl_unw_row>* rows = &out->rows;
  GElf_Ehdr eh;
  if (!gelf_getehdr(elf, &eh)) return core::Status::error(EINVAL, "not an ELF file");
  if (eh.e_machine != EM_X86_64) return core::Status::error(ENOTSUP, "not x86-64");
  size_t nph = 0;
  if (elf_getphdrnum(elf, &nph) == 0)
    for (size_t i = 0; i < nph && i < 256; i++) {
      GElf_Phdr ph;
      if (gelf_getphdr(elf, static_cast<int>(i), &ph) && ph.p_type == PT_LOAD)
        out->segments.push_back({ph.p_offset, ph.p_vaddr, ph.p_filesz, (ph.p_flags & PF_X) != 0});
    }
  std::vector<uint64_t> starts;
  core::Status st = fde_starts(elf, &starts);
  if (!st) return st;
  if (starts.empty()) return core::Status::error(ENOENT, "no FDEs");
  // Functions make 5-10 rows each: past the bound at 4, refused without reading the CFI.
  if (starts.size() * 4 > max_rows)
    return core::Status::error(E2BIG, std::to_string(starts.size()) + " functions: more rows than " +
                                          std::to_string(max_rows));
  if (starts.back() > UINT32_MAX) return core::Status::error(ERANGE, "code above 4 GiB");
  if (core::Status bounded = cfi_registers_bounded(elf); !bounded) return bounded;
  Dwarf_CFI* cfi = dwarf_getcfi_elf(elf);
  if (!cfi) return core::Status::error(ENOENT, "no .eh_frame");
  UnwindTableStats s;
  s.fdes = starts.size();
  auto push = [&](const sl_unw_row& r) {
    if (!rows->empty() && same_rules(rows->back(), r)) return;
    if (!rows->empty() && rows->back().pc == r.pc) {  // an empty range: the newer rules win
      rows->back() = r;
      return;
    }
    rows->push_back(r);
  };
  for (size_t i = 0; i < starts.size() && rows->size() < max_rows; i++) {
    uint64_t next = i + 1 < starts.size() ? starts[i + 1] : UINT32_MAX;
    uint64_t addr = starts[i];
    while (addr < next) {
      Dwarf_Frame* frame = nullptr;
      if (dwarf_cfi_addrframe(cfi, addr, &frame) != 0) break;
      Dwarf_Addr lo = 0, hi = 0;
      dwarf_frame_info(frame, &lo, &hi, nullptr);
      push(row_of(frame, addr));
      free(frame);
      if (hi <= addr) break;  // no progress: a corrupt range
      addr = std::min<uint64_t>(hi, UINT32_MAX);
    }
    if (addr < next || i + 1 == starts.size()) {  // a gap without CFI up to the next FDE
      sl_unw_row gap{};
      gap.pc = static_cast<uint32_t>(std::min<uint64_t>(addr, UINT32_MAX));
      gap.cfa = SL_UNW_CFA_NONE;
      push(gap);
    }
  }
  dwarf_cfi_end(cfi);
  if (rows->size() >= max_rows) {
    rows->clear();
    rows->shrink_to_fit();
    return core::Status::error(E2BIG, "more than " + std::to_string(max_rows) + " unwind rows");
  }
  s.rows = rows->size();
  for (const auto& r : *rows) s.fallback += r.cfa == SL_UNW_CFA_NONE;
  out->stats = s;
  return {};
}

}  // namespace

core::Status build_unwind_table(const std::string& path, UnwindTable* out, size_t max_rows) {
  elf_version(EV_CURRENT);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return core::Status::error(errno, "open " + path + ": " + strerror(errno));
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  core::Status st = elf ? build(elf, out, max_rows) : core::Status::error(EINVAL, "not an ELF file");
  if (elf) elf_end(elf);
  close(fd);
  return st;
}

core::Status build_unwind_table_mem(const void* data, size_t size, UnwindTable* out) {
  elf_version(EV_CURRENT);
  Elf* elf = elf_memory(static_cast<char*>(const_cast<void*>(data)), size);
  core::Status st = elf ? build(elf, out, kMaxUnwindRows) : core::Status::error(EINVAL, "not an ELF image");
  if (elf) elf_end(elf);
  return st;
}

core::Status eh_frame_functions(Elf* elf, std::vector<uint64_t>* starts) { return fde_starts(elf, starts); }

bool mapping_bias(const std::vector<Segment>& segments, uint64_t start, uint64_t end, uint64_t pgoff, uint64_t* bias) {
  uint64_t len = end > start ? end - start : 0;
  for (const auto& s : segments)  // the exec segment overlapping the mapped file range
    if (s.exec && s.offset < pgoff + len && pgoff < s.offset + std::max<uint64_t>(s.filesz, 1)) {
      *bias = start - pgoff + s.offset - s.vaddr;
      return true;
    }
  return false;
}

const sl_unw_row* find_unwind_row(const std::vector<sl_unw_row>& rows, uint64_t pc) {
  auto it = std::upper_bound(rows.begin(), rows.end(), pc,
                             [](uint64_t v, const sl_unw_row& r) { return v < r.pc; });
  return it == rows.begin() ? nullptr : &*(it - 1);
}

}  // namespace sightline::symbols
