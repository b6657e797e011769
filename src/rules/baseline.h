// Learnt behaviour: what each workload does during a learning window, and what it does new
// afterwards (NeuVector's and Sysdig's process and network profiles). A workload is a container
// (its id) or, on the host, an executable (its path; an exec belongs to the program that ran it).
// Learnt per workload: the executables it runs, the directories it writes files in, its
// outbound destinations (DNS name or address, and port), the ports it accepts connections on,
// and the kinds of security-relevant syscalls it makes (ptrace, mount, namespaces, privileges,
// modules, bpf, links ...: the security source's events, as many as the rules have on).
// After the window, each value the profile lacks is a deviation, reported once (it then joins
// the profile), with how many values the profile holds and its most frequent ones.
// Bounded: at most max_workloads workloads (more are counted, not learnt), max_items values per
// category, and max_bytes in all (an estimate of the strings and nodes held; past it, new
// workloads are counted as dropped and new values treated as overflow); a category that
// overflows while learning marks the workload as one that never settles: it is reported once as
// such, never value by value.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/event.h"
#include "core/status.h"

namespace sightline::rules {

struct BaselineOptions {
  uint64_t window_ns = 3600ULL * 1000000000ULL;
  size_t max_workloads = 1024;
  size_t max_items = 256;
  size_t max_bytes = 8ULL << 20;
};

struct Deviation {
  std::string workload, category, value;  // category: executable, write_dir, outbound, listen_port, syscall
  size_t known = 0;                        // values the profile held in that category
  std::string most_seen;                   // its most frequent: "/usr/bin/curl (12), /bin/sh (3)"
  bool unsettled = false;                  // the workload never settled (value: the category)
};

class Baseline {
 public:
  // parent_exe(ppid): the executable of a process's parent (the process table's), for execs.
  Baseline(BaselineOptions o, std::function<std::string(uint32_t pid)> parent_exe);
  // Feeds one event seen at now_ns; true with *out set when it deviates.
  bool observe(const core::Event& e, uint64_t now_ns, Deviation* out);
  // Every workload: learning or not (and for how long it has learnt: age_s), unsettled, each
  // category's values and counts (JSON).
  std::string json(uint64_t now_ns) const;
  // Profiles saved by json() (the agent keeps them across restarts), taken as of now_ns: each
  // workload resumes its window where it was; workloads already here keep theirs. Bounded as
  // observe() is; *loaded: the workloads taken.
  core::Status load(std::string_view json, uint64_t now_ns, size_t* loaded);
  size_t workloads() const { return w_.size(); }
  uint64_t workloads_dropped() const { return dropped_; }
  size_t bytes() const { return bytes_; }

 private:
  static constexpr int kCategories = 5;
  struct Set {
    std::map<std::string, uint64_t> seen;
    bool overflow = false;
  };
  struct Workload {
    uint64_t first_ns = 0;
    Set sets[kCategories];
    bool unsettled = false, unsettled_reported = false;
  };
  BaselineOptions o_;
  std::function<std::string(uint32_t)> parent_exe_;
  std::unordered_map<std::string, Workload> w_;
  uint64_t dropped_ = 0;
  size_t bytes_ = 0;
};

}  // namespace sightline::rules
