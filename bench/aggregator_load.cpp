// Load on one `sightline aggregator` from N simulated agents that speak the agents' own OTLP
// (the same encoders): each node every second sends its events and requests as log records and
// its requests as spans (one logs request and one traces request, as an agent with batch: 1s),
// and every 15 s its metrics (staggered over the nodes), for SECONDS. The bodies are encoded
// once per node and sent again each second, so the generator's own cost stays small. Prints
// what was sent and accepted, and the aggregator's CPU and memory over the run (its PID).
//   build/bench/aggregator_load URL PID NODES SECONDS [EVENTS/S] [REQUESTS/S] [SERIES]
// (bench/aggregator_load.sh runs it at 10, 100 and 500 nodes against ClickHouse.)
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/event.h"
#include "core/metrics.h"
#include "export/delivery.h"
#include "export/otlp.h"

using namespace sightline;

namespace {

struct Node {
  std::string logs, traces, metrics;
  uint64_t records = 0, spans = 0, points = 0;
};

// An agent's families: counters and gauges by process, histograms by operation.
std::vector<core::MetricFamily> families(int series) {
  std::vector<core::MetricFamily> out;
  int hist = series / 80, plain = series - hist * 30;
  for (int f = 0; f < 20 && plain > 0; f++) {
    core::MetricFamily m{"sightline_sim_" + std::to_string(f) + "_total", "simulated", f % 4 ? core::MetricType::kCounter
                                                                                          : core::MetricType::kGauge};
    for (int s = 0; s < plain / 20; s++) m.series.push_back({{{"comm", "proc" + std::to_string(s)}}, double(s * 7 + f)});
    out.push_back(std::move(m));
  }
  core::MetricFamily h{"sightline_sim_latency_seconds", "simulated", core::MetricType::kHistogram};
  h.scale = 1e-9;
  h.bounds = core::LogHistogram::pow2_bounds(10, 34, 1);
  for (int s = 0; s < hist; s++) {
    core::MetricSeries ms;
    ms.labels = {{"op", "op" + std::to_string(s)}};
    for (int i = 0; i < 100; i++) ms.hist.add(uint64_t{1000} << (i % 20));
    h.series.push_back(std::move(ms));
  }
  out.push_back(std::move(h));
  return out;
}

Node make_node(int i, int events, int requests, int series) {
  Node n;
  std::string name = "sim-" + std::to_string(i);
  exporter::OtlpBuffer buf({name, 1});
  uint64_t now = core::now_wall_ns();
  for (int k = 0; k < events; k++) {
    core::Event e;
    e.kind = k % 2 ? core::EventKind::kExec : core::EventKind::kTcp;
    e.ts_wall_ns = now + k;
    e.pid = 1000 + k;
    e.comm = "worker";
    e.path = "/usr/bin/worker";
    buf.add_event_log(e);
    n.records++;
  }
  for (int k = 0; k < requests; k++) {
    core::Event r;
    r.kind = core::EventKind::kRequest;
    r.ts_wall_ns = now + k;
    r.pid = 2000;
    r.comm = "nginx";
    r.protocol = "http";
    r.method = "GET";
    r.target = "/api/items/{id}";
    r.request = "GET /api/items/" + std::to_string(k) + " HTTP/1.1";
    r.status = k % 50 ? 200 : 500;
    r.error = r.status >= 500;
    r.role = 2;
    r.duration_ns = 150000 + k;
    buf.add_event_log(r);
    buf.add_request_span(r);
    n.records++;
    n.spans++;
  }
  for (auto& b : buf.take()) (b.target == "/v1/logs" ? n.logs : n.traces) = std::move(b.body);
  auto m = exporter::otlp_metrics(families(series), {name, 1}, now);
  n.points = m.items;
  n.metrics = std::move(m.body);
  return n;
}

double cpu_seconds(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), {});
  size_t p = s.rfind(')');
  if (p == std::string::npos) return 0;
  std::istringstream in(s.substr(p + 2));
  std::string tok;
  unsigned long long ut = 0, st = 0;
  for (int i = 3; i <= 15 && in >> tok; i++) {
    if (i == 14) ut = strtoull(tok.c_str(), nullptr, 10);
    if (i == 15) st = strtoull(tok.c_str(), nullptr, 10);
  }
  return double(ut + st) / double(sysconf(_SC_CLK_TCK));
}

long rss_kib(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return atol(line.c_str() + 6);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s URL PID NODES SECONDS [EVENTS/S=20] [REQUESTS/S=30] [SERIES=800]\n", argv[0]);
    return 2;
  }
  std::string host, path;
  int port = 0;
  if (auto st = exporter::parse_http_url(argv[1], &host, &port, &path); !st) {
    fprintf(stderr, "%s\n", st.message().c_str());
    return 2;
  }
  int pid = atoi(argv[2]), nodes = atoi(argv[3]), seconds = atoi(argv[4]);
  int events = argc > 5 ? atoi(argv[5]) : 20, requests = argc > 6 ? atoi(argv[6]) : 30, series = argc > 7 ? atoi(argv[7]) : 800;
  std::vector<Node> sim;
  for (int i = 0; i < nodes; i++) sim.push_back(make_node(i, events, requests, series));

  std::atomic<uint64_t> ok{0}, failed{0}, records{0}, spans{0}, points{0}, bytes{0}, late{0};
  constexpr int kSenders = 4;
  double cpu0 = cpu_seconds(pid);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kSenders; t++)
    threads.emplace_back([&, t] {
      httplib::Client cli(host, port);
      cli.set_keep_alive(true);
      cli.set_tcp_nodelay(true);  // headers and body are two writes: Nagle held the body for the ACK
      cli.set_read_timeout(10);
      auto post = [&](const std::string& target, const std::string& body) {
        auto res = cli.Post(path + target, body, "application/x-protobuf");
        bool good = res && res->status == 200;
        (good ? ok : failed)++;
        bytes += body.size();
        return good;
      };
      for (int s = 0; s < seconds; s++) {
        auto due = t0 + std::chrono::seconds(s);
        std::this_thread::sleep_until(due);
        for (int i = t; i < nodes; i += kSenders) {
          const Node& n = sim[i];
          if (post("/v1/logs", n.logs)) records += n.records;
          if (post("/v1/traces", n.traces)) spans += n.spans;
          if (s % 15 == i % 15 && post("/v1/metrics", n.metrics)) points += n.points;
        }
        if (std::chrono::steady_clock::now() > due + std::chrono::seconds(1)) late++;  // this second's sends overran it
      }
    });
  for (auto& t : threads) t.join();
  // Rates over the run's seconds (its last second's sends end inside it when on time).
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double cpu = cpu_seconds(pid) - cpu0;
  wall = std::max(wall, double(seconds));
  printf("nodes=%d seconds=%.1f records=%llu requests_ok=%llu requests_failed=%llu records_per_s=%.0f spans_per_s=%.0f "
         "points_per_s=%.0f mib_per_s=%.2f aggregator_cpu_percent=%.1f aggregator_rss_mib=%.1f late_seconds=%llu\n",
         nodes, wall, (unsigned long long)records.load(), (unsigned long long)ok.load(), (unsigned long long)failed.load(), records / wall, spans / wall,
         points / wall, bytes / wall / 1048576.0, cpu / wall * 100, rss_kib(pid) / 1024.0, (unsigned long long)late.load());
  return failed ? 1 : 0;
}
