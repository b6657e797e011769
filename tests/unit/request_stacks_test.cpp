// Per-request stacks: which requests keep them, the join by thread and start, the waiting,
// and the bounds (sources/profile/request_stacks.h).
#include <gtest/gtest.h>

#include "sightline/l7.h"
#include "sources/profile/request_stacks.h"

using namespace sightline;
using sources::RequestStack;
using sources::RequestStackJoin;

namespace {
constexpr uint64_t kSlow = 100000000;  // 100 ms
constexpr uint64_t kSec = 1000000000;

core::Event request(uint32_t tid, uint64_t start, uint64_t latency, bool error = false, uint8_t role = SL_L7_SERVER,
                    uint8_t timeline = 1) {
  core::Event e;
  e.kind = core::EventKind::kRequest;
  e.tid = tid;
  e.ts_boot_ns = start;
  e.ts_wall_ns = start + 1700000000 * kSec;
  e.duration_ns = latency;
  e.error = error;
  e.role = role;
  e.timeline = timeline;
  return e;
}

void note(RequestStackJoin& j, core::Event e) { j.on_event(e); }

RequestStack stack(uint32_t tid, uint64_t start, std::string s, uint64_t v = 1, bool off = false) {
  return {7, tid, start, off, std::move(s), v};
}
}  // namespace

TEST(RequestStacks, SlowAndFailedServerRequestsKeepTheirStacksAtTheirRowsTime) {
  RequestStackJoin j(kSlow);
  for (auto e : {request(10, 5 * kSec, 150000000),                         // slow: kept
                 request(11, 5 * kSec, 1000000, true),                     // failed: kept
                 request(12, 5 * kSec, 1000000),                           // fast: not
                 request(13, 5 * kSec, 150000000, false, SL_L7_CLIENT),    // a client's
                 request(14, 5 * kSec, 150000000, false, SL_L7_SERVER, 0)})  // no timeline
    j.on_event(e);
  // The event's start is read a little after the kernel's mark: the stack's start is earlier.
  auto rows = j.join({stack(10, 5 * kSec - 3000, "py;burn", 25), stack(10, 5 * kSec - 3000, "py;futex_[k]", 80000000, true),
                      stack(11, 5 * kSec - 10, "py;fail"), stack(12, 5 * kSec, "py;fast"), stack(13, 5 * kSec, "py;client"),
                      stack(14, 5 * kSec, "py;none")},
                     6 * kSec);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].stack, "py;burn");
  EXPECT_EQ(rows[0].value, 25u);
  EXPECT_EQ(rows[0].time_ns, 5 * kSec + 1700000000 * kSec);  // the request's evt_time, exactly
  EXPECT_TRUE(rows[1].offcpu);
  EXPECT_EQ(rows[2].tid, 11u);
  EXPECT_EQ(j.stats().requests, 2u);
  EXPECT_EQ(j.stats().rows, 3u);
  // The others wait for a request that may still come, then are counted.
  EXPECT_EQ(j.stats().unmatched, 0u);
  EXPECT_TRUE(j.join({}, 5 * kSec + RequestStackJoin::kWaitNs + 1).empty());
  EXPECT_EQ(j.stats().unmatched, 3u);
}

TEST(RequestStacks, AStackBeforeItsRequestWaitsForItAndOnlyItsThreadAndStartMatch) {
  RequestStackJoin j(kSlow);
  // Drained while the request still ran: no event yet.
  EXPECT_TRUE(j.join({stack(20, 8 * kSec, "early")}, 8 * kSec + 50000000).empty());
  note(j, request(20, 8 * kSec + 2000, 300000000));
  note(j, request(21, 8 * kSec + 2000, 300000000));
  // Another thread, a start more than a millisecond before the request's, a later request.
  auto rows = j.join({stack(20, 8 * kSec + 2000, "late"), stack(22, 8 * kSec, "other thread"),
                      stack(21, 8 * kSec + 2000 - RequestStackJoin::kSkewNs - 1, "too early"),
                      stack(21, 8 * kSec + 3000, "after its start")},
                     8 * kSec + 400000000);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].stack, "early");
  EXPECT_EQ(rows[1].stack, "late");
}

TEST(RequestStacks, BoundedPerRequestPerSecondAndWhileWaiting) {
  RequestStackJoin j(kSlow);
  note(j, request(30, kSec, kSec));
  std::vector<RequestStack> many;
  for (size_t i = 0; i < RequestStackJoin::kMaxRowsPerRequest + 5; i++) many.push_back(stack(30, kSec, "s" + std::to_string(i)));
  EXPECT_EQ(j.join(std::move(many), 2 * kSec).size(), RequestStackJoin::kMaxRowsPerRequest);
  EXPECT_EQ(j.stats().dropped, 5u);

  // Requests given stacks: a burst of ten seconds' worth, then the rate.
  RequestStackJoin r(kSlow);
  const size_t burst = static_cast<size_t>(RequestStackJoin::kRequestsPerS * 10);
  std::vector<RequestStack> one_each;
  for (uint32_t t = 1; t <= burst + 10; t++) {
    note(r, request(1000 + t, kSec, kSec));
    one_each.push_back(stack(1000 + t, kSec, "s"));
  }
  EXPECT_EQ(r.join(std::move(one_each), 3 * kSec).size(), burst);
  EXPECT_EQ(r.stats().dropped, 10u);

  // Stacks waiting for requests that never come (an event loop's fast ones) are bounded.
  RequestStackJoin w(kSlow);
  std::vector<RequestStack> waiting;
  for (size_t i = 0; i < RequestStackJoin::kMaxWaiting + 3; i++) waiting.push_back(stack(40, kSec + i, "w"));
  EXPECT_TRUE(w.join(std::move(waiting), kSec).empty());
  EXPECT_EQ(w.stats().dropped, 3u);
}

TEST(RequestStacks, RememberedRequestsAreBounded) {
  RequestStackJoin j(kSlow);
  for (uint32_t t = 0; t < RequestStackJoin::kMaxRequests + 1; t++)
    note(j, request(t + 1, kSec, kSec));
  // The oldest went: its stack waits, the newest's joins.
  auto rows = j.join({stack(1, kSec, "oldest"), stack(RequestStackJoin::kMaxRequests + 1, kSec, "newest")}, 2 * kSec);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].stack, "newest");
}
