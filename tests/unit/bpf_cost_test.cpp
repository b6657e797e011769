// The BPF programs' cost from the kernel's bpf_stats: sampled (on one tick in kPeriod) estimates
// every program's runs and time from its windows, scaled to the time since the last window; always
// is exact; off never asks for the statistics. A program loaded again starts from 0; one unloaded
// leaves the totals.
#include "agent/bpf_cost.h"

#include <gtest/gtest.h>

using sightline::agent::BpfCost;
using sightline::agent::BpfStatsMode;

namespace {
constexpr uint64_t kSec = 1000000000ULL;
const BpfCost::Key kProg{"l7", "sl_l7_sock_send"};

// A program that runs 1000 times a second, 300 us of run time a second, counted by the kernel only
// while the statistics are on. Returns how many ticks the statistics were on.
int feed(BpfCost& c, int ticks) {
  uint64_t runs = 0, ns = 0;
  bool on = c.start_on(), measuring = false;
  int on_ticks = 0;
  for (int t = 0; t <= ticks; t++) {
    if (measuring) runs += 1000, ns += 300000;
    on = c.tick(t * kSec, {{kProg, {runs, ns}}}, measuring);
    on_ticks += on;
    measuring = on;
  }
  return on_ticks;
}
}  // namespace

TEST(BpfCost, SampledMeasuresOneSecondInAPeriodAndEstimatesTheRest) {
  BpfCost c(BpfStatsMode::kSampled);
  ASSERT_TRUE(c.start_on());
  int on = feed(c, 10 * BpfCost::kPeriod + 1);
  EXPECT_LE(on, 12) << "on about one tick in " << BpfCost::kPeriod;
  const auto& t = c.totals().at(kProg);
  // every second up to the last window's end is estimated: windows end at ticks 1, kPeriod,
  // 2 kPeriod, ... 10 kPeriod (the last tick, 10 kPeriod + 1, is outside any)
  double seconds = 10 * BpfCost::kPeriod;
  EXPECT_DOUBLE_EQ(t.count, 1000 * seconds);
  EXPECT_DOUBLE_EQ(t.ns, 300000 * seconds);
  EXPECT_DOUBLE_EQ(c.ns_per_s(), 300000);
  EXPECT_TRUE(c.estimated());
}

TEST(BpfCost, AlwaysIsTheKernelsCountsExactly) {
  BpfCost c(BpfStatsMode::kAlways);
  EXPECT_EQ(feed(c, 20), 21);
  EXPECT_DOUBLE_EQ(c.totals().at(kProg).count, 20000);
  EXPECT_DOUBLE_EQ(c.totals().at(kProg).ns, 20 * 300000);
  EXPECT_FALSE(c.estimated());
}

TEST(BpfCost, OffNeverAsksForTheStatistics) {
  BpfCost c(BpfStatsMode::kOff);
  EXPECT_FALSE(c.start_on());
  EXPECT_EQ(feed(c, 20), 0);
  EXPECT_TRUE(c.totals().empty());
  EXPECT_EQ(c.ns_per_s(), 0);
}

TEST(BpfCost, RunsBeforeTheAgentOrWhileOffAreNotCounted) {
  BpfCost c(BpfStatsMode::kAlways);
  c.tick(0, {{kProg, {5000, 9000000}}}, false);  // another tool's runs before the agent started
  c.tick(kSec, {{kProg, {5100, 9030000}}}, true);
  EXPECT_DOUBLE_EQ(c.totals().at(kProg).count, 100);
  BpfCost s(BpfStatsMode::kSampled);
  s.tick(0, {{kProg, {0, 0}}}, false);
  s.tick(kSec, {{kProg, {100, 1000}}}, true);
  s.tick(2 * kSec, {{kProg, {700, 7000}}}, false);  // counted by someone else while ours were off
  s.tick(3 * kSec, {{kProg, {700, 7000}}}, false);
  s.tick(4 * kSec, {{kProg, {800, 8000}}}, true);
  EXPECT_DOUBLE_EQ(s.totals().at(kProg).count, 100 + 100 * 3);
}

TEST(BpfCost, AProgramLoadedAgainStartsFromZeroAndOneUnloadedLeaves) {
  BpfCost c(BpfStatsMode::kAlways);
  const BpfCost::Key other{"net", "sl_tcp_state"};
  c.tick(0, {{kProg, {1000, 1000}}, {other, {1, 1}}}, true);
  c.tick(kSec, {{kProg, {1500, 1500}}, {other, {2, 2}}}, true);
  c.tick(2 * kSec, {{kProg, {200, 200}}}, true);  // l7 restarted; net stopped
  EXPECT_DOUBLE_EQ(c.totals().at(kProg).count, 700);
  EXPECT_FALSE(c.totals().contains(other));
}

// `auto` samples only where switching the statistics (a kernel text patch) is known safe: from 6.4.
TEST(BpfCost, AutoSamplesFromKernel6_4AndKeepsThemOnBefore) {
  using sightline::agent::resolve_bpf_stats_mode;
  EXPECT_EQ(resolve_bpf_stats_mode(BpfStatsMode::kAuto, "6.1.0-57-amd64"), BpfStatsMode::kAlways);
  EXPECT_EQ(resolve_bpf_stats_mode(BpfStatsMode::kAuto, "5.15.0-91-generic"), BpfStatsMode::kAlways);
  EXPECT_EQ(resolve_bpf_stats_mode(BpfStatsMode::kAuto, "6.4.0"), BpfStatsMode::kSampled);
  EXPECT_EQ(resolve_bpf_stats_mode(BpfStatsMode::kAuto, "6.18.2-cloud"), BpfStatsMode::kSampled);
  EXPECT_EQ(resolve_bpf_stats_mode(BpfStatsMode::kAuto, "7.0"), BpfStatsMode::kSampled);
  EXPECT_EQ(resolve_bpf_stats_mode(BpfStatsMode::kAuto, "garbage"), BpfStatsMode::kAlways) << "unknown: the safe side";
  EXPECT_EQ(resolve_bpf_stats_mode(BpfStatsMode::kSampled, "6.1.0"), BpfStatsMode::kSampled) << "what the user chose";
  EXPECT_EQ(resolve_bpf_stats_mode(BpfStatsMode::kOff, "6.18.0"), BpfStatsMode::kOff);
}
