// profile source: on-CPU stack samples from a perf_event cpu-clock timer on every CPU and
// off-CPU time by stack (sched_switch), aggregated in the kernel, drained and symbolized here.
// `sightline profile` drives it directly; in the agent it is the continuous profiler.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "profile/profile.h"
#include "sources/profile/request_stacks.h"
#include "sources/source.h"
#include "symbols/symbolizer.h"

namespace sightline::sources {

struct StackCounts {
  uint64_t samples = 0;        // on-CPU samples drained
  uint64_t offcpu_ns = 0;      // off-CPU time drained
  uint64_t stacks_lost = 0;    // stack map collisions or stacks gone before they were read
  uint64_t user_complete = 0;  // on-CPU samples whose user stack reached main/_start/clone
  uint64_t user_stacks = 0;    // on-CPU samples with a user stack
  uint64_t user_unwound = 0;   // of those, walked with unwind tables in the kernel
  // The unwind tables in the kernel now: rows (8 bytes each), files and processes they serve.
  uint64_t unwind_rows = 0, unwind_files = 0, unwind_procs = 0;
};

struct ProfileOptions : Options<ProfileOptions> {
  uint32_t hz = 49;       // samples per second per CPU (perf_event cpu-clock)
  bool on_cpu = true;
  bool off_cpu = false;   // off-CPU time by stack (a hook on every context switch)
  // On-CPU user stacks copied and unwound with DWARF CFI (code without frame pointers) instead
  // of walked by the kernel along frame pointers (`sightline profile --unwind dwarf`).
  bool dwarf_unwind = false;
  // On-CPU and off-CPU user stacks walked in the kernel with unwind tables built from the
  // binaries' .eh_frame (complete without frame pointers, nothing copied out); needs bpf_loop
  // (5.17+; before, and off, the kernel's frame-pointer walk). The default of the agent and of
  // `sightline profile`; 4 MiB of kernel memory for the tables' rows.
  bool kernel_unwind = true;
  // Processes younger than this get no tables (their stacks go by frame pointers): a node's
  // short-lived commands would each have their libraries' tables built, then evicted. The
  // agent's default; `sightline profile` takes every process at once (0).
  uint32_t tables_min_age_ms = 1000;
  // The stacks a thread was sampled in (and, with off_cpu, blocked in) while it served a
  // request, kept with the slow and failed requests (needs the sched and l7 sources, and
  // kernel 6.4+: task storage the timer interrupt may read).
  bool request_stacks = true;
  void visit(OptionVisitor& v) override {
    v.number("hz", hz, 1, 1000, "on-CPU samples per second on each CPU");
    v.flag("off_cpu", off_cpu, "off-CPU time by stack too (/profile?kind=off): a hook on every context switch");
    v.flag("unwind_tables", kernel_unwind,
           "user stacks walked in the kernel with tables from the binaries' .eh_frame (kernel 5.17+; 4 MiB of "
           "kernel memory for the tables); off: frame pointers");
    v.number("unwind_min_age_ms", tables_min_age_ms, 0, 3600000,
             "processes younger than this are walked by frame pointers, not given tables (short-lived commands)");
    v.flag("request_stacks", request_stacks,
           "each slow or failed server request's own stacks (its thread's samples meanwhile; with sched and l7, kernel 6.4+)");
  }
};

class ProfileSource : public Source {
 public:
  // Moves what the kernel aggregated since the last drain into `on` and `off` (symbolized,
  // merged by stack), remembering new processes' mappings first.
  virtual void drain(profile::Profile* on, profile::Profile* off) = 0;
  virtual StackCounts counts() const = 0;
  // The agent's continuous profile: folded stacks of the last `seconds` (whole minutes kept,
  // kRecentMinutes of them, each bounded), merged. Any thread.
  static constexpr size_t kRecentMinutes = 10;
  static constexpr size_t kStacksPerMinute = 5000;
  static constexpr size_t kStackBytesPerMinute = 1u << 20;  // of folded text, each kind
  // off_cpu: the off-CPU time (ns) by stack instead, when the source was started with off_cpu.
  virtual std::string recent_folded(uint64_t seconds, bool off_cpu = false) const = 0;
  // Whole minutes (unix time / 60) after `after` that are over, each as folded stacks, oldest
  // first: what the store keeps.
  virtual std::vector<std::pair<uint64_t, std::string>> finished_minutes(uint64_t after) const = 0;
  // Per-request stacks (ProfileOptions::request_stacks): the agent hands it the events (the
  // slow and failed server requests are joined with their stacks at each drain; slow_ns: the
  // l7 source's threshold), and takes the joined stacks for its store. The polling thread.
  // Null when the source runs without them (off, or before 6.4): nothing to hand over.
  virtual EventSink* request_sink(uint64_t slow_ns) = 0;
  virtual std::vector<RequestStack> take_request_stacks() = 0;
};

std::unique_ptr<Source> make_profile_source();
// Its registry entry (sources/registry.cpp lists it).
extern const SourceInfo kProfileSource;

}  // namespace sightline::sources
