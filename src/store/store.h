// The embedded store: one SQLite file in WAL mode, written by one thread that takes batches
// from a bounded queue. Tables: one per event kind (columns from the schema table), alerts,
// metric series and samples, per-minute profiles. Retention by age and by size runs
// continuously in the writer. Readers (sightline query, /api/v1/query) open their own
// read-only connections (store/query.h); WAL lets them read while the writer writes.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/alert.h"
#include "core/metrics.h"
#include "core/record.h"
#include "core/status.h"
#include "sources/source.h"

struct sqlite3;

namespace sightline::store {

struct StoreOptions {
  std::string path = "/var/lib/sightline/sightline.db";
  uint64_t max_age_s = 7 * 86400;     // rows older than this are deleted
  uint64_t max_bytes = 1ULL << 30;    // the file is kept under this (oldest rows go first)
  size_t queue_rows = 65536;          // bound of the queue to the writer; more are dropped
  size_t queue_bytes = 64ULL << 20;   // ... and of the bytes it holds
  uint32_t batch_ms = 1000;           // a batch is committed at least this often
  std::vector<core::EventKind> kinds; // kinds stored (others are not queued)
  // Event rows stored per second at most (a token bucket of a second's worth); past it rows are
  // counted, not stored, except failed ones (a request's error, an exec's or open's failure)
  // and anomalies. 0: no limit. The write cost and the store's growth stay bounded under any load.
  uint32_t max_event_rows_per_s = 0;
  // Request rows by endpoint (process, protocol, role, method, normalized target): each keeps
  // this many rows a second (a bucket of `endpoint_burst`); past it an exchange adds its weight
  // to the endpoint's last kept row, which is held until the endpoint's next row is kept or
  // `hold_ms` pass: sum(l7_weight) is the exact count of what reached the store. 0: every
  // request row (up to the rate above).
  double rows_per_endpoint_per_s = 0;
  uint32_t endpoint_burst = 60;
  // All request rows a second, shared by the active endpoints (each gets the lesser of this
  // over their number and rows_per_endpoint_per_s): what lets max_bytes hold max_age_s at full
  // load (the agent sets it from them). 0: no shared budget.
  double request_rows_per_s = 0;
  // Failed and unanswered exchanges are endpoints of their own, apart from the shared budget:
  // every one of the first ten minutes of a storm (a burst of 600 x this), then this many a
  // second, with exact weights.
  double error_rows_per_endpoint_per_s = 1;
  // Exchanges this slow or slower are kept like failed ones (endpoints of their own, the same
  // rates): the agent sets it from sources.l7.slow_ms, the kernel's "always in detail" mark.
  uint64_t slow_ns = UINT64_MAX;
  size_t max_endpoints = 4096;  // beyond: one shared __overflow__ endpoint
  uint32_t hold_ms = 5000;
  uint32_t retention_interval_s = 10; // how often age and size are enforced
  // Metric samples older than this keep one per 5 minutes a series (the last of each): a week's
  // chart takes ~1000 steps of 10 minutes, coarser than that. 0: every sample kept to the retention.
  uint64_t thin_samples_after_s = 86400;
  uint64_t cache_bytes = 2ULL << 20;  // the writer's page cache (memory_limit's share)
  uint64_t wal_bytes = 64ULL << 20;   // the WAL is truncated to this after a checkpoint
};

// One metric sample: a flattened series (histograms as _bucket{le}, _sum, _count).
struct SampleRow {
  std::string name, labels_json;
  double value = 0;
};

// A row of request_stacks: one stack of a request's serving thread (agent/request_stacks.h);
// the request's row has the same proc_tid and evt_time.
struct RequestStackRow {
  uint64_t time_ns = 0;  // the request's evt_time
  uint32_t pid = 0, tid = 0;
  bool offcpu = false;
  std::string stack;     // folded, root first
  uint64_t value = 0;    // samples, or off-CPU ns
};

struct StoreStats {
  // kinds, alerts, samples, profiles, request_stacks
  uint64_t rows_written[static_cast<size_t>(core::EventKind::kCount) + 4] = {};
  uint64_t rows_dropped = 0;   // queue full
  uint64_t rows_over_rate[static_cast<size_t>(core::EventKind::kCount)] = {};  // past max_event_rows_per_s
  uint64_t batches = 0, write_errors = 0;
  uint64_t rows_expired = 0;   // deleted by age
  uint64_t rows_evicted = 0;   // deleted to stay under max_bytes
  uint64_t samples_thinned = 0;  // metric samples older than a day beyond one per kThinNs
  uint64_t queue_rows = 0;
  uint64_t file_bytes = 0;
  double last_batch_seconds = 0;
};

// Table names, in the order of StoreStats::rows_written.
std::string table_name(size_t index);
constexpr size_t kAlertsIndex = static_cast<size_t>(core::EventKind::kCount);
constexpr size_t kSamplesIndex = kAlertsIndex + 1;
constexpr size_t kProfilesIndex = kAlertsIndex + 2;
constexpr size_t kRequestStacksIndex = kAlertsIndex + 3;

// All of SQLite's heap in this process (the writer and every query): an allocation past it
// fails (the statement gets SQLITE_NOMEM) instead of growing the agent.
void set_sqlite_heap_limit(uint64_t bytes);

class Store : public sources::EventSink {
 public:
  // Opens (creating the directory, file and tables as needed) and starts the writer.
  static core::Status open(const StoreOptions& opts, std::unique_ptr<Store>* out);
  ~Store() override;  // writes what is queued, then closes

  // Any thread; never blocks on the disk. A full queue drops and counts.
  void on_event(core::Event& e) override;
  void add_alert(const core::Alert& a);
  void add_samples(uint64_t time_ns, std::vector<SampleRow> samples);
  // Folded stacks ("a;b;c 12" lines) of one whole minute (unix time / 60).
  void add_profile(uint64_t minute, std::string folded);
  // Stacks of requests' serving threads.
  void add_request_stacks(std::vector<RequestStackRow> rows);

  // Waits until everything queued before the call is committed (tests, shutdown).
  void flush();
  // Runs retention now (tests); the writer also runs it every retention_interval_s.
  void enforce_retention();
  StoreStats stats() const;
  // Memory pressure: the writer gives back its page cache and its batch's capacity.
  void release_memory();
  // sightline_store_* families.
  void metrics(std::vector<core::MetricFamily>& out) const;
  const StoreOptions& options() const { return opts_; }

 private:
  struct Item;
  explicit Store(StoreOptions opts);
  core::Status init();
  bool push(Item&& item, size_t bytes);
  void writer_loop();
  void write_batch(std::vector<Item>& batch);
  void retention_locked();
  // Per-endpoint request rows (StoreOptions::rows_per_endpoint_per_s).
  struct Endpoint {
    double tokens = 0;
    uint64_t last_ns = 0;
    bool has_held = false;
    core::Record held;
    uint64_t held_weight = 0;
    int64_t held_at = 0;   // steady clock, ns: hold_ms from here it goes out
    uint64_t pending = 0;  // weight seen while no row was held: the next kept row's
    core::Record last;     // the last row written: flush() writes `pending` as its like
    bool has_last = false;
  };
  // A token bucket of max_event_rows_per_s (a second's worth at most).
  struct Bucket {
    double tokens = 1e9;
    uint64_t last_ns = 0;
  };
  bool take_token(Bucket& b, uint64_t now);
  bool take_global_token(uint64_t now) { return take_token(rows_, now); }
  void sample_request(const core::Event& e);
  void write_held_locked(Endpoint& ep);  // ep_mu_ held
  // Writes held rows older than hold_ms (all: `all`); with `all`, what endpoints owe since
  // their last row too, as rows like it. The writer calls it each period, flush() with all.
  void release_held(bool all);

  StoreOptions opts_;
  bool wanted_[static_cast<size_t>(core::EventKind::kCount)] = {};
  sqlite3* db_ = nullptr;
  struct Statements;
  std::unique_ptr<Statements> stmts_;

  mutable std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::vector<Item> queue_;
  size_t queue_bytes_ = 0;
  Bucket rows_;  // max_event_rows_per_s (on_event's thread only)
  // Past the rate a kind's rows are still kept, one every `stride` (at first kOverRateKeep),
  // each weighing the rows since the last one kept (so sum(weight) misses a stride at most),
  // within a second bucket of the same rate: the store grows by twice the rate at most. A row
  // that bucket refuses doubles its kind's stride (its weight goes to the next one kept); a
  // second with none refused halves it again.
  static constexpr uint32_t kOverRateKeep = 16;
  static constexpr uint64_t kMaxStride = uint64_t{1} << 24;
  struct OverRate {
    uint64_t since = 0;  // rows past the rate since the last one kept
    uint64_t owed = 0;   // their weights (requests: the kernel's sample weight each)
    uint64_t stride = kOverRateKeep;
    uint64_t changed_ns = 0;  // the stride's last change (the events' clock)
  };
  Bucket sampled_;
  OverRate over_[static_cast<size_t>(core::EventKind::kCount)];
  std::mutex ep_mu_;  // the endpoints: on_event's thread, and flush() from others
  std::unordered_map<std::string, Endpoint> endpoints_;
  uint64_t last_sweep_ns_ = 0;
  size_t weight_cell_ = 0;  // l7.weight's cell in a request record
  // The cells of a request record the rollup reads (request_rollup).
  struct RollupCells {
    size_t time = 0, proc = 0, role = 0, protocol = 0, error = 0, latency = 0;
  } rollup_cells_;
  int64_t thinned_to_ = 0;  // metric samples before this are thinned (the writer's)
  // Moves an old file's tables to the current layout (metric_samples by series, then time).
  core::Status migrate();
  uint64_t pushed_ = 0, written_seq_ = 0;  // items queued so far / committed so far
  bool stopping_ = false;
  bool retention_now_ = false;
  bool flush_now_ = false;
  std::atomic<bool> release_now_{false};
  StoreStats stats_;
  std::thread writer_;
};

}  // namespace sightline::store
