// "BINARY:SYMBOL" -> the functions to attach uprobes to. BINARY is a path, or a name looked up
// in a process's mappings (--pid), the dynamic linker's cache (ldconfig -p) and PATH ("libc",
// "libssl.so.3", "nginx"). SYMBOL is a name (C, or a demangled C++ name), a glob (* ?), or a
// file offset (0x1234).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "sources/source.h"

namespace sightline::sources {

struct UprobeFunction {
  std::string path;    // the file to attach to
  uint64_t offset = 0; // file offset of the function's first instruction
  std::string symbol;  // demangled name (or the offset as given)
  std::string label;   // basename:symbol, what metrics and events call it
};

// Splits at the first ':' (C++ names have '::' later). Error naming what is wrong.
core::Status split_target(const std::string& target, std::string* binary, std::string* symbol);
// Finds the binary (see above) and the functions of it the symbol selects; at most `max`.
core::Status resolve_uprobe(const std::string& target, uint32_t pid, size_t max,
                            std::vector<UprobeFunction>* out);

}  // namespace sightline::sources
