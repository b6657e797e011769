#include "core/anomaly.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/render.h"

namespace sightline::core {

const char* direction_name(Direction d) {
  switch (d) {
    case Direction::kUp: return "up";
    case Direction::kDown: return "down";
    default: return "both";
  }
}

std::string format_signal_value(const SignalSpec& s, double v) {
  char buf[64];
  std::string_view unit = s.unit;
  if (unit == "s") {
    double a = std::fabs(v);
    if (a < 1e-3) snprintf(buf, sizeof buf, "%.1f µs", v * 1e6);
    else if (a < 1) snprintf(buf, sizeof buf, "%.2f ms", v * 1e3);
    else snprintf(buf, sizeof buf, "%.3f s", v);
  } else if (unit == "ratio") {
    snprintf(buf, sizeof buf, "%.2f%%", v * 100);
  } else {
    snprintf(buf, sizeof buf, "%.4g %s", v, s.unit);
  }
  return buf;
}

void AnomalyDetector::Profile::init(uint32_t period, uint32_t nbuckets) {
  period_s = period;
  buckets = nbuckets;
  loc.assign(nbuckets, 0);
  spread.assign(nbuckets, 0);
  seen.assign(nbuckets, 0);
}

bool AnomalyDetector::Profile::expect(uint64_t t, double* l, double* s, uint8_t min_seen) const {
  const double width = double(period_s) / buckets;
  double pos = double(t % period_s) / width - 0.5;
  double base = std::floor(pos);
  double frac = pos - base;
  auto i0 = static_cast<uint32_t>((static_cast<int64_t>(base) + buckets) % buckets);
  uint32_t i1 = (i0 + 1) % buckets;
  if (seen[i0] < min_seen || seen[i1] < min_seen) return false;
  // Between the two bucket centres, unless they differ by a step (a weekend's start, a cron
  // job on the hour): then the bucket the point is in.
  if (std::fabs(loc[i1] - loc[i0]) > 3 * std::max(spread[i0], spread[i1]))
    frac = frac < 0.5 ? 0 : 1;
  *l = loc[i0] + frac * (loc[i1] - loc[i0]);
  *s = spread[i0] + frac * (spread[i1] - spread[i0]);
  return true;
}

void AnomalyDetector::Profile::add(uint64_t t, double x) {
  auto b = static_cast<int32_t>((t % period_s) / (period_s / buckets));
  if (b != cur && cur >= 0 && n) {
    // The visit is over: its mean and its spread teach the bucket (across days).
    // The spread within the visit from successive differences: the noise, not the day's
    // slope across the bucket.
    double m = sum / n, sd = n > 1 ? std::sqrt(sum2 / (2.0 * (n - 1))) : 0;
    auto i = static_cast<size_t>(cur);
    if (!seen[i]) {
      loc[i] = float(m);
      spread[i] = float(sd);
    } else {
      double e = m - loc[i];
      double a = std::max(0.25, 1.0 / (seen[i] + 1));
      loc[i] = float(loc[i] + a * e);
      spread[i] = float((1 - a) * spread[i] + a * std::sqrt(sd * sd + e * e));
    }
    if (seen[i] < 255) seen[i]++;
  }
  if (b != cur) sum = sum2 = 0, n = 0;
  cur = b;
  if (n) sum2 += (x - prev) * (x - prev);
  prev = x;
  sum += x;
  n++;
}

AnomalyDetector::AnomalyDetector(AnomalyOptions o) : o_(o) {
  o_.of = std::clamp(o_.of, 1u, 8u);
  o_.confirm = std::clamp(o_.confirm, 1u, o_.of);
  o_.step_s = std::max<uint32_t>(o_.step_s, 1);
}

bool AnomalyDetector::expect(const Model& m, uint64_t t, double* loc, double* spread, const char** baseline) const {
  // The week's shape once it was seen (weekends differ), with the spread of several days where
  // one week cannot say it yet; else the day's shape from two days on.
  double dl = 0, ds = 0;
  const bool daily = m.daily.expect(t, &dl, &ds, 2);
  if (m.weekly.expect(t, loc, spread, 2)) return *baseline = "weekly", true;
  if (daily && m.weekly.expect(t, loc, spread, 1)) {
    *spread = std::max(*spread, ds);
    return *baseline = "weekly", true;
  }
  if (daily) return *loc = dl, *spread = ds, *baseline = "daily", true;
  if (m.n < o_.warmup || m.n < 3) return false;
  std::array<float, kRecent> v;
  std::copy_n(m.recent.begin(), m.n, v.begin());
  auto mid = v.begin() + m.n / 2;
  std::nth_element(v.begin(), mid, v.begin() + m.n);
  const float med = *mid;
  for (size_t i = 0; i < m.n; i++) v[i] = std::fabs(v[i] - med);
  std::nth_element(v.begin(), mid, v.begin() + m.n);
  *loc = med;
  *spread = 1.4826 * *mid;
  *baseline = "recent";
  return true;
}

void AnomalyDetector::feed(const std::string& key, const SignalSpec& spec, const std::string& subject, double value,
                           uint64_t t) {
  if (!std::isfinite(value)) return void(refused_points_++);
  auto it = models_.find(key);
  if (it == models_.end()) {
    if (models_.size() >= o_.max_series) return void(refused_series_++);
    it = models_.emplace(key, Model{}).first;
    Model& m = it->second;
    m.spec = &spec;
    m.subject = subject;
    m.daily.init(86400, 48);
    m.weekly.init(7 * 86400, 168);
  }
  Model& m = it->second;
  if (m.last_s && t <= m.last_s) return void(refused_points_++);
  if (m.last_s && t - m.last_s > 3ull * o_.step_s) m.up_bits = m.down_bits = 0;
  if (m.last_s && t - m.last_s > kRecent * o_.step_s) m.n = 0, m.pos = 0;
  m.last_s = t;

  double e = 0, s = 0, learn = value, clipped = value;
  const char* baseline = "";
  if (expect(m, t, &e, &s, &baseline)) {
    s = std::max({s, spec.abs_floor, spec.rel_floor * std::fabs(e), 1e-12});
    double z = (value - e) / s;
    // What teaches the model: the recent past a point clipped to the threshold, the profiles
    // one clipped 3 times as far (a shape not seen yet, a first weekend, must still teach them).
    clipped = std::clamp(value, e - o_.threshold * s, e + o_.threshold * s);
    learn = std::clamp(value, e - 3 * o_.threshold * s, e + 3 * o_.threshold * s);
    const uint8_t mask = static_cast<uint8_t>((1u << o_.of) - 1);
    bool up = z > o_.threshold && spec.dir != Direction::kDown;
    bool down = z < -o_.threshold && spec.dir != Direction::kUp;
    if (up && !(m.up_bits & mask)) m.run_up_s = t;
    if (down && !(m.down_bits & mask)) m.run_down_s = t;
    m.up_bits = static_cast<uint8_t>(((m.up_bits << 1) | up) & mask);
    m.down_bits = static_cast<uint8_t>(((m.down_bits << 1) | down) & mask);
    if (!m.active_id) {
      if (unsigned(std::popcount(m.up_bits)) >= o_.confirm)
        start(key, m, Direction::kUp, m.run_up_s, t, value, e, s, z, baseline);
      else if (unsigned(std::popcount(m.down_bits)) >= o_.confirm)
        start(key, m, Direction::kDown, m.run_down_s, t, value, e, s, z, baseline);
    } else {
      Anomaly& a = active_.at(m.active_id);
      a.last_s = t;
      if (std::fabs(z) > std::fabs(a.score)) a.value = value, a.expected = e, a.spread = s, a.score = z;
      // It lasts while points stay past half the threshold (hysteresis: a series hovering
      // around the threshold is one anomaly, not many).
      bool still = a.dir == Direction::kUp ? z > o_.threshold / 2 : z < -o_.threshold / 2;
      m.still_bits = static_cast<uint8_t>(((m.still_bits << 1) | still) & mask);
      if (!m.still_bits) end(m, t);
    }
  }
  // The recent past stands still during an anomaly's first hour (it would learn the anomaly
  // in 15 points); the profiles learn across days, winsorized.
  const auto a = active_.find(m.active_id);
  if (a == active_.end() || t - a->second.since_s > 3600) {
    m.recent[m.pos] = float(clipped);
    m.pos = static_cast<uint8_t>((m.pos + 1) % kRecent);
    if (m.n < kRecent) m.n++;
  }
  m.daily.add(t, learn);
  m.weekly.add(t, learn);
}

void AnomalyDetector::start(const std::string& key, Model& m, Direction d, uint64_t since, uint64_t t, double x,
                            double e, double s, double z, const char* baseline) {
  Anomaly a;
  a.id = next_id_++;
  a.key = key;
  a.spec = m.spec;
  a.subject = m.subject;
  a.dir = d;
  a.since_s = since;
  a.last_s = t;
  a.value = x, a.expected = e, a.spread = s, a.score = z;
  a.baseline = baseline;
  auto near = [&](uint64_t other) { return (other > since ? other - since : since - other) <= o_.correlate_s; };
  // Each related series once (one that ended and started again is both ended and active).
  auto relate = [](std::vector<std::string>& to, const std::string& k) {
    constexpr size_t kMaxRelated = 16;
    if (to.size() < kMaxRelated && std::find(to.begin(), to.end(), k) == to.end()) to.push_back(k);
  };
  for (auto& [id, other] : active_)
    if (near(other.since_s) && other.key != key) {
      relate(a.related, other.key);
      relate(other.related, key);
    }
  for (const auto& other : ended_)
    if (near(other.since_s) && other.key != key) relate(a.related, other.key);
  m.active_id = a.id;
  m.still_bits = 0xff;
  started_total_++;
  if (changes_.size() < 4096) changes_.push_back(a);
  active_.emplace(a.id, std::move(a));
}

void AnomalyDetector::end(Model& m, uint64_t t) {
  auto it = active_.find(m.active_id);
  m.active_id = 0;
  m.up_bits = m.down_bits = 0;
  if (it == active_.end()) return;
  Anomaly a = std::move(it->second);
  active_.erase(it);
  a.until_s = t;
  if (changes_.size() < 4096) changes_.push_back(a);
  ended_.push_back(std::move(a));
  while (ended_.size() > o_.keep_ended) ended_.pop_front();
}

void AnomalyDetector::expire(uint64_t now_s) {
  for (auto it = models_.begin(); it != models_.end();) {
    if (it->second.last_s + o_.idle_s < now_s) {
      if (it->second.active_id) end(it->second, it->second.last_s);
      it = models_.erase(it);
    } else {
      ++it;
    }
  }
}

std::vector<Anomaly> AnomalyDetector::take_changes() {
  std::vector<Anomaly> out;
  out.swap(changes_);
  for (auto& a : out) {
    a.text = anomaly_text(a);
    a.value_text = format_signal_value(*a.spec, a.value);
    a.usual_text = format_signal_value(*a.spec, a.expected) + " ± " + format_signal_value(*a.spec, a.spread);
    a.related_text.clear();
    for (const auto& r : a.related) a.related_text += (a.related_text.empty() ? "" : ", ") + r;
  }
  return out;
}

std::vector<const Anomaly*> AnomalyDetector::active() const {
  std::vector<const Anomaly*> out;
  for (const auto& [id, a] : active_) out.push_back(&a);
  std::sort(out.begin(), out.end(), [](auto* x, auto* y) { return x->since_s < y->since_s; });
  return out;
}

namespace {

constexpr std::string_view kMagic = "sightline-anomaly-models-1\n";

template <class T>
void put(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}
void put_str(std::string& out, std::string_view s) {
  put(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

struct Reader {
  std::string_view in;
  bool ok = true;
  template <class T>
  T get() {
    T v{};
    if (in.size() < sizeof v) return ok = false, v;
    std::memcpy(&v, in.data(), sizeof v);
    in.remove_prefix(sizeof v);
    return v;
  }
  std::string str(size_t max) {
    auto n = get<uint32_t>();
    if (!ok || n > max || in.size() < n) return ok = false, std::string();
    std::string s(in.substr(0, n));
    in.remove_prefix(n);
    return s;
  }
  template <class T>
  void array(std::vector<T>& v) {
    size_t bytes = v.size() * sizeof(T);
    if (in.size() < bytes) return void(ok = false);
    std::memcpy(v.data(), in.data(), bytes);
    in.remove_prefix(bytes);
  }
};

}  // namespace

std::string AnomalyDetector::save() const {
  std::string out(kMagic);
  put(out, static_cast<uint32_t>(models_.size()));
  for (const auto& [key, m] : models_) {
    put_str(out, key);
    put_str(out, m.spec->name);
    put_str(out, m.subject);
    put(out, m.last_s);
    put(out, m.n);
    put(out, m.pos);
    out.append(reinterpret_cast<const char*>(m.recent.data()), sizeof m.recent);
    for (const Profile* p : {&m.daily, &m.weekly}) {
      out.append(reinterpret_cast<const char*>(p->loc.data()), p->loc.size() * sizeof(float));
      out.append(reinterpret_cast<const char*>(p->spread.data()), p->spread.size() * sizeof(float));
      out.append(reinterpret_cast<const char*>(p->seen.data()), p->seen.size());
    }
  }
  return out;
}

Status AnomalyDetector::load(std::string_view image, const std::function<const SignalSpec*(std::string_view)>& spec_of,
                             size_t* loaded) {
  *loaded = 0;
  if (!image.starts_with(kMagic)) return Status::error(EINVAL, "not a file of anomaly models (or of another version)");
  Reader r{image.substr(kMagic.size())};
  const auto count = r.get<uint32_t>();
  std::vector<std::pair<std::string, Model>> taken;
  for (uint32_t i = 0; r.ok && i < count; i++) {
    Model m;
    std::string key = r.str(4096), signal = r.str(256);
    m.subject = r.str(4096);
    m.last_s = r.get<uint64_t>();
    m.n = r.get<uint8_t>();
    m.pos = r.get<uint8_t>();
    std::vector<float> recent(kRecent);
    r.array(recent);
    std::copy(recent.begin(), recent.end(), m.recent.begin());
    m.daily.init(86400, 48);
    m.weekly.init(7 * 86400, 168);
    for (Profile* p : {&m.daily, &m.weekly}) r.array(p->loc), r.array(p->spread), r.array(p->seen);
    if (!r.ok) break;
    if (m.n > kRecent || m.pos >= kRecent) return Status::error(EINVAL, "damaged: series " + key);
    m.spec = spec_of(signal);
    if (m.spec) taken.emplace_back(std::move(key), std::move(m));
  }
  if (!r.ok) return Status::error(EINVAL, "damaged or cut short after " + std::to_string(taken.size()) + " series");
  for (auto& [key, m] : taken) {
    if (models_.size() >= o_.max_series) {
      refused_series_++;
      continue;
    }
    if (models_.emplace(std::move(key), std::move(m)).second) ++*loaded;
  }
  return {};
}

size_t AnomalyDetector::bytes_per_series() {
  // The model, its two profiles' buckets, its hash node and key, a subject of ~60 bytes.
  return sizeof(Model) + (48 + 168) * (sizeof(float) * 2 + 1) + 64 + 2 * 64;
}

size_t AnomalyDetector::bytes() const { return models_.size() * bytes_per_series(); }

std::string anomaly_text(const Anomaly& a) {
  const SignalSpec& s = *a.spec;
  std::string t = std::string(s.name) + " of " + (a.subject.empty() ? "the node" : a.subject) + " is " +
                  format_signal_value(s, a.value) + ", usually " + format_signal_value(s, a.expected) + " ± " +
                  format_signal_value(s, a.spread);
  char z[48];
  snprintf(z, sizeof z, " (%.1f spreads %s", std::fabs(a.score), a.score >= 0 ? "above" : "below");
  t += z;
  t += std::string("; baseline: ") + a.baseline + "), since ";
  append_rfc3339(t, a.since_s * 1000000000ULL);
  if (a.until_s) {
    t += ", until ";
    append_rfc3339(t, a.until_s * 1000000000ULL);
  }
  if (!a.related.empty()) {
    t += "; at the same time: ";
    for (size_t i = 0; i < a.related.size(); i++) t += (i ? ", " : "") + a.related[i];
  }
  return t;
}

void append_anomaly_json(std::string& j, const Anomaly& a) {
  char num[64];
  auto number = [&](const char* name, double v) {
    snprintf(num, sizeof num, ",\"%s\":%.6g", name, std::isfinite(v) ? v : 0.0);
    j += num;
  };
  j += "{\"id\":" + std::to_string(a.id) + ",\"key\":";
  append_json_string(j, a.key);
  j += ",\"signal\":";
  append_json_string(j, a.spec->name);
  j += ",\"unit\":";
  append_json_string(j, a.spec->unit);
  j += ",\"subject\":";
  append_json_string(j, a.subject);
  j += ",\"direction\":";
  append_json_string(j, direction_name(a.dir));
  j += ",\"since\":" + std::to_string(a.since_s) + ",\"until\":" + std::to_string(a.until_s) +
       ",\"last\":" + std::to_string(a.last_s);
  number("value", a.value);
  number("expected", a.expected);
  number("spread", a.spread);
  number("score", a.score);
  j += ",\"baseline\":";
  append_json_string(j, a.baseline);
  j += ",\"related\":[";
  for (size_t i = 0; i < a.related.size(); i++) {
    if (i) j += ',';
    append_json_string(j, a.related[i]);
  }
  j += "],\"text\":";
  append_json_string(j, anomaly_text(a));
  j += '}';
}

std::string AnomalyDetector::json() const {
  std::string j = "{\"series\":" + std::to_string(models_.size()) + ",\"max_series\":" + std::to_string(o_.max_series) +
                  ",\"refused_series\":" + std::to_string(refused_series_) +
                  ",\"refused_points\":" + std::to_string(refused_points_) +
                  ",\"bytes_per_series\":" + std::to_string(bytes_per_series()) + ",\"active\":[";
  bool first = true;
  for (const Anomaly* a : active()) {
    if (!first) j += ',';
    first = false;
    append_anomaly_json(j, *a);
  }
  j += "],\"ended\":[";
  for (size_t i = ended_.size(); i-- > 0;) {  // newest first
    if (i + 1 != ended_.size()) j += ',';
    append_anomaly_json(j, ended_[i]);
  }
  j += "]}";
  return j;
}

}  // namespace sightline::core
