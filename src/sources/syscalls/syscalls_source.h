// syscalls source: counts, errors (by errno), time and latency histograms per process and
// syscall, aggregated in the kernel.
#pragma once
#include <memory>

#include "sources/source.h"

namespace sightline::sources {
std::unique_ptr<Source> make_syscalls_source();
}
