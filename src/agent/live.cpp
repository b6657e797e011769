#include "agent/live.h"

#include <chrono>

#include "core/render.h"

namespace sightline::agent {

core::Status LiveFeed::subscribe(const std::string& filter, std::shared_ptr<Subscriber>* out) {
  auto s = std::make_shared<Subscriber>();
  if (!filter.empty()) {
    if (auto st = rules::Condition::parse(filter, {}, {}, &s->filter); !st)
      return core::Status::error(EINVAL, "filter: " + st.message());
    s->has_filter = true;
  }
  std::lock_guard lock(mu_);
  if (subs_.size() >= kMaxSubscribers)
    return core::Status::error(EBUSY, "already " + std::to_string(kMaxSubscribers) + " subscribers (the bound)");
  subs_.push_back(s);
  count_ = subs_.size();
  *out = std::move(s);
  return {};
}

void LiveFeed::unsubscribe(const std::shared_ptr<Subscriber>& s) {
  std::lock_guard lock(mu_);
  std::erase(subs_, s);
  count_ = subs_.size();
}

void LiveFeed::close_all() {
  std::lock_guard lock(mu_);
  for (auto& s : subs_) {
    std::lock_guard l(s->mu);
    s->closed = true;
    s->cv.notify_all();
  }
}

bool LiveFeed::next(Subscriber& s, int ms, std::vector<std::string>* out, uint64_t* missed) {
  std::unique_lock lock(s.mu);
  s.cv.wait_for(lock, std::chrono::milliseconds(ms), [&] { return s.closed || !s.lines.empty(); });
  for (auto& l : s.lines) out->push_back(std::move(l));
  s.lines.clear();
  *missed = s.missed;
  return !s.closed;
}

void LiveFeed::on_event(core::Event& e) {
  if (count_.load(std::memory_order_relaxed) == 0) return;
  std::lock_guard lock(mu_);
  bool rendered = false;
  for (auto& s : subs_) {
    if (s->has_filter && !s->filter.matches(e, ctx_)) continue;
    if (!rendered) {
      json_.clear();
      core::append_event_json(json_, e);
      rendered = true;
    }
    std::lock_guard l(s->mu);
    if (s->lines.size() >= kQueueLines) {
      s->missed++;
      missed_++;
      continue;
    }
    s->lines.push_back(json_);
    sent_++;
    s->cv.notify_one();
  }
}

void LiveFeed::metrics(std::vector<core::MetricFamily>& out) const {
  core::MetricFamily subs{"sightline_live_subscribers", "Clients reading /api/v1/events", core::MetricType::kGauge};
  subs.series.push_back({{}, static_cast<double>(count_.load())});
  core::MetricFamily sent{"sightline_live_events_sent_total", "Events queued to live subscribers",
                          core::MetricType::kCounter};
  sent.series.push_back({{}, static_cast<double>(sent_.load())});
  core::MetricFamily missed{"sightline_live_events_missed_total",
                            "Events a live subscriber missed because it read slower than they came (queue of 4096)",
                            core::MetricType::kCounter};
  missed.series.push_back({{}, static_cast<double>(missed_.load())});
  out.push_back(std::move(subs));
  out.push_back(std::move(sent));
  out.push_back(std::move(missed));
}

}  // namespace sightline::agent
