// Sustained insert rate of the embedded store: events pushed from one thread as fast as it can
// through the bounded queue to the writer, timed to the last commit, per kind of row. The
// agent's stored kinds arrive far slower than this at full load (see docs/design.md, store).
//   build/bench/store_bench [ROWS]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

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
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  return 0;
}
