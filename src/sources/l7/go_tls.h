// Go's crypto/tls in a binary (issue 19.2): where the l7 source's uprobes go. Go links its TLS
// into each binary (no libssl to hook once), so every Go binary is looked at: the functions
// crypto/tls.(*Conn).Write and (*Conn).Read by name, from .symtab or, stripped (-ldflags=-s -w),
// from the runtime's own .gopclntab (symbols/elf_symbols.h); Read's data is there only when it
// returns, and a uretprobe would rewrite a return address on a goroutine stack the runtime may
// move, so Read gets a uprobe on each of its RET instructions (found by disassembling it,
// capstone). Arguments come by Go's register ABI (amd64, Go 1.17+; the build info's version
// says which Go). Pure file reading: unit-tested on the bytes, end-to-end on real Go binaries.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sightline::sources {

struct GoTlsProbes {
  std::string go_version;          // "go1.19.8", from .go.buildinfo
  uint64_t write = 0;              // file offset of crypto/tls.(*Conn).Write's first instruction
  uint64_t read = 0;               // of (*Conn).Read's
  std::vector<uint64_t> read_rets; // of each RET instruction of (*Conn).Read
};

// The cheap test first (a .gopclntab section: the ELF's section headers only): false for
// anything that is not a Go binary, the common case on every exec.
bool is_go_binary(const std::string& path);
// The probes of a Go binary that links crypto/tls; otherwise a sentence saying why not (no
// crypto/tls, a Go before 1.17, not amd64, a function without RET ...).
std::string go_tls_probes(const std::string& path, GoTlsProbes* out);
// The Go release of a .go.buildinfo section's bytes ("go1.19.8"), Go 1.18+'s inline form;
// empty when they are not one.
std::string go_buildinfo_version(std::string_view section);
// Offsets, from the start of `code` (a function's x86-64 machine code), of its RET
// instructions, by a linear sweep; an undecodable byte ends the sweep (with what it found).
std::vector<uint64_t> x86_returns(std::string_view code);

}  // namespace sightline::sources
