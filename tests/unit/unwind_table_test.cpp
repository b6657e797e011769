// Unwind tables from .eh_frame (symbols/unwind_table.h) on code whose CFI this test writes by
// hand (assembler directives), so every row is known: CFA from rsp and from rbp, rbp saved, the
// outermost frame, a rule the walk does not follow, the gaps between functions; then a real
// binary, stripped functions named by address, and bad input. No root needed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "symbols/elf_symbols.h"
#include "symbols/unwind_table.h"

using namespace sightline::symbols;
namespace fs = std::filesystem;

namespace {

class Unwind : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("sl-unw-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "f.s") << R"(
  .text
  .globl f_rsp, f_rbp, f_end, f_expr, f_static_caller
  .type f_rsp,@function
f_rsp:
  .cfi_startproc
  push %rbx
  .cfi_adjust_cfa_offset 8
  .cfi_offset %rbx, -16
  sub $0x20, %rsp
  .cfi_adjust_cfa_offset 0x20
  nop
  add $0x20, %rsp
  .cfi_adjust_cfa_offset -0x20
  pop %rbx
  .cfi_adjust_cfa_offset -8
  ret
  .cfi_endproc
  .size f_rsp, .-f_rsp
  .p2align 4
  .type f_rbp,@function
f_rbp:
  .cfi_startproc
  push %rbp
  .cfi_def_cfa_offset 16
  .cfi_offset %rbp, -16
  mov %rsp, %rbp
  .cfi_def_cfa_register %rbp
  nop
  pop %rbp
  .cfi_def_cfa %rsp, 8
  ret
  .cfi_endproc
  .size f_rbp, .-f_rbp
  .p2align 4
  .type f_end,@function
f_end:
  .cfi_startproc
  .cfi_undefined %rip
  xor %ebp, %ebp
  hlt
  .cfi_endproc
  .size f_end, .-f_end
  .p2align 4
  .type f_expr,@function
f_expr:
  .cfi_startproc
  /* DW_CFA_def_cfa_expression { DW_OP_breg7 16; DW_OP_deref }: not a form the walk follows */
  .cfi_escape 0x0f, 0x03, 0x77, 0x10, 0x06
  nop
  ret
  .cfi_endproc
  .size f_expr, .-f_expr
  .p2align 4
  .type f_static, @function
f_static:
  .cfi_startproc
  ret
  .cfi_endproc
  .size f_static, .-f_static
  .type f_static_caller, @function
f_static_caller:
  .cfi_startproc
  call f_static
  ret
  .cfi_endproc
  .size f_static_caller, .-f_static_caller
)";
    ASSERT_EQ(system(("cd " + dir_.string() + " && cc -shared -nostdlib -Wl,--eh-frame-hdr -o f.so f.s").c_str()), 0);
    ASSERT_EQ(system(("cd " + dir_.string() + " && cp f.so stripped.so && strip --strip-all stripped.so").c_str()), 0);
    std::unique_ptr<ElfSymbols> syms;
    ASSERT_TRUE(ElfSymbols::load((dir_ / "f.so").string(), &syms, (dir_ / "nodebug").string()));
    for (const char* n : {"f_rsp", "f_rbp", "f_end", "f_expr", "f_static", "f_static_caller"}) {
      auto m = syms->match(n);
      ASSERT_EQ(m.size(), 1u) << n;
      addr_[n] = m[0]->addr;
    }
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static UnwindTable table() {
    UnwindTable t;
    auto st = build_unwind_table((dir_ / "f.so").string(), &t);
    EXPECT_TRUE(st) << st.message();
    return t;
  }
  static const sl_unw_row& row(const UnwindTable& t, const char* fn, uint64_t off) {
    const sl_unw_row* r = find_unwind_row(t.rows, addr_[fn] + off);
    EXPECT_NE(r, nullptr) << fn << "+" << off;
    static sl_unw_row none{};
    return r ? *r : none;
  }
  static inline fs::path dir_;
  static inline std::map<std::string, uint64_t> addr_;
};

TEST_F(Unwind, RowsFollowTheDirectives) {
  UnwindTable t = table();
  EXPECT_EQ(t.stats.fdes, 6u);
  // f_rsp: push (1 byte), sub (4), nop, add (4), pop, ret.
  EXPECT_EQ(row(t, "f_rsp", 0).cfa, SL_UNW_CFA_RSP);
  EXPECT_EQ(row(t, "f_rsp", 0).cfa_off, 8);
  EXPECT_EQ(row(t, "f_rsp", 1).cfa_off, 16);
  EXPECT_EQ(row(t, "f_rsp", 5).cfa_off, 48);
  EXPECT_EQ(row(t, "f_rsp", 6).cfa_off, 48);   // the nop
  EXPECT_EQ(row(t, "f_rsp", 10).cfa_off, 16);  // after the add
  EXPECT_EQ(row(t, "f_rsp", 11).cfa_off, 8);   // after the pop: the ret
  EXPECT_EQ(row(t, "f_rsp", 5).rbp, 0);        // rbx saved, rbp untouched
  // f_rbp: the frame-pointer prologue; rbp saved at CFA-16, then the CFA follows rbp.
  EXPECT_EQ(row(t, "f_rbp", 1).cfa, SL_UNW_CFA_RSP);
  EXPECT_EQ(row(t, "f_rbp", 1).cfa_off, 16);
  EXPECT_EQ(row(t, "f_rbp", 1).rbp, -2);
  EXPECT_EQ(row(t, "f_rbp", 4).cfa, SL_UNW_CFA_RBP);
  EXPECT_EQ(row(t, "f_rbp", 4).cfa_off, 16);
  EXPECT_EQ(row(t, "f_rbp", 5).cfa, SL_UNW_CFA_RBP);  // at pop %rbp
  EXPECT_EQ(row(t, "f_rbp", 6).cfa, SL_UNW_CFA_RSP);  // after it: the ret
  EXPECT_EQ(row(t, "f_rbp", 6).cfa_off, 8);
  // The outermost frame, and a rule the walk leaves to frame pointers.
  EXPECT_EQ(row(t, "f_end", 0).cfa, SL_UNW_CFA_END);
  EXPECT_EQ(row(t, "f_expr", 0).cfa, SL_UNW_CFA_NONE);
  // The padding between f_rsp's end and f_rbp has no CFI: NONE, not f_rsp's last row.
  EXPECT_EQ(row(t, "f_rsp", 13).cfa, SL_UNW_CFA_NONE);
  // Rows are sorted, and equal neighbours merged.
  for (size_t i = 1; i < t.rows.size(); i++) {
    EXPECT_LT(t.rows[i - 1].pc, t.rows[i].pc);
    EXPECT_FALSE(t.rows[i - 1].cfa == t.rows[i].cfa && t.rows[i - 1].cfa_off == t.rows[i].cfa_off &&
                 t.rows[i - 1].rbp == t.rows[i].rbp);
  }
  EXPECT_EQ(find_unwind_row(t.rows, 0), nullptr);  // below the first function
  // The executable segment maps addresses: mapped at 0x7f0000000000 + its page offset, as the
  // loader does for a shared object, an address there is link-time address + 0x7f0000000000.
  const Segment* text = nullptr;
  for (const auto& sg : t.segments)
    if (sg.exec) text = &sg;
  ASSERT_NE(text, nullptr);
  uint64_t pgoff = text->offset & ~0xfffULL, start = 0x7f0000000000 + (text->vaddr & ~0xfffULL), bias = 0;
  ASSERT_TRUE(mapping_bias(t.segments, start, start + 0x1000, pgoff, &bias));
  EXPECT_EQ(bias, 0x7f0000000000u);
  EXPECT_FALSE(mapping_bias(t.segments, start, start + 0x1000, pgoff + 0x100000, &bias));
}

TEST_F(Unwind, StrippedFunctionsAreNamedByAddress) {
  std::unique_ptr<ElfSymbols> syms;
  ASSERT_TRUE(ElfSymbols::load((dir_ / "stripped.so").string(), &syms, (dir_ / "nodebug").string()));
  // f_static is not in .dynsym: its FDE names it.
  const Symbol* s = syms->find(addr_["f_static"]);
  ASSERT_NE(s, nullptr);
  char want[64];
  snprintf(want, sizeof want, "stripped.so+0x%llx", static_cast<unsigned long long>(addr_["f_static"]));
  EXPECT_EQ(s->name, want);
  // An exported one keeps its own name.
  s = syms->find(addr_["f_rsp"] + 2);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->name, "f_rsp");
}

TEST_F(Unwind, RealBinariesGiveTables) {
  UnwindTable t;
  auto st = build_unwind_table("/proc/self/exe", &t);
  ASSERT_TRUE(st) << st.message();
  EXPECT_GT(t.stats.fdes, 100u);
  size_t end = 0, rsp = 0;
  for (const auto& r : t.rows) end += r.cfa == SL_UNW_CFA_END, rsp += r.cfa == SL_UNW_CFA_RSP;
  EXPECT_GE(end, 1u);  // _start
  EXPECT_GT(rsp, t.rows.size() / 2);
}

// A register number libdw would size an array by (fuzz_unwind found one that allocated 1.9 GB):
// refused before libdw runs the CFI; real files, their CFI read through, still give tables.
TEST_F(Unwind, HugeCfiRegisterIsRefusedBeforeLibdwRunsIt) {
  std::ofstream(dir_ / "huge.s") << R"(
  .text
  .globl g
  .type g,@function
g:
  .cfi_startproc
  /* DW_CFA_offset_extended, register 0x0e800000 (ULEB 80 80 80 74), offset 2 */
  .cfi_escape 0x05, 0x80, 0x80, 0x80, 0x74, 0x02
  ret
  .cfi_endproc
  .size g, .-g
)";
  ASSERT_EQ(system(("cd " + dir_.string() + " && cc -shared -nostdlib -Wl,--eh-frame-hdr -o huge.so huge.s").c_str()), 0);
  UnwindTable t;
  auto st = build_unwind_table((dir_ / "huge.so").string(), &t);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("register 243269632"), std::string::npos) << st.message();
  EXPECT_TRUE(t.rows.empty());
  for (const char* real : {"/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
                           "/usr/bin/bash", "/usr/sbin/nginx"}) {
    if (!fs::exists(real)) continue;
    auto rs = build_unwind_table(real, &t);
    EXPECT_TRUE(rs) << real << ": " << rs.message();
  }
}

TEST_F(Unwind, BadInputIsAnErrorNeverACrash) {
  UnwindTable t;
  EXPECT_FALSE(build_unwind_table((dir_ / "missing").string(), &t));
  EXPECT_FALSE(build_unwind_table("/proc/self/status", &t));  // not ELF
  std::ifstream in(dir_ / "f.so", std::ios::binary);
  std::string image((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Truncated images, and flipped bytes anywhere: an error or a table, never a crash.
  for (size_t n : {size_t(0), size_t(16), size_t(64), image.size() / 2})
    (void)build_unwind_table_mem(image.data(), n, &t);
  std::mt19937 rng(7);
  for (int i = 0; i < 300; i++) {
    std::string bad = image;
    for (int k = 0; k < 8; k++) bad[rng() % bad.size()] = static_cast<char>(rng());
    (void)build_unwind_table_mem(bad.data(), bad.size(), &t);
    EXPECT_LE(t.rows.size(), kMaxUnwindRows);
  }
}

}  // namespace
