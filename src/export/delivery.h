// Durable delivery of batches to one HTTP backend: a bounded in-memory queue, one sender thread
// that retries with exponential backoff, and a bounded on-disk spool that takes what the queue
// cannot hold while the backend is away (and what is queued when the agent stops). Batches go
// out strictly in the order they were made (Prometheus refuses out-of-order samples): while the
// spool holds anything, new batches are spooled behind it. Every batch is counted once as sent,
// dropped (with the reason) or still pending. All exporters sit on this.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/metrics.h"
#include "core/status.h"

namespace sightline::exporter {

struct Batch {
  std::string target;        // path and query appended to the base URL ("/api/v1/write")
  std::string content_type;
  std::vector<std::pair<std::string, std::string>> headers;  // besides the delivery's own
  std::string body;
  uint64_t items = 0;        // samples, rows, log lines: for the counters
  uint64_t seq = 0;          // order of submission (set by submit; names the spool file)
};

struct DeliveryOptions {
  std::string name;                 // label of the sightline_exporter_* metrics
  std::string url;                  // http://host:port (a path here prefixes every target)
  std::vector<std::pair<std::string, std::string>> headers;
  size_t queue_batches = 64;        // in memory
  uint64_t queue_bytes = 16ULL << 20;  // ... and their bodies' bytes (memory_limit's share)
  std::string spool_dir;            // empty: no spool (the queue's bound drops)
  uint64_t spool_max_bytes = 256ULL << 20;  // beyond: the oldest spooled batch is dropped
  double backoff_min_s = 0.25, backoff_max_s = 15;
  double timeout_s = 10;
};

struct DeliveryStats {
  uint64_t batches_sent = 0, items_sent = 0;
  uint64_t attempts_failed = 0;     // each failed POST (a retried batch counts each time)
  uint64_t retries = 0;
  uint64_t batches_spooled = 0;     // written to the spool
  std::map<std::string, uint64_t> dropped;  // reason -> batches: rejected (4xx), spool_full, no_spool
  uint64_t queue_batches = 0, spool_batches = 0, spool_bytes = 0;
  double last_success_s = 0;        // unix time of the last 2xx
  std::string last_error;
};

class Delivery {
 public:
  // Parses the URL (http:// only) and reads what an earlier run left in the spool.
  static core::Status create(DeliveryOptions opts, std::unique_ptr<Delivery>* out);
  ~Delivery();  // spools what is still queued, then stops

  // Never blocks on the network or waits for the sender.
  void submit(Batch b);
  // Waits up to `seconds` until nothing is queued or spooled; false on timeout.
  bool drain(double seconds);
  DeliveryStats stats() const;
  void metrics(std::vector<core::MetricFamily>& out) const;
  const DeliveryOptions& options() const { return opts_; }

 private:
  explicit Delivery(DeliveryOptions opts) : opts_(std::move(opts)) {}
  void loop();
  // Result of one POST: 0 sent, 1 retry later, 2 rejected for good.
  int post(const Batch& b);
  core::Status spool_write(const Batch& b);
  bool spool_read(const std::string& file, Batch* b) const;
  void spool_trim_locked();

  DeliveryOptions opts_;
  std::string host_, base_path_;
  int port_ = 80;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> queue_;
  uint64_t queue_bytes_ = 0;  // bodies of queue_
  std::deque<std::pair<std::string, uint64_t>> spool_;  // files (oldest first), sizes
  uint64_t spool_seq_ = 0, spool_bytes_ = 0;
  bool stopping_ = false, busy_ = false;
  DeliveryStats stats_;
  std::thread thread_;
};

// "http://host:port/path" -> parts.
core::Status parse_http_url(const std::string& url, std::string* host, int* port, std::string* path);

}  // namespace sightline::exporter
