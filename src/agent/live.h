// Live events for subscribers (GET /api/v1/events, server-sent events): each subscriber has a
// filter (the rule language's condition), a bounded queue of rendered events and a count of
// what it missed when it read too slowly. The polling thread never waits on a subscriber.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/metrics.h"
#include "core/status.h"
#include "rules/condition.h"
#include "sources/source.h"

namespace sightline::agent {

class LiveFeed : public sources::EventSink {
 public:
  static constexpr size_t kMaxSubscribers = 8;
  static constexpr size_t kQueueLines = 4096;

  struct Subscriber {
    rules::Condition filter;
    bool has_filter = false;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::string> lines;
    uint64_t missed = 0;  // dropped from this subscriber's queue (it read too slowly)
    bool closed = false;
  };

  // A new subscriber with `filter` (empty: every event); an error names what is wrong with it.
  core::Status subscribe(const std::string& filter, std::shared_ptr<Subscriber>* out);
  void unsubscribe(const std::shared_ptr<Subscriber>& s);
  // Waits up to `ms` for lines; moves them into `out`. False when the feed is closing.
  static bool next(Subscriber& s, int ms, std::vector<std::string>* out, uint64_t* missed);
  void close_all();

  void on_event(core::Event& e) override;
  void metrics(std::vector<core::MetricFamily>& out) const;

 private:
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Subscriber>> subs_;
  std::atomic<size_t> count_{0};
  std::atomic<uint64_t> sent_{0}, missed_{0};
  rules::Context ctx_{[](uint32_t, int) { return std::string(); }, [](const core::Event&) { return std::string(); }};
  std::string json_;
};

}  // namespace sightline::agent
