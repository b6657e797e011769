// Anomalies without thresholds: one online model per series learns what is usual for it and
// says when a point is not, by how far, since when, and what else on the node went off at the
// same time.
//
// The model (per series, bounded: ~2.3 KB):
// - a weekly profile (168 hour buckets) and a daily one (48 half-hour buckets), each bucket a
//   robust location and spread updated once per visit (the visit's winsorized mean and spread,
//   exponentially weighted across days: a week of history weighs most). The expected value at
//   a time is interpolated between the two nearest bucket centres. The weekly profile serves
//   once both buckets were seen (with the daily spread until they were seen twice), else the
//   daily one from two days on;
// - before that, the recent past: the median and MAD of the last 30 points.
// A point's score is its distance from the expected value in spreads (robust z), the spread
// floored by what the signal says matters (an absolute and a relative floor: 1 ms more of a
// 1 µs latency is no anomaly). An anomaly starts when `confirm` of the last `of` points score
// past the threshold in the signal's direction, and ends after `of` points in a row within half
// of it (hysteresis: a series hovering at the threshold is one anomaly).
// Points are winsorized before they teach the model (the recent past: clipped to the threshold;
// the profiles: to 3 times as far), so an anomaly teaches it little, and a change that stays (a
// first weekend, a release that doubled a latency) becomes usual over a few days, as the
// profiles learn it: one anomaly until then, not one a day.
// Seasonality needs the wall clock: points carry wall seconds; a point at or before its
// series' last is refused (counted), a gap of 3 points clears the confirmation, a gap of
// the recent window clears the recent past (the profiles stay).
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"

namespace sightline::core {

enum class Direction : uint8_t { kUp, kDown, kBoth };

// What a signal is and what change of it matters. Signals are static tables: the detector
// keeps a pointer.
struct SignalSpec {
  const char* name;  // l7.latency_mean
  const char* unit;  // s, /s, ratio
  Direction dir;
  double abs_floor;  // the least spread, in the unit
  double rel_floor;  // ... as a fraction of the expected value
};

struct AnomalyOptions {
  uint32_t step_s = 10;       // the interval points come at
  double threshold = 5;       // robust z past which a point is off
  unsigned confirm = 3, of = 4;
  unsigned warmup = 12;       // points of recent past before the first verdict
  size_t max_series = 1000;   // series modelled; more are counted, not modelled
  uint64_t idle_s = 3600;     // a series not fed for this long is forgotten
  uint64_t correlate_s = 300; // anomalies that started this close are related
  size_t keep_ended = 256;    // ended anomalies remembered
};

struct Anomaly {
  uint64_t id = 0;
  std::string key;  // the series: signal and subject
  const SignalSpec* spec = nullptr;
  std::string subject;       // comm=nginx protocol=http role=server
  Direction dir = Direction::kUp;
  uint64_t since_s = 0, until_s = 0;  // wall seconds; until_s 0 while it lasts
  uint64_t last_s = 0;
  double value = 0, expected = 0, spread = 0, score = 0;  // at its worst point
  const char* baseline = "";  // weekly, daily, recent
  std::vector<std::string> related;  // keys of anomalies that started within correlate_s
  // Rendered for events and alerts (take_changes fills them): anomaly_text(), the value and
  // the expectation with their unit, the related keys comma-separated.
  std::string text, value_text, usual_text, related_text;
};

class AnomalyDetector {
 public:
  explicit AnomalyDetector(AnomalyOptions o = {});

  // One point of a series at wall second t_s. The anomalies it started or ended are queued
  // for take_changes().
  void feed(const std::string& key, const SignalSpec& spec, const std::string& subject, double value, uint64_t t_s);
  // Forgets series not fed since now_s - idle_s.
  void expire(uint64_t now_s);
  // Anomalies that started (until_s 0) or ended since the last call, in order.
  std::vector<Anomaly> take_changes();

  // The models (not the anomalies going on), to outlive a restart: a versioned binary image.
  std::string save() const;
  // Models saved by save(); spec_of names each signal's spec (nullptr: that series is skipped).
  // Bounded as feed() is; a damaged image loads nothing and says why. *loaded: the series taken.
  Status load(std::string_view image, const std::function<const SignalSpec*(std::string_view)>& spec_of,
              size_t* loaded);

  std::vector<const Anomaly*> active() const;
  const std::deque<Anomaly>& ended() const { return ended_; }
  // {"active":[...],"ended":[...],"series":N,...}
  std::string json() const;

  size_t series() const { return models_.size(); }
  uint64_t refused_series() const { return refused_series_; }
  uint64_t refused_points() const { return refused_points_; }
  uint64_t started_total() const { return started_total_; }
  size_t bytes() const;
  static size_t bytes_per_series();

 private:
  static constexpr size_t kRecent = 30;
  struct Profile {
    uint32_t period_s = 0, buckets = 0;
    std::vector<float> loc, spread;
    std::vector<uint8_t> seen;
    int32_t cur = -1;  // the bucket being visited
    double sum = 0, sum2 = 0, prev = 0;  // sum2: of successive differences squared
    uint32_t n = 0;
    void init(uint32_t period, uint32_t nbuckets);
    // Expected value and spread at t; false until the two buckets around t were seen twice.
    bool expect(uint64_t t, double* loc, double* spread, uint8_t min_seen) const;
    void add(uint64_t t, double x);
  };
  struct Model {
    const SignalSpec* spec = nullptr;
    std::string subject;
    std::array<float, kRecent> recent{};
    uint8_t n = 0, pos = 0;
    Profile daily, weekly;
    uint64_t last_s = 0;
    uint8_t up_bits = 0, down_bits = 0, still_bits = 0;
    uint64_t run_up_s = 0, run_down_s = 0;  // first point of the current run of flags
    uint64_t active_id = 0;                 // the anomaly it is in, 0 if none
  };
  bool expect(const Model& m, uint64_t t, double* loc, double* spread, const char** baseline) const;
  void start(const std::string& key, Model& m, Direction d, uint64_t since, uint64_t t, double x, double e,
             double s, double z, const char* baseline);
  void end(Model& m, uint64_t t);

  AnomalyOptions o_;
  std::unordered_map<std::string, Model> models_;
  std::unordered_map<uint64_t, Anomaly> active_;
  std::deque<Anomaly> ended_;
  std::vector<Anomaly> changes_;
  uint64_t next_id_ = 1, refused_series_ = 0, refused_points_ = 0, started_total_ = 0;
};

const char* direction_name(Direction d);
// "0.0532 s", "12.5 /s", "3.1%" for a value of a signal.
std::string format_signal_value(const SignalSpec& s, double v);
// "l7.latency_mean of comm=nginx ... is 53.20 ms, usually 4.10 ms ± 0.60 ms (12.1 spreads above; ...)"
std::string anomaly_text(const Anomaly& a);
void append_anomaly_json(std::string& out, const Anomaly& a);

}  // namespace sightline::core
