#include "sources/uprobe/uprobe_target.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "symbols/elf_symbols.h"
#include "symbols/symbolizer.h"

namespace sightline::sources {
namespace {

std::string basename_of(const std::string& p) {
  size_t slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

// "libc" matches libc.so.6 and libc-2.36.so; "libssl.so.3" matches itself.
bool lib_name_matches(const std::string& want, const std::string& file) {
  if (file == want) return true;
  if (!file.starts_with(want)) return false;
  char next = file[want.size()];
  return next == '.' || next == '-';
}

std::string find_binary(const std::string& name, uint32_t pid) {
  if (name.find('/') != std::string::npos) return access(name.c_str(), R_OK) == 0 ? name : "";
  std::string lib = name.starts_with("lib") ? name : "lib" + name;
  if (pid) {  // what the process has mapped
    std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
    for (const auto& m : symbols::parse_maps(std::string(std::istreambuf_iterator<char>(in), {})))
      if (m.path[0] == '/' && (lib_name_matches(lib, basename_of(m.path)) || basename_of(m.path) == name))
        return "/proc/" + std::to_string(pid) + "/root" + m.path;
  }
  // The dynamic linker's cache.
  if (FILE* p = popen("ldconfig -p 2>/dev/null", "r")) {
    char line[1024];
    std::string found;
    while (fgets(line, sizeof line, p)) {
      std::string l(line);
      size_t arrow = l.find("=> ");
      if (arrow == std::string::npos) continue;
      std::string path = l.substr(arrow + 3);
      while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) path.pop_back();
      if (found.empty() && lib_name_matches(lib, basename_of(path)) && l.find("x86-64") != std::string::npos)
        found = path;
    }
    pclose(p);
    if (!found.empty()) return found;
  }
  // Executables on PATH.
  const char* env = getenv("PATH");
  std::stringstream ss(env ? env : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  for (std::string dir; std::getline(ss, dir, ':');) {
    std::string p = dir + "/" + name;
    if (access(p.c_str(), X_OK) == 0) return std::filesystem::canonical(p).string();
  }
  return "";
}

}  // namespace

core::Status split_target(const std::string& target, std::string* binary, std::string* symbol) {
  size_t colon = target.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= target.size())
    return core::Status::error(EINVAL, "'" + target + "': expected BINARY:SYMBOL (e.g. libc:malloc, "
                                                      "/usr/bin/app:'ns::Class::method*', app:0x1234)");
  *binary = target.substr(0, colon);
  *symbol = target.substr(colon + 1);
  return {};
}

core::Status resolve_uprobe(const std::string& target, uint32_t pid, size_t max,
                            std::vector<UprobeFunction>* out) {
  std::string bin, sym;
  if (auto st = split_target(target, &bin, &sym); !st) return st;
  std::string path = find_binary(bin, pid);
  if (path.empty())
    return core::Status::error(ENOENT, "'" + target + "': no binary or library '" + bin + "'" +
                                           (pid ? " mapped by process " + std::to_string(pid) : "") +
                                           ", in the linker cache or on PATH");
  std::string label_bin = basename_of(bin.find('/') != std::string::npos ? path : bin);
  if (sym.starts_with("0x")) {
    char* end;
    uint64_t off = strtoull(sym.c_str() + 2, &end, 16);
    if (*end || sym.size() == 2) return core::Status::error(EINVAL, "'" + target + "': bad offset '" + sym + "'");
    out->push_back({path, off, sym, label_bin + ":" + sym});
    return {};
  }
  std::unique_ptr<symbols::ElfSymbols> elf;
  if (auto st = symbols::ElfSymbols::load(path, &elf); !st) return st;
  auto matches = elf->match(sym);
  if (matches.empty())
    return core::Status::error(ENOENT, "'" + target + "': no function '" + sym + "' in " + path +
                                           " (" + std::to_string(elf->size()) + " function symbols)");
  if (matches.size() > max)
    return core::Status::error(E2BIG, "'" + target + "' matches " + std::to_string(matches.size()) +
                                          " functions, more than " + std::to_string(max) + ": narrow the pattern");
  for (const auto* s : matches) {
    uint64_t off;
    if (!elf->vaddr_to_offset(s->addr, &off)) continue;
    out->push_back({path, off, s->name, label_bin + ":" + s->name});
  }
  return {};
}

}  // namespace sightline::sources
