// uprobe source: user-space functions by symbol: calls per process, latency histograms, and
// (streamed) arguments and return values. `sightline uprobe` and the agent's `uprobes:`.
#pragma once
#include <memory>

#include "sources/source.h"

namespace sightline::sources {
std::unique_ptr<Source> make_uprobe_source();
}
