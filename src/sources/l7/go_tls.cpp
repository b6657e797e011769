#include "sources/l7/go_tls.h"

#include <capstone/capstone.h>
#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <memory>

#include "symbols/elf_symbols.h"

namespace sightline::sources {
namespace {

constexpr const char* kWrite = "crypto/tls.(*Conn).Write";
constexpr const char* kRead = "crypto/tls.(*Conn).Read";
constexpr uint64_t kMaxFunctionBytes = 64 << 10;  // Read is ~1 KiB; a bigger one is not it

// The function's machine code, read from the file at its offset.
bool function_code(const std::string& path, uint64_t offset, uint64_t size, std::string* out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out->resize(size);
  ssize_t n = pread(fd, out->data(), size, static_cast<off_t>(offset));
  close(fd);
  return n == static_cast<ssize_t>(size);
}

}  // namespace

bool is_go_binary(const std::string& path) {
  return symbols::ElfSymbols::section_of(path, ".gopclntab") || symbols::ElfSymbols::section_of(path, ".note.go.buildid");
}

std::string go_buildinfo_version(std::string_view s) {
  // Go 1.18+ (runtime/debug, cmd/go/internal/version): "\xff Go buildinf:", pointer size, flags
  // (2: strings inline), padding to 32 bytes, then the version as a uvarint length and bytes.
  static constexpr std::string_view kMagic = "\xff Go buildinf:";
  if (s.size() < 33 || s.substr(0, kMagic.size()) != kMagic || !(static_cast<uint8_t>(s[15]) & 2)) return {};
  uint64_t len = 0;
  size_t i = 32;
  for (int shift = 0; i < s.size() && shift < 64; shift += 7) {
    auto b = static_cast<uint8_t>(s[i++]);
    len |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) break;
  }
  if (len == 0 || len > 64 || len > s.size() - i) return {};
  std::string v(s.substr(i, len));
  return v.starts_with("go") ? v : std::string();
}

std::vector<uint64_t> x86_returns(std::string_view code) {
  std::vector<uint64_t> out;
  csh h;
  if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK) return out;
  cs_insn* insn = cs_malloc(h);
  const auto* p = reinterpret_cast<const uint8_t*>(code.data());
  size_t left = code.size();
  uint64_t addr = 0;
  while (insn && cs_disasm_iter(h, &p, &left, &addr, insn))
    if (insn->id == X86_INS_RET) out.push_back(insn->address);
  if (insn) cs_free(insn, 1);
  cs_close(&h);
  return out;
}

std::string go_tls_probes(const std::string& path, GoTlsProbes* out) {
  *out = {};
  std::string info;
  uint16_t machine = 0;
  if (!symbols::ElfSymbols::section_of(path, ".go.buildinfo", 512, &info, &machine)) return "not a Go binary";
  if (machine != EM_X86_64) return "not amd64 (Go TLS probes read amd64's registers)";
  out->go_version = go_buildinfo_version(info);
  // Go's register ABI (arguments in RAX, RBX, RCX...; the goroutine in R14) is 1.17's; the build
  // info's inline form is 1.18's: a 1.17 binary is refused with the older ones.
  int minor = 0;
  std::string_view v = out->go_version;
  if (v.starts_with("go1.")) std::from_chars(v.data() + 4, v.data() + v.size(), minor);
  if (minor < 18) return "Go " + (out->go_version.empty() ? std::string("before 1.18") : out->go_version) +
                         ": the probes need Go 1.18 or later";
  std::unique_ptr<symbols::ElfSymbols> syms;
  if (auto st = symbols::ElfSymbols::load(path, &syms, "/usr/lib/debug", false); !st) return st.message();
  const symbols::Symbol *w = nullptr, *r = nullptr;
  for (const auto& s : syms->symbols()) {
    if (s.name == kWrite) w = &s;
    else if (s.name == kRead) r = &s;
  }
  if (!w || !r) return "no crypto/tls in it";
  if (!r->size || r->size > kMaxFunctionBytes) return std::string(kRead) + ": no size";
  if (!syms->vaddr_to_offset(w->addr, &out->write) || !syms->vaddr_to_offset(r->addr, &out->read))
    return "crypto/tls outside the file's segments";
  std::string code;
  if (!function_code(path, out->read, r->size, &code)) return std::string(kRead) + ": cannot read its code";
  for (uint64_t at : x86_returns(code)) out->read_rets.push_back(out->read + at);
  if (out->read_rets.empty()) return std::string(kRead) + ": no RET instruction found";
  return {};
}

}  // namespace sightline::sources
