// The numbers behind `sightline top`: per process name, rates over the last interval from the
// aggregation sources' cumulative families (CPU %, syscalls/s, run-queue wait, disk and network bytes/s).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/metrics.h"

namespace sightline::agent {

struct TopRow {
  std::string comm;
  double cpu_pct = 0;          // of one CPU
  double syscalls_per_s = 0;
  double runq_ms_per_s = 0;    // time waiting for a CPU, ms per second
  double disk_bytes_per_s = 0;
  double net_bytes_per_s = 0;  // sent + received on IP sockets
};

enum class TopSort { kCpu, kSyscalls, kRunq, kDisk, kNet };

class TopModel {
 public:
  // Feeds one snapshot of families taken `seconds` after the previous one; the first call only
  // sets the baseline.
  void update(const std::vector<core::MetricFamily>& families, double seconds);
  // The busiest `limit` rows by `sort` (rows with nothing in the interval are left out).
  std::vector<TopRow> rows(TopSort sort, size_t limit) const;
  bool ready() const { return ready_; }

 private:
  struct Totals {
    double cpu_s = 0, syscalls = 0, runq_s = 0, disk_bytes = 0, net_bytes = 0;
  };
  std::map<std::string, Totals> prev_, rates_;
  bool have_prev_ = false, ready_ = false;
};

}  // namespace sightline::agent
