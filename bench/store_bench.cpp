// Sustained insert rate of the embedded store: events pushed from one thread as fast as it can
// through the bounded queue to the writer, timed to the last commit, per kind of row. The
// agent's stored kinds arrive far slower than this at full load (see docs/design.md, store).
// Then history: bytes per stored request row, and how many days the 1 GiB default holds at the
// full load we measured (97k exchanges/s: both sides of each, 1 in 16 sent to user space),
// with the store's per-endpoint rows and without them, for a few error rates.
//   build/bench/store_bench [ROWS]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "store/store.h"

using namespace sightline;

namespace {

core::Event exec_event(uint32_t i) {
  core::Event e;
  e.kind = core::EventKind::kExec;
  e.ts_wall_ns = core::now_wall_ns();
  e.pid = 1000 + i;
  e.tid = e.pid;
  e.ppid = 1;
  e.comm = "bash";
  e.exe = "/usr/bin/bash";
  e.path = "/usr/bin/curl";
  static const char argv[] = "curl\0-s\0http://127.0.0.1:8080/api/v1/users/12345\0";
  e.args = std::string_view(argv, sizeof argv - 1);
  e.args_count = 3;
  return e;
}

core::Event request_event(uint32_t i) {
  core::Event e;
  e.kind = core::EventKind::kRequest;
  e.ts_wall_ns = core::now_wall_ns();
  e.pid = 2000 + i % 64;
  e.comm = "nginx";
  e.laddr = "127.0.0.1";
  e.raddr = "127.0.0.1";
  e.lport = 80;
  e.rport = static_cast<uint16_t>(30000 + i % 20000);
  e.role = 2;
  e.protocol = "http";
  e.method = "GET";
  e.target = "/api/v1/users/{id}";
  e.request = "GET /api/v1/users/12345 HTTP/1.1";
  e.status = 200;
  e.duration_ns = 120000;
  e.request_bytes = 90;
  e.response_bytes = 612;
  return e;
}

struct Result {
  double seconds, rows_per_s;
  uint64_t written, dropped;
};

Result run(const std::string& path, core::Event (*make)(uint32_t), uint32_t rows, size_t queue_rows) {
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  store::StoreOptions o;
  o.path = path;
  o.queue_rows = queue_rows;
  o.queue_bytes = 1ULL << 40;
  o.kinds = {core::EventKind::kExec, core::EventKind::kRequest};
  std::unique_ptr<store::Store> s;
  if (auto st = store::Store::open(o, &s); !st) {
    fprintf(stderr, "%s\n", st.message().c_str());
    exit(1);
  }
  auto t0 = std::chrono::steady_clock::now();
  for (uint32_t i = 0; i < rows; i++) {
    core::Event e = make(i);
    s->on_event(e);
  }
  s->flush();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto st = s->stats();
  uint64_t written = 0;
  for (auto w : st.rows_written) written += w;
  return {secs, static_cast<double>(written) / secs, written, st.rows_dropped};
}

std::unique_ptr<store::Store> open_fresh(const std::string& path, store::StoreOptions o) {
  for (const char* ext : {"", "-wal", "-shm"}) std::filesystem::remove(path + ext);
  o.path = path;
  o.queue_bytes = 1ULL << 40;
  o.queue_rows = SIZE_MAX;
  o.kinds = {core::EventKind::kRequest};
  std::unique_ptr<store::Store> s;
  if (auto st = store::Store::open(o, &s); !st) {
    fprintf(stderr, "%s\n", st.message().c_str());
    exit(1);
  }
  return s;
}

// Bytes of the file (after the WAL is folded in at close) per request row.
double bytes_per_request_row(const std::string& path, uint32_t rows) {
  {
    auto s = open_fresh(path, {});
    for (uint32_t i = 0; i < rows; i++) {
      core::Event e = request_event(i);
      s->on_event(e);
    }
  }
  return static_cast<double>(std::filesystem::file_size(path)) / rows;
}

// `seconds` of full load on `routes` routes (client and server side each: two endpoints a
// route), events timed on the events' own clock; returns request rows stored per second.
double rows_per_second_at_full_load(const std::string& path, double per_endpoint, double error_share,
                                    uint32_t routes, uint32_t seconds) {
  store::StoreOptions o;
  o.max_event_rows_per_s = 2000;  // the default
  o.rows_per_endpoint_per_s = per_endpoint;
  if (per_endpoint > 0)  // the agent's shared budget: 1 GiB over 7 days at 256 bytes a row
    o.request_rows_per_s = static_cast<double>(o.max_bytes) / static_cast<double>(o.max_age_s) / 256.0;
  auto s = open_fresh(path, o);
  constexpr uint64_t kExchangesPerS = 97000, kSample = 16;
  const uint64_t events = kExchangesPerS * 2 / kSample * seconds;  // both sides, 1 in 16
  const uint64_t step_ns = uint64_t{seconds} * 1000000000ULL / events;
  const uint64_t error_every = error_share > 0 ? static_cast<uint64_t>(1 / error_share / kSample) : 0;
  std::vector<std::string> targets;
  for (uint32_t r = 0; r < routes; r++) targets.push_back("/api/v1/route" + std::to_string(r) + "/{id}");
  for (uint64_t i = 0; i < events; i++) {
    core::Event e = request_event(static_cast<uint32_t>(i));
    e.ts_boot_ns = 1000000000000ULL + i * step_ns;
    e.role = static_cast<uint8_t>(1 + i % 2);
    e.target = targets[(i / 2) % routes];
    e.error = error_every && i % error_every == 0;
    e.status = e.error ? 500 : 200;
    e.weight = e.error ? 1 : kSample;
    s->on_event(e);
  }
  s->flush();
  auto st = s->stats();
  return static_cast<double>(st.rows_written[static_cast<size_t>(core::EventKind::kRequest)]) / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t rows = argc > 1 ? static_cast<uint32_t>(atoi(argv[1])) : 300000;
  std::string path = "/tmp/sl_store_bench.db";
  printf("%-40s %10s %10s %12s %10s\n", "case", "rows", "seconds", "rows/s", "dropped");
  for (auto [name, make] : {std::pair{"exec rows, unbounded queue", &exec_event},
                            std::pair{"request rows, unbounded queue", &request_event}}) {
    Result r = run(path, make, rows, SIZE_MAX);
    printf("%-40s %10lu %10.3f %12.0f %10lu\n", name, r.written, r.seconds, r.rows_per_s, r.dropped);
  }
  // The agent's bound: rows beyond 65536 waiting are dropped (and counted), never blocking.
  Result r = run(path, &request_event, rows, 65536);
  printf("%-40s %10lu %10.3f %12.0f %10lu\n", "request rows, default queue (65536)", r.written, r.seconds,
         r.rows_per_s, r.dropped);

  double bpr = bytes_per_request_row(path, 200000);
  printf("\nhistory: %.0f bytes per request row (200000 rows, file after close)\n", bpr);
  printf("full load: 97k exchanges/s, both sides, 1 in 16 to user space; 20 routes (40 endpoints), 600 s\n");
  printf("%-46s %12s %14s %12s\n", "store policy", "error share", "rows/s kept", "days in 1GiB");
  for (double err : {0.0, 0.001, 0.01}) {
    for (auto [name, per] : {std::pair{"every request (to max_event_rows_per_s 2000)", 0.0},
                             std::pair{"per endpoint, budget of 1GiB/7d (default)", 1.0}}) {
      double rps = rows_per_second_at_full_load(path, per, err, 20, 600);
      printf("%-46s %11.1f%% %14.1f %12.2f\n", name, err * 100, rps, (1ULL << 30) / (rps * bpr) / 86400);
    }
  }
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  return 0;
}
