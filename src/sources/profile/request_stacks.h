// Per-request stacks (issue 20): the profiler counts a thread's samples (and off-CPU time) by
// the request it serves, named by (thread, the request's start on the kernel's clock); this
// joins them to the requests the agent kept, so that a request's row and its stacks share
// (tid, evt_time) in the store. Only slow or failed server requests keep their stacks: the
// ones a user asks "why" of (a fast one rarely has a sample at 49 Hz anyway).
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <map>
#include <vector>

#include "core/event.h"
#include "sources/source.h"

namespace sightline::sources {

// The stacks of one thread while it served one request (the kernel's serving mark): the
// request is the l7 event of that thread whose ts_boot_ns is `start_boot_ns`.
struct RequestStack {
  uint32_t pid = 0, tid = 0;
  uint64_t start_boot_ns = 0;
  bool offcpu = false;
  std::string stack;   // folded, root first (profile::folded_stack)
  uint64_t value = 0;  // samples, or off-CPU ns
  uint64_t time_ns = 0;  // joined: the request's evt_time (its start, wall clock, as its row has it)
};

struct RequestStackStats {
  uint64_t requests = 0;    // requests whose stacks were joined
  uint64_t rows = 0;        // stack rows joined
  uint64_t unmatched = 0;   // stacks of requests not kept (fast ones) or never seen
  uint64_t dropped = 0;     // stack rows past the bounds (per request, per second, waiting)
};

class RequestStackJoin : public sources::EventSink {
 public:
  static constexpr size_t kMaxRequests = 8192;         // requests remembered for the join
  // A stack waits this long after its request's start for the request (the kernel follows a
  // request 10 s at most): a busy event loop's stacks all wait, for requests that are not slow.
  static constexpr uint64_t kWaitNs = 12000000000ULL;
  static constexpr size_t kMaxWaiting = 4096;          // stacks waiting at once
  static constexpr size_t kMaxRowsPerRequest = 200;    // distinct stacks kept per request
  static constexpr double kRequestsPerS = 20;          // requests given stacks a second (burst 10x)
  // A request's start as its event has it is read a few microseconds after the kernel's mark
  // (a record sent at once is stamped when it is built): a stack joins the thread's first
  // request at or after its start, within kSkewNs.
  static constexpr uint64_t kSkewNs = 1000000;

  // slow_ns: the l7 source's slow threshold; a server request this slow, or failed, keeps its stacks.
  explicit RequestStackJoin(uint64_t slow_ns) : slow_ns_(slow_ns) {}

  // Notes the slow and failed server requests that carry a thread timeline.
  void on_event(core::Event& e) override;
  // The stacks of `stacks` (and of those that waited) whose request was noted, with its
  // time_ns; the others wait
  // until kWaitNs after their request's start (now_boot_ns: the kernel's clock now), then are
  // counted unmatched.
  std::vector<RequestStack> join(std::vector<RequestStack> stacks, uint64_t now_boot_ns);
  const RequestStackStats& stats() const { return stats_; }

 private:
  struct Key {
    uint32_t tid;
    uint64_t start;
    auto operator<=>(const Key&) const = default;
  };
  struct Noted {
    uint64_t wall_ns = 0;
    size_t rows = 0;      // stack rows given so far
    bool budgeted = false;  // took a token: its rows are kept
  };
  uint64_t slow_ns_;
  std::map<Key, Noted> noted_;
  std::deque<Key> order_;  // noted_, oldest first (the bound evicts from the front)
  std::vector<RequestStack> waiting_;
  double tokens_ = kRequestsPerS * 10;
  uint64_t last_ns_ = 0;
  RequestStackStats stats_;
};

}  // namespace sightline::sources
