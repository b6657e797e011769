#include "store/store.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <map>
#include <tuple>
#include <cstring>
#include <filesystem>
#include <variant>
#include <algorithm>

#include "core/clock.h"
#include "core/schema.h"

namespace sightline::store {

std::string table_name(size_t index) {
  if (index < kAlertsIndex) return std::string(core::kinds()[index].name);
  if (index == kAlertsIndex) return "alerts";
  if (index == kSamplesIndex) return "metric_samples";
  if (index == kProfilesIndex) return "profiles";
  return "request_stacks";
}

struct Store::Item {
  struct Samples {
    uint64_t time_ns;
    std::vector<SampleRow> rows;
  };
  struct Profile {
    uint64_t minute;
    std::string folded;
  };
  std::variant<core::Record, core::Alert, Samples, Profile, std::vector<RequestStackRow>> v;
};

struct Store::Statements {
  sqlite3_stmt* insert[static_cast<size_t>(core::EventKind::kCount)] = {};
  sqlite3_stmt* alert = nullptr;
  sqlite3_stmt* series_find = nullptr;
  sqlite3_stmt* series_add = nullptr;
  sqlite3_stmt* sample = nullptr;
  sqlite3_stmt* sample_time = nullptr;
  sqlite3_stmt* profile = nullptr;
  sqlite3_stmt* request_stack = nullptr;
  sqlite3_stmt* rollup = nullptr;
  ~Statements() {
    for (auto* s : insert) sqlite3_finalize(s);
    for (auto* s : {alert, series_find, series_add, sample, sample_time, profile, request_stack, rollup}) sqlite3_finalize(s);
  }
};

namespace {

core::Status exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "unknown error";
    sqlite3_free(err);
    return core::Status::error(EIO, m + " (in: " + sql.substr(0, 80) + ")");
  }
  return {};
}

int64_t query_int(sqlite3* db, const char* sql) {
  sqlite3_stmt* s = nullptr;
  int64_t v = 0;
  if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
    v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  return v;
}

// The DDL of one kind's table: a column per field, typed as the record stores it.
std::string kind_table_sql(const core::KindDef& k) {
  std::string sql = "CREATE TABLE IF NOT EXISTS " + std::string(k.name) + " (";
  bool first = true;
  auto col = [&](const core::FieldDef& f) {
    sql += first ? "" : ", ";
    first = false;
    sql += core::column_name(f.name);
    sql += core::column_type(f.type) == core::ColumnType::kText ? " TEXT" : " INTEGER";
  };
  for (const auto& f : core::common_fields()) col(f);
  for (const auto& f : k.fields) col(f);
  sql += ");\nCREATE INDEX IF NOT EXISTS " + std::string(k.name) + "_time ON " + std::string(k.name) +
         " (evt_time);\n";
  return sql;
}

uint64_t now_ns() { return core::now_wall_ns(); }

constexpr int64_t kRollupNs = 600LL * 1000000000;  // request_rollup's period

}  // namespace

Store::Store(StoreOptions opts) : opts_(std::move(opts)) {
  for (auto k : opts_.kinds) wanted_[static_cast<size_t>(k)] = true;
  // A record's cells: the common fields, then the kind's (core::make_record).
  auto cell = [](std::string_view name) {
    const auto& common = core::common_fields();
    for (size_t i = 0; i < common.size(); i++)
      if (common[i].name == name) return i;
    const auto& fields = core::kind_def(core::EventKind::kRequest).fields;
    for (size_t i = 0; i < fields.size(); i++)
      if (fields[i].name == name) return common.size() + i;
    std::abort();  // the schema lost a field the store reads: caught by every store test
  };
  weight_cell_ = cell("l7.weight");
  rollup_cells_ = {cell("evt.time"), cell("proc.name"), cell("net.role"), cell("l7.protocol"), cell("l7.error"),
                   cell("l7.latency")};
}

// Before 2026-12 metric_samples was a rowid table indexed by time; it is now clustered by
// series and time (a third smaller, and a series' points are one range), with the sample
// times in metric_times. The rows are copied over once.
core::Status Store::migrate() {
  sqlite3_stmt* s = nullptr;
  std::string sql;
  if (sqlite3_prepare_v2(db_, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'metric_samples'", -1, &s,
                         nullptr) == SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW)
    sql = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
  sqlite3_finalize(s);
  if (sql.empty() || sql.find("WITHOUT ROWID") != std::string::npos) return {};
  auto t0 = std::chrono::steady_clock::now();
  auto st = exec(db_,
                 "BEGIN;\n"
                 "DROP VIEW IF EXISTS metrics;\n"
                 "DROP INDEX IF EXISTS metric_samples_time;\n"
                 "ALTER TABLE metric_samples RENAME TO metric_samples_v1;\n"
                 "CREATE TABLE metric_samples (series_id INTEGER, time INTEGER, value REAL, PRIMARY KEY (series_id, "
                 "time)) WITHOUT ROWID;\n"
                 "CREATE TABLE IF NOT EXISTS metric_times (time INTEGER PRIMARY KEY);\n"
                 "INSERT OR REPLACE INTO metric_samples SELECT series_id, time, value FROM metric_samples_v1;\n"
                 "INSERT OR IGNORE INTO metric_times SELECT DISTINCT time FROM metric_samples_v1;\n"
                 "DROP TABLE metric_samples_v1;\n"
                 "COMMIT;");
  if (!st) {
    (void)exec(db_, "ROLLBACK");
    return core::Status::error(EIO, opts_.path + ": moving metric_samples to its new layout: " + st.message());
  }
  spdlog::info("store: metric_samples moved to its new layout (by series and time) in {:.1f} s",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return {};
}

core::Status Store::open(const StoreOptions& opts, std::unique_ptr<Store>* out) {
  std::unique_ptr<Store> s(new Store(opts));
  if (auto st = s->init(); !st) return st;
  s->writer_ = std::thread([p = s.get()] { p->writer_loop(); });
  *out = std::move(s);
  return {};
}

core::Status Store::init() {
  std::filesystem::path p(opts_.path);
  std::error_code ec;
  if (p.has_parent_path()) {
    std::filesystem::create_directories(p.parent_path(), ec);
    if (ec) return core::Status::error(ec.value(), p.parent_path().string() + ": cannot create: " + ec.message());
  }
  int rc = sqlite3_open_v2(opts_.path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK)
    return core::Status::error(EIO, opts_.path + ": cannot open: " + (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc)));
  chmod(opts_.path.c_str(), 0600);  // events name files, commands and peers: root's to read
  sqlite3_busy_timeout(db_, 5000);
  // auto_vacuum must be set before the first table: deleted pages then go back to the file
  // system (incremental_vacuum), so the size bound is a bound on disk.
  std::string ddl =
      "PRAGMA auto_vacuum = INCREMENTAL;\n"
      "PRAGMA journal_mode = WAL;\n"
      "PRAGMA synchronous = NORMAL;\n"
      "PRAGMA journal_size_limit = " + std::to_string(opts_.wal_bytes) + ";\n"
      "PRAGMA cache_size = -" + std::to_string(std::max<uint64_t>(opts_.cache_bytes >> 10, 256)) + ";\n"
      "PRAGMA mmap_size = 0;\n";
  if (auto st = exec(db_, ddl); !st) return core::Status::error(EIO, opts_.path + ": " + st.message());
  if (auto st = migrate(); !st) return st;
  ddl = "BEGIN;\n";
  for (const auto& k : core::kinds()) ddl += kind_table_sql(k);
  ddl +=
      "CREATE TABLE IF NOT EXISTS alerts (time INTEGER, rule TEXT, priority TEXT, output TEXT, tags TEXT, "
      "ancestry TEXT, evt_type TEXT, proc_pid INTEGER, proc_name TEXT, container_id TEXT, event TEXT);\n"
      "CREATE INDEX IF NOT EXISTS alerts_time ON alerts (time);\n"
      "CREATE TABLE IF NOT EXISTS metric_series (id INTEGER PRIMARY KEY, name TEXT NOT NULL, labels TEXT NOT NULL, "
      "UNIQUE (name, labels));\n"
      "CREATE TABLE IF NOT EXISTS metric_samples (series_id INTEGER, time INTEGER, value REAL, PRIMARY KEY "
      "(series_id, time)) WITHOUT ROWID;\n"
      "CREATE TABLE IF NOT EXISTS metric_times (time INTEGER PRIMARY KEY);\n"
      "CREATE VIEW IF NOT EXISTS metrics AS SELECT s.time AS time, m.name AS name, m.labels AS labels, "
      "s.value AS value FROM metric_samples s JOIN metric_series m ON m.id = s.series_id;\n"
      "CREATE TABLE IF NOT EXISTS request_rollup (time INTEGER, proc_name TEXT, net_role TEXT, l7_protocol TEXT, "
      "l7_error INTEGER, latency_log2 INTEGER, requests INTEGER, PRIMARY KEY (time, proc_name, net_role, "
      "l7_protocol, l7_error, latency_log2)) WITHOUT ROWID;\n"
      "CREATE TABLE IF NOT EXISTS profiles (time INTEGER, stack TEXT, samples INTEGER);\n"
      "CREATE INDEX IF NOT EXISTS profiles_time ON profiles (time);\n"
      "CREATE TABLE IF NOT EXISTS request_stacks (time INTEGER, proc_pid INTEGER, proc_tid INTEGER, offcpu INTEGER, "
      "stack TEXT, value INTEGER);\n"
      "CREATE INDEX IF NOT EXISTS request_stacks_req ON request_stacks (proc_tid, time);\n"
      "COMMIT;\n";
  if (auto st = exec(db_, ddl); !st) return core::Status::error(EIO, opts_.path + ": " + st.message());

  // A file from an older agent: columns the schema gained since are added (old rows: NULL).
  for (const auto& k : core::kinds()) {
    std::vector<std::string> have;
    sqlite3_stmt* s = nullptr;
    std::string q = "SELECT name FROM pragma_table_info('" + std::string(k.name) + "')";
    if (sqlite3_prepare_v2(db_, q.c_str(), -1, &s, nullptr) == SQLITE_OK)
      while (sqlite3_step(s) == SQLITE_ROW) have.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
    sqlite3_finalize(s);
    auto add = [&](const core::FieldDef& f) -> core::Status {
      std::string col = core::column_name(f.name);
      if (std::find(have.begin(), have.end(), col) != have.end()) return {};
      return exec(db_, "ALTER TABLE " + std::string(k.name) + " ADD COLUMN " + col +
                           (core::column_type(f.type) == core::ColumnType::kText ? " TEXT" : " INTEGER"));
    };
    for (const auto& f : core::common_fields())
      if (auto st = add(f); !st) return st;
    for (const auto& f : k.fields)
      if (auto st = add(f); !st) return st;
  }

  stmts_ = std::make_unique<Statements>();
  auto prep = [&](const std::string& sql, sqlite3_stmt** s) -> core::Status {
    if (sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, s, nullptr) != SQLITE_OK)
      return core::Status::error(EIO, opts_.path + ": " + sqlite3_errmsg(db_) +
                                          " (the file may be from another version of sightline: move it away)");
    return {};
  };
  for (const auto& k : core::kinds()) {
    size_t n = core::common_fields().size() + k.fields.size();
    // Columns by name: a table extended by ALTER has them in another order.
    std::string sql = "INSERT INTO " + std::string(k.name) + " (";
    bool first = true;
    for (auto fields : {core::common_fields(), k.fields})
      for (const auto& f : fields) {
        sql += (first ? "" : ",") + core::column_name(f.name);
        first = false;
      }
    sql += ") VALUES (";
    for (size_t i = 0; i < n; i++) sql += i ? ",?" : "?";
    sql += ")";
    if (auto st = prep(sql, &stmts_->insert[static_cast<size_t>(k.kind)]); !st) return st;
  }
  if (auto st = prep("INSERT INTO alerts VALUES (?,?,?,?,?,?,?,?,?,?,?)", &stmts_->alert); !st) return st;
  if (auto st = prep("SELECT id FROM metric_series WHERE name = ? AND labels = ?", &stmts_->series_find); !st)
    return st;
  if (auto st = prep("INSERT INTO metric_series (name, labels) VALUES (?, ?)", &stmts_->series_add); !st) return st;
  if (auto st = prep("INSERT OR REPLACE INTO metric_samples (time, series_id, value) VALUES (?, ?, ?)", &stmts_->sample);
      !st)
    return st;
  if (auto st = prep("INSERT OR IGNORE INTO metric_times VALUES (?)", &stmts_->sample_time); !st) return st;
  if (auto st = prep("INSERT INTO request_rollup VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET requests = "
                     "requests + excluded.requests",
                     &stmts_->rollup);
      !st)
    return st;
  if (auto st = prep("INSERT INTO profiles VALUES (?, ?, ?)", &stmts_->profile); !st) return st;
  if (auto st = prep("INSERT INTO request_stacks VALUES (?, ?, ?, ?, ?, ?)", &stmts_->request_stack); !st) return st;
  stats_.file_bytes = static_cast<uint64_t>(query_int(db_, "PRAGMA page_count") * query_int(db_, "PRAGMA page_size"));
  return {};
}

Store::~Store() {
  release_held(true);
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  stmts_.reset();
  if (db_) {
    sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
    sqlite3_close_v2(db_);
  }
}

bool Store::push(Item&& item, size_t bytes) {
  std::lock_guard lock(mu_);
  if (stopping_ || queue_.size() >= opts_.queue_rows || queue_bytes_ + bytes > opts_.queue_bytes) {
    stats_.rows_dropped++;
    return false;
  }
  queue_.push_back(std::move(item));
  queue_bytes_ += bytes;
  pushed_++;
  // The writer wakes for a full batch or its timer, not for each row.
  if (queue_.size() == 4096) cv_.notify_one();
  return true;
}

bool Store::take_token(Bucket& b, uint64_t now) {
  if (!opts_.max_event_rows_per_s) return true;
  double rate = opts_.max_event_rows_per_s;
  b.tokens = std::min(rate, b.tokens + (now > b.last_ns ? static_cast<double>(now - b.last_ns) * 1e-9 * rate : 0));
  b.last_ns = std::max(b.last_ns, now);
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

namespace {
int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

void Store::write_held_locked(Endpoint& ep) {
  if (!ep.has_held) return;
  ep.held.cells[weight_cell_].i = static_cast<int64_t>(ep.held_weight);
  size_t bytes = ep.held.bytes();
  ep.last = ep.held;
  ep.has_last = true;
  Item item;
  item.v.emplace<core::Record>(std::move(ep.held));
  push(std::move(item), bytes);
  ep.held = core::Record{};
  ep.has_held = false;
}

void Store::release_held(bool all) {
  std::lock_guard lock(ep_mu_);
  int64_t now = steady_ns(), hold = int64_t{opts_.hold_ms} * 1000000;
  for (auto& [key, ep] : endpoints_) {
    if (ep.has_held && (all || now - ep.held_at >= hold)) write_held_locked(ep);
    if (all && ep.pending && ep.has_last) {
      // Exchanges since the last row, with no row kept after them yet: a row like the last
      // stands for them, so the weights add up now.
      ep.held = ep.last;
      ep.held_weight = ep.pending;
      ep.has_held = true;
      ep.pending = 0;
      write_held_locked(ep);
    }
  }
}

void Store::sample_request(const core::Event& e) {
  uint64_t now = e.ts_boot_ns;  // the events' own clock
  std::string key;
  key.reserve(e.comm.size() + e.protocol.size() + e.method.size() + e.target.size() + 8);
  bool error = e.error || e.no_response, slow = !error && e.duration_ns >= opts_.slow_ns;
  bool failed = error || slow;  // kept as failed ones are, each class an endpoint of its own
  key.append(e.comm).append(1, '\x1f').append(e.protocol).append(1, '\x1f').append(std::to_string(e.role))
      .append(1, '\x1f').append(e.method).append(1, '\x1f').append(e.target).append(error ? "\x1f!" : slow ? "\x1f~" : "");
  std::lock_guard lock(ep_mu_);
  auto it = endpoints_.find(key);
  if (it == endpoints_.end()) {
    if (endpoints_.size() >= opts_.max_endpoints) key = error ? "__overflow__!" : slow ? "__overflow__~" : "__overflow__";
    it = endpoints_.try_emplace(key).first;
    if (it->second.last_ns == 0) {
      it->second.tokens = failed ? opts_.error_rows_per_endpoint_per_s * 600 : opts_.endpoint_burst;
      it->second.last_ns = now;
    }
  }
  Endpoint& ep = it->second;
  double rate = opts_.rows_per_endpoint_per_s, burst = opts_.endpoint_burst;
  if (failed) {
    rate = opts_.error_rows_per_endpoint_per_s;
    burst = rate * 600;
  } else if (opts_.request_rows_per_s > 0) {
    rate = std::min(rate, opts_.request_rows_per_s / static_cast<double>(std::max<size_t>(endpoints_.size(), 1)));
  }
  if (now > ep.last_ns) {
    ep.tokens = std::min(burst, ep.tokens + static_cast<double>(now - ep.last_ns) * 1e-9 * rate);
    ep.last_ns = now;
  }
  // Failed ones are not held to the all-kinds row rate (they were always kept).
  if (ep.tokens >= 1 && (failed || take_global_token(now))) {
    ep.tokens -= 1;
    write_held_locked(ep);
    core::make_record(e, &ep.held);
    ep.held_weight = e.weight + ep.pending;
    ep.pending = 0;
    ep.held_at = steady_ns();
    ep.has_held = true;
  } else {
    (ep.has_held ? ep.held_weight : ep.pending) += e.weight;
    std::lock_guard slock(mu_);
    stats_.rows_over_rate[static_cast<size_t>(core::EventKind::kRequest)]++;
  }
  // Once a second: endpoints idle for ten minutes with nothing owed are forgotten (their
  // bucket would be full again anyway).
  if (now - last_sweep_ns_ >= 1000000000ULL) {
    last_sweep_ns_ = now;
    for (auto i = endpoints_.begin(); i != endpoints_.end();) {
      if (!i->second.has_held && !i->second.pending && now - i->second.last_ns > 600 * 1000000000ULL)
        i = endpoints_.erase(i);
      else
        ++i;
    }
  }
}

void Store::on_event(core::Event& e) {
  size_t k = static_cast<size_t>(e.kind);
  if (k >= static_cast<size_t>(core::EventKind::kCount) || !wanted_[k]) return;
  if (e.kind == core::EventKind::kRequest && opts_.rows_per_endpoint_per_s > 0) {
    sample_request(e);
    return;
  }
  // Failures and anomalies (a few an hour, each one a finding) are never thinned.
  if (opts_.max_event_rows_per_s && !e.error && e.ret >= 0 && e.kind != core::EventKind::kAnomaly) {
    uint64_t now = e.ts_boot_ns;  // the events' own clock: monotonic enough for a budget
    if (!take_global_token(now)) {
      // Past the rate a row is still kept every `stride` of its kind, weighing the rows since
      // the last one kept: sum(evt_weight) (requests: sum(l7_weight)) keeps estimating the total.
      OverRate& o = over_[k];
      o.since++;
      o.owed += e.weight;
      bool keep = o.since >= o.stride;
      if (keep && !take_token(sampled_, now)) {
        keep = false;
        o.stride = std::min(o.stride * 2, kMaxStride);
        o.changed_ns = now;
      }
      if (!keep) {
        std::lock_guard lock(mu_);
        stats_.rows_over_rate[k]++;
        return;
      }
      if (o.stride > kOverRateKeep && now - o.changed_ns >= 1000000000ULL) {
        o.stride /= 2;
        o.changed_ns = now;
      }
      Item item;
      core::Record& r = item.v.emplace<core::Record>();
      uint32_t w = e.weight;
      e.weight = static_cast<uint32_t>(std::min<uint64_t>(o.owed, UINT32_MAX));
      o.since = o.owed = 0;
      core::make_record(e, &r);
      e.weight = w;
      size_t bytes = r.bytes();
      push(std::move(item), bytes);
      return;
    }
  }
  Item item;
  core::Record& r = item.v.emplace<core::Record>();
  core::make_record(e, &r);
  size_t bytes = r.bytes();
  push(std::move(item), bytes);
}

void Store::add_alert(const core::Alert& a) {
  size_t bytes = sizeof a + a.output.size() + a.event_json.size() + a.ancestry_json.size() + a.tags_json.size();
  core::Alert copy = a;
  copy.json.clear();  // the columns hold it all
  push(Item{std::move(copy)}, bytes);
}

void Store::add_samples(uint64_t time_ns, std::vector<SampleRow> samples) {
  size_t bytes = 0;
  for (const auto& s : samples) bytes += sizeof s + s.name.size() + s.labels_json.size();
  push(Item{Item::Samples{time_ns, std::move(samples)}}, bytes);
}

void Store::add_profile(uint64_t minute, std::string folded) {
  size_t bytes = folded.size();
  push(Item{Item::Profile{minute, std::move(folded)}}, bytes);
}

void Store::add_request_stacks(std::vector<RequestStackRow> rows) {
  if (rows.empty()) return;
  size_t bytes = 0;
  for (const auto& r : rows) bytes += sizeof r + r.stack.size();
  push(Item{std::move(rows)}, bytes);
}

void Store::flush() {
  release_held(true);
  std::unique_lock lock(mu_);
  uint64_t want = pushed_;
  flush_now_ = true;
  cv_.notify_one();
  done_cv_.wait(lock, [&] { return written_seq_ >= want || writer_.get_id() == std::thread::id(); });
}

void Store::enforce_retention() {
  std::unique_lock lock(mu_);
  retention_now_ = true;
  uint64_t want = pushed_;
  cv_.notify_one();
  done_cv_.wait(lock, [&] { return (written_seq_ >= want && !retention_now_); });
}

void set_sqlite_heap_limit(uint64_t bytes) { sqlite3_hard_heap_limit64(static_cast<sqlite3_int64>(bytes)); }

void Store::release_memory() {
  release_now_ = true;
  cv_.notify_one();
}

StoreStats Store::stats() const {
  std::lock_guard lock(mu_);
  StoreStats s = stats_;
  s.queue_rows = queue_.size();
  return s;
}

void Store::writer_loop() {
  auto last_retention = std::chrono::steady_clock::now();
  std::vector<Item> batch;
  for (;;) {
    bool stop, retention;
    if (opts_.rows_per_endpoint_per_s > 0) release_held(false);  // rows held past hold_ms
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(opts_.batch_ms),
                   [&] { return stopping_ || retention_now_ || flush_now_ || queue_.size() >= 4096; });
      flush_now_ = false;
      batch.swap(queue_);
      queue_bytes_ = 0;
      stop = stopping_;
      retention = retention_now_;
    }
    if (!batch.empty()) write_batch(batch);
    uint64_t n = batch.size();
    batch.clear();
    if (release_now_.exchange(false)) {
      sqlite3_db_release_memory(db_);
      std::vector<Item>().swap(batch);
    }
    auto now = std::chrono::steady_clock::now();
    if (retention || now - last_retention >= std::chrono::seconds(opts_.retention_interval_s)) {
      retention_locked();
      last_retention = now;
    }
    {
      std::lock_guard lock(mu_);
      written_seq_ += n;
      if (retention) retention_now_ = false;
    }
    done_cv_.notify_all();
    if (stop) {
      std::lock_guard lock(mu_);
      if (queue_.empty()) break;
    }
  }
}

namespace {
void bind_text(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
}
}  // namespace

void Store::write_batch(std::vector<Item>& batch) {
  auto t0 = std::chrono::steady_clock::now();
  constexpr size_t kTables = std::size(StoreStats{}.rows_written);
  uint64_t written[kTables] = {};
  (void)exec(db_, "BEGIN");
  bool failed = false;
  auto step = [&](sqlite3_stmt* s) {
    if (sqlite3_step(s) != SQLITE_DONE) {
      if (!failed) spdlog::warn("store: {}", sqlite3_errmsg(db_));
      failed = true;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  };
  // request_rollup: the batch's request rows summed by ten minutes, service, side, protocol,
  // error and latency (log2 ns), upserted once per key at the end.
  std::map<std::tuple<int64_t, std::string_view, std::string_view, std::string_view, int64_t, int64_t>, int64_t> rollup;
  for (auto& item : batch) {
    if (auto* r = std::get_if<core::Record>(&item.v)) {
      sqlite3_stmt* s = stmts_->insert[static_cast<size_t>(r->kind)];
      for (size_t i = 0; i < r->cells.size(); i++) {
        const auto& c = r->cells[i];
        if (c.is_text)
          bind_text(s, static_cast<int>(i + 1), r->str(c));
        else
          sqlite3_bind_int64(s, static_cast<int>(i + 1), c.i);
      }
      step(s);
      written[static_cast<size_t>(r->kind)]++;
      if (r->kind == core::EventKind::kRequest) {
        const auto& c = r->cells;
        const auto& rc = rollup_cells_;
        int64_t bucket = c[rc.time].i / kRollupNs * kRollupNs;
        auto log2_ns = static_cast<int64_t>(std::llround(std::log2(std::max<double>(static_cast<double>(c[rc.latency].i), 1000))));
        rollup[{bucket, r->str(c[rc.proc]), r->str(c[rc.role]), r->str(c[rc.protocol]), c[rc.error].i, log2_ns}] +=
            std::max<int64_t>(c[weight_cell_].i, 1);
      }
    } else if (auto* a = std::get_if<core::Alert>(&item.v)) {
      sqlite3_stmt* s = stmts_->alert;
      sqlite3_bind_int64(s, 1, static_cast<int64_t>(a->time_ns));
      bind_text(s, 2, a->rule);
      bind_text(s, 3, a->priority);
      bind_text(s, 4, a->output);
      bind_text(s, 5, a->tags_json);
      bind_text(s, 6, a->ancestry_json);
      bind_text(s, 7, a->kind);
      sqlite3_bind_int64(s, 8, a->pid);
      bind_text(s, 9, a->proc_name);
      bind_text(s, 10, a->container_id);
      bind_text(s, 11, a->event_json);
      step(s);
      written[kAlertsIndex]++;
    } else if (auto* m = std::get_if<Item::Samples>(&item.v)) {
      for (const auto& row : m->rows) {
        sqlite3_stmt* f = stmts_->series_find;
        bind_text(f, 1, row.name);
        bind_text(f, 2, row.labels_json);
        int64_t id = -1;
        if (sqlite3_step(f) == SQLITE_ROW) id = sqlite3_column_int64(f, 0);
        sqlite3_reset(f);
        if (id < 0) {
          bind_text(stmts_->series_add, 1, row.name);
          bind_text(stmts_->series_add, 2, row.labels_json);
          step(stmts_->series_add);
          id = sqlite3_last_insert_rowid(db_);
        }
        if (&row == &m->rows.front()) {
          sqlite3_bind_int64(stmts_->sample_time, 1, static_cast<int64_t>(m->time_ns));
          step(stmts_->sample_time);
        }
        sqlite3_stmt* s = stmts_->sample;
        sqlite3_bind_int64(s, 1, static_cast<int64_t>(m->time_ns));
        sqlite3_bind_int64(s, 2, id);
        sqlite3_bind_double(s, 3, row.value);
        step(s);
        written[kSamplesIndex]++;
      }
    } else if (auto* p = std::get_if<Item::Profile>(&item.v)) {
      std::string_view text = p->folded;
      while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        size_t sp = line.rfind(' ');
        if (sp == std::string_view::npos) continue;
        int64_t n = strtoll(std::string(line.substr(sp + 1)).c_str(), nullptr, 10);
        sqlite3_stmt* s = stmts_->profile;
        sqlite3_bind_int64(s, 1, static_cast<int64_t>(p->minute * 60) * 1000000000LL);
        bind_text(s, 2, line.substr(0, sp));
        sqlite3_bind_int64(s, 3, n);
        step(s);
        written[kProfilesIndex]++;
      }
    } else if (auto* rs = std::get_if<std::vector<RequestStackRow>>(&item.v)) {
      for (const auto& r : *rs) {
        sqlite3_stmt* s = stmts_->request_stack;
        sqlite3_bind_int64(s, 1, static_cast<int64_t>(r.time_ns));
        sqlite3_bind_int64(s, 2, r.pid);
        sqlite3_bind_int64(s, 3, r.tid);
        sqlite3_bind_int64(s, 4, r.offcpu);
        bind_text(s, 5, r.stack);
        sqlite3_bind_int64(s, 6, static_cast<int64_t>(r.value));
        step(s);
        written[kRequestStacksIndex]++;
      }
    }
  }
  for (const auto& [k, n] : rollup) {
    sqlite3_stmt* s = stmts_->rollup;
    sqlite3_bind_int64(s, 1, std::get<0>(k));
    bind_text(s, 2, std::get<1>(k));
    bind_text(s, 3, std::get<2>(k));
    bind_text(s, 4, std::get<3>(k));
    sqlite3_bind_int64(s, 5, std::get<4>(k));
    sqlite3_bind_int64(s, 6, std::get<5>(k));
    sqlite3_bind_int64(s, 7, n);
    step(s);
  }
  bool committed = exec(db_, "COMMIT").ok();
  if (!committed) (void)exec(db_, "ROLLBACK");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::lock_guard lock(mu_);
  stats_.batches++;
  stats_.last_batch_seconds = secs;
  if (failed || !committed) stats_.write_errors++;
  if (committed)
    for (size_t i = 0; i < kTables; i++) stats_.rows_written[i] += written[i];
}

void Store::retention_locked() {
  uint64_t expired = 0, evicted = 0;
  struct T {
    std::string name, time_col;
  };
  // Rowid tables: rowids grow with time (the writer appends in arrival order).
  std::vector<T> tables;
  for (const auto& k : core::kinds()) tables.push_back({std::string(k.name), "evt_time"});
  tables.push_back({"alerts", "time"});
  tables.push_back({"profiles", "time"});
  tables.push_back({"request_stacks", "time"});
  // The tables keyed by time: metric samples (by series, then time: deleted series by series),
  // then two summaries not counted as rows: the sample times, the request rollup.
  const char* timed[] = {"DELETE FROM metric_samples WHERE series_id IN (SELECT id FROM metric_series) AND time < ",
                         "DELETE FROM metric_times WHERE time < ", "DELETE FROM request_rollup WHERE time < "};
  if (opts_.max_age_s) {
    uint64_t cutoff = now_ns() - std::min<uint64_t>(now_ns(), opts_.max_age_s * 1000000000ULL);
    for (const auto& t : tables) {
      if (exec(db_, "DELETE FROM " + t.name + " WHERE " + t.time_col + " < " + std::to_string(cutoff)))
        expired += static_cast<uint64_t>(sqlite3_changes(db_));
    }
    for (const char* sql : timed)
      if (exec(db_, sql + std::to_string(cutoff)) && sql == timed[0]) expired += static_cast<uint64_t>(sqlite3_changes(db_));
  }
  // Samples older than thin_samples_after_s: the last of each five minutes stays, by whole
  // five minutes (a partial one would keep two).
  uint64_t thinned = 0;
  if (opts_.thin_samples_after_s) {
    constexpr int64_t kThinNs = 300LL * 1000000000;
    int64_t to = static_cast<int64_t>(now_ns() - std::min<uint64_t>(now_ns(), opts_.thin_samples_after_s * 1000000000ULL));
    // Not past the newest sample's five minutes: more of them may come.
    to = std::min(to, query_int(db_, "SELECT max(time) FROM metric_times")) / kThinNs * kThinNs;
    if (to > thinned_to_) {
      std::string range = "time >= " + std::to_string(thinned_to_) + " AND time < " + std::to_string(to);
      std::string drop = "SELECT time FROM metric_times WHERE " + range + " AND time NOT IN (SELECT max(time) FROM "
                         "metric_times WHERE " + range + " GROUP BY time / " + std::to_string(kThinNs) + ")";
      if (exec(db_, "DELETE FROM metric_samples WHERE series_id IN (SELECT id FROM metric_series) AND time IN (" + drop + ")")) {
        thinned = static_cast<uint64_t>(sqlite3_changes(db_));
        if (exec(db_, "DELETE FROM metric_times WHERE time IN (" + drop + ")")) thinned_to_ = to;
      }
    }
  }
  auto file_bytes = [&] {
    return static_cast<uint64_t>(query_int(db_, "PRAGMA page_count") * query_int(db_, "PRAGMA page_size"));
  };
  auto live_bytes = [&] {
    return static_cast<uint64_t>((query_int(db_, "PRAGMA page_count") - query_int(db_, "PRAGMA freelist_count")) *
                                 query_int(db_, "PRAGMA page_size"));
  };
  // Over the size bound: the oldest rows of every table go, as large a share as the excess
  // (to 90% of the bound; rowids grow with time, the writer appends in arrival order).
  for (int pass = 0; opts_.max_bytes && pass < 5; pass++) {
    uint64_t live = live_bytes();
    if (live <= opts_.max_bytes) break;
    double share = std::min(1.0, static_cast<double>(live - opts_.max_bytes * 9 / 10) / static_cast<double>(live));
    char frac[32];
    snprintf(frac, sizeof frac, "%.6f", share);
    uint64_t deleted = 0;
    for (const auto& t : tables) {
      if (exec(db_, "DELETE FROM " + t.name + " WHERE rowid <= (SELECT min(rowid) + CAST((max(rowid) - min(rowid) + 1) * " +
                        frac + " AS INTEGER) - 1 FROM " + t.name + ")"))
        deleted += static_cast<uint64_t>(sqlite3_changes(db_));
    }
    // The same share of the metrics' and the rollup's time span.
    std::string span = "SELECT min(time) + CAST((max(time) - min(time) + 1) * " + std::string(frac) + " AS INTEGER) - 1 FROM ";
    int64_t metrics_to = query_int(db_, (span + "metric_times").c_str()) + 1;
    int64_t rollup_to = query_int(db_, (span + "request_rollup").c_str()) + 1;
    for (int i = 0; i < 3; i++)
      if (exec(db_, timed[i] + std::to_string(i < 2 ? metrics_to : rollup_to)) && i == 0)
        deleted += static_cast<uint64_t>(sqlite3_changes(db_));
    evicted += deleted;
    if (!deleted) break;
  }
  if (expired || evicted || thinned) {
    (void)exec(db_, "DELETE FROM metric_series WHERE NOT EXISTS (SELECT 1 FROM metric_samples WHERE series_id = "
                    "metric_series.id)");
    (void)exec(db_, "PRAGMA incremental_vacuum");
    sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  }
  uint64_t bytes = file_bytes();
  std::lock_guard lock(mu_);
  stats_.rows_expired += expired;
  stats_.rows_evicted += evicted;
  stats_.samples_thinned += thinned;
  stats_.file_bytes = bytes;
}

void Store::metrics(std::vector<core::MetricFamily>& out) const {
  StoreStats s = stats();
  core::MetricFamily rows{"sightline_store_rows_written_total", "Rows committed to the embedded store, by table",
                          core::MetricType::kCounter};
  for (size_t i = 0; i < std::size(StoreStats{}.rows_written); i++)
    rows.series.push_back({{{"table", table_name(i)}}, static_cast<double>(s.rows_written[i])});
  out.push_back(std::move(rows));
  core::MetricFamily over{"sightline_store_rows_over_rate_total",
                          "Event rows not stored because store.max_event_rows_per_s was spent (failed ones are "
                          "always stored; past the rate every 16th or so is kept, its evt_weight standing for the "
                          "others; the metrics count every event)",
                          core::MetricType::kCounter};
  for (size_t i = 0; i < std::size(StoreStats{}.rows_over_rate); i++)
    if (wanted_[i]) over.series.push_back({{{"kind", std::string(core::kinds()[i].name)}}, static_cast<double>(s.rows_over_rate[i])});
  out.push_back(std::move(over));
  auto one = [&](const char* name, const char* help, core::MetricType t, double v) {
    core::MetricFamily f{name, help, t};
    f.series.push_back({{}, v});
    out.push_back(std::move(f));
  };
  one("sightline_store_rows_dropped_total",
      "Rows not stored because the queue to the writer was full (the disk could not keep up)",
      core::MetricType::kCounter, static_cast<double>(s.rows_dropped));
  one("sightline_store_batches_total", "Transactions committed by the store's writer", core::MetricType::kCounter,
      static_cast<double>(s.batches));
  one("sightline_store_write_errors_total", "Batches with a failed insert or commit", core::MetricType::kCounter,
      static_cast<double>(s.write_errors));
  one("sightline_store_rows_expired_total", "Rows deleted for being older than the retention",
      core::MetricType::kCounter, static_cast<double>(s.rows_expired));
  one("sightline_store_rows_evicted_total", "Rows deleted, oldest first, to keep the file under its size bound",
      core::MetricType::kCounter, static_cast<double>(s.rows_evicted));
  one("sightline_store_samples_thinned_total",
      "Metric samples older than a day deleted beyond the last of each five minutes a series",
      core::MetricType::kCounter, static_cast<double>(s.samples_thinned));
  one("sightline_store_queue_rows", "Rows waiting for the writer", core::MetricType::kGauge,
      static_cast<double>(s.queue_rows));
  one("sightline_store_file_bytes", "Size of the store's database file", core::MetricType::kGauge,
      static_cast<double>(s.file_bytes));
  one("sightline_store_last_batch_seconds", "Time the last batch took to commit", core::MetricType::kGauge,
      s.last_batch_seconds);
}

}  // namespace sightline::store
