// The embedded store without the kernel: events written through the writer thread, read back
// through the read-only query path; retention by age and by size; the limits of the query side.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/runner.h"
#include "core/clock.h"
#include "core/record.h"
#include "core/units.h"
#include "store/query.h"
#include "store/store.h"

using namespace sightline;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/sl_store_XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

core::Event exec_event(uint64_t wall_ns, uint32_t pid, std::string_view comm) {
  core::Event e;
  e.kind = core::EventKind::kExec;
  e.ts_wall_ns = wall_ns;
  e.pid = pid;
  e.comm = comm;
  e.path = "/bin/echo";
  static const char argv[] = "echo\0hello, \"world\"\0";
  e.args = std::string_view(argv, sizeof argv - 1);
  e.args_count = 2;
  return e;
}

store::QueryResult q(const std::string& db, const std::string& sql) {
  store::QueryResult r;
  auto st = store::run_query({db}, sql, &r);
  EXPECT_TRUE(st) << sql << ": " << st.message();
  return r;
}

int64_t count(const std::string& db, const std::string& sql) {
  auto r = q(db, sql);
  if (r.rows.size() != 1 || r.rows[0].empty()) return -1;
  return r.rows[0][0].i;
}

std::unique_ptr<store::Store> open_store(const std::string& path, store::StoreOptions o = {}) {
  o.path = path;
  if (o.kinds.empty())
    for (const auto& k : core::kinds()) o.kinds.push_back(k.kind);
  std::unique_ptr<store::Store> s;
  auto st = store::Store::open(o, &s);
  EXPECT_TRUE(st) << st.message();
  return s;
}

}  // namespace

TEST(Store, EveryKindHasATableWithTheSchemaColumns) {
  TempDir d;
  std::string db = d.path + "/s.db";
  { auto s = open_store(db); }
  for (const auto& k : core::kinds()) {
    auto r = q(db, "SELECT name, type FROM pragma_table_info('" + std::string(k.name) + "')");
    size_t want = core::common_fields().size() + k.fields.size();
    ASSERT_EQ(r.rows.size(), want) << k.name;
    size_t i = 0;
    for (const auto& f : core::common_fields()) EXPECT_EQ(r.rows[i++][0].s, core::column_name(f.name));
    for (const auto& f : k.fields) {
      EXPECT_EQ(r.rows[i][0].s, core::column_name(f.name));
      EXPECT_EQ(r.rows[i++][1].s, core::column_type(f.type) == core::ColumnType::kText ? "TEXT" : "INTEGER");
    }
  }
  // --schema documents exactly the tables that exist.
  std::string schema = store::schema_text();
  auto tables = q(db, "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name");
  for (const auto& row : tables.rows) EXPECT_NE(schema.find(row[0].s + "\n"), std::string::npos) << row[0].s;
}

TEST(Store, EventsAlertsSamplesAndProfilesReadBack) {
  TempDir d;
  std::string db = d.path + "/s.db";
  auto s = open_store(db);
  uint64_t t0 = core::now_wall_ns();
  for (uint32_t i = 0; i < 1000; i++) {
    auto e = exec_event(t0 + i, 1000 + i, "echo");
    s->on_event(e);
  }
  core::Event tcp;
  tcp.kind = core::EventKind::kTcp;
  tcp.ts_wall_ns = t0;
  tcp.comm = "curl";
  tcp.laddr = "127.0.0.1";
  tcp.raddr = "127.0.0.1";
  tcp.rport = 80;
  tcp.role = 1;
  tcp.bytes_sent = 77;
  tcp.ret = -111;
  s->on_event(tcp);
  core::Alert a;
  a.time_ns = t0;
  a.rule = "Shell in container";
  a.priority = "WARNING";
  a.output = "a shell";
  a.tags_json = "[\"container\"]";
  a.ancestry_json = "[\"bash\",\"sshd\"]";
  a.kind = "exec";
  a.pid = 42;
  a.event_json = "{\"proc.pid\":42}";
  s->add_alert(a);
  s->add_samples(t0, {{"sightline_events_total", "{\"kind\":\"exec\"}", 5}, {"up", "{}", 1}});
  s->add_samples(t0 + 15, {{"sightline_events_total", "{\"kind\":\"exec\"}", 9}});
  s->add_profile(t0 / 60000000000ULL, "app;main;work 30\napp;main 2\n");
  s->flush();

  EXPECT_EQ(count(db, "SELECT count(*) FROM exec"), 1000);
  EXPECT_EQ(count(db, "SELECT count(DISTINCT proc_pid) FROM exec"), 1000);
  auto r = q(db, "SELECT proc_args, evt_filename, evt_time FROM exec WHERE proc_pid = 1005");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0][0].s, "[\"echo\",\"hello, \\\"world\\\"\"]");
  EXPECT_EQ(r.rows[0][1].s, "/bin/echo");
  EXPECT_EQ(r.rows[0][2].i, static_cast<int64_t>(t0 + 5));
  EXPECT_EQ(count(db, "SELECT count(*) FROM exec, json_each(exec.proc_args) WHERE proc_pid = 1005"), 2);
  r = q(db, "SELECT net_role, fd_rport, tcp_bytes_sent, evt_errno, evt_failed FROM tcp");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0][0].s, "client");
  EXPECT_EQ(r.rows[0][1].i, 80);
  EXPECT_EQ(r.rows[0][2].i, 77);
  EXPECT_EQ(r.rows[0][3].s, "ECONNREFUSED");
  EXPECT_EQ(r.rows[0][4].i, 1);
  r = q(db, "SELECT rule, json_extract(ancestry, '$[1]'), json_extract(event, '$.\"proc.pid\"') FROM alerts");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0][0].s, "Shell in container");
  EXPECT_EQ(r.rows[0][1].s, "sshd");
  EXPECT_EQ(r.rows[0][2].i, 42);
  // One series, two samples: the series table dedupes name + labels.
  EXPECT_EQ(count(db, "SELECT count(*) FROM metric_series"), 2);
  r = q(db, "SELECT value FROM metrics WHERE name = 'sightline_events_total' ORDER BY time");
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[1][0].d, 9);
  EXPECT_EQ(count(db, "SELECT samples FROM profiles WHERE stack = 'app;main;work'"), 30);

  auto st = s->stats();
  EXPECT_EQ(st.rows_written[static_cast<size_t>(core::EventKind::kExec)], 1000u);
  EXPECT_EQ(st.rows_written[store::kSamplesIndex], 3u);
  EXPECT_EQ(st.rows_dropped, 0u);
}

TEST(Store, KindsNotChosenAreNotStored) {
  TempDir d;
  std::string db = d.path + "/s.db";
  store::StoreOptions o;
  o.kinds = {core::EventKind::kTcp};
  auto s = open_store(db, o);
  auto e = exec_event(core::now_wall_ns(), 1, "x");
  s->on_event(e);
  s->flush();
  EXPECT_EQ(count(db, "SELECT count(*) FROM exec"), 0);
}

TEST(Store, AFullQueueDropsAndCountsEveryRow) {
  TempDir d;
  std::string db = d.path + "/s.db";
  store::StoreOptions o;
  o.queue_rows = 16;
  o.batch_ms = 2000;
  auto s = open_store(db, o);
  for (uint32_t i = 0; i < 5000; i++) {
    auto e = exec_event(core::now_wall_ns(), i, "x");
    s->on_event(e);
  }
  s->flush();
  auto st = s->stats();
  uint64_t written = st.rows_written[static_cast<size_t>(core::EventKind::kExec)];
  EXPECT_GT(st.rows_dropped, 0u);
  EXPECT_EQ(written + st.rows_dropped, 5000u);
  EXPECT_EQ(count(db, "SELECT count(*) FROM exec"), static_cast<int64_t>(written));
}

// A burst past max_event_rows_per_s: a second's worth is stored, the rest counted; failed events
// always stored; the budget refills with the events' own clock.
// Past the rate, every 16th row of a kind is still stored, weighing the 16 (within a second
// bucket of the same rate); the rest are counted. sum(evt_weight) estimates what came, missing
// the rows after the last one kept.
TEST(Store, EventRowsPastTheRateAreSampledWithTheirWeight) {
  TempDir d;
  std::string db = d.path + "/s.db";
  store::StoreOptions o;
  o.max_event_rows_per_s = 100;
  auto s = open_store(db, o);
  uint64_t t0 = 1000000000000ULL;
  for (uint32_t i = 0; i < 1000; i++) {
    auto e = exec_event(core::now_wall_ns(), i, "x");
    e.ts_boot_ns = t0;  // one instant: no refill
    e.ret = i % 100 == 0 ? -2 : 0;  // every hundredth failed (ENOENT)
    s->on_event(e);
  }
  auto late = exec_event(core::now_wall_ns(), 5000, "later");
  late.ts_boot_ns = t0 + 500000000ULL;  // half a second on: 50 rows' worth
  s->on_event(late);
  s->flush();
  auto st = s->stats();
  uint64_t written = st.rows_written[static_cast<size_t>(core::EventKind::kExec)];
  uint64_t over = st.rows_over_rate[static_cast<size_t>(core::EventKind::kExec)];
  // 100 within the rate, the 10 failed ones, 55 of the 890 past it (every 16th), the refilled one.
  EXPECT_EQ(written, 100u + 10u + 55u + 1u);
  EXPECT_EQ(over, 890u - 55u) << "the rest counted";
  EXPECT_EQ(count(db, "SELECT count(*) FROM exec WHERE evt_weight = 16"), 55);
  EXPECT_EQ(count(db, "SELECT sum(evt_weight) FROM exec"), 100 + 10 + 55 * 16 + 1) << "1001 less the last 10 past the rate";
  EXPECT_EQ(count(db, "SELECT count(*) FROM exec WHERE proc_name = 'later'"), 1);
}

// 200k opens over 10 s, 20 times the rate (past what 1 in 16 holds within the sampled rows'
// bucket: the stride doubles): the rows stay within twice the rate, and their weights sum to
// the count within 1%.
TEST(Store, OpenRowsPastTheRateWeighToTheTrueCount) {
  TempDir d;
  std::string db = d.path + "/s.db";
  store::StoreOptions o;
  o.max_event_rows_per_s = 1000;
  o.kinds = {core::EventKind::kOpen};
  auto s = open_store(db, o);
  constexpr uint64_t kTotal = 200000;
  uint64_t t0 = 1000000000000ULL;
  for (uint64_t i = 0; i < kTotal; i++) {
    core::Event e;
    e.kind = core::EventKind::kOpen;
    e.ts_boot_ns = t0 + i * 50000;  // 20k a second
    e.ts_wall_ns = core::now_wall_ns();
    e.pid = 77;
    e.comm = "builder";
    e.path = "/src/x.h";
    s->on_event(e);
  }
  s->flush();
  int64_t rows = count(db, "SELECT count(*) FROM open");
  EXPECT_LE(rows, 2 * 1000 * 10 + 2000) << "twice the rate at most, and the buckets' first second";
  EXPECT_NEAR(static_cast<double>(count(db, "SELECT sum(evt_weight) FROM open")), kTotal, kTotal * 0.01);
}

// A million exchanges as the kernel sends them over 10 s (1 in 8 in detail, weight 8; every
// 1000th fails, weight 1) through the runner into `s`, on `targets` in turn. Returns the weight
// delivered per target; `failed` counts the failures.
std::vector<uint64_t> feed_exchanges(store::Store* s, const std::vector<std::string>& targets, uint64_t* failed) {
  agent::Runner runner(bpf::Features{}, {.max_processes = 1024});
  runner.add_sink(s);
  constexpr uint64_t kTotal = 1000000, kSample = 8;
  uint64_t t0 = 1000000000000ULL;
  std::vector<uint64_t> delivered(targets.size());
  for (uint64_t i = 0; i < kTotal; i++) {
    bool fails = i % 1000 == 7;
    bool slow = !fails && i % 1000 == 500;  // 300 ms: sent whatever the sample, as failures are
    if (!fails && !slow && i % kSample != 0) continue;  // stayed in the kernel, counted there
    core::Event e;
    e.kind = core::EventKind::kRequest;
    e.ts_boot_ns = t0 + i * 10000;  // 100k exchanges a second: 10 s
    e.ts_wall_ns = core::now_wall_ns();
    e.pid = 4242;
    e.comm = "server";
    e.protocol = "http";
    e.method = "GET";
    e.target = targets[i % targets.size()];
    e.status = fails ? 503 : 200;
    e.error = fails;
    e.duration_ns = slow ? 300000000 : 2000000;
    e.weight = fails || slow ? 1 : kSample;
    *failed += fails;
    delivered[i % targets.size()] += e.weight;
    runner.on_event(e);
  }
  s->flush();
  return delivered;
}

// A million requests as the kernel sends them (1 in 8 in detail, weight 8; every failed one,
// weight 1) through the runner into a store capped at 2000 rows a second: the rows' weights
// still sum to the true count within 1%, and every failed request is a row.
TEST(Store, SampledRequestRowsWeighToTheTrueCount) {
  TempDir d;
  std::string db = d.path + "/s.db";
  store::StoreOptions o;
  o.max_event_rows_per_s = 2000;
  o.kinds = {core::EventKind::kRequest};
  auto s = open_store(db, o);
  constexpr uint64_t kTotal = 1000000;
  uint64_t failed = 0;
  feed_exchanges(s.get(), {"/api/items/{id}"}, &failed);
  auto rows = q(db, "SELECT count(*), sum(l7_weight), sum(l7_error) FROM request");
  ASSERT_EQ(rows.rows.size(), 1u);
  int64_t stored = rows.rows[0][0].i, weight = rows.rows[0][1].i, errors = rows.rows[0][2].i;
  EXPECT_LT(stored, 40000) << "the rate held (2000 a second over 10 s, then 1 in 16)";
  EXPECT_NEAR(static_cast<double>(weight), static_cast<double>(kTotal), kTotal * 0.01);
  EXPECT_EQ(errors, static_cast<int64_t>(failed)) << "every failed request kept";
}

TEST(Store, RequestRowsPerEndpointWeighExactlyAndKeepEveryFailure) {
  // 1M exchanges (1 in 8 reaching the store, as the kernel samples them) on three endpoints
  // over 10 s: each endpoint keeps a minute's burst and a row a second; the others add their
  // weight to its rows, so sum(l7_weight) is exactly what reached the store, per endpoint.
  TempDir d;
  std::string db = d.path + "/s.db";
  store::StoreOptions o;
  o.max_event_rows_per_s = 2000;
  o.rows_per_endpoint_per_s = 1;
  o.endpoint_burst = 60;
  o.slow_ns = 100000000;  // sources.l7.slow_ms 100
  o.kinds = {core::EventKind::kRequest};
  auto s = open_store(db, o);
  constexpr uint64_t kTotal = 1000000;
  const std::vector<std::string> targets = {"/api/items/{id}", "/api/users/{id}", "/health"};
  uint64_t failed = 0;
  auto delivered = feed_exchanges(s.get(), targets, &failed);
  for (int t = 0; t < 3; t++) {
    auto rows = q(db, "SELECT count(*), sum(l7_weight), sum(l7_error), sum(l7_latency >= 100000000) FROM request "
                      "WHERE l7_target = '" + targets[t] + "'");
    ASSERT_EQ(rows.rows.size(), 1u);
    int64_t stored = rows.rows[0][0].i, weight = rows.rows[0][1].i, errors = rows.rows[0][2].i, slow = rows.rows[0][3].i;
    EXPECT_EQ(weight, static_cast<int64_t>(delivered[t])) << targets[t] << ": the weights add up exactly";
    // The burst, a row a second for 10 s, the rows flush() wrote for what was owed, and the
    // failures and slow ones (rows of their own).
    EXPECT_LE(stored - errors - slow, 60 + 11 + 2) << targets[t];
    EXPECT_GE(errors, 300) << targets[t];
  }
  auto all = q(db, "SELECT sum(l7_weight), sum(l7_error) FROM request");
  EXPECT_NEAR(static_cast<double>(all.rows[0][0].i), static_cast<double>(kTotal), kTotal * 0.01);
  EXPECT_EQ(all.rows[0][1].i, static_cast<int64_t>(failed)) << "every failed request kept";
  EXPECT_EQ(count(db, "SELECT count(*) FROM request WHERE l7_latency >= 100000000"), 1000)
      << "every slow request kept (1 in 1000 of a million)";
  // request_rollup sums the same rows by ten minutes, side, protocol, error and latency: the
  // same totals, by error too, and by latency bucket as the rows give them.
  EXPECT_EQ(count(db, "SELECT sum(requests) FROM request_rollup"), all.rows[0][0].i);
  EXPECT_EQ(count(db, "SELECT sum(requests) FROM request_rollup WHERE l7_error = 1"),
            count(db, "SELECT sum(l7_weight) FROM request WHERE l7_error = 1"));
  EXPECT_EQ(count(db, "SELECT count(*) FROM (SELECT CAST(round(log(2, max(l7_latency, 1000))) AS INTEGER) AS b, "
                      "sum(l7_weight) AS n FROM request GROUP BY b EXCEPT SELECT latency_log2, sum(requests) FROM "
                      "request_rollup GROUP BY 1)"),
            0);
  EXPECT_EQ(count(db, "SELECT count(DISTINCT proc_name || net_role || l7_protocol) FROM request_rollup"), 1);
}

// A store file of the layout before metric_samples was clustered by series (a rowid table, a
// time index) opens: its samples are moved over, their times listed, the view still reads.
TEST(Store, AnOlderMetricSamplesLayoutIsMigrated) {
  TempDir d;
  std::string db = d.path + "/s.db";
  {
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    const char* old =
        "CREATE TABLE metric_series (id INTEGER PRIMARY KEY, name TEXT NOT NULL, labels TEXT NOT NULL, UNIQUE (name, "
        "labels));\n"
        "CREATE TABLE metric_samples (time INTEGER, series_id INTEGER, value REAL);\n"
        "CREATE INDEX metric_samples_time ON metric_samples (time);\n"
        "CREATE VIEW metrics AS SELECT s.time AS time, m.name AS name, m.labels AS labels, s.value AS value FROM "
        "metric_samples s JOIN metric_series m ON m.id = s.series_id;\n"
        "INSERT INTO metric_series VALUES (1, 'm_total', '{}'), (2, 'g', '{\"comm\":\"x\"}');\n"
        "INSERT INTO metric_samples VALUES (1000, 1, 1), (1000, 2, 5), (2000, 1, 3), (2000, 2, 6), (3000, 1, 4);";
    ASSERT_EQ(sqlite3_exec(h, old, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(h);
  }
  store::StoreOptions o;
  o.max_age_s = 0;  // the samples' times are from 1970
  o.thin_samples_after_s = 0;
  auto s = open_store(db, o);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(count(db, "SELECT count(*) FROM metric_samples"), 5);
  EXPECT_EQ(count(db, "SELECT count(*) FROM metric_times"), 3);
  EXPECT_EQ(count(db, "SELECT CAST(sum(value) AS INTEGER) FROM metrics WHERE name = 'm_total'"), 8);
  EXPECT_EQ(count(db, "SELECT count(*) FROM sqlite_master WHERE name = 'metric_samples_time'"), 0);
  s->add_samples(4000, {{"m_total", "{}", 9}});
  s->flush();
  EXPECT_EQ(count(db, "SELECT CAST(value AS INTEGER) FROM metric_samples WHERE series_id = 1 AND time = (SELECT max(time) FROM "
                      "metric_times)"),
            9);
}

TEST(Store, RetentionByAgeDeletesOldRows) {
  TempDir d;
  std::string db = d.path + "/s.db";
  store::StoreOptions o;
  o.max_age_s = 3600;
  auto s = open_store(db, o);
  uint64_t now = core::now_wall_ns();
  for (uint32_t i = 0; i < 100; i++) {
    auto e = exec_event(now - 7200ULL * 1000000000ULL + i, i, "old");
    s->on_event(e);
    auto f = exec_event(now + i, i, "new");
    s->on_event(f);
  }
  s->add_samples(now - 7200ULL * 1000000000ULL, {{"old_metric", "{}", 1}});
  s->enforce_retention();
  EXPECT_EQ(count(db, "SELECT count(*) FROM exec WHERE proc_name = 'old'"), 0);
  EXPECT_EQ(count(db, "SELECT count(*) FROM exec WHERE proc_name = 'new'"), 100);
  EXPECT_EQ(count(db, "SELECT count(*) FROM metric_series WHERE name = 'old_metric'"), 0);
  EXPECT_EQ(s->stats().rows_expired, 101u);
}

// Samples older than a day keep the last of each five minutes a series; a day's are untouched.
TEST(Store, MetricSamplesOlderThanADayAreThinned) {
  TempDir d;
  std::string db = d.path + "/s.db";
  store::StoreOptions o;
  o.retention_interval_s = 3600;  // only when asked
  auto s = open_store(db, o);
  constexpr uint64_t kS = 1000000000ULL, k5m = 300 * kS;
  const uint64_t now = core::now_wall_ns();
  const uint64_t old0 = (now - 2 * 86400 * kS) / k5m * k5m;  // two days ago, on a five-minute mark
  for (uint64_t t = old0; t < old0 + 1800 * kS; t += 15 * kS)  // half an hour every 15 s: 120
    s->add_samples(t, {{"a_total", "{}", static_cast<double>(t / kS)}, {"b", "{\"comm\":\"x\"}", 1}});
  for (uint64_t t = now - 600 * kS; t < now; t += 15 * kS)  // the last ten minutes: 40
    s->add_samples(t, {{"a_total", "{}", static_cast<double>(t / kS)}});
  s->flush();
  s->enforce_retention();
  EXPECT_EQ(count(db, "SELECT count(*) FROM metric_times WHERE time < " + std::to_string(now - 86400 * kS)), 6);
  EXPECT_EQ(count(db, "SELECT count(*) FROM metrics WHERE name = 'a_total' AND time < " + std::to_string(now - 86400 * kS)), 6);
  EXPECT_EQ(count(db, "SELECT count(*) FROM metrics WHERE name = 'b'"), 6);
  // The last of each five minutes: 4:45 past each mark.
  EXPECT_EQ(count(db, "SELECT count(*) FROM metric_times WHERE time < " + std::to_string(now - 86400 * kS) +
                          " AND (time - " + std::to_string(old0) + ") % " + std::to_string(k5m) + " = " +
                          std::to_string(285 * kS)),
            6);
  EXPECT_EQ(count(db, "SELECT count(*) FROM metric_times WHERE time >= " + std::to_string(now - 600 * kS)), 40);
  EXPECT_EQ(s->stats().samples_thinned, 2u * (120 - 6));
  // Again: nothing more to thin.
  s->enforce_retention();
  EXPECT_EQ(s->stats().samples_thinned, 2u * (120 - 6));
}

TEST(Store, RetentionBySizeKeepsTheFileUnderItsBound) {
  TempDir d;
  std::string db = d.path + "/s.db";
  store::StoreOptions o;
  o.max_bytes = 2 << 20;
  o.retention_interval_s = 3600;  // only when asked
  auto s = open_store(db, o);
  uint64_t now = core::now_wall_ns();
  std::string long_path(400, 'p');
  for (uint32_t i = 0; i < 30000; i++) {
    auto e = exec_event(now + i, i, "fill");
    e.path = long_path;
    s->on_event(e);
    if (i % 5000 == 4999) s->flush();
  }
  s->enforce_retention();
  auto st = s->stats();
  EXPECT_GT(st.rows_evicted, 0u);
  EXPECT_LE(st.file_bytes, o.max_bytes + (256u << 10)) << "the file is about the bound";
  // The newest rows stay; the oldest went.
  EXPECT_EQ(count(db, "SELECT count(*) FROM exec WHERE proc_pid = 29999"), 1);
  EXPECT_EQ(count(db, "SELECT count(*) FROM exec WHERE proc_pid = 0"), 0);
}

TEST(Store, QueriesOnlyRead) {
  TempDir d;
  std::string db = d.path + "/s.db";
  { auto s = open_store(db); }
  store::QueryResult r;
  for (std::string bad : {"DELETE FROM exec", "INSERT INTO exec (proc_pid) VALUES (1)", "DROP TABLE exec",
                          "ATTACH '/etc/hostname' AS h", "PRAGMA journal_mode = DELETE", "UPDATE sqlite_master SET sql = ''",
                          "SELECT 1; DELETE FROM exec", "CREATE TABLE t (x)"}) {
    auto st = store::run_query({db}, bad, &r);
    EXPECT_FALSE(st) << bad;
  }
  EXPECT_FALSE(store::run_query({db}, "SELEC 1", &r));
  EXPECT_FALSE(store::run_query({d.path + "/none.db"}, "SELECT 1", &r));
  EXPECT_TRUE(store::run_query({db}, "SELECT 1;  ", &r));
  // Time limit.
  store::QueryOptions o{db, 200};
  auto st = store::run_query(o, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c", &r);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err(), ETIMEDOUT);
  // Row limit.
  o = {db, 10000, 5};
  ASSERT_TRUE(store::run_query(o, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100) SELECT x FROM c", &r));
  EXPECT_EQ(r.rows.size(), 5u);
  EXPECT_TRUE(r.truncated);
}

TEST(Store, AQueryIsBoundInMemory) {
  TempDir d;
  std::string db = d.path + "/s.db";
  { auto s = open_store(db); }
  store::QueryResult r;
  store::QueryOptions o{db};
  o.max_bytes = 4 << 20;
  // One value past the bound fails inside SQLite before it is allocated (it took 1 GB before).
  auto st = store::run_query(o, "SELECT length(randomblob(1000000000))", &r);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err(), E2BIG);
  EXPECT_NE(st.message().find("4 MiB"), std::string::npos) << st.message();
  // Many values each under it, together past it.
  st = store::run_query(o, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100) "
                           "SELECT hex(randomblob(100000)) FROM c", &r);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.err(), E2BIG);
  // Under it: answered.
  ASSERT_TRUE(store::run_query(o, "SELECT length(randomblob(1000000))", &r));
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0][0].i, 1000000);
}

TEST(Store, Formats) {
  store::QueryResult r;
  r.columns = {"name", "n", "x"};
  store::QueryCell a, b, c;
  a.type = store::QueryCell::kText, a.s = "a,\"b\"\nc";
  b.type = store::QueryCell::kInt, b.i = -3;
  r.rows.push_back({a, b, c});
  EXPECT_EQ(store::format_csv(r), "name,n,x\r\n\"a,\"\"b\"\"\nc\",-3,\r\n");
  EXPECT_EQ(store::format_json(r).substr(0, 54), "{\"columns\":[\"name\",\"n\",\"x\"],\"rows\":[[\"a,\\\"b\\\"\\nc\",-3,n");
  std::string t = store::format_table(r);
  EXPECT_NE(t.find("a,\"b\" c"), std::string::npos) << t;
  EXPECT_NE(t.find("(1 row"), std::string::npos);
}

TEST(Units, DurationsAndSizes) {
  uint64_t v = 0;
  ASSERT_TRUE(core::parse_duration("7d", &v));
  EXPECT_EQ(v, 7u * 86400);
  ASSERT_TRUE(core::parse_duration("90", &v));
  EXPECT_EQ(v, 90u);
  ASSERT_TRUE(core::parse_duration("2w", &v));
  EXPECT_EQ(v, 14u * 86400);
  EXPECT_FALSE(core::parse_duration("7 days", &v));
  EXPECT_FALSE(core::parse_duration("", &v));
  EXPECT_FALSE(core::parse_duration("d", &v));
  EXPECT_FALSE(core::parse_duration("99999999999999999999d", &v));
  ASSERT_TRUE(core::parse_size("1GiB", &v));
  EXPECT_EQ(v, 1ULL << 30);
  ASSERT_TRUE(core::parse_size("100MB", &v));
  EXPECT_EQ(v, 100000000u);
  ASSERT_TRUE(core::parse_size("512 MiB", &v));
  EXPECT_EQ(v, 512ULL << 20);
  EXPECT_FALSE(core::parse_size("1GB2", &v));
  EXPECT_FALSE(core::parse_size("lots", &v));
  EXPECT_FALSE(core::parse_size("99999999999TiB", &v));
}
