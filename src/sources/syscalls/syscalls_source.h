// syscalls source: counts, errors (by errno), time and latency histograms per process and
// syscall, aggregated in the kernel.
#pragma once
#include <memory>

#include "sources/source.h"

namespace sightline::sources {
// Time each syscall (enter and exit hooks: latency histograms and time) or only count calls
// and errors at exit (one hook, about half the cost on a syscall-bound process).
struct SyscallsOptions : Options<SyscallsOptions> {
  bool latency = true;
  void visit(OptionVisitor& v) override {
    v.flag("latency", latency, "false: counts and errors only, about half the cost per syscall");
  }
};

std::unique_ptr<Source> make_syscalls_source();
// Its registry entry (sources/registry.cpp lists it).
extern const SourceInfo kSyscallsSource;
}
