// uprobe source: user-space functions by symbol: calls per process, latency histograms, and
// (streamed) arguments and return values. `sightline uprobe` and the agent's `uprobes:`.
#pragma once
#include <memory>

#include "sources/source.h"

namespace sightline::sources {
// A user-space function to probe (sightline uprobe, the agent's `uprobes:`); see
// uprobe_target.h for how the target is found.
struct UprobeSpec {
  std::string target;       // BINARY:SYMBOL
  bool latency = false;     // time each call (a return probe too)
  bool stream = false;      // one event per call, with arguments and return value
  uint32_t str_arg = 0;     // 1-based argument to read as a string (0: none)
};

struct UprobeOptions : Options<UprobeOptions> {
  std::vector<UprobeSpec> probes;  // from the configuration's top-level `uprobes:` list
};

std::unique_ptr<Source> make_uprobe_source();
// Its registry entry (sources/registry.cpp lists it).
extern const SourceInfo kUprobeSource;
}
