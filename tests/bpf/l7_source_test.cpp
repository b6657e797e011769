// l7 source against the real kernel: one process talks HTTP to itself over 127.0.0.1 with each
// syscall of the read/write family, DNS over UDP with sendmmsg/recvfrom, a large response cut
// by the capture bound, and a connection that speaks no protocol; the request events are exact.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "harness.h"
#include "sightline/sched.h"
#include "sources/l7/l7_source.h"

using namespace sightline;
using core::EventKind;

namespace {

struct Req {
  std::string comm, protocol, role, method, request, error_text;
  int32_t status;
  uint64_t request_bytes, response_bytes;
  bool no_response;
  uint32_t weight;
};

// Records request events (the harness's recorder keeps other kinds).
class Requests : public sources::EventSink {
 public:
  void on_event(core::Event& e) override {
    if (e.kind != EventKind::kRequest) return;
    list.push_back({std::string(e.comm), std::string(e.protocol), e.role == 1 ? "client" : "server",
                    std::string(e.method), std::string(e.request), std::string(e.error_text), e.status,
                    e.request_bytes, e.response_bytes, e.no_response, e.weight});
  }
  // The requests of one protocol and role, in their order.
  std::vector<Req> of(std::string_view protocol, std::string_view role) const {
    std::vector<Req> out;
    for (const auto& r : list)
      if (r.protocol == protocol && r.role == role) out.push_back(r);
    return out;
  }
  std::vector<Req> list;
};

void tcp_pair(int* client, int* server) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(l, 1), 0);
  socklen_t len = sizeof a;
  getsockname(l, reinterpret_cast<sockaddr*>(&a), &len);
  *client = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(connect(*client, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  *server = accept(l, nullptr, nullptr);
  close(l);
}

// Options for this test process's own traffic, every exchange in detail (the events are checked)
// unless a sample (and a per-second budget) are given.
sources::SourceOptions this_process(uint32_t sample = 1, uint32_t detail_per_s = 100) {
  sources::SourceOptions o;
  o.filter.pid = static_cast<uint32_t>(getpid());
  o.filter.exclude_self = false;
  o.own_as<sources::L7Options>().sample = sample;
  o.own_as<sources::L7Options>().detail_per_s = detail_per_s;
  return o;
}

std::string read_n(int fd, size_t n) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, out.data() + got, n - got);
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  return out;
}

}  // namespace

// The raw sys_exit hook, or (fallback) one tracepoint per syscall of the family.
void every_syscall_of_the_family(bool fallback) {
  test::Harness h;
  Requests reqs;
  h.runner().add_sink(&reqs);
  sources::SourceOptions o;
  o.filter.pid = static_cast<uint32_t>(getpid());
  o.filter.exclude_self = false;
  o.own_as<sources::L7Options>().capture_bytes = 256;
  o.own_as<sources::L7Options>().sample = 1;  // every exchange in detail: the events are checked
  o.force_fallback_hooks = fallback;
  h.start("l7", o);
  int c, s;
  tcp_pair(&c, &s);
  // 1: write / recv, then writev (head and body apart) / readv.
  std::string r1 = "GET /one HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(write(c, r1.data(), r1.size()), static_cast<ssize_t>(r1.size()));
  char buf[4096];
  ASSERT_EQ(recv(s, buf, sizeof buf, 0), static_cast<ssize_t>(r1.size()));
  std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", body = "hello";
  iovec wv[2] = {{head.data(), head.size()}, {body.data(), body.size()}};
  ASSERT_EQ(writev(s, wv, 2), static_cast<ssize_t>(head.size() + body.size()));
  char rb1[16], rb2[256];
  iovec rv[2] = {{rb1, sizeof rb1}, {rb2, head.size() + body.size() - sizeof rb1}};
  ASSERT_EQ(readv(c, rv, 2), static_cast<ssize_t>(head.size() + body.size()));
  // 2: sendmsg / recvmsg, a 404.
  std::string r2 = "DELETE /two HTTP/1.1\r\n\r\n";
  iovec m2 = {r2.data(), r2.size()};
  msghdr mh{};
  mh.msg_iov = &m2;
  mh.msg_iovlen = 1;
  ASSERT_EQ(sendmsg(c, &mh, 0), static_cast<ssize_t>(r2.size()));
  iovec in2 = {buf, sizeof buf};
  msghdr rh{};
  rh.msg_iov = &in2;
  rh.msg_iovlen = 1;
  ASSERT_EQ(recvmsg(s, &rh, 0), static_cast<ssize_t>(r2.size()));
  std::string resp2 = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
  ASSERT_EQ(send(s, resp2.data(), resp2.size(), 0), static_cast<ssize_t>(resp2.size()));
  ASSERT_EQ(read_n(c, resp2.size()), resp2);
  // 3: a body far past the capture bound (256 bytes): counted, skipped, paired.
  std::string r3 = "GET /big HTTP/1.1\r\n\r\n";
  ASSERT_EQ(write(c, r3.data(), r3.size()), static_cast<ssize_t>(r3.size()));
  ASSERT_EQ(read(s, buf, sizeof buf), static_cast<ssize_t>(r3.size()));
  std::string big = "HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n" + std::string(20000, 'b');
  ASSERT_EQ(write(s, big.data(), big.size()), static_cast<ssize_t>(big.size()));
  ASSERT_EQ(read_n(c, big.size()).size(), big.size());
  // A connection speaking no protocol we parse: nothing, however long it talks.
  int x, y;
  tcp_pair(&x, &y);
  for (int i = 0; i < 20; i++) {
    ASSERT_EQ(write(x, "SSH-2.0-OpenSSH_9.2\r\n", 21), 21);
    ASSERT_EQ(read(y, buf, sizeof buf), 21);
  }
  auto http = [&] {
    size_t n = 0;
    for (const auto& r : reqs.list) n += r.protocol == "http";
    return n;
  };
  ASSERT_TRUE(h.pump_until([&] { return http() >= 6; })) << http();
  for (int fd : {c, s, x, y}) close(fd);
  for (int i = 0; i < 50; i++) {  // a moment for the closes: no unanswered request appears
    h.runner().drain();
    usleep(10000);
  }
  ASSERT_EQ(reqs.list.size(), 6u);
  for (const char* role : {"client", "server"}) {
    std::vector<Req> mine;
    for (const auto& r : reqs.list)
      if (r.role == role) mine.push_back(r);
    ASSERT_EQ(mine.size(), 3u) << role;
    EXPECT_EQ(mine[0].request, "/one");
    EXPECT_EQ(mine[0].status, 200);
    EXPECT_EQ(mine[0].response_bytes, head.size() + body.size());
    EXPECT_EQ(mine[1].method, "DELETE");
    EXPECT_EQ(mine[1].status, 404);
    EXPECT_EQ(mine[2].request, "/big");
    EXPECT_EQ(mine[2].response_bytes, big.size()) << "the uncaptured body is counted";
    EXPECT_FALSE(mine[2].no_response);
  }
}

TEST(L7Source, EverySyscallOfTheFamilyCarriesRequests) { every_syscall_of_the_family(false); }
TEST(L7Source, EverySyscallOfTheFamilyThroughPerSyscallTracepoints) { every_syscall_of_the_family(true); }

TEST(L7Source, DnsDatagramsSentTogetherAreEachARequest) {
  test::Harness h;
  Requests reqs;
  h.runner().add_sink(&reqs);
  sources::SourceOptions o;
  o.filter.pid = static_cast<uint32_t>(getpid());
  o.filter.exclude_self = false;
  h.start("l7", o);
  int srv = socket(AF_INET, SOCK_DGRAM, 0), cli = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(srv, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(srv, reinterpret_cast<sockaddr*>(&a), &len);
  ASSERT_EQ(connect(cli, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  auto query = [](uint16_t id, uint16_t type) {
    std::string q = {char(id >> 8), char(id), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w', 'w', 4, 't', 'e', 's', 't', 0, 0, char(type), 0, 1};
    return q;
  };
  std::string qa = query(0x1111, 1), qaaaa = query(0x2222, 28);
  iovec v[2] = {{qa.data(), qa.size()}, {qaaaa.data(), qaaaa.size()}};
  mmsghdr mm[2] = {};
  mm[0].msg_hdr.msg_iov = &v[0];
  mm[0].msg_hdr.msg_iovlen = 1;
  mm[1].msg_hdr.msg_iov = &v[1];
  mm[1].msg_hdr.msg_iovlen = 1;
  ASSERT_EQ(sendmmsg(cli, mm, 2, 0), 2);  // as glibc's resolver sends A and AAAA
  for (int i = 0; i < 2; i++) {
    char buf[512];
    sockaddr_in from{};
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(srv, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
    ASSERT_GT(n, 12);
    buf[2] = char(0x81);
    buf[3] = char(i == 0 ? 0x80 : 0x83);  // NOERROR, then NXDOMAIN
    ASSERT_EQ(sendto(srv, buf, n, 0, reinterpret_cast<sockaddr*>(&from), fl), n);
    ASSERT_EQ(recv(cli, buf, sizeof buf, 0), n);
  }
  auto dns = [&](const char* role) { return reqs.of("dns", role); };
  ASSERT_TRUE(h.pump_until([&] { return dns("client").size() >= 2 && dns("server").size() >= 2; }))
      << dns("client").size() << " " << dns("server").size();
  for (const char* role : {"client", "server"}) {
    auto d = dns(role);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d[0].method, "A");
    EXPECT_EQ(d[0].request, "www.test");
    EXPECT_EQ(d[0].status, 0);
    EXPECT_EQ(d[1].method, "AAAA");
    EXPECT_EQ(d[1].status, 3);
  }
  close(srv);
  close(cli);
}

// DNS over TCP on a port that is not 53, found by its shape: a client that writes the length
// and the message apart (writev, as dig does) to a server that reads the length alone first,
// then one that writes them together to a server that reads the length a byte at a time
// (dnsmasq). Both sides see each query with its name, type and rcode.
TEST(L7Source, DnsOverTcpOnAnyPortWhateverWayItsLengthIsCut) {
  test::Harness h;
  Requests reqs;
  h.runner().add_sink(&reqs);
  sources::SourceOptions o = this_process();
  h.start("l7", o);
  auto query = [](uint16_t id, const char* label) {
    std::string q = {char(id >> 8), char(id), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    q += char(strlen(label));
    q += label;
    q += std::string{4, 't', 'e', 's', 't', 0, 0, 1, 0, 1};
    return q;
  };
  auto be16 = [](size_t n) { return std::string{char(n >> 8), char(n & 0xff)}; };
  for (int round = 0; round < 2; round++) {
    int c, s;
    tcp_pair(&c, &s);
    std::string q = query(round ? 0x4242 : 0x4141, round ? "byteread" : "splitlen"), len = be16(q.size());
    if (round == 0) {  // writev(length, message); read(2), read(message)
      iovec v[2] = {{len.data(), 2}, {q.data(), q.size()}};
      ASSERT_EQ(writev(c, v, 2), static_cast<ssize_t>(q.size() + 2));
      ASSERT_EQ(read_n(s, 2), len);
    } else {  // write(length + message); read(1), read(1), read(message)
      std::string all = len + q;
      ASSERT_EQ(write(c, all.data(), all.size()), static_cast<ssize_t>(all.size()));
      ASSERT_EQ(read_n(s, 1), len.substr(0, 1));
      ASSERT_EQ(read_n(s, 1), len.substr(1));
    }
    std::string got = read_n(s, q.size());
    ASSERT_EQ(got, q);
    std::string a = q;
    a[2] = char(0x81);
    a[3] = char(0x83);  // NXDOMAIN
    std::string framed = be16(a.size()) + a;
    ASSERT_EQ(write(s, framed.data(), framed.size()), static_cast<ssize_t>(framed.size()));
    ASSERT_EQ(read_n(c, framed.size()), framed);
    close(c);
    close(s);
  }
  auto dns = [&](const char* role) { return reqs.of("dns", role); };
  ASSERT_TRUE(h.pump_until([&] { return dns("client").size() >= 2 && dns("server").size() >= 2; }))
      << dns("client").size() << " " << dns("server").size();
  for (const char* role : {"client", "server"}) {
    auto d = dns(role);
    ASSERT_EQ(d.size(), 2u) << role;
    for (int i = 0; i < 2; i++) {
      EXPECT_EQ(d[i].request, i ? "byteread.test" : "splitlen.test") << role;
      EXPECT_EQ(d[i].method, "A");
      EXPECT_EQ(d[i].status, 3);
      EXPECT_EQ(d[i].request_bytes, 2u + 12 + 1 + 8 + 6 + 4) << role << ": its length is on the wire";
      EXPECT_FALSE(d[i].no_response);
    }
  }
}

// The kernel counts every exchange while only 1 in `sample` goes out in detail, except those
// that fail or are slow: they arrive whole (the request held in the kernel until the answer).
// Pipelined Redis commands in one write count one each.
TEST(L7Source, KernelCountsEveryExchangeAndSendsTheFailedAndSlow) {
  test::Harness h;
  Requests reqs;
  h.runner().add_sink(&reqs);
  sources::SourceOptions o = this_process(1000000, 0);  // the first exchange of a CPU only
  o.own_as<sources::L7Options>().slow_ms = 100;
  h.start("l7", o);
  int c, s;
  tcp_pair(&c, &s);
  char buf[4096];
  auto exchange = [&](const std::string& path, const std::string& status, useconds_t delay) {
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(write(c, req.data(), req.size()), static_cast<ssize_t>(req.size()));
    ASSERT_EQ(read(s, buf, sizeof buf), static_cast<ssize_t>(req.size()));
    if (delay) usleep(delay);
    std::string resp = "HTTP/1.1 " + status + "\r\nContent-Length: 2\r\n\r\nok";
    ASSERT_EQ(write(s, resp.data(), resp.size()), static_cast<ssize_t>(resp.size()));
    ASSERT_EQ(read_n(c, resp.size()).size(), resp.size());
  };
  for (int i = 0; i < 300; i++) exchange("/fine/" + std::to_string(i), "200 OK", 0);
  exchange("/broken", "503 Service Unavailable", 0);
  exchange("/slow", "200 OK", 150000);
  for (int i = 0; i < 100; i++) exchange("/fine/x", "200 OK", 0);

  auto has = [&](const std::string& path, const char* role) {
    for (const auto& r : reqs.list)
      if (r.request == path && r.role == role) return true;
    return false;
  };
  ASSERT_TRUE(h.pump_until([&] { return has("/slow", "client") && has("/slow", "server"); })) << reqs.list.size();
  for (const char* role : {"client", "server"}) {
    EXPECT_TRUE(has("/broken", role)) << role << ": a failed exchange always arrives";
    EXPECT_TRUE(has("/slow", role)) << role << ": a slow exchange always arrives";
  }
  size_t fine = 0;
  for (const auto& r : reqs.list) fine += r.request.starts_with("/fine");
  EXPECT_LE(fine, 8u) << "1 in a million sampled (the first of each CPU): the rest stay in the kernel";
  h.runner().drain();
  h.runner().collect_all();
  for (const char* role : {"client", "server"}) {
    EXPECT_EQ(h.metric("sightline_l7_requests_total", {{"protocol", "http"}, {"role", role}, {"status", "2xx"}}), 401) << role;
    EXPECT_EQ(h.metric("sightline_l7_requests_total", {{"protocol", "http"}, {"role", role}, {"status", "5xx"}}), 1) << role;
    EXPECT_EQ(h.metric("sightline_l7_errors_total", {{"protocol", "http"}, {"role", role}}), 1) << role;
  }
  EXPECT_EQ(h.metric("sightline_l7_exchanges_total", {{"detail", "failed_or_slow"}}), 4) << "/broken and /slow, both sides";
  for (int fd : {c, s}) close(fd);
}

// A server that reads a request's first byte alone (Go's net/http: its read watching an idle
// keep-alive connection catches the next request's first byte), and one that reads three: the
// kernel still counts every exchange with its method, and the requests arrive whole in detail.
TEST(L7Source, ARequestWhoseFirstLettersAreReadAloneIsCounted) {
  test::Harness h;
  Requests reqs;
  h.runner().add_sink(&reqs);
  h.start("l7", this_process(1000000, 0));
  int c, s;
  tcp_pair(&c, &s);
  auto exchange = [&](const std::string& method, size_t first) {
    std::string req = method + " /split/" + std::to_string(first) + " HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(write(c, req.data(), req.size()), static_cast<ssize_t>(req.size()));
    ASSERT_EQ(read_n(s, first).size(), first);
    ASSERT_EQ(read_n(s, req.size() - first).size(), req.size() - first);
    std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    ASSERT_EQ(write(s, resp.data(), resp.size()), static_cast<ssize_t>(resp.size()));
    ASSERT_EQ(read_n(c, resp.size()).size(), resp.size());
  };
  exchange("GET", 10);  // a first exchange read whole: the connection known as HTTP
  for (int i = 0; i < 20; i++) exchange("GET", 1);
  for (int i = 0; i < 10; i++) exchange("DELETE", 3);
  h.runner().drain();
  h.runner().collect_all();
  EXPECT_EQ(h.metric("sightline_l7_requests_total", {{"protocol", "http"}, {"role", "server"}, {"method", "GET"}}), 21);
  EXPECT_EQ(h.metric("sightline_l7_requests_total", {{"protocol", "http"}, {"role", "server"}, {"method", "DELETE"}}), 10);
  EXPECT_EQ(h.metric("sightline_l7_requests_total", {{"protocol", "http"}, {"role", "client"}, {"method", "GET"}}), 21);
  auto count = [&](const std::string& path) {
    size_t n = 0;
    for (const auto& r : reqs.list) n += r.request == path && r.role == std::string("server");
    return n;
  };
  ASSERT_TRUE(h.pump_until([&] { return count("/split/1") == 20 && count("/split/3") == 10; }))
      << count("/split/1") << " and " << count("/split/3") << " split requests arrived whole on the server side";
  EXPECT_LE(h.metric("sightline_l7_parser_resyncs_total", {{"protocol", "http"}}), 0);  // -1: no series
  for (int fd : {c, s}) close(fd);
}

// Methods named in always_detail (the rules' methods) reach user space every time, whatever
// the sample: a rule on DELETE sees each DELETE among a stream the sample thins.
TEST(L7Source, AlwaysDetailMethodsEscapeTheSample) {
  test::Harness h;
  Requests reqs;
  h.runner().add_sink(&reqs);
  sources::SourceOptions o;
  o.filter.pid = static_cast<uint32_t>(getpid());
  o.filter.exclude_self = false;
  o.own_as<sources::L7Options>().sample = 1000000;
  o.own_as<sources::L7Options>().detail_per_s = 0;
  o.own_as<sources::L7Options>().always_detail = {"delete"};  // case does not matter
  h.start("l7", o);
  int c, s;
  tcp_pair(&c, &s);
  char buf[4096];
  auto exchange = [&](const std::string& method, const std::string& path) {
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(write(c, req.data(), req.size()), static_cast<ssize_t>(req.size()));
    ASSERT_EQ(read(s, buf, sizeof buf), static_cast<ssize_t>(req.size()));
    std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    ASSERT_EQ(write(s, resp.data(), resp.size()), static_cast<ssize_t>(resp.size()));
    ASSERT_EQ(read_n(c, resp.size()).size(), resp.size());
  };
  for (int i = 0; i < 50; i++) {
    exchange("GET", "/items/" + std::to_string(i));
    if (i % 10 == 5) exchange("DELETE", "/items/" + std::to_string(i));
  }
  auto count = [&](const std::string& prefix, const char* role) {
    size_t n = 0;
    for (const auto& r : reqs.list) n += r.request.starts_with(prefix) && r.role == role && r.method == "DELETE";
    return n;
  };
  ASSERT_TRUE(h.pump_until([&] { return count("/items/", "client") == 5 && count("/items/", "server") == 5; }))
      << count("/items/", "client") << " " << count("/items/", "server");
  size_t gets = 0;
  for (const auto& r : reqs.list) gets += r.method == "GET";
  EXPECT_LE(gets, 8u) << "the GETs stay sampled";
  for (int fd : {c, s}) close(fd);
}

// Sampled exchanges carry their weight (1 in 8 sent: 8; failed: 1): on each side the weights sum
// to the exchanges made, as sum(l7_weight) does in the store.
TEST(L7Source, SampledRecordsWeighToTheExchangesMade) {
  test::Harness h;
  Requests reqs;
  h.runner().add_sink(&reqs);
  sources::SourceOptions o;
  o.filter.pid = static_cast<uint32_t>(getpid());
  o.filter.exclude_self = false;
  o.own_as<sources::L7Options>().sample = 8;
  o.own_as<sources::L7Options>().detail_per_s = 0;
  h.start("l7", o);
  int c, s;
  tcp_pair(&c, &s);
  char buf[4096];
  constexpr int kN = 800;
  for (int i = 0; i < kN; i++) {
    std::string req = "GET /w/" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(write(c, req.data(), req.size()), static_cast<ssize_t>(req.size()));
    ASSERT_EQ(read(s, buf, sizeof buf), static_cast<ssize_t>(req.size()));
    std::string resp = std::string("HTTP/1.1 ") + (i % 100 == 5 ? "500 Oops" : "200 OK") + "\r\nContent-Length: 2\r\n\r\nok";
    ASSERT_EQ(write(s, resp.data(), resp.size()), static_cast<ssize_t>(resp.size()));
    ASSERT_EQ(read_n(c, resp.size()).size(), resp.size());
  }
  close(c);
  close(s);
  auto weighed = [&](const char* role) {
    uint64_t w = 0;
    for (const auto& r : reqs.list)
      if (r.role == role && r.request.starts_with("/w/")) w += r.weight;
    return w;
  };
  h.pump_until([&] { return weighed("client") >= kN * 9 / 10 && weighed("server") >= kN * 9 / 10; });
  for (const char* role : {"client", "server"}) {
    size_t sent = 0, failed = 0;
    for (const auto& r : reqs.list)
      if (r.role == role && r.request.starts_with("/w/")) {
        sent++;
        failed += r.status == 500;
        if (r.status == 500) {
          EXPECT_EQ(r.weight, 1u) << role << ": a failed exchange stands for itself";
        }
      }
    EXPECT_EQ(failed, 8u) << role;
    EXPECT_LT(sent, static_cast<size_t>(kN / 4)) << role << ": sampled";
    // Each CPU counts 1 in 8 on its own: the estimate is off by at most 8 a CPU the test ran on.
    EXPECT_NEAR(static_cast<double>(weighed(role)), kN, 8.0 * 2 + 8) << role;
  }
}

// Redis pipelining: 16 commands in one write, 16 replies in one; the kernel counts 16 on each
// side (the write walked in the kernel).
TEST(L7Source, PipelinedRedisWriteCountsEachCommand) {
  test::Harness h;
  h.start("l7", this_process());
  int rc, rs;
  tcp_pair(&rc, &rs);
  std::string cmds, replies;
  for (int i = 0; i < 16; i++) cmds += "*3\r\n$3\r\nSET\r\n$5\r\nkey:" + std::to_string(i % 10) + "\r\n$1\r\nv\r\n", replies += "+OK\r\n";
  ASSERT_EQ(write(rc, cmds.data(), cmds.size()), static_cast<ssize_t>(cmds.size()));
  ASSERT_EQ(read_n(rs, cmds.size()).size(), cmds.size());
  ASSERT_EQ(write(rs, replies.data(), replies.size()), static_cast<ssize_t>(replies.size()));
  ASSERT_EQ(read_n(rc, replies.size()).size(), replies.size());
  h.runner().drain();
  h.runner().collect_all();
  for (const char* role : {"client", "server"})
    EXPECT_EQ(h.metric("sightline_l7_requests_total", {{"protocol", "redis"}, {"role", role}, {"method", "SET"}}), 16) << role;
  EXPECT_EQ(h.metric("sightline_l7_kernel_cut_total", {{"what", "resp_scan"}}), 0);
  for (int fd : {rc, rs}) close(fd);
}

// The kernel counts a key in its CPU's slot (sightline/l7.h sl_l7_red_slot) or, where another
// key holds the slot, in the shared hash; user space sums both. 100 commands of one process on
// each side, 200 keys for 64 slots a CPU: each key counted exactly, wherever it was counted.
TEST(L7Source, KeysPastTheirCpusSlotsAreCountedInTheHash) {
  test::Harness h;
  h.start("l7", this_process());
  int rc, rs;
  tcp_pair(&rc, &rs);
  auto method = [](int i) { return std::string{'X', char('A' + i / 26), char('A' + i % 26)}; };
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < 100; i++) {
      std::string cmd = "*1\r\n$3\r\n" + method(i) + "\r\n", reply = "+OK\r\n";
      ASSERT_EQ(write(rc, cmd.data(), cmd.size()), static_cast<ssize_t>(cmd.size()));
      ASSERT_EQ(read_n(rs, cmd.size()), cmd);
      ASSERT_EQ(write(rs, reply.data(), reply.size()), static_cast<ssize_t>(reply.size()));
      ASSERT_EQ(read_n(rc, reply.size()), reply);
    }
  h.runner().drain();
  h.runner().collect_all();
  for (const char* role : {"client", "server"})
    for (int i = 0; i < 100; i++)
      EXPECT_EQ(
          h.metric("sightline_l7_requests_total", {{"protocol", "redis"}, {"role", role}, {"method", method(i)}}), 2)
          << role << " " << method(i);
  EXPECT_EQ(h.metric("sightline_l7_kernel_cut_total", {{"what", "red_map_full"}}), 0);
  for (int fd : {rc, rs}) close(fd);
}

// A protocol user space counts (NATS here) batches: 400 publications (~9 KiB, past
// capture_bytes) by one write, 400 more by one writev (iovecs past the first record need
// bpf_loop: without it, 5.17's, that half is left out), each read whole by the other side, goes as records of
// capture_bytes and every message is seen on both sides.
TEST(L7Source, BatchedWritesPastTheCaptureGoInChunks) {
  test::Harness h;
  Requests reqs;
  h.runner().add_sink(&reqs);
  sources::SourceOptions o = this_process();
  h.start("l7", o);
  int c, s;
  tcp_pair(&c, &s);
  std::string info = "INFO {\"server_id\":\"test\"}\r\n";
  ASSERT_EQ(write(s, info.data(), info.size()), static_cast<ssize_t>(info.size()));
  ASSERT_EQ(read_n(c, info.size()), info);
  std::string batch = "CONNECT {\"verbose\":false}\r\n";
  for (int i = 0; i < 400; i++) batch += "PUB orders." + std::to_string(i) + " 5\r\nhello\r\n";
  ASSERT_GT(batch.size(), 2 * 4096u);
  ASSERT_EQ(write(c, batch.data(), batch.size()), static_cast<ssize_t>(batch.size()));
  ASSERT_EQ(read_n(s, batch.size()), batch);
  bool iov_chunks = bpf::probe_features().bpf_loop;
  std::string more;
  for (int i = 400; i < (iov_chunks ? 800 : 400); i++) more += "PUB orders." + std::to_string(i) + " 5\r\nhello\r\n";
  if (iov_chunks) {
    ASSERT_GT(more.size(), 2 * 4096u);
    iovec v[3] = {{more.data(), 1000}, {more.data() + 1000, 5000}, {more.data() + 6000, more.size() - 6000}};
    ASSERT_EQ(writev(c, v, 3), static_cast<ssize_t>(more.size()));
    ASSERT_EQ(read_n(s, more.size()), more);
  }
  size_t want = iov_chunks ? 800 : 400;
  auto pubs = [&](const char* role) { return reqs.of("nats", role).size(); };
  ASSERT_TRUE(h.pump_until([&] { return pubs("client") >= want && pubs("server") >= want; }))
      << pubs("client") << " " << pubs("server");
  for (const char* role : {"client", "server"}) {
    auto r = reqs.of("nats", role);
    ASSERT_EQ(r.size(), want) << role;
    for (size_t i = 0; i < want; i += 97) EXPECT_EQ(r[i].request, "PUB orders." + std::to_string(i)) << role;
  }
  close(c);
  close(s);
}

// A server that writes to a peer which closed first: on loopback the peer's reset arrives inside
// the write, so the socket is closed (and its close traced) before the write's exit is. Its state
// must not outlive it: the sockets allocated next at its address (the kernel reuses them at
// once) are HTTP clients and servers, and every exchange of theirs is HTTP in its own role.
TEST(L7Source, AWriteToAPeerThatResetLeavesNoStateToTheNextSocket) {
  test::Harness h;
  Requests reqs;
  h.runner().add_sink(&reqs);
  h.start("l7", this_process());
  std::string info = "INFO {\"server_id\":\"test\"}\r\n";
  // All at once, so that many such sockets are freed together and the next ones take their places.
  constexpr int kPairs = 100;
  int c[kPairs], s[kPairs];
  for (int i = 0; i < kPairs; i++) tcp_pair(&c[i], &s[i]);
  for (int i = 0; i < kPairs; i++) close(c[i]);
  for (int i = 0; i < kPairs; i++) (void)!write(s[i], info.data(), info.size());  // answered by a reset
  for (int i = 0; i < kPairs; i++) close(s[i]);
  std::string req = "GET /after HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  char buf[256];
  for (int i = 0; i < kPairs; i++) tcp_pair(&c[i], &s[i]);
  for (int i = 0; i < kPairs; i++) {
    ASSERT_EQ(write(c[i], req.data(), req.size()), static_cast<ssize_t>(req.size()));
    ASSERT_EQ(read(s[i], buf, sizeof buf), static_cast<ssize_t>(req.size()));
    ASSERT_EQ(write(s[i], resp.data(), resp.size()), static_cast<ssize_t>(resp.size()));
    ASSERT_EQ(read_n(c[i], resp.size()), resp);
  }
  for (int i = 0; i < kPairs; i++) close(c[i]), close(s[i]);
  auto n = [&](const char* role) { return reqs.of("http", role).size(); };
  h.pump_until([&] { return n("client") >= 100 && n("server") >= 100; });
  for (int i = 0; i < 20; i++) {  // a moment for anything misread to show
    h.runner().drain();
    usleep(10000);
  }
  std::map<std::string, int> seen;
  for (const auto& r : reqs.list) seen[r.protocol + " " + r.role + " " + r.request]++;
  std::string all;
  for (const auto& [k, v] : seen) all += k + ": " + std::to_string(v) + "\n";
  EXPECT_EQ(seen["http client /after"], 100) << all;
  EXPECT_EQ(seen["http server /after"], 100) << all;
  EXPECT_EQ(reqs.list.size(), 200u) << all;
}

// With no process filter (every process traced: the agent's default), a loopback connection is
// counted at its server's end only: its client's end names itself once (the service map's edge
// runs from this process) and sends or counts nothing more, exactly, whatever the sample; the
// client's request events are made from the server's records.
TEST(L7Source, ALoopbackConnectionIsCountedAtItsServersEnd) {
  test::Harness h;
  Requests reqs;
  h.runner().add_sink(&reqs);
  sources::SourceOptions o;
  o.filter.exclude_self = false;  // every process, this one too
  o.own_as<sources::L7Options>().sample = 4;
  o.own_as<sources::L7Options>().detail_per_s = 0;
  h.start("l7", o);
  int c, s;
  tcp_pair(&c, &s);
  const std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  for (int i = 0; i < 40; i++) {
    std::string req = "GET /peer-end/" + std::to_string(i) + " HTTP/1.1\r\n\r\n";
    ASSERT_EQ(write(c, req.data(), req.size()), static_cast<ssize_t>(req.size()));
    ASSERT_EQ(read_n(s, req.size()), req);
    ASSERT_EQ(write(s, resp.data(), resp.size()), static_cast<ssize_t>(resp.size()));
    ASSERT_EQ(read_n(c, resp.size()), resp);
  }
  close(c);
  close(s);
  auto mine = [&](const char* role) {
    size_t n = 0;
    for (const auto& r : reqs.of("http", role)) n += r.request.starts_with("/peer-end/") ? r.weight : 0;
    return n;
  };
  ASSERT_TRUE(h.pump_until([&] { return mine("server") >= 40; })) << mine("server");
  h.runner().collect_all();
  EXPECT_EQ(mine("server"), 40u) << "1 in 4 in detail, each weighing 4";
  EXPECT_EQ(mine("client"), 40u) << "the client's view of each, from the server's record";
  for (const auto& r : reqs.of("http", "client")) {
    if (r.request.starts_with("/peer-end/")) {
      EXPECT_EQ(r.comm, "bpf_tests");
    }
  }
  EXPECT_EQ(h.metric("sightline_l7_requests_total", {{"comm", "bpf_tests"}, {"protocol", "http"}, {"role", "server"}}), 40);
  EXPECT_LE(h.metric("sightline_l7_requests_total", {{"comm", "bpf_tests"}, {"protocol", "http"}, {"role", "client"}}), 0);
  EXPECT_GE(h.metric("sightline_l7_peer_ends_total", {}), 1);
  EXPECT_EQ(h.metric("sightline_service_map_requests_total", {{"client", "bpf_tests"}, {"server", "bpf_tests"}, {"protocol", "http"}}), 10)
      << "the server's edge (its exchanges in detail, 1 in 4) names its client by the end that named itself";
}

namespace {
// A server's request events with their timelines.
class Timelines : public sources::EventSink {
 public:
  void on_event(core::Event& e) override {
    if (e.kind == EventKind::kRequest && e.role == 2) list.push_back(e);  // the numbers only are read
  }
  std::vector<core::Event> list;
};
uint64_t thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ULL + uint64_t(ts.tv_nsec);
}
uint64_t mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ULL + uint64_t(ts.tv_nsec);
}
}  // namespace

// The sched source's per-thread time, read by l7 at a request's start and its answer's: a
// handler that burns 30 ms of CPU, sleeps 40 ms and waits 30 ms for a mutex another thread
// holds has each where it belongs; one answered by another thread is not attributed.
TEST(L7Source, AServerRequestsTimelineSplitsItsThreadsTime) {
  test::Harness h;
  Timelines reqs;
  h.runner().add_sink(&reqs);
  sources::SourceOptions o = this_process();
  h.start("sched", o);
  h.start("l7", o);
  int c, s;
  tcp_pair(&c, &s);
  const std::string req = "GET /work HTTP/1.1\r\n\r\n", resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  char buf[256];
  // 1: on this thread.
  ASSERT_EQ(write(c, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  ASSERT_EQ(read(s, buf, sizeof buf), static_cast<ssize_t>(req.size()));
  // The thread's CPU clock between the two: the burn, and the rest (thread creation, syscalls:
  // milliseconds more in a VM under TCG).
  const uint64_t cpu0 = thread_cpu_ns();
  for (uint64_t t = thread_cpu_ns(); thread_cpu_ns() - t < 30000000;) {
  }
  timespec nap = {0, 40000000};
  const uint64_t nap0 = mono_ns();
  nanosleep(&nap, nullptr);
  const uint64_t nap_ns = mono_ns() - nap0;
  std::mutex m;
  int held[2];
  ASSERT_EQ(pipe(held), 0);
  std::thread holder([&] {
    std::lock_guard lock(m);
    ASSERT_EQ(write(held[1], "x", 1), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  });
  ASSERT_EQ(read(held[0], buf, 1), 1);  // blocked (not spinning: that would be CPU) until it holds m
  const uint64_t lock0 = mono_ns();
  m.lock();
  m.unlock();
  holder.join();  // a futex wait too (on the thread's exit): milliseconds under TCG
  const uint64_t lock_ns = mono_ns() - lock0;
  close(held[0]);
  close(held[1]);
  const uint64_t cpu1 = thread_cpu_ns();
  ASSERT_EQ(write(s, resp.data(), resp.size()), static_cast<ssize_t>(resp.size()));
  ASSERT_EQ(read(c, buf, sizeof buf), static_cast<ssize_t>(resp.size()));
  // 2: read here, answered by another thread.
  ASSERT_EQ(write(c, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  ASSERT_EQ(read(s, buf, sizeof buf), static_cast<ssize_t>(req.size()));
  std::thread([&] { ASSERT_EQ(write(s, resp.data(), resp.size()), static_cast<ssize_t>(resp.size())); }).join();
  ASSERT_EQ(read(c, buf, sizeof buf), static_cast<ssize_t>(resp.size()));
  ASSERT_TRUE(h.pump_until([&] { return reqs.list.size() >= 2; })) << reqs.list.size();
  close(c);
  close(s);
  const core::Event& r = reqs.list[0];
  ASSERT_EQ(r.timeline, 1) << "no timeline: is the sched source's map l7's?";
  // Each part against what this thread measured of it (under TCG a 40 ms nap can take 60, and
  // a wake-up waits milliseconds on the run queue): CPU against the thread's own clock (the
  // kernel's sum at switches, plus the running slice's wall time: steal time can put the
  // reading at the start a little ahead), the nap and the mutex (and the join) within their
  // wall time, most of it spent blocked on a futex.
  const double ms = 1e6;
  auto within = [&](uint64_t got, double lo, double hi, const char* what) {
    EXPECT_GE(double(got), lo) << what << ": " << got / ms << " ms, want " << lo / ms << " to " << hi / ms;
    EXPECT_LE(double(got), hi) << what << ": " << got / ms << " ms, want " << lo / ms << " to " << hi / ms;
  };
  within(r.tl_cpu_ns, 0.9 * double(cpu1 - cpu0), double(cpu1 - cpu0) + 20 * ms, "on CPU");
  within(r.tl_wait_ns[SL_WAIT_SLEEP], 38 * ms, double(nap_ns) + 2 * ms, "asleep");
  within(r.tl_wait_ns[SL_WAIT_LOCK], 0.5 * double(lock_ns), double(lock_ns) + 2 * ms, "on the mutex and the join");
  EXPECT_LT(r.tl_wait_ns[SL_WAIT_NET] + r.tl_wait_ns[SL_WAIT_IO], 5000000u);
  uint64_t sum = r.tl_cpu_ns + r.tl_runq_ns;
  for (uint64_t w : r.tl_wait_ns) sum += w;
  EXPECT_LE(sum, r.duration_ns + 1000000) << "the parts are within the request's time";
  EXPECT_GE(double(sum), 0.85 * double(r.duration_ns)) << "the parts make the request's time: " << sum / ms << " of "
                                                       << r.duration_ns / ms << " ms";
  EXPECT_EQ(reqs.list[1].timeline, 2) << "another thread answered";
}

namespace {
// Request records with their trace ids.
struct Linked : sources::EventSink {
  struct R {
    std::string request, role, trace_id, parent_id, span_id;
    uint32_t weight;
  };
  void on_event(core::Event& e) override {
    if (e.kind == EventKind::kRequest)
      list.push_back({std::string(e.request), e.role == 1 ? "client" : "server", std::string(e.trace_id),
                      std::string(e.parent_span_id), std::string(e.span_id), e.weight});
  }
  std::vector<R> list;
};

// A thread serving /front/i (on one connection) calls /back/i (on another) n times; the back
// end serves on its own thread, answering each call after `back_delay_us`.
void serve_with_calls(int n, useconds_t back_delay_us) {
  int fc, fs, bc, bs;
  tcp_pair(&fc, &fs);
  tcp_pair(&bc, &bs);
  const std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  std::thread back([&] {
    char buf[512];
    for (int i = 0; i < n; i++) {
      if (read(bs, buf, sizeof buf) <= 0) return;
      if (back_delay_us) usleep(back_delay_us);
      if (write(bs, resp.data(), resp.size()) != static_cast<ssize_t>(resp.size())) return;
    }
  });
  char buf[512];
  usleep(2000);  // this thread switches once: the sched source keeps its state from then on
  for (int i = 0; i < n; i++) {
    std::string front = "GET /front/" + std::to_string(i) + " HTTP/1.1\r\n\r\n";
    std::string call = "GET /back/" + std::to_string(i) + " HTTP/1.1\r\n\r\n";
    EXPECT_EQ(write(fc, front.data(), front.size()), static_cast<ssize_t>(front.size()));
    EXPECT_EQ(read(fs, buf, sizeof buf), static_cast<ssize_t>(front.size()));  // serving /front/i
    EXPECT_EQ(write(bc, call.data(), call.size()), static_cast<ssize_t>(call.size()));
    EXPECT_EQ(read_n(bc, resp.size()).size(), resp.size());
    EXPECT_EQ(write(fs, resp.data(), resp.size()), static_cast<ssize_t>(resp.size()));
    EXPECT_EQ(read_n(fc, resp.size()).size(), resp.size());
  }
  back.join();
  for (int fd : {fc, fs, bc, bs}) close(fd);
}

// The requests seen of one role whose target starts with `prefix`, by the rest of the target.
std::map<std::string, Linked::R> seen_of(const Linked& reqs, const std::string& prefix, const char* role) {
  std::map<std::string, Linked::R> m;
  for (const auto& r : reqs.list)
    if (r.role == role && r.request.starts_with(prefix)) m[r.request.substr(prefix.size())] = r;
  return m;
}
}  // namespace

// Parent-based sampling (sample 4): a thread serving /front/i calls /back/i; the call goes out in
// detail exactly when the served request does, with its weight, and is linked to it; the other
// ends (the front's client, the back's server thread) are sampled on their own.
TEST(L7Source, CallsMadeWhileServingFollowTheServedRequestsSample) {
  test::Harness h;
  Linked reqs;
  h.runner().add_sink(&reqs);
  sources::SourceOptions o = this_process();
  o.own_as<sources::L7Options>().sample = 4;
  o.own_as<sources::L7Options>().detail_per_s = 0;
  h.start("sched", o);
  h.start("l7", o);
  constexpr int kN = 200;
  serve_with_calls(kN, 0);
  auto seen = [&](const std::string& prefix, const char* role) { return seen_of(reqs, prefix, role); };
  h.pump_until([&] { return false; }, 2);  // everything sent has arrived
  auto served = seen("/front/", "server"), calls = seen("/back/", "client");
  EXPECT_GT(served.size(), 0u);
  EXPECT_LT(served.size(), static_cast<size_t>(kN / 2)) << "sampled";
  std::string diff;
  for (const auto& [i, r] : served)
    if (!calls.contains(i)) diff += " /front/" + i + " without its call;";
  for (const auto& [i, r] : calls) {
    if (!served.contains(i)) {
      diff += " /back/" + i + " without its served request;";
      continue;
    }
    const auto& f = served[i];
    EXPECT_EQ(r.weight, f.weight) << i;
    EXPECT_EQ(r.parent_id, f.span_id) << i << ": linked to the request it was made for";
    EXPECT_EQ(r.trace_id, f.trace_id) << i;
    EXPECT_EQ(r.parent_id.size(), 16u) << i;
  }
  EXPECT_TRUE(diff.empty()) << diff;
  // The ends not made while serving: each sampled on its own (not all, not none).
  for (auto [prefix, role] : {std::pair{"/front/", "client"}, std::pair{"/back/", "server"}}) {
    size_t n = seen(prefix, role).size();
    EXPECT_GT(n, 0u) << prefix << role;
    EXPECT_LT(n, static_cast<size_t>(kN / 2)) << prefix << role;
  }
}

// Nothing sampled (1 in 1000, no per-second budget): the kernel holds each request until its
// answer. The back end answers after 30 ms, past slow_ms (20): the call and the request it was
// made for are both slow and both go out, the call first (it ends first). The call names the
// served request by its start, so it is linked although its served request came after it.
TEST(L7Source, ACallIsLinkedToAHeldServedRequestThatGoesOutAfterIt) {
  test::Harness h;
  Linked reqs;
  h.runner().add_sink(&reqs);
  sources::SourceOptions o = this_process();
  o.own_as<sources::L7Options>().sample = 1000;
  o.own_as<sources::L7Options>().detail_per_s = 0;
  o.own_as<sources::L7Options>().slow_ms = 20;
  h.start("sched", o);
  h.start("l7", o);
  constexpr int kN = 5;
  serve_with_calls(kN, 30000);
  auto of = [&](const std::string& prefix, const char* role) { return seen_of(reqs, prefix, role); };
  h.pump_until([&] { return of("/front/", "server").size() >= kN && of("/back/", "client").size() >= kN; });
  auto served = of("/front/", "server"), calls = of("/back/", "client");
  ASSERT_EQ(served.size(), static_cast<size_t>(kN)) << "slow: each sent";
  ASSERT_EQ(calls.size(), static_cast<size_t>(kN));
  for (const auto& [i, c] : calls) {
    const auto& f = served[i];
    EXPECT_EQ(f.span_id.size(), 16u) << i;
    EXPECT_EQ(c.parent_id, f.span_id) << i << ": linked to the request it was made for";
    EXPECT_EQ(c.trace_id, f.trace_id) << i;
  }
}
