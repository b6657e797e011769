// Unwind tables for the profiler's in-kernel walk (unwind: kernel): the .eh_frame CFI of one
// ELF file turned into rows sorted by address (sl_unw_row: where the CFA is, whether the
// caller's rbp was saved), which the BPF program binary-searches per frame. x86-64 only.
//
// The FDEs are found through .eh_frame_hdr's sorted table (every GNU ld and lld output has
// one); libdw executes each FDE's instructions (dwarf_cfi_addrframe) and gives each address
// range's rules, which are reduced to the few forms compiled code uses: CFA = rsp or rbp plus
// an offset, the PLT's expression, the return address at CFA-8. Anything else becomes a
// SL_UNW_CFA_NONE row, where the walk falls back to the frame pointer. Gaps between FDEs get
// a NONE row too, so no function inherits another's last row.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "sightline/profile.h"
#include "symbols/elf_symbols.h"

typedef struct Elf Elf;  // libelf's

namespace sightline::symbols {

struct UnwindTableStats {
  size_t fdes = 0;     // FDEs the table lists
  size_t rows = 0;     // rows made (after merging equal neighbours)
  size_t fallback = 0; // rows with a rule the walk does not follow (NONE)
};

struct UnwindTable {
  std::vector<sl_unw_row> rows;   // sorted by pc
  std::vector<Segment> segments;  // PT_LOAD: a mapping's file offset -> link-time address
  UnwindTableStats stats;
};

// Bound on rows per file: a table past it is refused (a corrupt or absurd .eh_frame_hdr).
inline constexpr size_t kMaxUnwindRows = 4u << 20;

// Builds the table of the ELF file at `path`. An error names why (no .eh_frame_hdr, not
// x86-64, code above 4 GiB, more than kMaxUnwindRows rows); a file without CFI is an error
// too (its frames are walked by frame pointers).
// `max_rows`: a file that would take more is refused (E2BIG) before its CFI is read when its
// FDE count says so (a browser's 300k FDEs would take tens of MiB to read).
core::Status build_unwind_table(const std::string& path, UnwindTable* out, size_t max_rows = kMaxUnwindRows);
// The same from an ELF image in memory (tests, fuzzing).
core::Status build_unwind_table_mem(const void* data, size_t size, UnwindTable* out);
// A mapping [start, end) of the file at `pgoff`: its bias (link-time address = address - bias)
// from the executable PT_LOAD segment it holds; false when it holds none.
bool mapping_bias(const std::vector<Segment>& segments, uint64_t start, uint64_t end, uint64_t pgoff, uint64_t* bias);

// The start addresses (link-time, sorted) of the functions .eh_frame_hdr lists: how a stripped
// binary's functions are told apart (named binary+0xaddress) without symbols.
core::Status eh_frame_functions(Elf* elf, std::vector<uint64_t>* starts);

// The row that covers link-time address `pc` (the last row at or below it), or null: what the
// BPF walk does, for tests.
const sl_unw_row* find_unwind_row(const std::vector<sl_unw_row>& rows, uint64_t pc);

}  // namespace sightline::symbols
