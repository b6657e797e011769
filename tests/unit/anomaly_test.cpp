#include <gtest/gtest.h>

#include <random>

#include "core/anomaly.h"
#include "core/anomaly_eval.h"

namespace sightline::core {
namespace {

constexpr SignalSpec kLatency{"test.latency", "s", Direction::kUp, 1e-4, 0.05};
constexpr SignalSpec kRate{"test.rate", "/s", Direction::kBoth, 0.5, 0.05};
constexpr uint64_t kT0 = 1767571200;

// A flat series with 2% noise: `points` points from t0 every 10 s, times `mult` from `from` on.
void feed_flat(AnomalyDetector& d, const std::string& key, const SignalSpec& s, double level, uint64_t t0, int points,
               int from = -1, double mult = 1, uint64_t seed = 1) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> n(0, 0.02);
  for (int i = 0; i < points; i++) {
    double v = level * (1 + n(g)) * (from >= 0 && i >= from ? mult : 1);
    d.feed(key, s, "comm=test", v, t0 + uint64_t(i) * 10);
  }
}

TEST(Anomaly, MeetsPrecisionAndRecallOnTheSyntheticSet) {
  EvalOptions e;
  e.series = 60;
  for (uint64_t seed : {1, 2}) {
    e.seed = seed;
    EvalReport r = evaluate_synthetic(e, {});
    EXPECT_GT(r.labelled, 20u);
    EXPECT_GE(r.precision, 0.9) << render_eval(e, {}, r);
    EXPECT_GE(r.recall, 0.9) << render_eval(e, {}, r);
  }
}

TEST(Anomaly, ALevelShiftIsOneAnomalyFromItsFirstPointUntilItEnds) {
  AnomalyDetector d;
  feed_flat(d, "lat", kLatency, 0.010, kT0, 60);
  EXPECT_TRUE(d.take_changes().empty());
  // Three times slower for 20 points, then back.
  std::mt19937_64 g(2);
  std::normal_distribution<double> n(0, 0.02);
  for (int i = 60; i < 120; i++) d.feed("lat", kLatency, "comm=test", 0.010 * (1 + n(g)) * (i < 80 ? 3 : 1), kT0 + i * 10);
  auto changes = d.take_changes();
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].until_s, 0u);
  EXPECT_EQ(changes[0].since_s, kT0 + 600);  // the first point off
  EXPECT_EQ(changes[0].dir, Direction::kUp);
  EXPECT_STREQ(changes[0].baseline, "recent");
  EXPECT_GT(changes[0].score, 5);
  EXPECT_NEAR(changes[0].expected, 0.010, 0.001);
  EXPECT_EQ(changes[1].since_s, kT0 + 600);
  EXPECT_GE(changes[1].until_s, kT0 + 800);
  EXPECT_LE(changes[1].until_s, kT0 + 850);
  EXPECT_TRUE(d.active().empty());
  ASSERT_EQ(d.ended().size(), 1u);
  EXPECT_NE(anomaly_text(d.ended()[0]).find("test.latency of comm=test is 30."), std::string::npos)
      << anomaly_text(d.ended()[0]);
}

TEST(Anomaly, OnlyTheSignalsDirectionCounts) {
  AnomalyDetector d;
  feed_flat(d, "lat", kLatency, 0.010, kT0, 100, 40, 0.2);  // latency fell: good news
  feed_flat(d, "rate", kRate, 100, kT0, 100, 40, 0.2);      // rate fell: both ways count
  auto changes = d.take_changes();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].key, "rate");
  EXPECT_EQ(changes[0].dir, Direction::kDown);
}

TEST(Anomaly, AnomaliesThatStartTogetherAreRelated) {
  AnomalyOptions o;
  o.correlate_s = 120;
  AnomalyDetector d(o);
  feed_flat(d, "a", kLatency, 0.010, kT0, 100, 50, 4, 1);
  feed_flat(d, "b", kRate, 100, kT0, 100, 53, 0.1, 2);  // 30 s later
  feed_flat(d, "c", kLatency, 0.5, kT0, 100, 90, 4, 3);  // 400 s later: not related
  auto active = d.active();
  ASSERT_EQ(active.size(), 3u);
  EXPECT_EQ(active[0]->key, "a");
  EXPECT_EQ(active[0]->related, std::vector<std::string>{"b"});
  EXPECT_EQ(active[1]->related, std::vector<std::string>{"a"});
  EXPECT_TRUE(active[2]->related.empty());
  std::string j = d.json();
  EXPECT_NE(j.find("\"related\":[\"b\"]"), std::string::npos) << j;
  EXPECT_NE(j.find("\"series\":3"), std::string::npos) << j;
}

TEST(Anomaly, ASeriesThatEndedAndStartedAgainIsRelatedOnce) {
  AnomalyOptions o;
  o.correlate_s = 300;
  AnomalyDetector d(o);
  std::mt19937_64 g(4);
  std::normal_distribution<double> n(0, 0.02);
  // "a" is four times slower for points 50-59 and again from 70 on; "b" drops from point 72 on:
  // near both of a's starts, yet related to it once.
  for (int i = 0; i < 100; i++) {
    double m = (i >= 50 && i < 60) || i >= 70 ? 4 : 1;
    d.feed("a", kLatency, "comm=test", 0.010 * (1 + n(g)) * m, kT0 + uint64_t(i) * 10);
    d.feed("b", kRate, "comm=test", 100 * (1 + n(g)) * (i >= 72 ? 0.1 : 1), kT0 + uint64_t(i) * 10);
  }
  ASSERT_EQ(d.ended().size(), 1u);
  auto active = d.active();
  ASSERT_EQ(active.size(), 2u);
  EXPECT_EQ(active[0]->key, "a");
  EXPECT_EQ(active[0]->related, std::vector<std::string>{"b"});
  EXPECT_EQ(active[1]->related, std::vector<std::string>{"a"});
}

TEST(Anomaly, GapsAndClockJumpsAreNoAnomalies) {
  AnomalyDetector d;
  feed_flat(d, "lat", kLatency, 0.010, kT0, 40);
  // The agent was down for two hours, and the level is a bit different after: the recent past
  // restarts (warm-up), no verdict across the gap.
  feed_flat(d, "lat", kLatency, 0.013, kT0 + 7200, 40);
  EXPECT_TRUE(d.take_changes().empty());
  // The wall clock stepped back a minute: those points are refused, counted.
  d.feed("lat", kLatency, "comm=test", 0.5, kT0 + 7200 + 390 - 60);
  d.feed("lat", kLatency, "comm=test", 0.5, kT0 + 7200 + 390);
  EXPECT_EQ(d.refused_points(), 2u);
  EXPECT_TRUE(d.take_changes().empty());
  // NaN and infinities (a division by a zero interval) are refused too.
  d.feed("lat", kLatency, "comm=test", std::numeric_limits<double>::quiet_NaN(), kT0 + 9000);
  EXPECT_EQ(d.refused_points(), 3u);
}

TEST(Anomaly, SeriesAreBoundedAndIdleOnesForgotten) {
  AnomalyOptions o;
  o.max_series = 1000;
  o.idle_s = 600;
  AnomalyDetector d(o);
  for (int i = 0; i < 1000000; i++) d.feed("s" + std::to_string(i), kRate, "", 1, kT0);
  EXPECT_EQ(d.series(), 1000u);
  EXPECT_EQ(d.refused_series(), 999000u);
  EXPECT_EQ(d.bytes(), 1000 * AnomalyDetector::bytes_per_series());
  EXPECT_LT(AnomalyDetector::bytes_per_series(), 4096u);
  // Seen once, then never again: forgotten after idle_s, and room for others.
  d.feed("s0", kRate, "", 1, kT0 + 500);
  d.expire(kT0 + 601);
  EXPECT_EQ(d.series(), 1u);
  d.feed("new", kRate, "", 1, kT0 + 700);
  EXPECT_EQ(d.series(), 2u);
}

TEST(Anomaly, ADailyCycleIsLearntAndAShiftInItFound) {
  AnomalyOptions o;
  o.step_s = 60;
  AnomalyDetector d(o);
  std::mt19937_64 g(5);
  std::normal_distribution<double> n(0, 0.03);
  auto at = [&](uint64_t t) { return 100 * (1 + 0.5 * std::sin(2 * 3.14159265 * double(t % 86400) / 86400)); };
  for (uint64_t t = kT0; t < kT0 + 4 * 86400; t += 60) d.feed("rate", kRate, "", at(t) * (1 + n(g)), t);
  // Two days to learn the day, the warm-up before: a cycle of ±50% raised nothing after them.
  for (const auto& a : d.take_changes()) EXPECT_LT(a.since_s, kT0 + 2 * 86400) << anomaly_text(a);
  // Day 5, 06:00 (the cycle's peak): 30% below what the hour usually has.
  const uint64_t six = kT0 + 4 * 86400 + 6 * 3600;
  for (uint64_t t = kT0 + 4 * 86400; t < six + 3600; t += 60) d.feed("rate", kRate, "", at(t) * (1 + n(g)) * (t >= six ? 0.7 : 1), t);
  auto changes = d.take_changes();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].dir, Direction::kDown);
  EXPECT_STREQ(changes[0].baseline, "daily");
  EXPECT_LE(changes[0].since_s, six + 180);
}

TEST(Anomaly, ModelsOutliveARestartAndADamagedFileLoadsNothing) {
  AnomalyOptions o;
  o.step_s = 60;
  AnomalyDetector d(o);
  std::mt19937_64 g(7);
  std::normal_distribution<double> n(0, 0.03);
  auto at = [&](uint64_t t) { return 100 * (1 + 0.5 * std::sin(2 * 3.14159265 * double(t % 86400) / 86400)); };
  uint64_t t = kT0;
  for (; t < kT0 + 3 * 86400; t += 60) d.feed("rate", kRate, "comm=x", at(t) * (1 + n(g)), t);
  d.take_changes();
  const std::string image = d.save();
  auto spec_of = [](std::string_view name) { return name == kRate.name ? &kRate : nullptr; };

  // The agent restarts two hours later: the day's shape is known at once, no warm-up, and the
  // usual values raise nothing while a drop to a third is found.
  AnomalyDetector again(o);
  size_t loaded = 0;
  ASSERT_TRUE(again.load(image, spec_of, &loaded));
  EXPECT_EQ(loaded, 1u);
  t += 7200;
  for (int i = 0; i < 30; i++, t += 60) again.feed("rate", kRate, "comm=x", at(t) * (1 + n(g)), t);
  EXPECT_TRUE(again.take_changes().empty());
  for (int i = 0; i < 5; i++, t += 60) again.feed("rate", kRate, "comm=x", at(t) / 3, t);
  auto changes = again.take_changes();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_STREQ(changes[0].baseline, "daily");
  EXPECT_EQ(changes[0].subject, "comm=x");

  // Cut short, another file, a signal this version does not know: nothing loaded, or that series skipped.
  AnomalyDetector fresh(o);
  EXPECT_FALSE(fresh.load(image.substr(0, image.size() - 100), spec_of, &loaded));
  EXPECT_EQ(fresh.series(), 0u);
  EXPECT_FALSE(fresh.load("garbage", spec_of, &loaded));
  ASSERT_TRUE(fresh.load(image, [](std::string_view) { return nullptr; }, &loaded));
  EXPECT_EQ(loaded, 0u);
  // Loading is bounded as feeding is.
  o.max_series = 0;
  AnomalyDetector none(o);
  ASSERT_TRUE(none.load(image, spec_of, &loaded));
  EXPECT_EQ(none.series(), 0u);
  EXPECT_EQ(none.refused_series(), 1u);
}

}  // namespace
}  // namespace sightline::core
