// sched source: CPU time, run-queue wait, blocked time and context switches per process, and
// the node's run-queue latency histogram, aggregated in the kernel.
#pragma once
#include <memory>

#include "sources/source.h"

namespace sightline::sources {
std::unique_ptr<Source> make_sched_source();
// Its registry entry (sources/registry.cpp lists it).
extern const SourceInfo kSchedSource;
}
