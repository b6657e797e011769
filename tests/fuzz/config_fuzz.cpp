// libFuzzer target: the agent's YAML configuration. Any bytes give a config or an error.
#include <cstdint>
#include <string_view>

#include "agent/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sightline::agent::AgentConfig cfg;
  auto st = sightline::agent::parse_config(
      std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.yaml", &cfg);
  if (!st.ok() && st.message().empty()) __builtin_trap();  // every error says something
  return 0;
}
