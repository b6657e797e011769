// Folded-stack input (sightline flamegraph FILE) and the SVG made from it: never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "profile/profile.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<sightline::profile::FoldedStack> stacks;
  if (sightline::profile::parse_folded(std::string_view(reinterpret_cast<const char*>(data), size), &stacks))
    (void)sightline::profile::flamegraph_svg(stacks, "fuzz", "samples");
  return 0;
}
