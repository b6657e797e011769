// The UI's queries on a full store: a week of the agent's rows written through the Store (its
// writer, its tables and indexes) until the file holds about 1 GiB, then each query the UI's
// pages send (ui/src/pages.ts, same SQL) timed through run_query, the path /api/v1/query takes,
// for the ranges the UI offers. The week's mix: request rows at the rate the default policy
// keeps (1 GiB over 7 days at ~256 bytes a row, 40 endpoints, 1% errors), an exec a second,
// 300 metric series sampled every 15 s (store.metrics_interval; the idle agent has ~475), an
// alert a minute, 60 profile stacks a minute.
//   build/bench/store_query_bench [PATH]   (PATH kept and reused when it is already full)
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/alert.h"
#include "core/clock.h"
#include "store/query.h"
#include "store/store.h"

using namespace sightline;

namespace {

constexpr uint64_t kSec = 1000000000ULL;
constexpr uint64_t kWeek = 7 * 86400;

void fill(const std::string& path, uint64_t now_ns) {
  store::StoreOptions o;
  o.path = path;
  o.max_bytes = 4ULL << 30;  // nothing evicted while filling: the file's size is the week's
  o.max_age_s = kWeek + 3600;
  o.kinds = {core::EventKind::kRequest, core::EventKind::kExec};
  std::unique_ptr<store::Store> s;
  if (auto st = store::Store::open(o, &s); !st) {
    fprintf(stderr, "%s\n", st.message().c_str());
    exit(1);
  }
  const uint64_t start = now_ns - (kWeek - 60) * kSec;
  std::mt19937_64 rng(42);
  std::vector<std::string> targets, comms = {"nginx", "postgres", "redis-server", "api", "worker"};
  for (int i = 0; i < 20; i++) targets.push_back("/api/v1/route" + std::to_string(i) + "/{id}");
  std::vector<std::string> series;  // labels of sightline_cpu_seconds_total and friends
  const char* names[] = {"sightline_cpu_seconds_total", "sightline_runqueue_wait_seconds_total",
                         "sightline_blocked_seconds_total", "sightline_context_switches_total",
                         "sightline_socket_bytes_total", "sightline_l7_requests_total"};
  // Request rows: 1 GiB / 7 days / 256 bytes = 6.9 a second, the default policy's budget.
  const double req_per_s = static_cast<double>(1ULL << 30) / kWeek / 256.0;
  const uint64_t req_step = static_cast<uint64_t>(kSec / req_per_s);
  uint64_t next_req = start, next_exec = start, next_sample = start, next_minute = start;
  uint64_t n_req = 0, n_exec = 0, n_samples = 0, n_alerts = 0, n_profiles = 0, pushed = 0;
  auto t0 = std::chrono::steady_clock::now();
  std::lognormal_distribution<double> lat(std::log(2e6), 1.2);  // ~2 ms median
  static const char argv[] = "curl\0-s\0http://127.0.0.1:8080/api/v1/users/12345\0";
  for (uint64_t t = start; t < now_ns; t += kSec) {
    for (; next_req < t + kSec; next_req += req_step, n_req++) {
      core::Event e;
      e.kind = core::EventKind::kRequest;
      e.ts_wall_ns = e.ts_boot_ns = next_req;
      e.pid = 2000 + static_cast<uint32_t>(n_req % 64);
      e.comm = comms[n_req % comms.size()];
      e.laddr = e.raddr = "10.0.0." + std::to_string(n_req % 200);
      e.lport = 80;
      e.rport = static_cast<uint16_t>(30000 + n_req % 20000);
      e.role = static_cast<uint8_t>(1 + n_req % 2);
      e.protocol = "http";
      e.method = n_req % 5 ? "GET" : "POST";
      e.target = targets[n_req % targets.size()];
      e.request = "GET /api/v1/route7/12345 HTTP/1.1";
      e.error = n_req % 100 == 0;
      e.status = e.error ? 500 : 200;
      e.duration_ns = static_cast<uint64_t>(lat(rng));
      e.request_bytes = 90;
      e.response_bytes = 612;
      e.weight = 16;
      s->on_event(e);
      pushed++;
    }
    if (t >= next_exec) {
      core::Event e;
      e.kind = core::EventKind::kExec;
      e.ts_wall_ns = e.ts_boot_ns = t;
      e.pid = 1000 + static_cast<uint32_t>(n_exec % 30000);
      e.tid = e.pid;
      e.ppid = 1;
      e.comm = comms[n_exec % comms.size()];
      e.exe = "/usr/bin/bash";
      e.path = "/usr/bin/curl";
      e.args = std::string_view(argv, sizeof argv - 1);
      e.args_count = 3;
      s->on_event(e);
      next_exec += kSec;
      n_exec++;
      pushed++;
    }
    if (t >= next_sample) {
      std::vector<store::SampleRow> rows;
      for (size_t i = 0; i < 300; i++) {
        std::string labels = "{\"comm\":\"proc" + std::to_string(i / 6) + "\"}";
        rows.push_back({names[i % 6], std::move(labels), static_cast<double>((t - start) / kSec) * (1 + i % 7)});
      }
      n_samples += rows.size();
      pushed += rows.size();
      s->add_samples(t, std::move(rows));
      next_sample += 15 * kSec;
    }
    if (t >= next_minute) {
      core::Alert a;
      a.time_ns = t;
      a.rule = "Shell in container";
      a.priority = "WARNING";
      a.output = "A shell was spawned in a container (proc.name=bash)";
      a.tags_json = "[\"container\",\"shell\"]";
      a.ancestry_json = "[]";
      a.kind = "exec";
      a.pid = 4242;
      a.proc_name = "bash";
      a.event_json = "{}";
      a.json = "{}";
      s->add_alert(a);
      n_alerts++;
      std::string folded;
      for (int i = 0; i < 60; i++)
        folded += "nginx;main;ngx_process_events;ngx_epoll_process_events;handler" + std::to_string(i) +
                  ";[k] do_syscall_64 " + std::to_string(1 + i) + "\n";
      s->add_profile(t / (60 * kSec), std::move(folded));
      n_profiles += 60;
      next_minute += 60 * kSec;
    }
    if (pushed > 30000) {
      s->flush();
      pushed = 0;
    }
    if ((t - start) / kSec % 86400 == 0)
      fprintf(stderr, "filling: day %lu of 7\n", static_cast<unsigned long>((t - start) / kSec / 86400 + 1));
  }
  s->flush();
  auto st = s->stats();
  s.reset();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  printf("filled in %.0f s: %lu request rows (%lu written), %lu exec, %lu samples, %lu alerts, %lu profile rows; "
         "dropped %lu\n",
         secs, static_cast<unsigned long>(n_req),
         static_cast<unsigned long>(st.rows_written[static_cast<size_t>(core::EventKind::kRequest)]),
         static_cast<unsigned long>(n_exec), static_cast<unsigned long>(n_samples), static_cast<unsigned long>(n_alerts),
         static_cast<unsigned long>(n_profiles), static_cast<unsigned long>(st.rows_dropped));
}

std::string since(const std::string& col, uint64_t seconds) {
  return col + " > (CAST(strftime('%s','now') AS INTEGER) - " + std::to_string(seconds) + ") * 1000000000";
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = argc > 1 ? argv[1] : "/tmp/sl_store_query_bench.db";
  uint64_t now_ns = core::now_wall_ns();
  std::error_code ec;
  if (std::filesystem::file_size(path, ec) < (900ULL << 20) || ec) {
    std::filesystem::remove(path);
    fill(path, now_ns);
  }
  printf("store: %s, %.0f MiB\n", path.c_str(), static_cast<double>(std::filesystem::file_size(path)) / (1 << 20));
  // The UI's queries (ui/src/pages.ts), by page.
  auto metric_series = [](uint64_t sec) {
    return "SELECT s.time / 1000000 AS ms, json_extract(m.labels, '$.comm') AS k, sum(s.value) AS v FROM metric_samples s "
           "JOIN metric_series m ON m.id = s.series_id WHERE m.name = 'sightline_cpu_seconds_total' AND s.time IN "
           "(SELECT max(time) FROM metric_times WHERE " +
           since("time", sec) + " GROUP BY time / " + std::to_string(std::max<uint64_t>(1, sec / 1000) * kSec) +
           ") GROUP BY s.time, k ORDER BY s.time";
  };
  const std::string last_two = "(SELECT time FROM metric_times ORDER BY time DESC LIMIT 2)";
  const std::string last_rate =
      "SELECT s.time / 1000000 AS ms, sum(s.value) AS v FROM metric_samples s JOIN metric_series m ON m.id = "
      "s.series_id WHERE m.name = 'sightline_cpu_seconds_total' AND s.time IN " + last_two +
      " GROUP BY s.time ORDER BY s.time";
  const std::string last_value =
      "SELECT sum(s.value) AS v FROM metric_samples s JOIN metric_series m ON m.id = s.series_id WHERE m.name = "
      "'sightline_socket_bytes_total' AND s.time = (SELECT max(time) FROM metric_times)";
  const std::string top_cpu =
      "WITH t AS " + last_two + ", b AS (SELECT min(time) AS t0, "
      "max(time) AS t1 FROM t) SELECT json_extract(m.labels, '$.comm') AS comm, (sum(CASE WHEN s.time = b.t1 THEN "
      "s.value END) - coalesce(sum(CASE WHEN s.time = b.t0 THEN s.value END), 0)) / ((b.t1 - b.t0) / 1e9) AS cpu FROM "
      "metric_samples s JOIN metric_series m ON m.id = s.series_id, b WHERE m.name = 'sightline_cpu_seconds_total' AND "
      "s.time IN (b.t0, b.t1) AND b.t1 > b.t0 GROUP BY comm ORDER BY cpu DESC LIMIT 10";
  auto services = [](uint64_t sec) {
    return "SELECT DISTINCT proc_name AS n FROM request_rollup WHERE " + since("time", sec) +
           " AND net_role = 'server' LIMIT 100";
  };
  // From a day up, from request_rollup in steps of its ten minutes (`extra` names its columns
  // the same but for latency).
  auto heat = [](uint64_t sec, const std::string& extra) {
    if (sec >= 86400) {
      uint64_t step = (sec / 60 + 599) / 600 * 600;
      return "SELECT (time / 1000000000 / " + std::to_string(step) + ") * " + std::to_string(step) +
             " AS t, latency_log2 AS b, sum(requests) AS n FROM request_rollup WHERE " + since("time", sec) + extra +
             " GROUP BY t, b";
    }
    uint64_t step = std::max<uint64_t>(1, (sec + 59) / 60);
    return "SELECT (evt_time / 1000000000 / " + std::to_string(step) + ") * " + std::to_string(step) +
           " AS t, CAST(round(log(2, max(l7_latency, 1000))) AS INTEGER) AS b, sum(coalesce(l7_weight, 1)) AS n FROM "
           "request WHERE " +
           since("evt_time", sec) + extra + " GROUP BY t, b";
  };
  auto list = [](uint64_t sec, const std::string& extra) {
    return "SELECT rowid AS id, evt_time / 1000000 AS ms, proc_name AS process, net_role AS role, l7_protocol AS "
           "protocol, l7_method AS method, l7_target AS target, l7_status AS status, l7_error AS error, l7_latency / "
           "1e9 AS latency, l7_request_bytes AS req_b, l7_response_bytes AS resp_b, fd_rip AS peer, fd_rname AS "
           "peer_name, l7_request AS request, l7_error_text AS error_text, l7_rows AS rows_n FROM request WHERE " +
           since("evt_time", sec) + extra + " ORDER BY evt_time DESC LIMIT 300";
  };
  auto execs = [](uint64_t sec) {
    return "SELECT evt_time / 1000000 AS ms, proc_pid AS pid, proc_ppid AS ppid, proc_pname AS parent, proc_name AS "
           "name, proc_args AS args, evt_errno AS err, user_uid AS uid, container_id AS container FROM exec WHERE " +
           since("evt_time", sec) + " ORDER BY evt_time DESC LIMIT 500";
  };
  auto alerts = [](uint64_t sec) {
    return "SELECT rule, priority, count(*) AS n FROM alerts WHERE " + since("time", sec) + " GROUP BY 1, 2 ORDER BY 3 DESC";
  };
  auto profile = [](uint64_t sec) {
    return "SELECT stack, sum(samples) AS n FROM profiles WHERE " + since("time", sec) + " GROUP BY stack";
  };
  struct Q {
    std::string page, name, sql;
  };
  std::vector<Q> qs = {{"overview", "last rate", last_rate}, {"overview", "last value", last_value},
                       {"overview", "top processes by CPU", top_cpu}};
  for (auto [range, sec] : {std::pair{"1h", 3600ULL}, {"24h", 86400ULL}, {"7d", kWeek}}) {
    std::string r = range;
    qs.push_back({"overview", "CPU series " + r, metric_series(sec)});
    qs.push_back({"requests", "services " + r, services(sec)});
    qs.push_back({"requests", "heat map " + r, heat(sec, "")});
    qs.push_back({"requests", "newest 300 " + r, list(sec, "")});
    qs.push_back({"requests", "errors, heat map " + r, heat(sec, " AND l7_error = 1")});
    qs.push_back({"requests", "errors, newest 300 " + r, list(sec, " AND l7_error = 1")});
    qs.push_back({"requests", "slow (>= 50 ms), newest 300 " + r, list(sec, " AND l7_latency >= 50000000")});
    qs.push_back({"requests", "service nginx, newest 300 " + r, list(sec, " AND proc_name = 'nginx' AND net_role = 'server'")});
    qs.push_back({"processes", "execs " + r, execs(sec)});
    qs.push_back({"alerts", "counts " + r, alerts(sec)});
    qs.push_back({"profile", "stacks " + r, profile(sec)});
  }
  printf("%-10s %-40s %8s %10s %10s\n", "page", "query", "rows", "first ms", "median ms");
  double worst = 0;
  for (const auto& q : qs) {
    store::QueryOptions o;
    o.path = path;
    o.max_rows = 100000;
    o.max_bytes = 64ULL << 20;
    std::vector<double> ms;
    size_t rows = 0;
    for (int i = 0; i < 5; i++) {
      store::QueryResult r;
      auto t = std::chrono::steady_clock::now();
      if (auto st = store::run_query(o, q.sql, &r); !st) {
        printf("%-10s %-40s failed: %s\n", q.page.c_str(), q.name.c_str(), st.message().c_str());
        break;
      }
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
      rows = r.rows.size();
    }
    if (ms.empty()) continue;
    double first = ms[0];
    std::sort(ms.begin(), ms.end());
    worst = std::max(worst, ms[ms.size() / 2]);
    printf("%-10s %-40s %8zu %10.1f %10.1f\n", q.page.c_str(), q.name.c_str(), rows, first, ms[ms.size() / 2]);
  }
  printf("slowest median: %.1f ms\n", worst);
  return 0;
}
