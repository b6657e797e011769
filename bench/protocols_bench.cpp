// L7 parser throughput, MB/s on one core: keep-alive HTTP/1 exchanges, the same request and
// response as HTTP/2 streams (HPACK, a new stream each), pipelined Redis commands, DNS
// datagrams and Memcached text commands, fed as the kernel hands them over (one message per syscall). Run:
// build/bench/protocols_bench
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "protocols/protocol.h"

using namespace sightline::protocols;

namespace {

void run(benchmark::State& state, Protocol p, bool stream, const std::vector<std::pair<Side, std::string>>& conv) {
  auto parser = make_parser(p, stream);
  std::vector<Record> out;
  uint64_t bytes = 0, ts = 0, records = 0;
  for (auto _ : state) {
    for (const auto& [side, m] : conv) {
      parser->feed(side, m, ++ts, &out);
      bytes += m.size();
    }
    records += out.size();
    out.clear();
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["records/s"] = benchmark::Counter(static_cast<double>(records), benchmark::Counter::kIsRate);
}

void Http1(benchmark::State& state) {
  run(state, Protocol::kHttp, true,
      {{Side::kClient, "GET /api/users/42/orders?page=2 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: wrk\r\n"
                       "Accept: */*\r\nConnection: keep-alive\r\n\r\n"},
       {Side::kServer, "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 02 Dec 2026 02:00:00 GMT\r\n"
                       "Content-Type: application/json\r\nContent-Length: 27\r\nConnection: keep-alive\r\n\r\n"
                       "{\"orders\":[1,2,3],\"more\":0}"}});
}
BENCHMARK(Http1);

// The HTTP/1 exchange above as HTTP/2: HEADERS (static-table pseudo-headers, literals without
// indexing) then HEADERS and DATA, each exchange on the next stream of one connection.
void Http2(benchmark::State& state) {
  auto lit = [](uint8_t index_prefix, std::initializer_list<uint8_t> index_rest, std::string_view v) {
    std::string o(1, static_cast<char>(index_prefix));
    for (uint8_t b : index_rest) o += static_cast<char>(b);
    o += static_cast<char>(v.size());
    o += v;
    return o;
  };
  auto frame = [](uint8_t type, uint8_t flags, const std::string& payload) {
    size_t n = payload.size();
    return std::string{char(n >> 16), char(n >> 8), char(n), char(type), char(flags), 0, 0, 0, 0} + payload;
  };
  std::string req = std::string("\x82\x86", 2) + lit(0x04, {}, "/api/users/42/orders?page=2") + lit(0x01, {}, "shop.example") +
                    lit(0x0f, {0x2b}, "wrk") + lit(0x0f, {0x04}, "*/*");  // user-agent (58), accept (19)
  std::string resp = std::string("\x88", 1) + lit(0x0f, {0x27}, "nginx/1.22.1") + lit(0x0f, {0x12}, "Wed, 02 Dec 2026 02:00:00 GMT") +
                     lit(0x0f, {0x10}, "application/json") + lit(0x0f, {0x0d}, "27");  // server 54, date 33, content-type 31, content-length 28
  std::string client = frame(1, 0x5, req);  // END_STREAM | END_HEADERS
  std::string server = frame(1, 0x4, resp) + frame(0, 0x1, "{\"orders\":[1,2,3],\"more\":0}");
  auto parser = make_parser(Protocol::kHttp2);
  std::vector<Record> out;
  parser->feed(Side::kClient, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0, &out);
  uint64_t bytes = 0, ts = 0, records = 0;
  uint32_t id = 1;
  auto set_id = [](std::string& f, size_t at, uint32_t v) {
    f[at + 5] = char((v >> 24) & 0x7f), f[at + 6] = char(v >> 16), f[at + 7] = char(v >> 8), f[at + 8] = char(v);
  };
  for (auto _ : state) {
    set_id(client, 0, id);
    set_id(server, 0, id);
    set_id(server, 9 + resp.size(), id);
    id = id >= 0x7ffffffd ? 1 : id + 2;
    parser->feed(Side::kClient, client, ++ts, &out);
    parser->feed(Side::kServer, server, ++ts, &out);
    bytes += client.size() + server.size();
    records += out.size();
    out.clear();
  }
  if (records * 2 < static_cast<uint64_t>(state.iterations())) state.SkipWithError("streams were not paired");
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["records/s"] = benchmark::Counter(static_cast<double>(records), benchmark::Counter::kIsRate);
}
BENCHMARK(Http2);

void Redis(benchmark::State& state) {
  run(state, Protocol::kRedis, true,
      {{Side::kClient, "*3\r\n$3\r\nSET\r\n$8\r\nuser:123\r\n$5\r\nalice\r\n*2\r\n$3\r\nGET\r\n$8\r\nuser:123\r\n"},
       {Side::kServer, "+OK\r\n$5\r\nalice\r\n"}});
}
BENCHMARK(Redis);

void Dns(benchmark::State& state) {
  std::string q = {0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1};
  std::string r = q;
  r[2] = char(0x81), r[3] = char(0x80), r[7] = 1;
  r += std::string{char(0xc0), 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 93, char(184), char(216), 34};
  run(state, Protocol::kDns, false, {{Side::kClient, q}, {Side::kServer, r}});
}
BENCHMARK(Dns);

// Memcached's text protocol as pymemcache speaks it: a set and a get that hits.
void Memcached(benchmark::State& state) {
  run(state, Protocol::kMemcached, true,
      {{Side::kClient, "set user:123 0 0 5\r\nalice\r\n"}, {Side::kServer, "STORED\r\n"},
       {Side::kClient, "get user:123\r\n"}, {Side::kServer, "VALUE user:123 0 5\r\nalice\r\nEND\r\n"}});
}
BENCHMARK(Memcached);

}  // namespace

BENCHMARK_MAIN();
