// syscalls source: counts, errors (by errno), time and latency histograms per process and
// syscall, aggregated in the kernel.
#pragma once
#include <memory>

#include "sources/source.h"

namespace sightline::sources {
// Time each syscall (enter and exit hooks: latency histograms and time) or only count calls
// and errors at exit (one hook). Off by default: on a syscall-bound process the second hook
// doubles the source's cost (bench/agent_overhead.sh), and counts and errors answer most
// questions; turn it on where the latency of every syscall is worth it.
struct SyscallsOptions : Options<SyscallsOptions> {
  bool latency = false;
  void visit(OptionVisitor& v) override {
    v.flag("latency", latency, "true: latency histograms and time per syscall too (a second hook, about twice the cost)");
  }
};

std::unique_ptr<Source> make_syscalls_source();
// Its registry entry (sources/registry.cpp lists it).
extern const SourceInfo kSyscallsSource;
}
