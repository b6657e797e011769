// block source: I/O latency and size histograms per device and operation, queue time, errors,
// and I/Os and bytes per process, aggregated in the kernel.
#pragma once
#include <memory>

#include "sources/source.h"

namespace sightline::sources {
std::unique_ptr<Source> make_block_source();
// Its registry entry (sources/registry.cpp lists it).
extern const SourceInfo kBlockSource;
}
