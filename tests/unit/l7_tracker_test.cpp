// The l7 tracker without the kernel: records of both ends of a local connection become request
// events, RED series and one service-map edge (not two); closes flush unanswered requests;
// connections beyond the bound are evicted and counted.
#include <gtest/gtest.h>

#include <cstring>

#include "core/schema.h"
#include "sources/l7/l7_tracker.h"

using namespace sightline;

namespace {

struct Side {
  uint64_t sock;
  uint8_t role;
  uint16_t lport, rport;
  const char* comm;
  uint32_t pid;
};

void feed(sources::L7Tracker& t, const Side& s, uint8_t dir, std::string_view data, uint64_t ts, uint32_t len = 0,
          uint32_t tm_flags = 0, const sl_thread_time* tm = nullptr, uint32_t serve_id = 0) {
  sl_l7_event rec;
  memset(&rec, 0, sizeof rec);
  rec.serve_id = serve_id;
  rec.tm_flags = tm_flags;
  if (tm) rec.tm = *tm;
  rec.hdr.kind = SL_EV_L7;
  rec.conn = s.sock;
  rec.dir = dir;
  rec.proto = SL_L7_HTTP;
  rec.role = s.role;
  rec.sock_type = 1;
  rec.family = 2;
  rec.lport = s.lport;
  rec.rport = s.rport;
  const uint8_t lo[4] = {127, 0, 0, 1};
  memcpy(rec.laddr, lo, 4);
  memcpy(rec.raddr, lo, 4);
  rec.len = len ? len : static_cast<uint32_t>(data.size());
  rec.captured = static_cast<uint32_t>(data.size());
  core::Event hdr;
  hdr.pid = s.pid;
  hdr.tid = s.pid + 1;
  hdr.comm = s.comm;
  hdr.ts_boot_ns = ts;
  t.on_record(rec, data, hdr);
}

double series(const std::vector<core::MetricFamily>& fams, const std::string& name, const core::Labels& want) {
  for (const auto& f : fams)
    if (f.name == name)
      for (const auto& s : f.series) {
        bool all = true;
        for (const auto& l : want) all &= std::find(s.labels.begin(), s.labels.end(), l) != s.labels.end();
        if (all) return f.type == core::MetricType::kHistogram ? static_cast<double>(s.hist.count()) : s.value;
      }
  return -1;
}

}  // namespace

TEST(L7Tracker, BothEndsOfALocalConnection) {
  std::vector<std::string> seen;
  sources::L7Tracker t([&](core::Event& e) { seen.push_back(std::string(e.comm) + " " + std::string(e.method) + " " +
                                                               std::string(e.target) + " " + std::to_string(e.status)); },
                       [](uint32_t pid) { return std::string("comm=") + (pid == 1 ? "curl" : "nginx"); });
  Side client{0xc1, SL_L7_CLIENT, 40000, 8080, "curl", 1}, server{0x5e, SL_L7_SERVER, 8080, 40000, "nginx", 2};
  const char* req = "GET /users/7 HTTP/1.1\r\nHost: x\r\n\r\n";
  const char* resp = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
  for (int i = 0; i < 3; i++) {
    uint64_t ts = 1000 * (i + 1);
    feed(t, client, SL_L7_SEND, req, ts);
    feed(t, server, SL_L7_RECV, req, ts + 10);
    feed(t, server, SL_L7_SEND, resp, ts + 50, static_cast<uint32_t>(strlen(resp)) + 100);  // body not captured
    feed(t, client, SL_L7_RECV, resp, ts + 60, static_cast<uint32_t>(strlen(resp)) + 100);
  }
  feed(t, client, SL_L7_SEND, req, 9000);  // never answered
  feed(t, client, SL_L7_CLOSE, "", 9500);
  ASSERT_EQ(seen.size(), 7u);
  EXPECT_EQ(seen[0], "nginx GET /users/{id} 200");
  EXPECT_EQ(seen[1], "curl GET /users/{id} 200");
  std::vector<core::MetricFamily> fams;
  t.collect(fams);
  EXPECT_EQ(series(fams, "sightline_l7_route_requests_total", {{"comm", "nginx"}, {"role", "server"}, {"status", "2xx"}}), 3);
  EXPECT_EQ(series(fams, "sightline_l7_route_requests_total", {{"comm", "curl"}, {"role", "client"}, {"status", "2xx"}}), 3);
  EXPECT_EQ(series(fams, "sightline_l7_route_requests_total", {{"comm", "curl"}, {"status", "none"}}), 1);
  EXPECT_EQ(series(fams, "sightline_l7_route_duration_seconds", {{"comm", "nginx"}}), 3);
  auto edges = t.service_map();
  ASSERT_EQ(edges.size(), 1u) << "the client's view of a server traced here is not a second edge";
  EXPECT_EQ(edges[0].client, "curl");
  EXPECT_EQ(edges[0].server, "nginx");
  EXPECT_EQ(edges[0].requests, 3u);
  EXPECT_EQ(t.stats().conns, 1u) << "the client's connection closed";
}

// A loopback connection counted at its server's end (the kernel's default): the client's end
// sends one record without data naming itself (SL_L7_PEER_END), so the server's edge names the
// client's process; its close (proto SL_L7_PEER) forgets it, and the next connection from that
// port is named by address until its own end names itself.
TEST(L7Tracker, APeerEndNamesTheServersClient) {
  std::vector<std::string> seen;
  sources::L7Tracker t(
      [&](core::Event& e) {
        seen.push_back(std::string(e.comm) + " " + std::to_string(e.pid) + " " + (e.role == SL_L7_CLIENT ? "client" : "server") +
                       " " + std::string(e.laddr) + ":" + std::to_string(e.lport) + " -> " + std::to_string(e.rport));
      },
      [](uint32_t pid) { return std::string("comm=") + (pid == 1 ? "wrk" : "nginx"); });
  Side client{0xc1, SL_L7_CLIENT, 40000, 8080, "wrk", 1}, server{0x5e, SL_L7_SERVER, 8080, 40000, "nginx", 2};
  const char* req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  const char* resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  feed(t, client, SL_L7_PEER_END, "", 900);
  for (int i = 0; i < 3; i++) {
    feed(t, server, SL_L7_RECV, req, 1000 * (i + 1));
    feed(t, server, SL_L7_SEND, resp, 1000 * (i + 1) + 50);
  }
  auto edges = t.service_map();
  ASSERT_EQ(edges.size(), 1u);
  EXPECT_EQ(edges[0].client, "wrk");
  EXPECT_EQ(edges[0].server, "nginx");
  EXPECT_EQ(edges[0].requests, 3u);
  EXPECT_EQ(t.stats().peer_ends, 1u);
  EXPECT_EQ(t.stats().conns, 1u) << "a peer end is no connection with a parser";
  ASSERT_EQ(seen.size(), 6u) << "each request's event, and the client's view of it";
  EXPECT_EQ(seen[0], "nginx 2 server 127.0.0.1:8080 -> 40000");
  EXPECT_EQ(seen[1], "wrk 1 client 127.0.0.1:40000 -> 8080");
  EXPECT_EQ(t.stats().mirrored, 3u);

  // Closed, then a new connection from the same port whose end has not named itself (yet).
  sl_l7_event close_rec;
  memset(&close_rec, 0, sizeof close_rec);
  close_rec.hdr.kind = SL_EV_L7;
  close_rec.conn = 0xc1;
  close_rec.dir = SL_L7_CLOSE;
  close_rec.proto = SL_L7_PEER;
  t.on_record(close_rec, {}, core::Event{});
  feed(t, server, SL_L7_CLOSE, "", 5000);
  Side server2{0x5f, SL_L7_SERVER, 8080, 40000, "nginx", 2};
  feed(t, server2, SL_L7_RECV, req, 6000);
  feed(t, server2, SL_L7_SEND, resp, 6050);
  edges = t.service_map();
  ASSERT_EQ(edges.size(), 2u);
  EXPECT_EQ(edges[0].client, "127.0.0.1");
  EXPECT_EQ(edges[0].requests, 1u);
  EXPECT_EQ(edges[1].client, "wrk");
  EXPECT_EQ(edges[1].requests, 3u);
}

// Past kMaxPeerEnds remembered at once, the oldest is forgotten and counted.
TEST(L7Tracker, PeerEndsAreBounded) {
  sources::L7Tracker t([](core::Event&) {}, [](uint32_t) { return std::string("comm=wrk"); });
  const size_t n = sources::L7Tracker::kMaxPeerEnds + 10;
  for (size_t i = 0; i < n; i++) {
    Side c{0x1000 + i * 8, SL_L7_CLIENT, static_cast<uint16_t>(1024 + i % 60000), 8080, "wrk", 1};
    feed(t, c, SL_L7_PEER_END, "", i);
  }
  EXPECT_EQ(t.stats().peer_ends, n);
  EXPECT_EQ(t.stats().peer_ends_forgotten, 10u);
}

// Each latency bucket of a series keeps the newest request seen in detail that fell in it, named
// by the store's evt_time and proc_tid; the kernel's exact series (method and status class, no
// route) get the newest of their routes'.
TEST(L7Tracker, ExemplarsNameTheNewestRequestOfEachBucket) {
  sources::L7Tracker t([](core::Event&) {}, [](uint32_t) { return std::string("comm=nginx"); });
  Side server{0x5e, SL_L7_SERVER, 8080, 40000, "nginx", 2};
  const char* resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  // 10 us (below the first bound, 16 us), then 100 us twice (the same bucket: the second wins),
  // on two routes.
  const std::pair<const char*, uint64_t> reqs[] = {{"/a", 10000}, {"/a", 100000}, {"/b", 100000}};
  uint64_t ts = 1000000;
  for (const auto& [path, lat] : reqs) {
    feed(t, server, SL_L7_RECV, std::string("GET ") + path + " HTTP/1.1\r\n\r\n", ts);
    feed(t, server, SL_L7_SEND, resp, ts + lat);
    ts += 1000000;
  }
  std::vector<core::MetricFamily> fams;
  t.collect(fams);
  const core::MetricSeries* a = nullptr;
  for (const auto& f : fams)
    if (f.name == "sightline_l7_route_duration_seconds")
      for (const auto& s : f.series)
        if (std::find(s.labels.begin(), s.labels.end(), core::Labels::value_type{"target", "/a"}) != s.labels.end()) a = &s;
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->exemplars.size(), 2u) << "one per bucket that saw a request";
  EXPECT_EQ(a->exemplars[0].value, 10000u);
  EXPECT_EQ(a->exemplars[1].value, 100000u);
  EXPECT_LT(a->exemplars[0].wall_ns, a->exemplars[1].wall_ns);
  EXPECT_EQ(a->exemplars[0].labels, (core::Labels{{"evt_time", std::to_string(a->exemplars[0].wall_ns)}, {"proc_tid", "3"}}));

  auto kernel = t.kernel_exemplars();
  auto it = kernel.find({"comm=nginx", "http", "server", "GET", "2xx"});
  ASSERT_NE(it, kernel.end());
  ASSERT_EQ(it->second.size(), 2u) << "two buckets: /a's 10 us, and the newer 100 us of /b";
  EXPECT_EQ(it->second[1].value, 100000u);
  EXPECT_GT(it->second[1].wall_ns, a->exemplars[1].wall_ns) << "/b's request came after /a's";
}

TEST(L7Tracker, ConnectionsAreBoundedAndEvictionsCounted) {
  size_t events = 0;
  // Room for four connections with one request waiting each.
  const size_t one = sources::L7Tracker::conn_bytes() + protocols::kPendingBytes;
  sources::L7Tracker t([&](core::Event&) { events++; }, {}, 4 * one);
  for (uint64_t i = 0; i < 10; i++) {
    Side s{100 + i, SL_L7_SERVER, 80, static_cast<uint16_t>(5000 + i), "srv", 9};
    feed(t, s, SL_L7_RECV, "GET / HTTP/1.1\r\n\r\n", i);
  }
  EXPECT_EQ(t.stats().conns, 4u);
  EXPECT_EQ(t.stats().conns_evicted, 6u);
  EXPECT_EQ(t.stats().bytes, 4 * one);
  EXPECT_EQ(events, 6u) << "each evicted connection's waiting request is flushed unanswered";
}

// The bound is on bytes, not connections: one connection buffering a large incomplete head
// pushes out the idle ones; when its message completes, the buffer is given back.
TEST(L7Tracker, BufferedBytesCountAgainstTheBound) {
  size_t events = 0;
  const size_t max = 64 * 1024;
  sources::L7Tracker t([&](core::Event&) { events++; }, {}, max);
  for (uint64_t i = 0; i < 20; i++) {
    Side s{100 + i, SL_L7_SERVER, 80, static_cast<uint16_t>(5000 + i), "srv", 9};
    feed(t, s, SL_L7_RECV, "GET / HTTP/1.1\r\n\r\n", i);
  }
  EXPECT_EQ(t.stats().conns, 20u);
  EXPECT_EQ(t.stats().conns_evicted, 0u);
  Side big{999, SL_L7_SERVER, 80, 6000, "srv", 9};
  std::string head = "GET /big HTTP/1.1\r\nX-Long: " + std::string(50000, 'a');
  feed(t, big, SL_L7_RECV, head, 100);  // no end of head yet: all of it is buffered
  EXPECT_LE(t.stats().bytes, max);
  EXPECT_GT(t.stats().conns_evicted, 10u) << "the idle connections made room";
  EXPECT_GT(t.stats().bytes, 50000u) << "the buffer is counted";
  feed(t, big, SL_L7_RECV, "\r\n\r\n", 101);
  const size_t one = sources::L7Tracker::conn_bytes() + protocols::kPendingBytes;  // a connection, a request
  EXPECT_LE(t.stats().bytes, t.stats().conns * one) << "the completed head's buffer was given back";
  feed(t, big, SL_L7_SEND, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 102);
  EXPECT_EQ(events, t.stats().conns_evicted + 1) << "the evicted requests flushed, then /big answered";
}

// 20000 requests to /u/<name>/x<n> on one keep-alive connection: the positions that vary
// cluster into /u/{x}/{x}, the series of the names seen first fold into it, so the RED series
// stay few, the counts exact, and none falls into __overflow__.
TEST(L7Tracker, RoutesThatVaryClusterThemselves) {
  sources::L7Tracker t([](core::Event&) {}, [](uint32_t) { return std::string("comm=app"); });
  Side server{0x5e, SL_L7_SERVER, 8080, 40000, "app", 2};
  const char* resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  constexpr int kRequests = 20000;
  for (int i = 0; i < kRequests; i++) {
    std::string req = "GET /u/user" + std::to_string(i % 5000) + "/x" + std::to_string(i) + " HTTP/1.1\r\n\r\n";
    feed(t, server, SL_L7_RECV, req, 1000 + 100 * i);
    feed(t, server, SL_L7_SEND, resp, 1050 + 100 * i);
  }
  // A hand-written API keeps its literal routes.
  for (const char* path : {"/api/v1/items/7", "/api/v1/cart", "/api/v2/items/9"}) {
    feed(t, server, SL_L7_RECV, std::string("GET ") + path + " HTTP/1.1\r\n\r\n", 9000000000);
    feed(t, server, SL_L7_SEND, resp, 9000000050);
  }
  std::vector<core::MetricFamily> fams;
  t.collect(fams);
  double clustered = series(fams, "sightline_l7_route_requests_total", {{"target", "/u/{x}/{x}"}});
  double literal = 0;
  size_t n_series = 0;
  for (const auto& f : fams)
    if (f.name == "sightline_l7_route_requests_total")
      for (const auto& s : f.series) {
        n_series++;
        for (const auto& [k, v] : s.labels)
          if (k == "target" && v.starts_with("/u/") && v != "/u/{x}/{x}") literal += s.value;
      }
  // The series of literals learnt before a position was seen to vary were folded into the route.
  EXPECT_EQ(clustered, kRequests) << "every request in the clustered route, counted once";
  EXPECT_EQ(literal, 0) << "no literal /u/ series left";
  EXPECT_LT(n_series, 10u) << "series stay few";
  EXPECT_EQ(series(fams, "sightline_l7_route_requests_total", {{"target", "__overflow__"}}), -1) << "nothing overflowed";
  EXPECT_EQ(series(fams, "sightline_l7_route_requests_total", {{"target", "/api/v1/items/{id}"}}), 1);
  EXPECT_EQ(series(fams, "sightline_l7_route_requests_total", {{"target", "/api/v1/cart"}}), 1);
  EXPECT_EQ(series(fams, "sightline_l7_route_requests_total", {{"target", "/api/v2/items/{id}"}}), 1);
  EXPECT_GE(series(fams, "sightline_l7_route_positions_collapsed_total", {}), 2);
}

// Thread-per-request linking: a request the serving thread makes while it serves one is a child of
// the served request's span, in its trace (the traceparent's where the served request had one);
// a request of another thread is not.
TEST(L7Tracker, RequestsMadeWhileServingAreChildrenOfTheServedOne) {
  struct Seen {
    std::string comm, target, trace, parent, span;
  };
  std::vector<Seen> seen;
  sources::L7Tracker t([&](core::Event& e) {
    seen.push_back({std::string(e.comm), std::string(e.target), std::string(e.trace_id), std::string(e.parent_span_id),
                    std::string(e.span_id)});
  }, [](uint32_t) { return std::string("comm=app"); });
  Side served{0xa1, SL_L7_SERVER, 8000, 40000, "app", 5}, down{0xd1, SL_L7_CLIENT, 40001, 9000, "app", 5},
      other{0xd2, SL_L7_CLIENT, 40002, 9000, "app", 6};
  const char* ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  auto round = [&](const std::string& req, uint64_t ts) {
    feed(t, served, SL_L7_RECV, req, ts);
    feed(t, down, SL_L7_SEND, "GET /stock HTTP/1.1\r\n\r\n", ts + 10);
    feed(t, down, SL_L7_RECV, ok, ts + 20);
    feed(t, other, SL_L7_SEND, "GET /other HTTP/1.1\r\n\r\n", ts + 25);
    feed(t, other, SL_L7_RECV, ok, ts + 26);
    feed(t, served, SL_L7_SEND, ok, ts + 30);
  };
  round("GET /orders/1 HTTP/1.1\r\n\r\n", 1000);
  round("GET /orders/2 HTTP/1.1\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n", 2000);
  ASSERT_EQ(seen.size(), 6u);
  for (int r = 0; r < 2; r++) {
    const Seen &child = seen[3 * r], &unrelated = seen[3 * r + 1], &parent = seen[3 * r + 2];
    EXPECT_EQ(child.target, "/stock");
    EXPECT_EQ(parent.target, "/orders/{id}");
    ASSERT_EQ(parent.span.size(), 16u) << r;
    EXPECT_EQ(child.parent, parent.span) << r;
    EXPECT_EQ(child.trace, parent.trace) << r;
    EXPECT_EQ(child.trace.size(), 32u);
    EXPECT_TRUE(unrelated.trace.empty()) << "another thread's request";
  }
  EXPECT_NE(seen[2].span, seen[5].span);
  EXPECT_TRUE(seen[2].parent.empty()) << "a root: nothing called it with a traceparent";
  EXPECT_EQ(seen[5].trace, "4bf92f3577b34da6a3ce929d0e0e4736") << "the served request's own trace";
  EXPECT_EQ(seen[5].parent, "00f067aa0ba902b7");
}

// The served request held by the kernel (sampled away until its answer showed it slow): its
// call's records come first, naming it by its start (serve_id); the call is linked at once and
// the served request takes that link when it comes. A call whose served request never comes
// (fast: not sent) keeps its own link; a served request of another start takes nothing.
TEST(L7Tracker, ACallLinksToTheServedRequestThatComesAfterIt) {
  std::vector<core::Event> seen;
  std::vector<std::string> keep;  // the views' strings
  sources::L7Tracker t([&](core::Event& e) {
    seen.push_back(e);
    for (auto v : {e.trace_id, e.parent_span_id, e.span_id}) keep.emplace_back(v);
    seen.back().trace_id = keep[keep.size() - 3];
    seen.back().parent_span_id = keep[keep.size() - 2];
    seen.back().span_id = keep[keep.size() - 1];
  }, [](uint32_t) { return std::string("comm=app"); });
  Side served{0xa1, SL_L7_SERVER, 8000, 40000, "app", 5}, down{0xd1, SL_L7_CLIENT, 40001, 9000, "app", 5};
  const char* ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  const uint64_t start = 0x1'0000'2000;  // the served request's start: its low 32 bits name it
  feed(t, down, SL_L7_SEND, "GET /stock HTTP/1.1\r\n\r\n", start + 10, 0, 0, nullptr, 0x2000);
  feed(t, down, SL_L7_RECV, ok, start + 120'000'000, 0, 0, nullptr, 0x2000);
  feed(t, served, SL_L7_RECV, "GET /orders/1 HTTP/1.1\r\n\r\n", start);  // sent at its answer
  feed(t, served, SL_L7_SEND, ok, start + 150'000'000);
  // A call for a served request that never comes, then a served request of another start.
  feed(t, down, SL_L7_SEND, "GET /stock HTTP/1.1\r\n\r\n", start + 200'000'000, 0, 0, nullptr, 0x9999);
  feed(t, down, SL_L7_RECV, ok, start + 210'000'000, 0, 0, nullptr, 0x9999);
  feed(t, served, SL_L7_RECV, "GET /orders/2 HTTP/1.1\r\n\r\n", start + 300'000'000);
  feed(t, served, SL_L7_SEND, ok, start + 310'000'000);
  ASSERT_EQ(seen.size(), 4u);
  const core::Event &call = seen[0], &parent = seen[1], &lone = seen[2], &other = seen[3];
  EXPECT_EQ(parent.role, SL_L7_SERVER);
  ASSERT_EQ(parent.span_id.size(), 16u);
  EXPECT_EQ(call.parent_span_id, parent.span_id);
  EXPECT_EQ(call.trace_id, parent.trace_id);
  EXPECT_EQ(call.trace_id.size(), 32u);
  EXPECT_EQ(parent.downstream, 1u);
  EXPECT_EQ(parent.downstream_ns, 120'000'000u - 10);
  EXPECT_EQ(lone.trace_id.size(), 32u) << "linked to a request that did not come";
  EXPECT_NE(lone.trace_id, parent.trace_id);
  EXPECT_TRUE(other.span_id.empty()) << "another request's start: not its call";
  EXPECT_EQ(other.downstream, 0u);
}

TEST(L7Tracker, AServedRequestTakesItsTimelineAndItsDownstreamCalls) {
  std::vector<core::Event> seen;
  sources::L7Tracker t([&](core::Event& e) { seen.push_back(e); }, [](uint32_t) { return std::string("comm=app"); });
  Side served{0xa1, SL_L7_SERVER, 8000, 40000, "app", 5}, db{0xd1, SL_L7_CLIENT, 40001, 5432, "app", 5};
  const char* ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  sl_thread_time tm{};
  tm.cpu_ns = 50'000'000;
  tm.runq_ns = 3'000'000;
  tm.wait_ns[SL_WAIT_LOCK] = 80'000'000;
  tm.wait_ns[SL_WAIT_NET] = 100'000'000;
  feed(t, served, SL_L7_RECV, "GET /work HTTP/1.1\r\n\r\n", 1000);
  feed(t, db, SL_L7_SEND, "GET /q HTTP/1.1\r\n\r\n", 1010);
  feed(t, db, SL_L7_RECV, ok, 1010 + 100'000'000);
  feed(t, served, SL_L7_SEND, ok, 2000 + 250'000'000, 0, SL_L7_TM_SET, &tm);
  // The next request: another thread answered (not attributed), no downstream call.
  feed(t, served, SL_L7_RECV, "GET /work HTTP/1.1\r\n\r\n", 300'000'000);
  feed(t, served, SL_L7_SEND, ok, 310'000'000, 0, SL_L7_TM_OTHER_THREAD, nullptr);
  // And one with no timeline at all.
  feed(t, served, SL_L7_RECV, "GET /work HTTP/1.1\r\n\r\n", 400'000'000);
  feed(t, served, SL_L7_SEND, ok, 410'000'000);
  ASSERT_EQ(seen.size(), 4u);
  const core::Event& r = seen[1];
  EXPECT_EQ(r.role, SL_L7_SERVER);
  EXPECT_EQ(r.timeline, 1);
  EXPECT_EQ(r.tl_cpu_ns, 50'000'000u);
  EXPECT_EQ(r.tl_runq_ns, 3'000'000u);
  EXPECT_EQ(r.tl_wait_ns[SL_WAIT_LOCK], 80'000'000u);
  EXPECT_EQ(r.tl_wait_ns[SL_WAIT_NET], 100'000'000u);
  EXPECT_EQ(r.downstream, 1u);
  EXPECT_EQ(r.downstream_ns, 100'000'000u);
  EXPECT_EQ(seen[0].timeline, 0) << "a client's request has none";
  EXPECT_EQ(seen[2].timeline, 2);
  EXPECT_EQ(seen[2].tl_cpu_ns, 0u);
  EXPECT_EQ(seen[2].downstream, 0u) << "the counts went with the request they were made for";
  EXPECT_EQ(seen[3].timeline, 0);
  // In the schema, as every consumer reads it.
  auto field = [](const core::Event& e, std::string_view name) { return core::find_field(name)->get(e); };
  EXPECT_EQ(field(r, "req.timeline").s, "thread");
  EXPECT_EQ(field(r, "req.lock_time").u, 80'000'000u);
  EXPECT_EQ(field(r, "req.downstream").u, 1u);
  EXPECT_EQ(field(seen[2], "req.timeline").s, "two threads");
}
