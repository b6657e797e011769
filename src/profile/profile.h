// A symbolized profile and its outputs: folded stacks (flamegraph.pl's input), pprof
// (protobuf, what `go tool pprof` reads) and a self-contained interactive SVG flame graph.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "symbols/symbolizer.h"

namespace sightline::profile {

struct Profile {
  bool offcpu = false;        // values: ns blocked (off-CPU) or samples (on-CPU)
  uint64_t period_ns = 0;     // on-CPU: 1e9 / hz, the time one sample stands for
  uint64_t start_unix_ns = 0, duration_ns = 0;
  struct Entry {
    uint32_t pid = 0;
    std::string comm;
    std::vector<symbols::Frame> frames;  // root first: user frames, then kernel frames
    uint64_t value = 0;
  };
  std::vector<Entry> entries;
};

// "comm;main;burn_cpu;do_syscall_64_[k] 42" per stack, root first; kernel frames end in _[k].
std::string to_folded(const Profile& p);
// One entry's stack in that form, without the count.
std::string folded_stack(const Profile::Entry& e);
// pprof Profile message (uncompressed protobuf; pprof reads it as is).
std::string to_pprof(const Profile& p);

// One line of folded input: frames root first, and the value.
struct FoldedStack {
  std::vector<std::string> frames;
  uint64_t value = 0;
};
// Parses folded text; a malformed line is an error naming it (line number).
core::Status parse_folded(std::string_view text, std::vector<FoldedStack>* out);
// An SVG flame graph (click to zoom, hover for counts), self-contained.
std::string flamegraph_svg(const std::vector<FoldedStack>& stacks, const std::string& title,
                           const std::string& unit);

// True when a user stack reaches where threads start (main, _start, clone...): a stack the
// unwinder walked to the end.
bool complete_stack(const std::vector<symbols::Frame>& frames_root_first);

}  // namespace sightline::profile
