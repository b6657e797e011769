// `sightline trace tp:CATEGORY:NAME`: any tracepoint, decoded from its tracefs format; records
// printed (filtered), or counted by a field / a field's histogram (in the kernel without a
// filter, from the records with one).
#include <chrono>
#include <cstdio>
#include <map>
#include <thread>

#include "agent/runner.h"
#include "bpf/features.h"
#include "bpf/libbpf_util.h"
#include "cli/commands.h"
#include "core/clock.h"
#include "core/histogram.h"
#include "core/render.h"
#include "sources/tracepoint/tracepoint_source.h"

namespace sightline::cli {
namespace {

struct Probe {
  tracepoint::Format fmt;
  tracepoint::Filter filter;
  std::string label;
};

void print_hist(const std::string& title, const core::LogHistogram& h) {
  printf("%s: %llu values\n", title.c_str(), static_cast<unsigned long long>(h.count()));
  auto bounds = core::LogHistogram::pow2_bounds(0, 63, 1);
  uint64_t prev = 0, max = 0;
  std::vector<std::pair<uint64_t, uint64_t>> rows;  // (upper bound, count in bucket)
  for (uint64_t b : bounds) {
    uint64_t c = h.count_below(b);
    rows.emplace_back(b, c - prev);
    max = std::max(max, c - prev);
    prev = c;
    if (c == h.count()) break;
  }
  size_t first = 0;
  while (first < rows.size() && rows[first].second == 0) first++;
  for (size_t i = first; i < rows.size(); i++) {
    uint64_t lo = i ? rows[i - 1].first : 0;
    int bar = max ? static_cast<int>(40.0 * static_cast<double>(rows[i].second) / static_cast<double>(max)) : 0;
    printf("[%llu, %llu) %10llu |%-40s|\n", static_cast<unsigned long long>(lo),
           static_cast<unsigned long long>(rows[i].first), static_cast<unsigned long long>(rows[i].second),
           std::string(static_cast<size_t>(bar), '@').c_str());
  }
}

}  // namespace

int trace_tracepoints(const TraceArgs& args) {
  if (!args.count_by.empty() && !args.hist.empty()) {
    fprintf(stderr, "sightline trace: --count-by or --hist, not both\n");
    return 2;
  }
  std::vector<Probe> probes;
  sources::SourceOptions o;
  o.filter.pid = args.pid;
  o.filter.comm = args.comm;
  o.ring_bytes = args.ring_bytes;
  bool user_agg = !args.filter.empty() && (!args.count_by.empty() || !args.hist.empty());
  for (const auto& k : args.kinds) {
    Probe p;
    if (auto st = sources::tracepoint_format(k, &p.fmt); !st) {
      fprintf(stderr, "sightline trace: %s\n", st.message().c_str());
      return 2;
    }
    p.label = p.fmt.category + ":" + p.fmt.name;
    if (!args.filter.empty())
      if (auto st = tracepoint::Filter::parse(args.filter, p.fmt, &p.filter); !st) {
        fprintf(stderr, "sightline trace: %s: %s\n", p.label.c_str(), st.message().c_str());
        return 2;
      }
    for (const auto& f : {args.count_by, args.hist})
      if (!f.empty() && !p.fmt.find(f)) {
        fprintf(stderr, "sightline trace: %s has no field '%s'\n", p.label.c_str(), f.c_str());
        return 2;
      }
    sources::TracepointSpec spec{k, user_agg ? "" : args.count_by, user_agg ? "" : args.hist};
    o.own_as<sources::TracepointOptions>().probes.push_back(spec);
    probes.push_back(std::move(p));
  }

  // Streamed records: printed, or aggregated here when a filter applies.
  std::map<std::pair<std::string, std::string>, uint64_t> counts;  // (tracepoint, value)
  std::map<std::string, core::LogHistogram> hists;
  uint64_t printed = 0, filtered = 0;
  std::string line;
  o.own_as<sources::TracepointOptions>().records = [&](size_t id, const uint8_t* rec, size_t len, const core::Event& hdr) {
    const Probe& p = probes[id];
    if (!p.filter.matches(rec, len)) {
      filtered++;
      return;
    }
    tracepoint::Value v;
    if (user_agg) {
      const tracepoint::Field* f = p.fmt.find(!args.count_by.empty() ? args.count_by : args.hist);
      if (f && tracepoint::field_value(*f, rec, len, &v)) {
        if (!args.count_by.empty()) counts[{p.label, v.text}]++;
        else hists[p.label].add(v.is_string || (f->is_signed && v.i < 0) ? 0 : v.u);
      }
      return;
    }
    line.clear();
    if (args.json) {
      line += "{\"time\":";
      std::string t;
      core::append_rfc3339(t, hdr.ts_wall_ns);
      core::append_json_string(line, t);
      line += ",\"pid\":" + std::to_string(hdr.pid) + ",\"tid\":" + std::to_string(hdr.tid) + ",\"comm\":";
      core::append_json_string(line, hdr.comm);
      line += ",\"tracepoint\":";
      core::append_json_string(line, p.label);
      line += ",\"fields\":{";
      bool first = true;
      for (const auto& f : p.fmt.fields) {
        if (f.common || !tracepoint::field_value(f, rec, len, &v)) continue;
        line += first ? "" : ",";
        first = false;
        core::append_json_string(line, f.name);
        line += ":";
        if (v.is_string || f.type.find('*') != std::string::npos) core::append_json_string(line, v.text);
        else line += v.text;
      }
      line += "}}\n";
    } else {
      std::string t;
      core::append_rfc3339(t, hdr.ts_wall_ns);
      char head[96];
      snprintf(head, sizeof head, "%-12.12s %-7u %-16.*s %s", t.size() > 11 ? t.c_str() + 11 : t.c_str(), hdr.pid,
               static_cast<int>(hdr.comm.size()), hdr.comm.data(), p.label.c_str());
      line += head;
      for (const auto& f : p.fmt.fields) {
        if (f.common || !tracepoint::field_value(f, rec, len, &v)) continue;
        line += " " + f.name + "=" + (v.is_string ? "\"" + v.text + "\"" : v.text);
      }
      line += "\n";
    }
    fputs(line.c_str(), stdout);
    printed++;
  };

  bpf::install_libbpf_logger(false);
  agent::Runner runner(bpf::probe_features());
  if (auto st = runner.start("tracepoint", o); !st) {
    fprintf(stderr, "sightline trace: %s\n", st.message().c_str());
    return 1;
  }
  bool aggregate = !args.count_by.empty() || !args.hist.empty();
  std::string what;
  for (const auto& p : probes) what += (what.empty() ? "" : " ") + p.label;
  fprintf(stderr, "sightline: tracing %s%s (Ctrl-C to stop)\n", what.c_str(),
          aggregate ? (user_agg ? ", aggregated from filtered records" : ", aggregated in the kernel") : "");

  auto report = [&] {
    if (!aggregate) return;
    if (!user_agg) {  // the kernel's aggregations, through the source's metrics
      runner.collect_all();
      counts.clear();
      hists.clear();
      runner.visit_metrics([&](const core::MetricFamily& f) {
        for (const auto& s : f.series) {
          std::string tp, value;
          for (const auto& [k, v] : s.labels) {
            if (k == "tracepoint") tp = v;
            if (k == "value") value = v;
          }
          if (f.name == "sightline_tracepoint_events_total") counts[{tp, value}] += static_cast<uint64_t>(s.value);
          if (f.name == "sightline_tracepoint_field_value") hists[tp].merge(s.hist);
        }
      });
    }
    if (!args.count_by.empty()) {
      std::vector<std::pair<uint64_t, std::pair<std::string, std::string>>> rows;
      for (const auto& [k, n] : counts) rows.push_back({n, k});
      std::sort(rows.rbegin(), rows.rend());
      printf("%-32s %-32s %12s\n", "TRACEPOINT", args.count_by.c_str(), "COUNT");
      for (const auto& [n, k] : rows)
        printf("%-32s %-32s %12llu\n", k.first.c_str(), k.second.c_str(), static_cast<unsigned long long>(n));
    } else {
      for (const auto& [tp, h] : hists) print_hist(tp + " " + args.hist, h);
    }
    fflush(stdout);
  };
  uint64_t deadline = args.duration_s > 0 ? core::now_boot_ns() + static_cast<uint64_t>(args.duration_s * 1e9) : 0;
  uint64_t next_report = args.interval_s > 0 ? core::now_boot_ns() + static_cast<uint64_t>(args.interval_s * 1e9) : 0;
  runner.run(g_stop, args.poll_ms, deadline, [&] {
    fflush(stdout);
    if (next_report && core::now_boot_ns() >= next_report) {
      report();
      next_report = core::now_boot_ns() + static_cast<uint64_t>(args.interval_s * 1e9);
    }
  });
  report();
  auto st = runner.sources().at(0).source->stats();
  runner.stop_all();
  fprintf(stderr, "sightline: %llu records%s, %llu lost (ringbuf_full=%llu)\n",
          static_cast<unsigned long long>(printed + filtered),
          filtered ? (", " + std::to_string(filtered) + " filtered out").c_str() : "",
          static_cast<unsigned long long>(st.lost_ringbuf), static_cast<unsigned long long>(st.lost_ringbuf));
  return 0;
}

}  // namespace sightline::cli
