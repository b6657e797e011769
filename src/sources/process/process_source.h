// process source: exec (argv, result), fork, exit (code, signal, lifetime), signals sent, OOM
// kills.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "sources/source.h"

namespace sightline::sources {
struct ProcessOptions : Options<ProcessOptions> {
  // Signals not sent up (the kernel drops them before reserving ring space): by default those
  // every child exit, out-of-band data and terminal resize send.
  std::vector<std::string> ignore_signals = {"SIGCHLD", "SIGURG", "SIGWINCH"};
  void visit(OptionVisitor& v) override {
    v.names("ignore_signals", ignore_signals, "signals the signal kind leaves out (names or numbers: SIGCHLD, 17)");
  }
};

std::unique_ptr<Source> make_process_source();
// Its registry entry (sources/registry.cpp lists it).
extern const SourceInfo kProcessSource;
// The kernel's signal mask (bit n: signal n is sent up) leaving out `ignore`; an unknown name
// is an error naming it.
core::Status signal_mask(const std::vector<std::string>& ignore, uint64_t* mask);
}  // namespace sightline::sources
