// L7 parser throughput, MB/s on one core: keep-alive HTTP/1 exchanges, pipelined Redis commands
// and DNS datagrams, fed as the kernel hands them over (one message per syscall). Run:
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

}  // namespace

BENCHMARK_MAIN();
