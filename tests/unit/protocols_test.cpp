// L7 parsers on recorded conversations: the same records whatever way the bytes are cut (every
// split point of every message, and one byte at a time), gaps skipped inside bodies, resync
// after garbage, bounded pending requests; and the normalizations.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <map>

#include "protocols/hpack.h"
#include "protocols/protocol.h"
#include "sources/l7/l7_source.h"
#include "sightline/l7_infer.h"

using namespace sightline::protocols;

namespace {

using Conversation = std::vector<std::pair<Side, std::string>>;

// Feeds each message cut by `cut` (a list of chunk sizes for a message's length), one
// timestamp per message (its index + 1).
std::vector<Record> run(Protocol p, const Conversation& c,
                        const std::function<std::vector<size_t>(size_t msg, size_t len)>& cut, bool close = true,
                        bool stream = true) {
  auto parser = make_parser(p, stream);
  std::vector<Record> out;
  for (size_t i = 0; i < c.size(); i++) {
    const auto& [side, bytes] = c[i];
    size_t pos = 0;
    for (size_t n : cut(i, bytes.size())) {
      parser->feed(side, std::string_view(bytes).substr(pos, n), i + 1, &out);
      pos += n;
    }
  }
  if (close) parser->close(100, &out);
  EXPECT_EQ(parser->stats().resyncs, 0u);
  return out;
}

std::vector<size_t> whole(size_t, size_t len) { return {len}; }

std::string show(const std::vector<Record>& rs) {
  std::string s;
  for (const auto& r : rs)
    s += r.method + " " + r.raw + " -> " + std::to_string(r.status) + (r.error ? " error" : "") +
         (r.no_response ? " unanswered" : "") + " [" + std::to_string(r.start_ns) + "," + std::to_string(r.end_ns) + "] " +
         std::to_string(r.request_bytes) + "/" + std::to_string(r.response_bytes) + "\n";
  return s;
}

// Every way to cut each message in two gives what the whole messages give; so does one byte
// at a time.
void expect_cut_invariant(Protocol p, const Conversation& c, bool stream = true) {
  std::string want = show(run(p, c, whole, true, stream));
  for (size_t m = 0; m < c.size(); m++)
    for (size_t k = 1; k < c[m].second.size(); k++) {
      auto got = run(p, c, [&](size_t i, size_t len) {
        return i == m ? std::vector<size_t>{k, len - k} : std::vector<size_t>{len};
      }, true, stream);
      ASSERT_EQ(show(got), want) << "message " << m << " cut at " << k;
    }
  auto bytewise = run(p, c, [](size_t, size_t len) { return std::vector<size_t>(len, 1); }, true, stream);
  EXPECT_EQ(show(bytewise), want);
}

const Conversation kHttp = {
    {Side::kClient, "GET /users/42?full=1 HTTP/1.1\r\nHost: x\r\n\r\n"},
    {Side::kServer, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"},
    {Side::kClient, "POST /api/orders HTTP/1.1\r\nContent-Length: 7\r\nExpect: 100-continue\r\n\r\n"},
    {Side::kServer, "HTTP/1.1 100 Continue\r\n\r\n"},
    {Side::kClient, "{\"a\":1}"},
    {Side::kServer, "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nwiki\r\n5\r\npedia\r\n0\r\nTrailer: t\r\n\r\n"},
    {Side::kClient, "HEAD /big HTTP/1.1\r\n\r\nGET /a/5e0c1f2a-3b4c-4d5e-8f90-0123456789ab/b HTTP/1.1\r\n\r\n"},  // pipelined
    {Side::kServer, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"},  // HEAD: no body follows
    {Side::kServer, "HTTP/1.1 503 Busy\r\ncontent-length: 2\r\n\r\nno"},
    {Side::kClient, "DELETE /x HTTP/1.1\r\n\r\n"},
    {Side::kServer, "HTTP/1.0 404 Not Found\r\n\r\nread to the close"},
};

}  // namespace

TEST(Http1, KeepAlivePipeliningBodiesAndEveryCut) {
  auto rs = run(Protocol::kHttp, kHttp, whole);
  ASSERT_EQ(rs.size(), 5u) << show(rs);
  EXPECT_EQ(rs[0].method, "GET");
  EXPECT_EQ(rs[0].raw, "/users/42?full=1");
  EXPECT_EQ(rs[0].target, "/users/{id}");
  EXPECT_EQ(rs[0].status, 200);
  EXPECT_EQ(rs[0].start_ns, 1u);
  EXPECT_EQ(rs[0].end_ns, 2u);
  EXPECT_EQ(rs[0].response_bytes, 43u);
  EXPECT_EQ(rs[1].method, "POST");
  EXPECT_EQ(rs[1].status, 201) << "the 100 Continue is not the answer";
  EXPECT_EQ(rs[1].request_bytes, 70u + 7u);
  EXPECT_EQ(rs[2].method, "HEAD");
  EXPECT_EQ(rs[2].status, 200);
  EXPECT_EQ(rs[3].target, "/a/{uuid}/b");
  EXPECT_EQ(rs[3].status, 503);
  EXPECT_TRUE(rs[3].error);
  EXPECT_EQ(rs[4].method, "DELETE");
  EXPECT_EQ(rs[4].status, 404);
  EXPECT_EQ(rs[4].end_ns, 100u) << "a body read to the close ends at the close";
  expect_cut_invariant(Protocol::kHttp, kHttp);
}

TEST(Http1, GapsInBodiesAreSkippedElsewhereResync) {
  auto p = make_parser(Protocol::kHttp);
  std::vector<Record> out;
  p->feed(Side::kClient, "GET /f HTTP/1.1\r\n\r\n", 1, &out);
  p->feed(Side::kServer, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", 2, &out);
  p->gap(Side::kServer, 100000, 3, &out);  // sendfile: the body never passes through a buffer
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].end_ns, 3u);
  EXPECT_EQ(out[0].response_bytes, 100000u + 43u);
  // A gap inside a head: sync is lost; the next request line is found again.
  p->feed(Side::kClient, "GET /g HTTP/1.1\r\nHo", 4, &out);
  p->gap(Side::kClient, 10, 4, &out);
  p->feed(Side::kClient, "garbage\r\nGET /h HTTP/1.1\r\n\r\n", 5, &out);
  p->feed(Side::kServer, "HTTP/1.1 204 No Content\r\n\r\n", 6, &out);
  ASSERT_EQ(out.size(), 2u) << show(out);
  EXPECT_EQ(out[1].raw, "/h");
  EXPECT_EQ(out[1].status, 204);
  EXPECT_EQ(p->stats().resyncs, 1u);
  // Garbage where a response should start: counted, and the request stays unanswered.
  p->feed(Side::kClient, "GET /i HTTP/1.1\r\n\r\n", 7, &out);
  p->feed(Side::kServer, "\x16\x03\x01 binary", 8, &out);
  p->close(9, &out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[2].no_response);
  EXPECT_GE(p->stats().resyncs, 2u);
}

TEST(Http1, PendingRequestsAndBuffersAreBounded) {
  auto p = make_parser(Protocol::kHttp);
  std::vector<Record> out;
  for (size_t i = 0; i < kMaxPending + 10; i++) p->feed(Side::kClient, "GET / HTTP/1.1\r\n\r\n", i, &out);
  EXPECT_EQ(out.size(), 10u) << "the oldest flushed unanswered";
  for (const auto& r : out) EXPECT_TRUE(r.no_response);
  std::string head = "GET / HTTP/1.1\r\nX: " + std::string(kMaxBuffered, 'a');
  p->feed(Side::kClient, head, 1, &out);
  EXPECT_GE(p->stats().resyncs, 1u) << "a head that never ends is dropped";
}

namespace {
std::string resp(std::initializer_list<std::string> words) {
  std::string s = "*" + std::to_string(words.size()) + "\r\n";
  for (const auto& w : words) s += "$" + std::to_string(w.size()) + "\r\n" + w + "\r\n";
  return s;
}
const Conversation kRedis = {
    {Side::kClient, resp({"SET", "user:1", "alice"}) + resp({"get", "user:1"}) + resp({"LRANGE", "l", "0", "-1"})},
    {Side::kServer, "+OK\r\n$5\r\nalice\r\n*2\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n"},
    {Side::kClient, resp({"HGETALL", "h"})},
    {Side::kServer, "%1\r\n+k\r\n,1.5\r\n"},  // RESP3 map
    {Side::kClient, resp({"INCR", "s"})},
    {Side::kServer, "-ERR value is not an integer\r\n"},
    {Side::kClient, "PING\r\n"},  // inline
    {Side::kServer, ">2\r\n+message\r\n+x\r\n+PONG\r\n"},  // a push, then the answer
    {Side::kClient, resp({"GET", "nothing"})},
    {Side::kServer, "_\r\n"},
};
}  // namespace

TEST(Redis, PipelinesRepliesErrorsAndEveryCut) {
  auto rs = run(Protocol::kRedis, kRedis, whole);
  ASSERT_EQ(rs.size(), 7u) << show(rs);
  EXPECT_EQ(rs[0].method, "SET");
  EXPECT_EQ(rs[0].raw, "SET user:1");
  EXPECT_EQ(rs[1].method, "GET") << "commands are upper-cased";
  EXPECT_EQ(rs[2].method, "LRANGE");
  EXPECT_EQ(rs[2].response_bytes, 24u);
  EXPECT_EQ(rs[3].method, "HGETALL");
  EXPECT_EQ(rs[4].method, "INCR");
  EXPECT_TRUE(rs[4].error);
  EXPECT_EQ(rs[4].error_text, "ERR value is not an integer");
  EXPECT_EQ(rs[5].method, "PING");
  EXPECT_FALSE(rs[5].error);
  EXPECT_EQ(rs[6].method, "GET");
  EXPECT_FALSE(rs[6].no_response);
  expect_cut_invariant(Protocol::kRedis, kRedis);
}

TEST(Redis, LargeValuesSkipGapsAndGarbageResyncs) {
  auto p = make_parser(Protocol::kRedis);
  std::vector<Record> out;
  std::string big(100000, 'v');
  std::string set = resp({"SET", "k", big});
  p->feed(Side::kClient, set.substr(0, 4096), 1, &out);  // the capture's prefix ...
  p->gap(Side::kClient, set.size() - 4096, 1, &out);     // ... and the rest counted
  p->feed(Side::kServer, "+OK\r\n", 2, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].method, "SET");
  EXPECT_EQ(out[0].request_bytes, set.size());
  EXPECT_EQ(p->stats().resyncs, 0u);
  p->feed(Side::kClient, "\x01\x02garbage\r\n" + resp({"GET", "k"}), 3, &out);
  p->feed(Side::kServer, "$1\r\nv\r\n", 4, &out);
  ASSERT_EQ(out.size(), 2u) << show(out);
  EXPECT_EQ(out[1].method, "GET");
  EXPECT_EQ(p->stats().resyncs, 1u);
}

namespace {
std::string dns_query(uint16_t id, const std::string& name, uint16_t type) {
  std::string m = {char(id >> 8), char(id & 0xff), 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  size_t pos = 0;
  while (pos < name.size()) {
    size_t dot = name.find('.', pos);
    if (dot == std::string::npos) dot = name.size();
    m += char(dot - pos);
    m += name.substr(pos, dot - pos);
    pos = dot + 1;
  }
  m += '\0';
  m += {char(type >> 8), char(type & 0xff), 0, 1};
  return m;
}
std::string dns_response(std::string q, uint8_t rcode, uint16_t answers) {
  q[2] = char(0x81);
  q[3] = char(0x80 | rcode);
  q[7] = char(answers);
  for (uint16_t i = 0; i < answers; i++)  // name: pointer to the question; A; IN; ttl; 4 bytes
    q += std::string{char(0xc0), 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 9, 8, char(7 + i)};
  return q;
}
}  // namespace

TEST(Dns, DatagramsAndStreamsMatchByIdWithRcodes) {
  std::string q1 = dns_query(0x1234, "www.example.test", 1), q2 = dns_query(0x99, "nope.example.test", 28);
  Conversation udp = {{Side::kClient, q1}, {Side::kClient, q2}, {Side::kServer, dns_response(q2, 3, 0)},
                      {Side::kServer, dns_response(q1, 0, 2)}};
  auto rs = run(Protocol::kDns, udp, whole, true, false);
  ASSERT_EQ(rs.size(), 2u) << show(rs);
  EXPECT_EQ(rs[0].method, "AAAA");
  EXPECT_EQ(rs[0].target, "nope.example.test");
  EXPECT_EQ(rs[0].status, 3);
  EXPECT_TRUE(rs[0].error);
  EXPECT_EQ(rs[1].method, "A");
  EXPECT_EQ(rs[1].target, "www.example.test");
  EXPECT_EQ(rs[1].rows, 2);
  EXPECT_EQ(rs[1].addresses, (std::vector<std::string>{"10.9.8.7", "10.9.8.8"})) << "the A answers";
  EXPECT_TRUE(rs[0].addresses.empty());
  EXPECT_EQ(rs[1].start_ns, 1u);
  EXPECT_EQ(rs[1].end_ns, 4u);
  // The same over TCP: two-byte lengths, cut anywhere.
  auto framed = [](const std::string& m) { return std::string{char(m.size() >> 8), char(m.size() & 0xff)} + m; };
  Conversation tcp;
  for (const auto& [s, m] : udp) tcp.push_back({s, framed(m)});
  auto rt = run(Protocol::kDns, tcp, whole);
  ASSERT_EQ(rt.size(), 2u);
  EXPECT_EQ(rt[0].target, "nope.example.test");
  EXPECT_EQ(rt[1].request_bytes, rs[1].request_bytes + 2) << "the length prefix is on the wire";
  expect_cut_invariant(Protocol::kDns, tcp);
  // A server that reads a message's length alone first: the kernel knew the connection only
  // from the message, which comes without its length; the next ones come whole.
  Conversation bare = {{Side::kClient, q1}, {Side::kServer, framed(dns_response(q1, 0, 2))},
                       {Side::kClient, framed(q2)}, {Side::kServer, framed(dns_response(q2, 3, 0))}};
  auto rb = run(Protocol::kDns, bare, whole);
  ASSERT_EQ(rb.size(), 2u) << show(rb);
  EXPECT_EQ(rb[0].target, "www.example.test");
  EXPECT_EQ(rb[0].rows, 2);
  EXPECT_EQ(rb[0].request_bytes, q1.size() + 2) << "its length was on the wire";
  EXPECT_EQ(rb[1].status, 3);
  // A pointer loop is refused, not followed forever.
  std::string loop = q1.substr(0, 12) + std::string{char(0xc0), 12} + std::string{0, 1, 0, 1};
  auto p = make_parser(Protocol::kDns, false);
  std::vector<Record> out;
  p->feed(Side::kClient, loop, 1, &out);
  EXPECT_EQ(p->stats().resyncs, 1u);
}

TEST(Normalize, PathsAndSql) {
  EXPECT_EQ(normalize_path("/users/42/orders?x=1#f"), "/users/{id}/orders");
  EXPECT_EQ(normalize_path("http://h:8080/a/0123456789abcdef0123/b"), "/a/{hex}/b");
  EXPECT_EQ(normalize_path("/s/5e0c1f2a-3b4c-4d5e-8f90-0123456789ab"), "/s/{uuid}");
  EXPECT_EQ(normalize_path("/static/app.v2.js"), "/static/app.v2.js");
  EXPECT_EQ(normalize_path("/"), "/");
  EXPECT_EQ(normalize_sql("SELECT *  FROM t\n WHERE id = 42 AND name = 'o''brien' AND x IN (1, -2.5);"),
            "SELECT * FROM t WHERE id = ? AND name = ? AND x IN (?, ?)");
  EXPECT_EQ(normalize_sql("select a1, t2.b from t2 where c = $1"), "select a1, t2.b from t2 where c = $1");
}

TEST(Infer, FirstBytesNameTheProtocol) {
  // The ports' hints as the kernel looks them up (bpf/l7.bpf.c l7_port_hint: the peer's port,
  // then the local one), from the default table.
  std::map<uint16_t, uint8_t> hints;
  ASSERT_TRUE(sightline::sources::l7_port_hints({}, &hints));
  auto infer = [&hints](std::string_view m, uint16_t lport = 40000, uint16_t rport = 40001) {
    uint8_t peek[SL_L7_PEEK] = {};
    memcpy(peek, m.data(), std::min<size_t>(m.size(), SL_L7_PEEK));
    int kind = 0;
    auto r = hints.find(rport), l = hints.find(lport);
    uint8_t hint = r != hints.end() ? r->second : l != hints.end() ? l->second : uint8_t{SL_L7_UNKNOWN};
    uint8_t p = sl_l7_infer(peek, static_cast<uint32_t>(m.size()), hint, &kind);
    return std::make_pair(static_cast<int>(p), kind);
  };
  EXPECT_EQ(infer("GET / HTTP/1.1\r\n\r\n"), std::make_pair(int(SL_L7_HTTP), SL_L7_REQUEST));
  EXPECT_EQ(infer("HTTP/1.1 200 OK\r\n"), std::make_pair(int(SL_L7_HTTP), SL_L7_RESPONSE));
  EXPECT_EQ(infer(resp({"GET", "k"})), std::make_pair(int(SL_L7_REDIS), SL_L7_REQUEST));
  EXPECT_EQ(infer(std::string("\0\0\0\x08\x04\xd2\x16\x2f", 8)).first, SL_L7_PGSQL) << "SSLRequest";
  EXPECT_EQ(infer(std::string("Q\0\0\0\x0dselect 1\0", 14)).first, SL_L7_PGSQL);
  EXPECT_EQ(infer(std::string("\x09\0\0\0\x03select 1", 13)).first, SL_L7_MYSQL);
  EXPECT_EQ(infer("SSH-2.0-OpenSSH_9.2\r\n").first, SL_L7_UNKNOWN);
  EXPECT_EQ(infer("+OK\r\n").first, SL_L7_UNKNOWN) << "a bare reply starts nothing";
  EXPECT_EQ(infer("GE").first, SL_L7_UNKNOWN);
  // Memcached on its port: text commands and answers, binary headers; elsewhere the words are not.
  EXPECT_EQ(infer("get user:1\r\n", 40000, 11211), std::make_pair(int(SL_L7_MEMCACHED), SL_L7_REQUEST));
  EXPECT_EQ(infer("stats\r\n", 40000, 11211), std::make_pair(int(SL_L7_MEMCACHED), SL_L7_REQUEST));
  EXPECT_EQ(infer("set a_fairly_long_key 0 0 5\r\nhello\r\n", 11211, 40000).first, SL_L7_MEMCACHED);
  EXPECT_EQ(infer("VALUE k 0 5\r\nhello\r\nEND\r\n", 11211, 40000), std::make_pair(int(SL_L7_MEMCACHED), SL_L7_RESPONSE));
  EXPECT_EQ(infer("get user:1\r\n").first, SL_L7_UNKNOWN) << "Redis's inline commands look the same";
  EXPECT_EQ(infer("1 k\r\n", 40000, 11211).first, SL_L7_UNKNOWN);
  std::string bin(24, '\0');
  bin[0] = '\x80';
  EXPECT_EQ(infer(bin, 40000, 11211), std::make_pair(int(SL_L7_MEMCACHED), SL_L7_REQUEST));
  bin[5] = 1;
  EXPECT_EQ(infer(bin, 40000, 11211).first, SL_L7_UNKNOWN) << "a data type other than raw";
  // NATS: INFO and CONNECT on any port; operations on its own.
  EXPECT_EQ(infer("INFO {\"server_id\":\"x\"}\r\n"), std::make_pair(int(SL_L7_NATS), SL_L7_RESPONSE));
  EXPECT_EQ(infer("CONNECT {\"verbose\":false}\r\n"), std::make_pair(int(SL_L7_NATS), SL_L7_REQUEST));
  EXPECT_EQ(infer("PUB orders.1 5\r\nhello\r\n", 40000, 4222), std::make_pair(int(SL_L7_NATS), SL_L7_REQUEST));
  EXPECT_EQ(infer("MSG orders.1 9 5\r\nhello\r\n", 4222, 40000), std::make_pair(int(SL_L7_NATS), SL_L7_RESPONSE));
  EXPECT_EQ(infer("PUB orders.1 5\r\nhello\r\n").first, SL_L7_UNKNOWN);
  // AMQP: the protocol header anywhere; Basic frames on its port.
  EXPECT_EQ(infer(std::string("AMQP\0\0\x09\x01", 8)), std::make_pair(int(SL_L7_AMQP), SL_L7_REQUEST));
  std::string deliver = std::string("\x01\0\x01\0\0\0\x20\0\x3c\0\x3c", 11) + std::string(33, 'x');
  EXPECT_EQ(infer(deliver, 5672, 40000), std::make_pair(int(SL_L7_AMQP), SL_L7_RESPONSE));
  EXPECT_EQ(infer(deliver).first, SL_L7_UNKNOWN);
  auto dns = [](const std::string& m) {
    uint8_t peek[SL_L7_PEEK] = {};
    memcpy(peek, m.data(), std::min<size_t>(m.size(), SL_L7_PEEK));
    int kind = 0;
    return std::make_pair(static_cast<int>(sl_l7_infer_dns(peek, static_cast<uint32_t>(m.size()), &kind)), kind);
  };
  std::string q = dns_query(7, "a.example.test", 1);
  EXPECT_EQ(dns(q), std::make_pair(int(SL_L7_DNS), SL_L7_REQUEST));
  EXPECT_EQ(dns(dns_response(q, 3, 0)), std::make_pair(int(SL_L7_DNS), SL_L7_RESPONSE));
  EXPECT_EQ(dns(dns_response(q, 0, 1)).first, SL_L7_DNS);
  EXPECT_EQ(dns(std::string(40, '\x42')).first, SL_L7_UNKNOWN) << "random datagrams are not DNS";
  EXPECT_EQ(dns(q.substr(0, 16)).first, SL_L7_UNKNOWN) << "too short for a question";
  // Over TCP on any port: after its two-byte length.
  auto framed = [](const std::string& m) { return std::string{char(m.size() >> 8), char(m.size() & 0xff)} + m; };
  EXPECT_EQ(infer(framed(q)), std::make_pair(int(SL_L7_DNS), SL_L7_REQUEST));
  EXPECT_EQ(infer(framed(dns_response(q, 3, 0))), std::make_pair(int(SL_L7_DNS), SL_L7_RESPONSE));
  EXPECT_EQ(infer(framed(q).substr(0, 20)).first, SL_L7_UNKNOWN) << "the length must be the message's";
}

TEST(Infer, PortsAddProtocolsWhereTheirMessagesAreAmbiguous) {
  using sightline::sources::l7_port_hints;
  std::map<uint16_t, uint8_t> h;
  ASSERT_TRUE(l7_port_hints({}, &h));
  EXPECT_EQ(h, (std::map<uint16_t, uint8_t>{{3306, SL_L7_MYSQL}, {4222, SL_L7_NATS}, {5432, SL_L7_PGSQL},
                                            {5672, SL_L7_AMQP}, {11211, SL_L7_MEMCACHED}}));
  ASSERT_TRUE(l7_port_hints({"memcached:11311", "pgsql:6432", "nats:5432"}, &h));
  EXPECT_EQ(h[11311], SL_L7_MEMCACHED);
  EXPECT_EQ(h[6432], SL_L7_PGSQL);
  EXPECT_EQ(h[5432], SL_L7_NATS) << "an item takes a default port";
  EXPECT_EQ(h[11211], SL_L7_MEMCACHED) << "the defaults stay";
  // A text command on the configured port is Memcached's, as on 11211.
  uint8_t peek[SL_L7_PEEK] = {};
  memcpy(peek, "get k\r\n", 7);
  int kind = 0;
  EXPECT_EQ(sl_l7_infer(peek, 7, h[11311], &kind), SL_L7_MEMCACHED);
  EXPECT_EQ(sl_l7_infer(peek, 7, SL_L7_UNKNOWN, &kind), SL_L7_UNKNOWN);
  for (const auto& [items, want] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"memcached"}, "'memcached' is not protocol:port"},
           {{"memcached:"}, "is not protocol:port"},
           {{":11211"}, "is not protocol:port"},
           {{"memcached:x1"}, "is not protocol:port"},
           {{"memcached:0"}, "port 0 is not 1-65535"},
           {{"memcached:70000"}, "port 70000 is not 1-65535"},
           {{"http:8080"}, "http is not a protocol found by its port (pgsql, mysql, memcached, nats, amqp; http"},
           {{"memcached:9000", "nats:9000"}, "'nats:9000': port 9000 is given to memcached too"}}) {
    auto st = l7_port_hints(items, &h);
    ASSERT_FALSE(st) << items[0];
    EXPECT_NE(st.message().find(want), std::string::npos) << st.message();
  }
  std::vector<std::string> many;
  for (int i = 0; i < 60; i++) many.push_back("nats:" + std::to_string(20000 + i));
  auto st = l7_port_hints(many, &h);
  EXPECT_NE(st.message().find("65 ports with the defaults: at most 64"), std::string::npos) << st.message();
}

namespace {
std::string pg(char type, const std::string& payload) {
  uint32_t len = static_cast<uint32_t>(payload.size() + 4);
  return std::string(1, type) + std::string{char(len >> 24), char(len >> 16), char(len >> 8), char(len)} + payload;
}
std::string pg_startup() {
  std::string params = std::string("user\0postgres\0database\0db\0\0", 27);
  uint32_t len = static_cast<uint32_t>(params.size() + 8);
  return std::string{char(len >> 24), char(len >> 16), char(len >> 8), char(len), 0, 3, 0, 0} + params;
}
std::string z(const std::string& s) { return s + std::string(1, '\0'); }
const Conversation kPg = {
    {Side::kClient, std::string("\0\0\0\x08\x04\xd2\x16\x2f", 8)},  // SSLRequest
    {Side::kServer, "N"},
    {Side::kClient, pg_startup()},
    {Side::kServer, pg('R', std::string("\0\0\0\x0a", 4) + z("SCRAM-SHA-256") + std::string(1, '\0'))},
    {Side::kClient, pg('p', z("SCRAM-SHA-256") + "xxxx")},
    {Side::kServer, pg('R', std::string("\0\0\0\0", 4)) + pg('S', z("server_version") + z("15.8")) + pg('Z', "I")},
    {Side::kClient, pg('Q', z("SELECT * FROM users WHERE id = 42"))},
    {Side::kServer, pg('T', std::string(20, 'x')) + pg('D', std::string(30, 'r')) + pg('D', std::string(30, 'r')) +
                        pg('C', z("SELECT 2")) + pg('Z', "I")},
    {Side::kClient, pg('P', z("s1") + z("UPDATE t SET v = $1 WHERE k = 'a'") + std::string(2, '\0')) +
                        pg('B', z("") + z("s1") + std::string(6, '\0')) + pg('E', z("") + std::string(4, '\0')) + pg('S', "")},
    {Side::kServer, pg('1', "") + pg('2', "") + pg('C', z("UPDATE 3")) + pg('Z', "T")},
    {Side::kClient, pg('B', z("") + z("s1") + std::string(6, '\0')) + pg('E', z("") + std::string(4, '\0')) + pg('S', "")},
    {Side::kServer, pg('2', "") + pg('C', z("UPDATE 1")) + pg('Z', "T")},
    // PQprepare (pgbench -M prepared, once per statement and connection): Parse and Sync only
    {Side::kClient, pg('P', z("s2") + z("SELECT v FROM t WHERE k = $1") + std::string(2, '\0')) + pg('S', "")},
    {Side::kServer, pg('1', "") + pg('Z', "T")},
    {Side::kClient, pg('Q', z("SELEC oops"))},
    {Side::kServer, pg('E', "SERROR" + std::string(1, '\0') + "C42601" + std::string(1, '\0') + z("Msyntax error at or near \"SELEC\"") +
                                std::string(1, '\0')) + pg('Z', "I")},
    {Side::kClient, pg('X', "")},
};
}  // namespace

TEST(Pgsql, StartupSimpleExtendedErrorsAndEveryCut) {
  auto rs = run(Protocol::kPgsql, kPg, whole);
  ASSERT_EQ(rs.size(), 5u) << show(rs);
  EXPECT_EQ(rs[0].method, "SELECT");
  EXPECT_EQ(rs[0].target, "SELECT * FROM users WHERE id = ?");
  EXPECT_EQ(rs[0].rows, 2);
  EXPECT_EQ(rs[1].method, "UPDATE");
  EXPECT_EQ(rs[1].target, "UPDATE t SET v = $1 WHERE k = ?");
  EXPECT_EQ(rs[1].rows, 3);
  EXPECT_EQ(rs[2].raw, "UPDATE t SET v = $1 WHERE k = 'a'") << "a named statement's text, bound again";
  EXPECT_EQ(rs[2].rows, 1);
  EXPECT_EQ(rs[3].method, "PREPARE") << "a statement prepared, not run";
  EXPECT_EQ(rs[3].target, "SELECT v FROM t WHERE k = $1");
  EXPECT_TRUE(rs[4].error);
  EXPECT_EQ(rs[4].error_text, "syntax error at or near \"SELEC\"");
  expect_cut_invariant(Protocol::kPgsql, kPg);
}

TEST(Pgsql, JoinedMidConnectionAndGapsInRows) {
  auto p = make_parser(Protocol::kPgsql);
  std::vector<Record> out;
  p->feed(Side::kClient, pg('Q', z("select 1")), 1, &out);  // no startup seen
  std::string row = pg('D', std::string(5000, 'r'));
  p->feed(Side::kServer, pg('T', "x") + row.substr(0, 100), 2, &out);
  p->gap(Side::kServer, row.size() - 100, 2, &out);  // the rest of a big row, not captured
  p->feed(Side::kServer, pg('C', z("SELECT 1")) + pg('Z', "I"), 3, &out);
  ASSERT_EQ(out.size(), 1u) << show(out);
  EXPECT_EQ(out[0].method, "SELECT");
  EXPECT_EQ(out[0].rows, 1);
  EXPECT_EQ(p->stats().resyncs, 0u);
  // Garbage: resync at the next Query and ReadyForQuery.
  p->feed(Side::kClient, "\x01\x02\x03garbage" + pg('Q', z("select 2")), 4, &out);
  p->feed(Side::kServer, pg('C', z("SELECT 1")) + pg('Z', "I"), 5, &out);
  ASSERT_EQ(out.size(), 2u) << show(out);
  EXPECT_EQ(out[1].raw, "select 2");
  EXPECT_EQ(p->stats().resyncs, 1u);
}

namespace {
std::string my(uint8_t seq, const std::string& payload) {
  uint32_t n = static_cast<uint32_t>(payload.size());
  return std::string{char(n & 0xff), char((n >> 8) & 0xff), char(n >> 16), char(seq)} + payload;
}
std::string my_ok(uint8_t seq, uint8_t affected) { return my(seq, std::string{0, char(affected), 0, 2, 0, 0, 0}); }
std::string my_eof(uint8_t seq) { return my(seq, std::string{char(0xfe), 0, 0, 2, 0}); }
std::string my_col(uint8_t seq) { return my(seq, std::string("\x03" "def\x00\x01t\x01t\x01k\x01k\x0c\x3f\x00\x0b\x00\x00\x00\x03\x00\x00\x00\x00\x00", 31)); }
const Conversation kMysql = {
    {Side::kServer, my(0, "\x0a" "10.11.6-MariaDB" + std::string(60, '\x01'))},
    {Side::kClient, my(1, std::string{char(0x85), char(0xa6), 0x3f, 0x00} + std::string(40, 'u'))},  // no DEPRECATE_EOF
    {Side::kServer, my_ok(2, 0)},
    {Side::kClient, my(0, "\x03" "SELECT k FROM t WHERE k > 5")},
    {Side::kServer, my(1, "\x01") + my_col(2) + my_eof(3) + my(4, "\x01" "7") + my(5, "\x01" "9") + my_eof(6)},
    {Side::kClient, my(0, "\x03" "INSERT INTO t VALUES (1), (2)")},
    {Side::kServer, my_ok(1, 2)},
    {Side::kClient, my(0, "\x03" "SELEC oops")},
    {Side::kServer, my(1, "\xff\x28\x04#42000You have an error in your SQL syntax")},
    {Side::kClient, my(0, "\x16" "SELECT k FROM t WHERE k = ?")},
    {Side::kServer, my(1, std::string{0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0}) + my_col(2) + my_eof(3) + my_col(4) + my_eof(5)},
    {Side::kClient, my(0, std::string{0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 0, 7, 0, 0, 0})},
    {Side::kServer, my(1, "\x01") + my_col(2) + my_eof(3) + my(4, std::string{0, 0, 7, 0, 0, 0}) + my_eof(5)},
    {Side::kClient, my(0, "\x0e")},
    {Side::kServer, my_ok(1, 0)},
    {Side::kClient, my(0, "\x01")},
};
}  // namespace

TEST(Mysql, QueriesResultSetsPreparedStatementsErrorsAndEveryCut) {
  auto rs = run(Protocol::kMysql, kMysql, whole);
  ASSERT_EQ(rs.size(), 6u) << show(rs);
  EXPECT_EQ(rs[0].method, "SELECT");
  EXPECT_EQ(rs[0].target, "SELECT k FROM t WHERE k > ?");
  EXPECT_EQ(rs[0].rows, 2);
  EXPECT_EQ(rs[1].method, "INSERT");
  EXPECT_EQ(rs[1].rows, 2);
  EXPECT_TRUE(rs[2].error);
  EXPECT_EQ(rs[2].error_text, "You have an error in your SQL syntax");
  EXPECT_EQ(rs[3].method, "PREPARE");
  EXPECT_EQ(rs[4].method, "SELECT") << "the executed statement's text";
  EXPECT_EQ(rs[4].raw, "SELECT k FROM t WHERE k = ?");
  EXPECT_EQ(rs[4].rows, 1);
  EXPECT_EQ(rs[5].method, "PING");
  expect_cut_invariant(Protocol::kMysql, kMysql);
}

TEST(Mysql, GapsInRowsAreSkippedAndALostResponseWaitsForTheNextCommand) {
  auto p = make_parser(Protocol::kMysql);
  std::vector<Record> out;
  p->feed(Side::kClient, my(0, "\x03" "SELECT b FROM blobs"), 1, &out);
  std::string row = my(4, std::string("\xfc\x10\x27", 3) + std::string(10000, 'b'));
  p->feed(Side::kServer, my(1, "\x01") + my_col(2) + my_eof(3) + row.substr(0, 100), 2, &out);
  p->gap(Side::kServer, row.size() - 100, 2, &out);
  p->feed(Side::kServer, my_eof(5), 3, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].rows, 1);
  p->feed(Side::kClient, my(0, "\x03" "SELECT 1"), 4, &out);
  p->feed(Side::kServer, my(1, "\x01") + my_col(2), 5, &out);
  p->gap(Side::kServer, 50, 5, &out);  // lost between packets
  p->feed(Side::kServer, "stray bytes", 6, &out);
  p->feed(Side::kClient, my(0, "\x0e"), 7, &out);
  p->feed(Side::kServer, my_ok(1, 0), 8, &out);
  ASSERT_EQ(out.size(), 3u) << show(out);
  EXPECT_TRUE(out[1].no_response);
  EXPECT_EQ(out[2].method, "PING");
  EXPECT_EQ(p->stats().resyncs, 1u);
}

#include "core/dns_names.h"

TEST(DnsNames, LastAnswerWinsAndTheOldestIsForgotten) {
  sightline::core::DnsNames names(2);
  names.learn("10.0.0.1", "a.test");
  names.learn("10.0.0.2", "b.test");
  names.learn("10.0.0.1", "a2.test");  // answered again, for another name: the newest counts
  EXPECT_EQ(names.find("10.0.0.1"), "a2.test");
  names.learn("10.0.0.3", "c.test");   // full: the least recent (10.0.0.2) goes
  EXPECT_EQ(names.find("10.0.0.2"), "");
  EXPECT_EQ(names.find("10.0.0.3"), "c.test");
  EXPECT_EQ(names.size(), 2u);
  EXPECT_EQ(names.evicted(), 1u);
  names.learn("", "x");
  EXPECT_EQ(names.size(), 2u);
}

// The kernel's RED (bpf/l7.bpf.c) classifies messages with sightline/l7_infer.h: the same code here.
namespace {
struct Start {
  int n;
  std::string method;
};
Start request_start(uint8_t proto, std::string_view msg) {
  uint8_t p[SL_L7_PEEK] = {};
  memcpy(p, msg.data(), std::min<size_t>(msg.size(), SL_L7_PEEK));
  __u64 raw = 0;
  int n = sl_l7_request_start(proto, p, static_cast<uint32_t>(msg.size()), &raw);
  uint64_t w = sl_l7_word8(raw);
  char m[9] = {};
  memcpy(m, &w, 8);
  return {n, m};
}
int response(uint8_t proto, std::string_view msg, uint8_t* st) {
  uint8_t p[SL_L7_PEEK] = {};
  memcpy(p, msg.data(), std::min<size_t>(msg.size(), SL_L7_PEEK));
  return sl_l7_response(proto, p, static_cast<uint32_t>(msg.size()), st);
}
}  // namespace

TEST(KernelRed, RequestStartsAndTheirMethods) {
  using std::string_literals::operator""s;
  EXPECT_EQ(request_start(SL_L7_HTTP, "GET /a HTTP/1.1\r\n\r\n").method, "GET");
  EXPECT_EQ(request_start(SL_L7_HTTP, "OPTIONS * HTTP/1.1\r\n\r\n").method, "OPTIONS");
  EXPECT_EQ(request_start(SL_L7_HTTP, "hello world, a body").n, 0) << "a body continues a request";
  EXPECT_EQ(request_start(SL_L7_REDIS, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n").method, "GET");
  EXPECT_EQ(request_start(SL_L7_REDIS, "*2\r\n$6\r\nlrange\r\n").method, "LRANGE") << "upper-cased";
  EXPECT_EQ(request_start(SL_L7_REDIS, "*12\r\n$4\r\nMSET\r\n").method, "MSET");
  EXPECT_EQ(request_start(SL_L7_REDIS, "*2\r\n$10\r\nCLIENTINFO\r\n").method, "CLIENTI") << "what the 16-byte peek holds";
  EXPECT_EQ(request_start(SL_L7_REDIS, "$3\r\nabc\r\n").n, 0);
  std::string q = "Q\0\0\0\x1cselect 1 from t where k\0"s;
  EXPECT_EQ(request_start(SL_L7_PGSQL, q).method, "SELECT");
  EXPECT_EQ(request_start(SL_L7_PGSQL, "P\0\0\0\x20\0insert into t values\0"s).method, "INSERT") << "the unnamed statement";
  EXPECT_EQ(request_start(SL_L7_PGSQL, "P\0\0\0\x20P_0\0select 1\0"s).method, "PREPARE");
  EXPECT_EQ(request_start(SL_L7_PGSQL, "B\0\0\0\x10\0P_0\0\0\0\0\0\0\0\0"s).method, "EXECUTE");
  EXPECT_EQ(request_start(SL_L7_PGSQL, "S\0\0\0\x04"s).n, 0) << "Sync alone is no request";
  std::string my = "\x0d\0\0\0\x03update t set\0"s;
  my[0] = static_cast<char>(my.size() - 4);
  EXPECT_EQ(request_start(SL_L7_MYSQL, my).method, "UPDATE");
  EXPECT_EQ(request_start(SL_L7_MYSQL, "\x01\0\0\0\x01"s).n, 0) << "COM_QUIT is not answered";
  EXPECT_EQ(request_start(SL_L7_MYSQL, "\x05\0\0\x01\x03" "abcd"s).n, 0) << "sequence 1: not a command";
}

TEST(KernelRed, ResponsesAndStatus) {
  using std::string_literals::operator""s;
  uint8_t st = 0;
  EXPECT_EQ(response(SL_L7_HTTP, "HTTP/1.1 200 OK\r\n\r\n", &st), 1);
  EXPECT_EQ(st, 2);
  EXPECT_EQ(response(SL_L7_HTTP, "HTTP/1.1 503 Busy\r\n\r\n", &st), 1);
  EXPECT_EQ(st, 5);
  EXPECT_TRUE(sl_l7_status_error(SL_L7_HTTP, st));
  EXPECT_EQ(response(SL_L7_HTTP, "HTTP/1.1 100 Continue\r\n\r\n", &st), 0) << "1xx answers nothing yet";
  EXPECT_EQ(response(SL_L7_HTTP, "body bytes", &st), 0);
  EXPECT_EQ(response(SL_L7_REDIS, "-ERR wrong type\r\n", &st), 1);
  EXPECT_EQ(st, SL_L7_ST_ERROR);
  EXPECT_EQ(response(SL_L7_REDIS, "+OK\r\n", &st), 1);
  EXPECT_EQ(st, SL_L7_ST_OK);
  EXPECT_EQ(response(SL_L7_PGSQL, "1\0\0\0\x04" "2\0\0\0\x04" "E\0\0\0\x40"s, &st), 1);
  EXPECT_EQ(st, SL_L7_ST_ERROR) << "an error after ParseComplete and BindComplete";
  EXPECT_EQ(response(SL_L7_PGSQL, "2\0\0\0\x04" "D\0\0\0\x0b"s, &st), 1);
  EXPECT_EQ(st, SL_L7_ST_OK);
  EXPECT_EQ(response(SL_L7_MYSQL, "\x09\0\0\x01\xff\x15\x04#4200"s, &st), 1);
  EXPECT_EQ(st, SL_L7_ST_ERROR);
}

TEST(KernelRed, LatencyBucketsArePowersOfTwo) {
  EXPECT_EQ(sl_l7_red_bucket(0), 0u);
  EXPECT_EQ(sl_l7_red_bucket((1u << (SL_L7_RED_MIN_POW + 1)) - 1), 0u);
  EXPECT_EQ(sl_l7_red_bucket(1u << (SL_L7_RED_MIN_POW + 1)), 1u);
  EXPECT_EQ(sl_l7_red_bucket(1000000), 9u);  // 2^19 <= 1 ms < 2^20
  EXPECT_EQ(sl_l7_red_bucket(~0ULL), static_cast<uint32_t>(SL_L7_RED_BUCKETS - 1));
  // Each bucket's edges: the bounds it reaches, counted one by one.
  for (int p = 0; p < 64; p++)
    for (uint64_t v : {(1ULL << p) - 1, 1ULL << p, (1ULL << p) + 1}) {
      uint32_t want = 0;
      for (int i = SL_L7_RED_MIN_POW + 1; i < SL_L7_RED_MIN_POW + SL_L7_RED_BUCKETS; i++) want += v >= (1ULL << i);
      EXPECT_EQ(sl_l7_red_bucket(v), want) << v;
    }
}

TEST(L7MethodWord, AsTheKernelCutsIt) {
  auto word = [](const char* s) {
    uint64_t w = 0;
    for (int i = 0; i < 8 && s[i]; i++) w |= uint64_t(static_cast<unsigned char>(s[i])) << (8 * i);
    return w;
  };
  EXPECT_EQ(sightline::sources::l7_method_word("flushall"), word("FLUSHALL"));
  EXPECT_EQ(sightline::sources::l7_method_word("REPLICAOF"), word("REPLICAO"));  // 8 letters compared
  EXPECT_EQ(sightline::sources::l7_method_word("pg_sleep"), word("PG_SLEEP"));
  EXPECT_EQ(sightline::sources::l7_method_word("DROP TABLE"), word("DROP"));
  EXPECT_EQ(sightline::sources::l7_method_word("1abc"), 0u);
}

namespace {
// tests/data/http2/conversation.txt: python3-h2's bytes, one write per line ("C <hex>", "S <hex>").
Conversation h2_conversation() {
  std::ifstream in(std::string(SL_SOURCE_DIR) + "/tests/data/http2/conversation.txt");
  Conversation c;
  std::string side, hex;
  while (in >> side >> hex) {
    std::string bytes;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    c.push_back({side == "C" ? Side::kClient : Side::kServer, bytes});
  }
  return c;
}
}  // namespace

TEST(Hpack, HuffmanAndRfc7541Examples) {
  // RFC 7541 C.4.1: "www.example.com" Huffman-coded.
  std::string out;
  std::string code = "\xf1\xe3\xc2\xe5\xf2\x3a\x6b\xa0\xab\x90\xf4\xff";
  ASSERT_TRUE(hpack::huffman_decode(code, &out));
  EXPECT_EQ(out, "www.example.com");
  out.clear();
  EXPECT_FALSE(hpack::huffman_decode(std::string("\xf1\xe3\x00", 3), &out)) << "padding that is not all ones";
  // C.4.1-C.4.3: three requests on one connection, the dynamic table carried between them.
  hpack::Decoder d;
  std::vector<hpack::Header> hs;
  ASSERT_TRUE(d.decode(std::string("\x82\x86\x84\x41\x8c\xf1\xe3\xc2\xe5\xf2\x3a\x6b\xa0\xab\x90\xf4\xff", 17), &hs));
  ASSERT_EQ(hs.size(), 4u);
  EXPECT_EQ(hs[3].name, ":authority");
  EXPECT_EQ(hs[3].value, "www.example.com");
  EXPECT_EQ(d.size(), 57u);
  hs.clear();
  ASSERT_TRUE(d.decode(std::string("\x82\x86\x84\xbe\x58\x86\xa8\xeb\x10\x64\x9c\xbf", 12), &hs));
  ASSERT_EQ(hs.size(), 5u);
  EXPECT_EQ(hs[3].value, "www.example.com") << "from the dynamic table";
  EXPECT_EQ(hs[4].name, "cache-control");
  EXPECT_EQ(hs[4].value, "no-cache");
  EXPECT_EQ(d.size(), 110u);
  // An index past the table of a connection seen from its start is malformed: the table is
  // dropped, and from then on such references count as unknown.
  hs.clear();
  EXPECT_FALSE(d.decode("\xff\x10", &hs));
  EXPECT_EQ(d.stats().errors, 1u);
  hs.clear();
  EXPECT_TRUE(d.decode("\xbe", &hs));
  EXPECT_EQ(d.stats().unknown, 1u);
  // Bounds: a size update past what the peer allowed, a string cut at kMaxString.
  hpack::Decoder b;
  b.set_max_size(1 << 30);
  hs.clear();
  std::string big = std::string("\x40\x01x\x7f", 4);
  uint64_t n = 100000 - 127;  // the value's length as HPACK's integer: 127 + n in 7-bit groups
  while (n >= 128) big += static_cast<char>(0x80 | (n & 0x7f)), n >>= 7;
  big += static_cast<char>(n);
  big += std::string(100000, 'v');
  ASSERT_TRUE(b.decode(big, &hs));
  EXPECT_EQ(hs[0].value.size(), hpack::kMaxString);
  EXPECT_LE(b.memory(), hpack::kMaxTable + 1024) << "the table stays within its bound";
}

TEST(Http2, TheOpenStreamsTraceIsWhatAServerThreadServes) {
  // Thread-per-request linking: while stream 1's request (with a traceparent) waits for its
  // response, open_trace() is its trace; once the response began, no stream is open.
  Conversation c = h2_conversation();
  auto p = make_parser(Protocol::kHttp2);
  std::vector<Record> out;
  for (size_t i = 0; i < 4; i++) p->feed(c[i].first, c[i].second, i + 1, &out);
  EXPECT_EQ(p->open_trace(), nullptr) << "no request yet";
  p->feed(c[4].first, c[4].second, 5, &out);
  ASSERT_NE(p->open_trace(), nullptr);
  EXPECT_EQ(p->open_trace()->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(p->open_trace()->parent_id, "00f067aa0ba902b7");
  p->feed(c[5].first, c[5].second, 6, &out);
  EXPECT_EQ(p->open_trace(), nullptr) << "answered";
}

TEST(Http2, StreamsGrpcResetsGoawayAndEveryCut) {
  Conversation c = h2_conversation();
  ASSERT_EQ(c.size(), 20u);
  auto rs = run(Protocol::kHttp2, c, whole);
  ASSERT_EQ(rs.size(), 8u) << show(rs);
  EXPECT_EQ(rs[0].method, "GET");
  EXPECT_EQ(rs[0].target, "/users/{id}");
  EXPECT_EQ(rs[0].raw, "/users/42?full=1");
  EXPECT_EQ(rs[0].status, 200);
  EXPECT_EQ(rs[0].start_ns, 5u);
  EXPECT_EQ(rs[0].end_ns, 6u);
  EXPECT_EQ(rs[0].request_bytes, c[4].second.size()) << "the stream's frames";
  EXPECT_EQ(rs[0].response_bytes, c[5].second.size());
  EXPECT_EQ(rs[0].trace.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736") << "the traceparent";
  EXPECT_EQ(rs[0].trace.parent_id, "00f067aa0ba902b7");
  EXPECT_TRUE(rs[1].trace.trace_id.empty());
  EXPECT_EQ(rs[1].method, "POST");
  EXPECT_EQ(rs[1].status, 503);
  EXPECT_TRUE(rs[1].error);
  EXPECT_EQ(rs[2].target, "/users/{id}") << "names from the dynamic table";
  EXPECT_TRUE(rs[2].error);
  EXPECT_EQ(rs[2].error_text, "RST_STREAM CANCEL");
  EXPECT_TRUE(rs[3].grpc);
  EXPECT_EQ(rs[3].target, "/helloworld.Greeter/SayHello");
  EXPECT_EQ(rs[3].status, 0);
  EXPECT_FALSE(rs[3].error);
  EXPECT_EQ(rs[3].rows, 2) << "two response messages";
  EXPECT_TRUE(rs[4].grpc);
  EXPECT_EQ(rs[4].status, 5);
  EXPECT_TRUE(rs[4].error);
  EXPECT_EQ(rs[4].error_text, "no such user: bob");
  EXPECT_EQ(rs[5].raw, "/fast") << "streams end in their own order";
  EXPECT_EQ(rs[5].status, 404);
  EXPECT_EQ(rs[6].raw, "/slow");
  EXPECT_EQ(rs[7].raw, "/late");
  EXPECT_TRUE(rs[7].no_response);
  EXPECT_EQ(rs[7].error_text, "GOAWAY NO_ERROR");
  expect_cut_invariant(Protocol::kHttp2, c);
}

TEST(Http2, JoinedMidwayGapsAndGarbage) {
  Conversation c = h2_conversation();
  // Joined at stream 5: names that streams 1 and 3 put in the tables are unknown and counted;
  // the static table's and the literals still decode.
  auto p = make_parser(Protocol::kHttp2);
  std::vector<Record> out;
  for (size_t i = 8; i < c.size(); i++) p->feed(c[i].first, c[i].second, i + 1, &out);
  p->close(100, &out);
  ASSERT_EQ(out.size(), 8u - 2) << show(out);
  EXPECT_GT(p->stats().undecoded, 0u);
  EXPECT_EQ(out[0].error_text, "RST_STREAM CANCEL");
  EXPECT_EQ(out[1].status, 0);
  EXPECT_TRUE(out[1].grpc) << "content-type was a literal";
  EXPECT_EQ(out[1].rows, 2);
  // A gap inside a DATA frame is skipped exactly; one in a header block loses that side's
  // table (what follows is undecodable, counted), never the framing.
  auto q = make_parser(Protocol::kHttp2);
  out.clear();
  for (size_t i = 0; i < 5; i++) q->feed(c[i].first, c[i].second, i + 1, &out);
  const std::string& resp = c[5].second;  // HEADERS (19 bytes) + DATA "hello" (14)
  q->feed(Side::kServer, resp.substr(0, 19 + 9 + 2), 6, &out);
  q->gap(Side::kServer, 3, 6, &out);
  ASSERT_EQ(out.size(), 1u) << show(out);
  EXPECT_EQ(out[0].status, 200);
  EXPECT_EQ(q->stats().resyncs, 0u);
  // Garbage where a frame header should be: the side's framing is lost (counted), no crash.
  q->feed(Side::kClient, std::string("\xff\xff\xff\x09garbage!", 12), 7, &out);
  EXPECT_EQ(q->stats().resyncs, 1u);
  q->close(8, &out);
}

namespace {
std::string h2_frame(uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload) {
  std::string f{char(payload.size() >> 16), char(payload.size() >> 8), char(payload.size()), char(type), char(flags),
                char(stream >> 24), char(stream >> 16), char(stream >> 8), char(stream)};
  return f + payload;
}
}  // namespace

TEST(Http2, UpgradeFromHttp1ToH2cMakesTheRequestStreamOne) {
  // curl --http2 on http:// (RFC 7540 3.2): the HTTP/1.1 request asks for h2c; the 101 and the
  // server's SETTINGS in one write; the request's answer comes on stream 1, then a request on
  // stream 3. Stream 1 keeps the HTTP/1 request's method, path, time, bytes and traceparent.
  const std::string req =
      "GET /up/42?x=1 HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
      "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"
      "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n";
  const std::string switching = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  const std::string resp1 = h2_frame(1, 0x4, 1, "\x88") + h2_frame(0, 0x1, 1, "hello");  // :status 200, DATA
  const Conversation c = {
      {Side::kClient, req},
      {Side::kServer, switching + h2_frame(4, 0, 0, "")},
      {Side::kClient, preface + h2_frame(4, 0, 0, "")},
      {Side::kServer, h2_frame(4, 0x1, 0, "") + resp1},
      {Side::kClient, h2_frame(4, 0x1, 0, "") + h2_frame(1, 0x5, 3, std::string("\x82\x86\x04\x02/b", 6))},
      {Side::kServer, h2_frame(1, 0x5, 3, "\x8d")},  // :status 404, END_STREAM
  };
  auto p = make_parser(Protocol::kHttp);
  std::vector<Record> out;
  p->feed(c[0].first, c[0].second, 1, &out);
  EXPECT_EQ(p->switched_to(), Protocol::kUnknown);
  p->feed(c[1].first, c[1].second, 2, &out);
  EXPECT_EQ(p->switched_to(), Protocol::kHttp2) << "at the 101";
  auto rs = run(Protocol::kHttp, c, whole);
  ASSERT_EQ(rs.size(), 2u) << show(rs);
  EXPECT_EQ(rs[0].method, "GET");
  EXPECT_EQ(rs[0].target, "/up/{id}");
  EXPECT_EQ(rs[0].raw, "/up/42?x=1");
  EXPECT_EQ(rs[0].status, 200);
  EXPECT_EQ(rs[0].start_ns, 1u);
  EXPECT_EQ(rs[0].end_ns, 4u);
  EXPECT_EQ(rs[0].request_bytes, req.size());
  EXPECT_EQ(rs[0].response_bytes, switching.size() + resp1.size()) << "the 101 and stream 1's frames";
  EXPECT_EQ(rs[0].trace.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(rs[1].raw, "/b");
  EXPECT_EQ(rs[1].status, 404);
  EXPECT_EQ(rs[1].start_ns, 5u);
  expect_cut_invariant(Protocol::kHttp, c);
  // A WebSocket upgrade: the request is answered by its 101 and the rest is not parsed.
  const Conversation ws = {
      {Side::kClient, "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"},
      {Side::kServer, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi"},
      {Side::kClient, "\x81\x82\x00\x00\x00\x00hi"},
  };
  auto wr = run(Protocol::kHttp, ws, whole);
  ASSERT_EQ(wr.size(), 1u) << show(wr);
  EXPECT_EQ(wr[0].status, 101);
  // h2c's 101 with nothing waiting (the request was not seen): HTTP/2 from there, stream 1 an orphan.
  auto q = make_parser(Protocol::kHttp);
  out.clear();
  q->feed(Side::kServer, switching, 1, &out);
  q->feed(Side::kServer, resp1, 2, &out);
  q->feed(Side::kClient, preface + h2_frame(1, 0x5, 3, std::string("\x82\x86\x04\x02/b", 6)), 3, &out);
  q->feed(Side::kServer, h2_frame(1, 0x5, 3, "\x88"), 4, &out);
  ASSERT_EQ(out.size(), 1u) << show(out);
  EXPECT_EQ(out[0].raw, "/b");
  EXPECT_EQ(q->stats().orphans, 2u) << "the 101 and stream 1's answer";
}

TEST(TraceContext, TraceparentOfHttp1RequestsValidatedAsW3CSays) {
  TraceContext t;
  EXPECT_TRUE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &t));
  EXPECT_EQ(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(t.parent_id, "00f067aa0ba902b7");
  EXPECT_TRUE(t.sampled);
  TraceContext u;
  EXPECT_FALSE(parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01", &u)) << "all-zero trace id";
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", &u)) << "all-zero parent";
  EXPECT_FALSE(parse_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", &u)) << "upper case";
  EXPECT_FALSE(parse_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &u)) << "version ff";
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", &u)) << "version 00 is 55 bytes";
  EXPECT_TRUE(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-later", &u)) << "a later version's extra field";
  EXPECT_FALSE(u.sampled);
  EXPECT_FALSE(parse_traceparent("garbage", &u));
  // In HTTP/1 requests: the header by any case; a request without one has none.
  Conversation c = {
      {Side::kClient, "GET /a HTTP/1.1\r\nTraceParent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n"},
      {Side::kServer, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
      {Side::kClient, "GET /b HTTP/1.1\r\n\r\n"},
      {Side::kServer, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}};
  auto rs = run(Protocol::kHttp, c, whole);
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].trace.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(rs[0].trace.parent_id, "00f067aa0ba902b7");
  EXPECT_TRUE(rs[1].trace.trace_id.empty());
  expect_cut_invariant(Protocol::kHttp, c);
}

namespace {
const Conversation kMemcached = {
    {Side::kClient, "set user:1 0 0 5\r\nalice\r\n"},
    {Side::kServer, "STORED\r\n"},
    {Side::kClient, "get user:1 user:2\r\n"},
    {Side::kServer, "VALUE user:1 0 5\r\nalice\r\nEND\r\n"},
    {Side::kClient, "gets user:9\r\n"},
    {Side::kServer, "END\r\n"},
    {Side::kClient, "set big 0 0 12 noreply\r\nhello\r\nworld\r\n"},  // a CRLF inside the data
    {Side::kClient, "incr counter 1\r\ndelete user:1\r\n"},            // pipelined
    {Side::kServer, "NOT_FOUND\r\nDELETED\r\n"},
    {Side::kClient, "bogus\r\n"},
    {Side::kServer, "ERROR\r\n"},
    {Side::kClient, "stats\r\n"},
    {Side::kServer, "STAT pid 7\r\nSTAT uptime 9\r\nEND\r\n"},
    {Side::kClient, "quit\r\n"},
};
}  // namespace

TEST(Memcached, StorageRetrievalHitsMissesNoreplyAndEveryCut) {
  auto rs = run(Protocol::kMemcached, kMemcached, whole);
  ASSERT_EQ(rs.size(), 9u) << show(rs);
  EXPECT_EQ(rs[8].method, "QUIT");
  EXPECT_FALSE(rs[8].no_response) << "the server closes: no answer is due";
  EXPECT_EQ(rs[0].method, "SET");
  EXPECT_EQ(rs[0].raw, "SET user:1");
  EXPECT_EQ(rs[1].method, "GET");
  EXPECT_EQ(rs[1].rows, 1) << "one value of two keys";
  EXPECT_EQ(rs[1].status, 1) << "a hit";
  EXPECT_EQ(rs[2].rows, 0);
  EXPECT_EQ(rs[2].status, 2) << "a miss";
  EXPECT_EQ(rs[3].raw, "SET big") << "noreply: done at the command";
  EXPECT_FALSE(rs[3].no_response);
  EXPECT_EQ(rs[4].method, "INCR");
  EXPECT_EQ(rs[5].method, "DELETE");
  EXPECT_FALSE(rs[5].error);
  EXPECT_EQ(rs[6].method, "BOGUS");
  EXPECT_TRUE(rs[6].error) << "an unknown command: ERROR";
  EXPECT_EQ(rs[7].method, "STATS");
  expect_cut_invariant(Protocol::kMemcached, kMemcached);
}

namespace {
// A binary protocol message (protocol_binary.h): magic, opcode, key length, extras length, data
// type, vbucket or status, body length, opaque, cas; then extras, key, value.
std::string mc_bin(bool request, uint8_t op, uint16_t status, uint32_t opaque, std::string_view extras,
                   std::string_view key, std::string_view value) {
  std::string m(24, '\0');
  m[0] = static_cast<char>(request ? 0x80 : 0x81);
  m[1] = static_cast<char>(op);
  m[2] = static_cast<char>(key.size() >> 8), m[3] = static_cast<char>(key.size());
  m[4] = static_cast<char>(extras.size());
  m[6] = static_cast<char>(status >> 8), m[7] = static_cast<char>(status);
  uint32_t body = static_cast<uint32_t>(extras.size() + key.size() + value.size());
  for (int i = 0; i < 4; i++) m[8 + i] = static_cast<char>(body >> (24 - 8 * i));
  for (int i = 0; i < 4; i++) m[12 + i] = static_cast<char>(opaque >> (24 - 8 * i));
  return m + std::string(extras) + std::string(key) + std::string(value);
}
}  // namespace

TEST(Memcached, BinaryProtocolQuietGetsAndErrorsAndEveryCut) {
  std::string flags(4, '\0'), set_extras(8, '\0');
  Conversation c = {
      {Side::kClient, mc_bin(true, 0x01, 0, 1, set_extras, "k1", "hello")},
      {Side::kServer, mc_bin(false, 0x01, 0, 1, "", "", "")},
      // A multi-get as libmemcached sends it: quiet gets and a noop, in one write.
      {Side::kClient, mc_bin(true, 0x0d, 0, 2, "", "k1", "") + mc_bin(true, 0x0d, 0, 3, "", "k9", "") +
                          mc_bin(true, 0x0a, 0, 4, "", "", "")},
      {Side::kServer, mc_bin(false, 0x0d, 0, 2, flags, "k1", "hello") + mc_bin(false, 0x0a, 0, 4, "", "", "")},
      {Side::kClient, mc_bin(true, 0x00, 0, 5, "", "zz", "")},
      {Side::kServer, mc_bin(false, 0x00, 1, 5, "", "", "Not found")},
      {Side::kClient, mc_bin(true, 0x50, 0, 6, "", "", "")},
      {Side::kServer, mc_bin(false, 0x50, 0x81, 6, "", "", "Unknown command")},
      {Side::kClient, mc_bin(true, 0x10, 0, 7, "", "", "")},
      {Side::kServer, mc_bin(false, 0x10, 0, 7, "", "pid", "7") + mc_bin(false, 0x10, 0, 7, "", "uptime", "9") +
                          mc_bin(false, 0x10, 0, 7, "", "", "")},
      // libmemcached's quit: the server answers, the client closes without reading it.
      {Side::kClient, mc_bin(true, 0x07, 0, 8, "", "", "")},
      {Side::kServer, mc_bin(false, 0x07, 0, 8, "", "", "")},
  };
  auto rs = run(Protocol::kMemcached, c, whole);
  ASSERT_EQ(rs.size(), 8u) << show(rs);
  EXPECT_EQ(rs[7].method, "QUIT");
  EXPECT_FALSE(rs[7].no_response);
  auto parser = make_parser(Protocol::kMemcached);
  std::vector<Record> out;
  for (const auto& [side, bytes] : c) parser->feed(side, bytes, 1, &out);
  EXPECT_EQ(parser->stats().orphans, 0u) << "the quit's answer is not an orphan";
  EXPECT_EQ(rs[0].raw, "SET k1");
  EXPECT_FALSE(rs[0].error);
  EXPECT_EQ(rs[0].request_bytes, 24u + 8 + 2 + 5);
  EXPECT_EQ(rs[1].raw, "GET k1");
  EXPECT_EQ(rs[1].status, 1) << "a hit";
  EXPECT_EQ(rs[2].raw, "GET k9");
  EXPECT_EQ(rs[2].status, 2) << "a quiet get left unanswered before the noop's answer: a miss";
  EXPECT_FALSE(rs[2].no_response);
  EXPECT_EQ(rs[3].method, "NOOP");
  EXPECT_EQ(rs[4].status, 2) << "not found: a miss, not an error";
  EXPECT_FALSE(rs[4].error);
  EXPECT_TRUE(rs[5].error);
  EXPECT_EQ(rs[5].error_text, "Unknown command");
  EXPECT_EQ(rs[6].method, "STATS");
  EXPECT_EQ(rs[6].response_bytes, 3u * 24 + 3 + 1 + 6 + 1);
  expect_cut_invariant(Protocol::kMemcached, c);
}

TEST(Nats, MessagesEachWayHeadersErrorsAndEveryCut) {
  const Conversation c = {
      {Side::kServer, "INFO {\"server_id\":\"NB\",\"version\":\"2.9.10\",\"max_payload\":1048576}\r\n"},
      {Side::kClient, "CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n"},
      {Side::kServer, "PONG\r\n"},
      {Side::kClient, "SUB orders.* 1\r\n"},
      {Side::kClient, "PUB orders.42 5\r\nhello\r\n"},
      {Side::kServer, "MSG orders.42 1 5\r\nhello\r\n"},
      {Side::kClient, "HPUB orders.43 reply.1 12 17\r\nNATS/1.0\r\n\r\nhello\r\n"},
      {Side::kServer, "HMSG orders.43 1 reply.1 12 17\r\nNATS/1.0\r\n\r\nhello\r\n"},
      {Side::kClient, "pub big 10\r\nab\r\ncd\r\nef\r\nUNSUB 1\r\n"},  // a CRLF inside the payload
      {Side::kServer, "-ERR 'Permissions Violation for Publish to \"big\"'\r\n"},
  };
  auto rs = run(Protocol::kNats, c, whole);
  ASSERT_EQ(rs.size(), 7u) << show(rs);
  EXPECT_EQ(rs[0].method, "SUB");
  EXPECT_EQ(rs[0].target, "orders.*");
  EXPECT_EQ(rs[1].method, "PUB");
  EXPECT_EQ(rs[1].raw, "PUB orders.42");
  EXPECT_EQ(rs[1].target, "orders.{id}");
  EXPECT_EQ(rs[1].request_bytes, 24u);
  EXPECT_FALSE(rs[1].delivery);
  EXPECT_FALSE(rs[1].no_response) << "a message is whole when sent: nothing answers it";
  EXPECT_EQ(rs[2].method, "MSG");
  EXPECT_TRUE(rs[2].delivery);
  EXPECT_EQ(rs[2].request_bytes, 26u);
  EXPECT_EQ(rs[3].raw, "MSG orders.43") << "HMSG (on orders.43, not the reply subject)";
  EXPECT_EQ(rs[4].raw, "PUB big");
  EXPECT_TRUE(rs[5].error);
  EXPECT_EQ(rs[5].error_text, "Permissions Violation for Publish to \"big\"");
  EXPECT_EQ(rs[6].raw, "PUB orders.43") << "HPUB with a reply subject: a request";
  EXPECT_EQ(rs[6].method, "REQ");
  EXPECT_TRUE(rs[6].no_response) << "no reply came before the close";
  expect_cut_invariant(Protocol::kNats, c);
}

// Request-reply: a PUB with a reply subject is answered by the MSG on that subject (the
// requester's inbox); requests answered out of order, one never answered, a plain PUB between.
TEST(Nats, RequestsAreAnsweredByTheMessageOnTheirReplySubject) {
  const Conversation c = {
      {Side::kClient, "SUB _INBOX.abc.* 7\r\n"},
      {Side::kClient, "PUB svc.users.get _INBOX.abc.1 2\r\n42\r\nPUB svc.users.get _INBOX.abc.2 2\r\n43\r\n"},
      {Side::kClient, "PUB svc.audit 1\r\nx\r\nHPUB svc.slow _INBOX.abc.3 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"},
      {Side::kServer, "MSG _INBOX.abc.2 7 5\r\nbob!!\r\n"},
      {Side::kServer, "MSG _INBOX.abc.1 7 6\r\nalice!\r\n"},
      {Side::kServer, "MSG other.subject 9 1\r\nz\r\n"},
  };
  auto rs = run(Protocol::kNats, c, whole);
  ASSERT_EQ(rs.size(), 6u) << show(rs);
  EXPECT_EQ(rs[0].method, "SUB");
  EXPECT_EQ(rs[1].raw, "PUB svc.audit");
  EXPECT_EQ(rs[1].method, "PUB");
  EXPECT_EQ(rs[2].method, "REQ");
  EXPECT_EQ(rs[2].target, "svc.users.get");
  EXPECT_EQ(rs[2].response_bytes, 22u + 7) << "the second request, answered first";
  EXPECT_FALSE(rs[2].no_response);
  EXPECT_GT(rs[2].end_ns, rs[2].start_ns);
  EXPECT_EQ(rs[3].method, "REQ");
  EXPECT_EQ(rs[3].response_bytes, 22u + 8);
  EXPECT_EQ(rs[4].raw, "MSG other.subject");
  EXPECT_TRUE(rs[4].delivery);
  EXPECT_EQ(rs[5].raw, "PUB svc.slow");
  EXPECT_TRUE(rs[5].no_response) << "never answered";
  expect_cut_invariant(Protocol::kNats, c);
}

namespace {
// AMQP 0-9-1 frames: a method (class, id, arguments), a content header (body size), a body.
std::string amqp_frame(uint8_t type, uint16_t ch, const std::string& payload) {
  uint32_t n = static_cast<uint32_t>(payload.size());
  return std::string{char(type), char(ch >> 8), char(ch), char(n >> 24), char(n >> 16), char(n >> 8), char(n)} + payload + "\xce";
}
std::string amqp_method(uint16_t ch, uint16_t cls, uint16_t id, const std::string& args) {
  return amqp_frame(1, ch, std::string{char(cls >> 8), char(cls), char(id >> 8), char(id)} + args);
}
std::string sstr(std::string_view s) { return std::string(1, char(s.size())) + std::string(s); }
std::string amqp_content(uint16_t ch, const std::vector<std::string>& bodies) {
  uint64_t size = 0;
  for (const auto& b : bodies) size += b.size();
  std::string h = {0, 60, 0, 0};
  for (int i = 7; i >= 0; i--) h += char(size >> (8 * i));
  h += std::string(2, '\0');  // no properties
  std::string out = amqp_frame(2, ch, h);
  for (const auto& b : bodies) out += amqp_frame(3, ch, b);
  return out;
}
const std::string kR = std::string(2, '\0'), kTable = std::string(4, '\0');
std::string u32(uint32_t n) { return std::string{char(n >> 24), char(n >> 16), char(n >> 8), char(n)}; }
// A one-frame body with properties: content-type, a headers table, delivery-mode.
std::string amqp_content_with(uint16_t ch, const std::string& body, const std::string& headers) {
  std::string h = {0, 60, 0, 0};
  for (int i = 7; i >= 0; i--) h += char(uint64_t(body.size()) >> (8 * i));
  h += std::string("\xb0\x00", 2) + sstr("application/json") + u32(uint32_t(headers.size())) + headers + "\x02";
  return amqp_frame(2, ch, h) + amqp_frame(3, ch, body);
}
}  // namespace

TEST(Amqp, MessagesCallsErrorsAndEveryCut) {
  std::string tag8 = std::string(7, '\0') + "\x01";
  const Conversation c = {
      {Side::kClient, std::string("AMQP\0\0\x09\x01", 8)},
      {Side::kServer, amqp_method(0, 10, 10, std::string("\x00\x09", 2) + kTable + std::string(4, '\0') + std::string(4, '\0'))},
      {Side::kClient, amqp_method(0, 10, 11, kTable + sstr("PLAIN") + std::string(4, '\0') + sstr("en_US"))},
      {Side::kClient, amqp_method(1, 20, 10, sstr(""))},
      {Side::kServer, amqp_method(1, 20, 11, std::string(4, '\0'))},
      {Side::kClient, amqp_method(1, 50, 10, kR + sstr("orders") + std::string(1, '\0') + kTable)},
      {Side::kServer, amqp_method(1, 50, 11, sstr("orders") + std::string(8, '\0'))},
      {Side::kClient, amqp_method(1, 60, 40, kR + sstr("") + sstr("orders.42") + std::string(1, '\0')) + amqp_content(1, {"hello"})},
      {Side::kClient, amqp_method(1, 60, 40, kR + sstr("events") + sstr("user.7.created") + std::string(1, '\0')) +
                          amqp_content(1, {"hel", "lo"})},
      {Side::kClient, amqp_method(1, 60, 20, kR + sstr("orders") + sstr("") + std::string(1, '\0') + kTable)},
      {Side::kServer, amqp_method(1, 60, 21, sstr("ctag1"))},
      {Side::kServer, amqp_method(1, 60, 60, sstr("ctag1") + tag8 + std::string(1, '\0') + sstr("") + sstr("orders.42")) +
                          amqp_content(1, {"hello"})},
      {Side::kClient, amqp_method(1, 60, 80, tag8 + std::string(1, '\0'))},
      {Side::kClient, amqp_method(1, 60, 70, kR + sstr("orders") + std::string(1, '\0'))},
      {Side::kServer, amqp_method(1, 60, 72, sstr(""))},
      {Side::kClient, amqp_method(2, 50, 10, kR + sstr("nope") + std::string(1, '\x01') + kTable)},
      {Side::kServer, amqp_method(2, 20, 40, std::string("\x01\x94", 2) + sstr("NOT_FOUND - no queue 'nope'") + std::string("\0\x32\0\x0a", 4))},
      {Side::kClient, amqp_method(2, 20, 41, "")},
      {Side::kClient, amqp_method(1, 60, 70, kR + sstr("orders") + std::string(1, '\0'))},
      {Side::kServer, amqp_method(1, 60, 71, tag8 + std::string(1, '\0') + sstr("") + sstr("orders.42") + std::string(4, '\0')) +
                          amqp_content(1, {"hello"})},
      {Side::kClient, amqp_frame(8, 0, "")},
  };
  auto rs = run(Protocol::kAmqp, c, whole);
  ASSERT_EQ(rs.size(), 9u) << show(rs);
  EXPECT_EQ(rs[0].raw, "QUEUE.DECLARE orders");
  EXPECT_FALSE(rs[0].no_response);
  EXPECT_EQ(rs[1].method, "PUBLISH");
  EXPECT_EQ(rs[1].target, "orders.{id}");
  EXPECT_EQ(rs[1].request_bytes, 26u + 22 + 13) << "the method, header and body frames";
  EXPECT_EQ(rs[2].target, "events:user.{id}.created");
  EXPECT_EQ(rs[3].raw, "CONSUME orders");
  EXPECT_EQ(rs[4].method, "DELIVER");
  EXPECT_TRUE(rs[4].delivery);
  EXPECT_EQ(rs[4].target, "orders.{id}");
  EXPECT_EQ(rs[5].method, "ACK");
  EXPECT_FALSE(rs[5].delivery);
  EXPECT_EQ(rs[6].method, "GET");
  EXPECT_EQ(rs[6].rows, 0) << "Get-Empty";
  EXPECT_EQ(rs[7].raw, "QUEUE.DECLARE nope");
  EXPECT_TRUE(rs[7].error);
  EXPECT_EQ(rs[7].status, 404);
  EXPECT_EQ(rs[7].error_text, "NOT_FOUND - no queue 'nope'");
  EXPECT_EQ(rs[8].method, "GET");
  EXPECT_EQ(rs[8].rows, 1) << "Get-Ok with its message";
  EXPECT_FALSE(rs[8].no_response);
  expect_cut_invariant(Protocol::kAmqp, c);
}

TEST(Amqp, QueuesTheBrokerNamedAreOneTarget) {
  // RPC replies: each client consumes from a queue RabbitMQ named (amq.gen-<22 characters>), and
  // the server publishes to it by the default exchange: one series, however many clients.
  Conversation c = {{Side::kClient, std::string("AMQP\0\0\x09\x01", 8)}};
  for (const char* q : {"amq.gen-JzTY20BRgKO-HjmUJj0wLg", "amq.gen-Q8zL1wYx4v2kN0pR7sT3uA"}) {
    c.push_back({Side::kClient, amqp_method(1, 60, 20, kR + sstr(q) + sstr("") + std::string(1, '\0') + kTable)});
    c.push_back({Side::kServer, amqp_method(1, 60, 21, sstr("ctag"))});
    c.push_back({Side::kClient, amqp_method(1, 60, 40, kR + sstr("") + sstr(q) + std::string(1, '\0')) + amqp_content(1, {"r"})});
  }
  auto rs = run(Protocol::kAmqp, c, whole);
  ASSERT_EQ(rs.size(), 4u) << show(rs);
  for (int i : {0, 2}) EXPECT_EQ(rs[i].raw, "CONSUME amq.gen-{queue}") << show(rs);
  for (int i : {1, 3}) EXPECT_EQ(rs[i].target, "amq.gen-{queue}") << show(rs);
}

TEST(Amqp, AMessagesTraceparentHeaderIsItsTraceContext) {
  const std::string tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  // Values of every size before it (a nested table, an array, a decimal, a long string); a
  // message without headers, one whose traceparent is not valid.
  std::string headers = sstr("x-retries") + "I" + u32(3) + sstr("ok") + "t\x01" + sstr("nested") + "F" + u32(5) +
                        sstr("a") + "s" + std::string(2, '\0') + sstr("list") + "A" + u32(2) + "V" +
                        "V" + sstr("price") + "D" + std::string(5, '\x01') + sstr("who") + "S" + u32(4) + "carl" +
                        sstr("traceparent") + "S" + u32(uint32_t(tp.size())) + tp;
  std::string bad = sstr("traceparent") + "S" + u32(9) + "not-valid";
  const Conversation c = {
      {Side::kClient, std::string("AMQP\0\0\x09\x01", 8)},
      {Side::kClient, amqp_method(1, 60, 40, kR + sstr("") + sstr("orders") + std::string(1, '\0')) + amqp_content_with(1, "{}", headers)},
      {Side::kServer, amqp_method(1, 60, 60, sstr("ctag") + std::string(7, '\0') + "\x01" + std::string(1, '\0') + sstr("") +
                                                 sstr("orders")) + amqp_content_with(1, "{}", headers)},
      {Side::kClient, amqp_method(1, 60, 40, kR + sstr("") + sstr("orders") + std::string(1, '\0')) + amqp_content(1, {"x"})},
      {Side::kClient, amqp_method(1, 60, 40, kR + sstr("") + sstr("orders") + std::string(1, '\0')) + amqp_content_with(1, "{}", bad)},
  };
  auto rs = run(Protocol::kAmqp, c, whole);
  ASSERT_EQ(rs.size(), 4u) << show(rs);
  for (int i : {0, 1}) {
    EXPECT_EQ(rs[i].trace.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736") << i;
    EXPECT_EQ(rs[i].trace.parent_id, "00f067aa0ba902b7") << i;
  }
  EXPECT_EQ(rs[1].method, "DELIVER");
  EXPECT_TRUE(rs[2].trace.trace_id.empty()) << "no properties";
  EXPECT_TRUE(rs[3].trace.trace_id.empty()) << "an invalid traceparent";
  expect_cut_invariant(Protocol::kAmqp, c);
}
