// Durations and sizes as people write them in configuration: "7d", "15s"; "1GiB", "100MB".
#pragma once

#include <cstdint>
#include <string_view>

#include "core/status.h"

namespace sightline::core {

// "7d", "12h", "30m", "45s", "2w", "90" (seconds) into seconds.
Status parse_duration(std::string_view text, uint64_t* seconds);
// "1GiB", "512MiB", "100MB", "4096" (bytes) into bytes.
Status parse_size(std::string_view text, uint64_t* bytes);

}  // namespace sightline::core
