// Reading a whole small file (/proc and /sys texts, maps, configs): one place for it.
#pragma once

#include <cstddef>
#include <string>

namespace sightline::core {

// The file's bytes, up to `max` of them; empty when it cannot be opened or read (a process
// gone, a permission), with the errno in `*error` where given (0 when read). /proc files
// report size 0, so it reads until the end.
std::string read_file(const std::string& path, size_t max = 64u << 20, int* error = nullptr);

}  // namespace sightline::core
