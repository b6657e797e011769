// Exporters without the kernel: the remote-write encoding (decoded back field by field), snappy,
// the ClickHouse DDL and rows from the schema, and durable delivery to an HTTP server in this
// process: order, retry, the spool taking over while the server is away and across restarts,
// 4xx rejected, the spool's bound.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "core/record.h"
#include "export/clickhouse.h"
#include "export/delivery.h"
#include "export/remote_write.h"

using namespace sightline;

namespace {

// A minimal protobuf reader for the test: (field, wire type, value or bytes).
struct Field {
  uint32_t num, wire;
  uint64_t v;
  std::string bytes;
};
std::vector<Field> parse(std::string_view s) {
  std::vector<Field> out;
  size_t i = 0;
  auto varint = [&] {
    uint64_t v = 0;
    for (int shift = 0; i < s.size(); shift += 7) {
      uint8_t b = static_cast<uint8_t>(s[i++]);
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
    }
    return v;
  };
  while (i < s.size()) {
    uint64_t key = varint();
    Field f{static_cast<uint32_t>(key >> 3), static_cast<uint32_t>(key & 7), 0, {}};
    if (f.wire == 0) f.v = varint();
    else if (f.wire == 1) {
      memcpy(&f.v, s.data() + i, 8);
      i += 8;
    } else if (f.wire == 2) {
      size_t n = varint();
      f.bytes = std::string(s.substr(i, n));
      i += n;
    }
    out.push_back(std::move(f));
  }
  return out;
}

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/sl_exp_XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

// An HTTP backend in this process: records bodies, answers with `status`.
struct Backend {
  httplib::Server svr;
  std::thread t;
  int port = 0;
  std::mutex mu;
  std::vector<std::string> bodies;
  std::atomic<int> status{200};
  Backend() {
    svr.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
      res.status = status.load();
      if (res.status == 200) {
        std::lock_guard l(mu);
        bodies.push_back(req.body);
      }
    });
    port = svr.bind_to_any_port("127.0.0.1");
    t = std::thread([this] { svr.listen_after_bind(); });
  }
  ~Backend() {
    svr.stop();
    t.join();
  }
  std::vector<std::string> got() {
    std::lock_guard l(mu);
    return bodies;
  }
};

exporter::Batch batch(int i) {
  exporter::Batch b;
  b.target = "/in";
  b.content_type = "text/plain";
  b.body = "batch-" + std::to_string(i);
  b.items = 1;
  return b;
}

std::unique_ptr<exporter::Delivery> delivery(const std::string& url, const std::string& spool, size_t queue = 4,
                                             uint64_t spool_max = 1 << 20, uint64_t queue_bytes = 16 << 20) {
  exporter::DeliveryOptions o;
  o.queue_bytes = queue_bytes;
  o.name = "test";
  o.url = url;
  o.spool_dir = spool;
  o.queue_batches = queue;
  o.spool_max_bytes = spool_max;
  o.backoff_min_s = 0.02;
  o.backoff_max_s = 0.1;
  o.timeout_s = 2;
  std::unique_ptr<exporter::Delivery> d;
  auto st = exporter::Delivery::create(o, &d);
  EXPECT_TRUE(st) << st.message();
  return d;
}

}  // namespace

TEST(RemoteWrite, EncodesSortedLabelsAndOneSamplePerSeries) {
  core::MetricFamily f{"sightline_events_total", "h", core::MetricType::kCounter};
  f.series.push_back({{{"source", "file"}, {"kind", "open"}}, 42});
  uint64_t n = 0;
  std::string raw = exporter::encode_write_request({f}, {{"node", "n1"}, {"kind", "ignored"}}, 1700000000123, &n);
  EXPECT_EQ(n, 1u);
  auto req = parse(raw);
  ASSERT_EQ(req.size(), 1u);
  EXPECT_EQ(req[0].num, 1u);
  auto ts = parse(req[0].bytes);
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
  int64_t t = 0;
  for (const auto& field : ts) {
    auto inner = parse(field.bytes);
    if (field.num == 1) labels.emplace_back(inner[0].bytes, inner[1].bytes);
    if (field.num == 2) {
      memcpy(&value, &inner[0].v, 8);
      t = static_cast<int64_t>(inner[1].v);
    }
  }
  EXPECT_EQ(labels, (std::vector<std::pair<std::string, std::string>>{
                        {"__name__", "sightline_events_total"}, {"kind", "open"}, {"node", "n1"}, {"source", "file"}}));
  EXPECT_EQ(value, 42);
  EXPECT_EQ(t, 1700000000123);
}

TEST(RemoteWrite, HistogramsAsBucketsSumAndCountAndSnappyRoundTrip) {
  core::MetricFamily f{"lat_seconds", "h", core::MetricType::kHistogram};
  f.scale = 1e-9;
  f.bounds = {1000, 1000000};
  core::MetricSeries s;
  s.hist.add(500);
  s.hist.add(2000);
  f.series.push_back(s);
  uint64_t n = 0;
  std::string raw = exporter::encode_write_request({f}, {}, 1, &n);
  EXPECT_EQ(n, 5u);  // two bounds, +Inf, _sum, _count
  std::string back;
  ASSERT_TRUE(exporter::snappy_uncompress(exporter::snappy_compress(raw), &back));
  EXPECT_EQ(back, raw);
  EXPECT_FALSE(exporter::snappy_uncompress("\xff\xff\xff\xff\xff garbage", &back));
}

TEST(ClickHouse, TablesFromTheSchemaAndRowsAsJsonEachRow) {
  auto ddl = exporter::clickhouse_ddl("db1");
  ASSERT_EQ(ddl.size(), core::kinds().size() + 3);  // the database, a table per kind, profiles, alerts
  EXPECT_NE(ddl.back().body.find("db1.alerts (node String, time Int64, rule String"), std::string::npos);
  EXPECT_EQ(ddl[ddl.size() - 2].body,
            "CREATE TABLE IF NOT EXISTS db1.profiles (node String, time Int64, stack String, samples Int64) ENGINE = "
            "MergeTree() ORDER BY time");
  EXPECT_EQ(ddl[0].body, "CREATE DATABASE IF NOT EXISTS db1");
  EXPECT_NE(ddl[1].body.find("CREATE TABLE IF NOT EXISTS db1.exec (node String, evt_time Int64, evt_type String"),
            std::string::npos)
      << ddl[1].body;
  EXPECT_NE(ddl[1].body.find("proc_args String"), std::string::npos);
  exporter::ClickHouseRows rows("db1", "n\"1");
  core::Event e;
  e.kind = core::EventKind::kExec;
  e.pid = 7;
  e.comm = "sh";
  core::Record r;
  core::make_record(e, &r);
  EXPECT_FALSE(rows.add(r));
  EXPECT_FALSE(rows.add(r));
  auto b = rows.take();
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].items, 2u);
  EXPECT_EQ(b[0].target, "/?query=INSERT%20INTO%20db1.exec%20FORMAT%20JSONEachRow");
  EXPECT_EQ(b[0].body.rfind("{\"node\":\"n\\\"1\",\"evt_time\":0,\"evt_type\":\"exec\",\"proc_pid\":7,", 0), 0u) << b[0].body;
  EXPECT_EQ(std::count(b[0].body.begin(), b[0].body.end(), '\n'), 2);
  EXPECT_TRUE(rows.take().empty());
}

TEST(ClickHouse, ProfileMinutesAreARowPerStack) {
  exporter::ClickHouseRows rows("db1", "n1");
  // Lines that are not "stack count" are skipped, not sent as garbage.
  EXPECT_FALSE(rows.add_profile(120000000000, "nginx;main;work 12\nbad line\n;x 3\nq \"x\" 4\nnocount \n", "n2"));
  auto b = rows.take();
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].target, "/?query=INSERT%20INTO%20db1.profiles%20FORMAT%20JSONEachRow");
  EXPECT_EQ(b[0].items, 3u);
  EXPECT_EQ(b[0].body,
            "{\"node\":\"n2\",\"time\":120000000000,\"stack\":\"nginx;main;work\",\"samples\":12}\n"
            "{\"node\":\"n2\",\"time\":120000000000,\"stack\":\";x\",\"samples\":3}\n"
            "{\"node\":\"n2\",\"time\":120000000000,\"stack\":\"q \\\"x\\\"\",\"samples\":4}\n");
  EXPECT_TRUE(rows.take().empty());
}

TEST(Delivery, UrlsAreChecked) {
  std::string h, p;
  int port;
  ASSERT_TRUE(exporter::parse_http_url("http://127.0.0.1:9090/api/v1/write", &h, &port, &p));
  EXPECT_EQ(h, "127.0.0.1");
  EXPECT_EQ(port, 9090);
  EXPECT_EQ(p, "/api/v1/write");
  ASSERT_TRUE(exporter::parse_http_url("http://[::1]:8123", &h, &port, &p));
  EXPECT_EQ(h, "::1");
  EXPECT_EQ(port, 8123);
  ASSERT_TRUE(exporter::parse_http_url("http://example", &h, &port, &p));
  EXPECT_EQ(port, 80);
  EXPECT_FALSE(exporter::parse_http_url("https://x", &h, &port, &p));
  EXPECT_FALSE(exporter::parse_http_url("http://x:99999/", &h, &port, &p));
  EXPECT_FALSE(exporter::parse_http_url("http://:80/", &h, &port, &p));
}

TEST(Delivery, SendsInOrderAndSpoolsWhileTheBackendIsAway) {
  TempDir d;
  auto be = std::make_unique<Backend>();
  int port = be->port;
  auto del = delivery("http://127.0.0.1:" + std::to_string(port), d.path);
  for (int i = 0; i < 3; i++) del->submit(batch(i));
  ASSERT_TRUE(del->drain(5));
  EXPECT_EQ(be->got(), (std::vector<std::string>{"batch-0", "batch-1", "batch-2"}));
  be->status = 503;  // away: retried, then the queue (4) fills and the spool takes the rest
  for (int i = 3; i < 13; i++) del->submit(batch(i));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto st = del->stats();
  EXPECT_GT(st.attempts_failed, 0u);
  EXPECT_GT(st.batches_spooled, 0u);
  be->status = 200;
  ASSERT_TRUE(del->drain(10));
  auto got = be->got();
  ASSERT_EQ(got.size(), 13u);
  for (int i = 0; i < 13; i++) EXPECT_EQ(got[static_cast<size_t>(i)], "batch-" + std::to_string(i));
  st = del->stats();
  EXPECT_EQ(st.batches_sent, 13u);
  EXPECT_EQ(st.items_sent, 13u);
  EXPECT_TRUE(st.dropped.empty());
}

TEST(Delivery, TheSpoolOutlivesTheProcessAndKeepsOrder) {
  TempDir d;
  std::string url = "http://127.0.0.1:1";  // nothing listens: every POST fails
  {
    auto del = delivery(url, d.path);
    for (int i = 0; i < 10; i++) del->submit(batch(i));
  }  // stops: the queue goes to the spool behind what overflowed
  size_t files = 0;
  for (auto& e : std::filesystem::directory_iterator(d.path)) files += e.path().extension() == ".batch";
  EXPECT_EQ(files, 10u);
  Backend be;
  auto del = delivery("http://127.0.0.1:" + std::to_string(be.port), d.path);
  del->submit(batch(10));
  ASSERT_TRUE(del->drain(10));
  auto got = be.got();
  ASSERT_EQ(got.size(), 11u);
  for (int i = 0; i < 11; i++) EXPECT_EQ(got[static_cast<size_t>(i)], "batch-" + std::to_string(i));
}

// The in-memory queue is bounded in bytes too (memory_limit's share): past it, batches go to
// the spool, in order, while the backend is away.
TEST(Delivery, TheQueueIsBoundedInBytes) {
  TempDir d;
  auto del = delivery("http://127.0.0.1:1", d.path, 64, 1 << 20, 20);  // two 7-byte bodies fit
  for (int i = 0; i < 6; i++) del->submit(batch(i));
  auto st = del->stats();
  EXPECT_LE(st.queue_batches, 2u);
  EXPECT_EQ(st.queue_batches + st.spool_batches, 6u) << "none lost";
  EXPECT_GE(st.batches_spooled, 4u);
}

TEST(Delivery, RejectedBatchesAreDroppedAndCountedAndTheSpoolIsBounded) {
  TempDir d;
  Backend be;
  be.status = 400;
  auto del = delivery("http://127.0.0.1:" + std::to_string(be.port), d.path);
  del->submit(batch(0));
  ASSERT_TRUE(del->drain(5));
  EXPECT_EQ(del->stats().dropped["rejected"], 1u);
  // A spool of about three batches: the oldest go.
  TempDir d2;
  auto small = delivery("http://127.0.0.1:1", d2.path, 1, 3 * 60);
  for (int i = 0; i < 20; i++) small->submit(batch(i));
  auto st = small->stats();
  EXPECT_GT(st.dropped["spool_full"], 0u);
  EXPECT_LE(st.spool_bytes, 3u * 60);
}
