// `sightline uprobe`: count (and time) calls of user-space functions by symbol; with --args,
// every call as an event (through `trace`'s printer).
#include <chrono>
#include <cstdio>
#include <map>
#include <thread>

#include "agent/runner.h"
#include "bpf/features.h"
#include "bpf/libbpf_util.h"
#include "cli/commands.h"
#include "core/histogram.h"
#include "core/render.h"
#include "sources/uprobe/uprobe_source.h"

namespace sightline::cli {
namespace {

std::string dur(uint64_t ns) {
  char b[32];
  if (ns < 10000) snprintf(b, sizeof b, "%lluns", static_cast<unsigned long long>(ns));
  else if (ns < 10000000) snprintf(b, sizeof b, "%.1fus", ns / 1e3);
  else if (ns < 10000000000ULL) snprintf(b, sizeof b, "%.1fms", ns / 1e6);
  else snprintf(b, sizeof b, "%.2fs", ns / 1e9);
  return b;
}

void summary(agent::Runner& runner, bool latency, bool json) {
  runner.collect_all();
  std::map<std::string, double> calls;
  std::map<std::string, core::LogHistogram> lat;
  runner.visit_metrics([&](const core::MetricFamily& f) {
    for (const auto& s : f.series) {
      std::string probe;
      for (const auto& [k, v] : s.labels)
        if (k == "probe") probe = v;
      if (f.name == "sightline_uprobe_calls_total") calls[probe] += s.value;
      if (f.name == "sightline_uprobe_latency_seconds") lat[probe].merge(s.hist);
    }
  });
  if (json) {
    std::string out = "{\"probes\":[";
    bool first = true;
    for (const auto& [probe, n] : calls) {
      out += first ? "" : ",";
      first = false;
      out += "{\"probe\":";
      core::append_json_string(out, probe);
      out += ",\"calls\":" + std::to_string(static_cast<uint64_t>(n));
      if (latency && lat.count(probe)) {
        const auto& h = lat[probe];
        out += ",\"p50_ns\":" + std::to_string(h.quantile(0.5)) + ",\"p99_ns\":" + std::to_string(h.quantile(0.99)) +
               ",\"mean_ns\":" + std::to_string(h.count() ? h.sum() / h.count() : 0);
      }
      out += "}";
    }
    out += "]}\n";
    fputs(out.c_str(), stdout);
  } else {
    printf("%-48s %12s", "FUNCTION", "CALLS");
    if (latency) printf(" %10s %10s %10s %10s", "MEAN", "P50", "P90", "P99");
    printf("\n");
    for (const auto& [probe, n] : calls) {
      printf("%-48.48s %12.0f", probe.c_str(), n);
      if (latency && lat.count(probe) && lat[probe].count()) {
        const auto& h = lat[probe];
        printf(" %10s %10s %10s %10s", dur(h.sum() / h.count()).c_str(), dur(h.quantile(0.5)).c_str(),
               dur(h.quantile(0.9)).c_str(), dur(h.quantile(0.99)).c_str());
      }
      printf("\n");
    }
  }
  fflush(stdout);
}

}  // namespace

int uprobe(const UprobeArgs& a) {
  if (a.args) {  // every call as an event: the trace machinery, kind uprobe
    TraceArgs t;
    t.kinds = {"uprobe"};
    t.pid = a.pid;
    t.duration_s = a.duration_s;
    t.json = a.json;
    t.uprobes = a.targets;
    t.uprobe_latency = a.latency;
    t.uprobe_str = a.str_arg;
    return trace(t);
  }
  bpf::install_libbpf_logger(false);
  agent::Runner runner(bpf::probe_features());
  sources::SourceOptions o;
  o.filter.pid = a.pid;
  o.filter.exclude_self = true;
  for (const auto& t : a.targets) o.own_as<sources::UprobeOptions>().probes.push_back({t, a.latency, false, 0});
  if (auto st = runner.start("uprobe", o); !st) {
    fprintf(stderr, "sightline uprobe: %s\n", st.message().c_str());
    return 1;
  }
  fprintf(stderr, "sightline: counting calls%s (Ctrl-C to stop)\n", a.latency ? " and their latency" : "");
  auto start = std::chrono::steady_clock::now(), last = start;
  while (!g_stop.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto now = std::chrono::steady_clock::now();
    if (a.duration_s > 0 && now - start >= std::chrono::duration<double>(a.duration_s)) break;
    if (a.interval_s > 0 && now - last >= std::chrono::duration<double>(a.interval_s)) {
      summary(runner, a.latency, a.json);
      last = now;
    }
  }
  summary(runner, a.latency, a.json);
  runner.stop_all();
  return 0;
}

}  // namespace sightline::cli
