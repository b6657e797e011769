#include "agent/agent.h"

#include <spdlog/spdlog.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include "agent/anomaly_watch.h"
#include "agent/api.h"
#include "agent/exporters.h"
#include "agent/bpf_cost.h"
#include "agent/governor.h"
#include "agent/live.h"
#include "agent/memory.h"
#include "agent/node_lock.h"
#include "agent/privileges.h"
#include "agent/runner.h"
#include "bpf/libbpf_util.h"
#include "core/clock.h"
#include "core/schema.h"
#include "export/prom_text.h"
#include "agent/enforcement.h"
#include "rules/engine.h"
#include "server/http_server.h"
#include "core/render.h"
#include "sources/l7/l7_source.h"
#include "sources/profile/profile_source.h"
#include "sources/security/security_source.h"
#include "sources/tracepoint/tracepoint_source.h"
#include "sources/uprobe/uprobe_source.h"
#include "store/store.h"

namespace sightline::agent {
namespace {

// Counts events by kind as they pass (the per-source totals come from the sources).
class KindCounter : public sources::EventSink {
 public:
  void on_event(core::Event& e) override {
    auto& c = counts_[static_cast<size_t>(e.kind)];
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  uint64_t get(core::EventKind k) const {
    return counts_[static_cast<size_t>(k)].load(std::memory_order_relaxed);
  }

 private:
  std::array<std::atomic<uint64_t>, static_cast<size_t>(core::EventKind::kCount)> counts_{};
};

struct SelfStats {
  double cpu_seconds = 0, start_time_seconds = 0;
  double rss_bytes = 0, vsize_bytes = 0;
  double open_fds = 0;
};

SelfStats self_stats(uint64_t boot_wall_offset_s) {
  SelfStats s;
  std::ifstream in("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = stat.rfind(')');
  if (close != std::string::npos) {
    std::istringstream rest(stat.substr(close + 2));
    std::string f;
    static const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
    static const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    double utime = 0, stime = 0;
    for (int i = 3; rest >> f; i++) {
      if (i == 14) utime = std::stod(f);
      if (i == 15) stime = std::stod(f);
      if (i == 22) s.start_time_seconds = std::stod(f) / hz + static_cast<double>(boot_wall_offset_s);
      if (i == 23) s.vsize_bytes = std::stod(f);
      if (i == 24) {
        s.rss_bytes = std::stod(f) * page;
        break;
      }
    }
    s.cpu_seconds = (utime + stime) / hz;
  }
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    s.open_fds++;
  return s;
}

// The overhead governor and what the sources shed at its level; the HTTP thread reads it.
struct GovernorState {
  GovernorState(double budget, BpfStatsMode stats) : g(budget), cost(stats) {}
  mutable std::mutex mu;
  Governor g;
  BpfCost cost;  // the BPF programs' run time, the governor's input and /metrics'
  std::string doing;  // what is shed now ("" at level 0)
  std::string line() const {
    std::lock_guard lock(mu);
    return g.reason() + (doing.empty() ? "" : "; shedding: " + doing);
  }
};

// The memory budget's guard and what it has shed; the HTTP thread reads it for /metrics.
struct MemoryState {
  explicit MemoryState(uint64_t limit) : guard(limit) {}
  mutable std::mutex mu;
  MemoryGuard guard;
  MemoryUse use;
  std::map<std::string, uint64_t> shed;  // what -> times
};

// The agent's own CPU seconds (user + system), cheaper than /proc/self/stat once a second.
double self_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Families built in place: one(name, type, help) starts one, add(labels, value) a series.
class Families {
 public:
  explicit Families(std::vector<core::MetricFamily>* out) : out_(out) {}
  Families& one(std::string name, core::MetricType type, std::string help) {
    out_->push_back(core::MetricFamily{std::move(name), std::move(help), type});
    return *this;
  }
  Families& add(core::Labels labels, double value) {
    out_->back().series.push_back({std::move(labels), value});
    return *this;
  }
  Families& add(double value) { return add({}, value); }

 private:
  std::vector<core::MetricFamily>* out_;
};

std::vector<core::MetricFamily> collect_metrics(const Runner& runner, const KindCounter& kinds,
                                                const rules::Engine* engine, const store::Store* db,
                                                const Exporters* exporters, const LiveFeed* live,
                                                const GovernorState* gov, const MemoryState* mem,
                                                const AnomalyWatch* anomalies) {
  using core::MetricType;
  std::vector<core::MetricFamily> out;
  Families w(&out);
  w.one("sightline_build_info", MetricType::kGauge, "Sightline version; always 1").add({{"version", SIGHTLINE_VERSION}}, 1);

  w.one("sightline_source_up", MetricType::kGauge, "1 if the source is running, 0 if it could not start");
  for (const auto& s : runner.sources()) w.add({{"source", s.name}}, s.running);

  std::vector<std::pair<std::string, sources::SourceStats>> stats;
  for (const auto& s : runner.sources())
    if (s.running) stats.emplace_back(s.name, s.source->stats());

  w.one("sightline_events_total", MetricType::kCounter, "Events decoded and delivered, by source and kind");
  for (const auto& k : core::kinds()) {
    const auto* src = sources::source_for_kind(k.kind);
    bool running = false;
    for (const auto& s : runner.sources()) running |= s.running && src && s.name == src->name;
    running |= !src && kinds.get(k.kind);  // made by the agent itself (anomaly)
    if (running)
      w.add({{"source", std::string(k.source)}, {"kind", std::string(k.name)}}, static_cast<double>(kinds.get(k.kind)));
  }
  w.one("sightline_events_lost_total", MetricType::kCounter,
        "Events lost, by source and reason: ringbuf_full (kernel ring buffer had no room), "
        "pairing_map_full (syscall enter/exit map full), decode_error (malformed record), "
        "aggregation_map_full (an in-kernel aggregation map was full)");
  for (const auto& [name, st] : stats) {
    w.add({{"source", name}, {"reason", "ringbuf_full"}}, static_cast<double>(st.lost_ringbuf));
    w.add({{"source", name}, {"reason", "pairing_map_full"}}, static_cast<double>(st.lost_pairing));
    w.add({{"source", name}, {"reason", "decode_error"}}, static_cast<double>(st.decode_errors));
    w.add({{"source", name}, {"reason", "aggregation_map_full"}}, static_cast<double>(st.map_full));
  }
  if (gov) {
    std::lock_guard lock(gov->mu);
    w.one("sightline_governor_level", MetricType::kGauge,
          "Level of detail the overhead governor sheds: 0 none .. 3 (overhead.max_cpu_percent)")
        .add(gov->g.level());
    w.one("sightline_governor_cost_percent", MetricType::kGauge,
          "The agent's cost over the last second: its CPU, plus its BPF programs' run time at the rate of the last "
          "second the kernel's statistics were on (overhead.bpf_stats), percent of the node")
        .add(gov->g.last_cost());
    w.one("sightline_governor_budget_percent", MetricType::kGauge, "overhead.max_cpu_percent (0: no governor)")
        .add(gov->g.budget());
    w.one("sightline_governor_steps_total", MetricType::kCounter,
          "Governor steps: shed (cost over budget for 3 s) and restore (under half of it for 10 s)")
        .add({{"direction", "shed"}}, static_cast<double>(gov->g.shed_steps()))
        .add({{"direction", "restore"}}, static_cast<double>(gov->g.restore_steps()));
  }
  if (mem) {
    std::lock_guard lock(mem->mu);
    w.one("sightline_memory_limit_bytes", MetricType::kGauge, "memory_limit: the agent's memory budget")
        .add(static_cast<double>(mem->guard.limit()));
    w.one("sightline_memory_bytes", MetricType::kGauge,
          "Memory the budget counts: user (the agent's anonymous resident memory: heap, stacks; not the "
          "page cache of its code and the files it maps, nor the BPF maps mapped into it) and kernel (the BPF "
          "maps' own memory, once)")
        .add({{"part", "user"}}, static_cast<double>(mem->use.user()))
        .add({{"part", "kernel"}}, static_cast<double>(mem->use.kernel));
    HeapUse heap = read_heap();
    w.one("sightline_memory_heap_bytes", MetricType::kGauge,
          "The agent's heap as malloc sees it: in use, and free but not yet returned to the system")
        .add({{"state", "in_use"}}, static_cast<double>(heap.in_use))
        .add({{"state", "free"}}, static_cast<double>(heap.free));
    w.one("sightline_memory_peak_bytes", MetricType::kGauge, "The largest user + kernel memory seen since start")
        .add(static_cast<double>(mem->guard.peak()));
    w.one("sightline_memory_shed_total", MetricType::kCounter,
          "Times the agent gave memory back near its budget, by what: heap (free memory returned to the system, at 60%), "
          "sqlite_cache, symbol_files, dwarf_unwind (caches, at 80%); l7_connections, profile_windows "
          "(detail, at 90%)");
    for (const auto& [what, n] : mem->shed) w.add({{"what", what}}, static_cast<double>(n));
  }
  w.one("sightline_bpf_map_bytes", MetricType::kGauge,
        "Kernel memory of each BPF map (memlock; a ring buffer's pages once, though mapped twice)");
  for (const auto& s : runner.sources())
    if (s.running)
      for (const auto& m : s.source->map_memory()) w.add({{"source", s.name}, {"map", m.name}}, static_cast<double>(m.bytes));
  w.one("sightline_process_table_entries", MetricType::kGauge, "Processes in the agent's process table")
      .add(static_cast<double>(runner.table().size()));
  w.one("sightline_process_table_bytes", MetricType::kGauge,
        "Bytes the process table's entries hold (bounded by memory_limit's share)")
      .add(static_cast<double>(runner.table().bytes()));
  w.one("sightline_process_table_overflows_total", MetricType::kCounter,
        "Processes not tracked because the process table was full (max_processes, or its bytes)")
      .add(static_cast<double>(runner.table().overflows()));
  w.one("sightline_dns_names", MetricType::kGauge, "Remote addresses named from DNS answers (fd.rname)")
      .add(static_cast<double>(runner.dns_names().size()));
  w.one("sightline_dns_names_evicted_total", MetricType::kCounter,
        "Address names forgotten to stay within the bound (from memory_limit), least recently answered first")
      .add(static_cast<double>(runner.dns_names().evicted()));

  if (gov && gov->cost.mode() != BpfStatsMode::kOff) {
    std::lock_guard lock(gov->mu);
    const char* how = gov->cost.estimated()
                          ? "kernel bpf_stats, on one second in five (overhead.bpf_stats: sampled): estimated from those seconds"
                          : "kernel bpf_stats, on while the agent runs";
    w.one("sightline_bpf_program_runs_total", MetricType::kCounter,
          std::string("Times each BPF program ran since the agent started (") + how + ")");
    for (const auto& [key, t] : gov->cost.totals()) w.add({{"source", key.first}, {"program", key.second}}, std::round(t.count));
    w.one("sightline_bpf_program_run_seconds_total", MetricType::kCounter,
          std::string("Time spent in each BPF program since the agent started (") + how + ")");
    for (const auto& [key, t] : gov->cost.totals()) w.add({{"source", key.first}, {"program", key.second}}, t.ns / 1e9);
  }
  w.one("sightline_bpf_errors_total", MetricType::kCounter,
        "Helper calls that failed in the BPF programs, by source, site (file:line), helper and errno");
  for (const auto& s : runner.sources()) {
    if (!s.running) continue;
    for (const auto& e : s.source->helper_errors())
      w.add({{"source", s.name}, {"where", e.where}, {"helper", e.helper}, {"errno", e.err}}, static_cast<double>(e.count));
  }

  // Sources may share a family (sightline_series_overflow_total): one HELP/TYPE, all series.
  std::vector<core::MetricFamily> families;
  if (engine) engine->metrics(families);
  if (db) db->metrics(families);
  if (exporters) exporters->metrics(families);
  if (live) live->metrics(families);
  runner.visit_metrics([&](const core::MetricFamily& f) {
    for (auto& have : families)
      if (have.name == f.name) {
        have.series.insert(have.series.end(), f.series.begin(), f.series.end());
        return;
      }
    families.push_back(f);
  });
  for (auto& f : families) out.push_back(std::move(f));

  SelfStats self = self_stats((core::now_wall_ns() - core::now_boot_ns()) / 1000000000ULL);
  w.one("process_cpu_seconds_total", MetricType::kCounter, "User and system CPU time of the agent").add(self.cpu_seconds);
  w.one("process_resident_memory_bytes", MetricType::kGauge, "Resident memory of the agent").add(self.rss_bytes);
  w.one("process_virtual_memory_bytes", MetricType::kGauge, "Virtual memory of the agent").add(self.vsize_bytes);
  w.one("process_open_fds", MetricType::kGauge, "Open file descriptors of the agent").add(self.open_fds);
  w.one("process_start_time_seconds", MetricType::kGauge, "Start time of the agent, seconds since the epoch")
      .add(self.start_time_seconds);
  if (anomalies) anomalies->metrics(out);
  return out;
}


// Flattened samples for the store: labels as a JSON object.
std::vector<store::SampleRow> sample_rows(const std::vector<core::MetricFamily>& families) {
  std::vector<store::SampleRow> rows;
  for (const auto& f : families)
    exporter::for_each_sample(f, [&](std::string_view name, const core::Labels& labels, double v) {
      store::SampleRow r{std::string(name), "{", v};
      for (size_t i = 0; i < labels.size(); i++) {
        if (i) r.labels_json += ',';
        core::append_json_string(r.labels_json, labels[i].first);
        r.labels_json += ':';
        core::append_json_string(r.labels_json, labels[i].second);
      }
      r.labels_json += '}';
      rows.push_back(std::move(r));
    });
  return rows;
}

}  // namespace

int run_agent(const AgentConfig& config, const std::atomic<bool>& stop, std::atomic<bool>* reload) {
  // What one agent per node owns: its API socket and its pinned maps.
  NodeLock socket_lock, pins_lock;
  if (!config.api_socket.empty())
    if (auto st = socket_lock.acquire(config.api_socket + ".lock", "the API socket " + config.api_socket); !st) {
      spdlog::error("{}", st.message());
      return 1;
    }
  if (!config.pin_maps.empty()) {
    std::string name = config.pin_maps;
    for (char& c : name) c = c == '/' ? '_' : c;
    if (auto st = pins_lock.acquire("/run/sightline/pins" + name + ".lock", "the pinned maps under " + config.pin_maps); !st) {
      spdlog::error("{}", st.message());
      return 1;
    }
  }
  // The cgroup the agent is scoped to: its id is the directory's inode on cgroup2.
  uint64_t scope_cgroup = 0;
  if (!config.cgroup.empty()) {
    struct statfs fs {};
    struct stat st {};
    if (statfs(config.cgroup.c_str(), &fs) != 0 || stat(config.cgroup.c_str(), &st) != 0) {
      spdlog::error("cgroup: '{}': {}", config.cgroup, strerror(errno));
      return 1;
    }
    if (fs.f_type != CGROUP2_SUPER_MAGIC || !S_ISDIR(st.st_mode)) {
      spdlog::error("cgroup: '{}' is not a cgroup v2 directory (mkdir /sys/fs/cgroup/NAME makes one)", config.cgroup);
      return 1;
    }
    scope_cgroup = st.st_ino;
    spdlog::info("cgroup: only the tasks of {} (id {})", config.cgroup, scope_cgroup);
  }
  // Two malloc arenas, not one per thread that ever allocated (up to 8 a core): memory freed
  // in one thread's arena was kept from the others, and RSS grew with the threads.
  mallopt(M_ARENA_MAX, 2);
  // Blocks of 256 KiB and more (a query's result, a page of JSON, a batch) mapped on their own
  // and unmapped when freed. glibc's default threshold rises to the largest block freed (up to
  // 32 MiB), after which such bursts stayed in the heap: the UI's queries left 30 MiB free but
  // resident there, which pushed the agent to its budget.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  const MemoryPlan plan = plan_memory(config.memory_limit);
  MemoryState memory(config.memory_limit);
  store::set_sqlite_heap_limit(plan.sqlite_heap_bytes);
  // BPF run-time statistics: switched on and off by a helper that keeps CAP_SYS_ADMIN when sampled
  // (turning them on needs it; forked first, while the agent is small), held by the agent itself
  // when always on.
  struct utsname uts = {};
  uname(&uts);
  const BpfStatsMode stats_mode = resolve_bpf_stats_mode(config.overhead.bpf_stats, uts.release);
  if (config.overhead.bpf_stats == BpfStatsMode::kAuto)
    spdlog::info("governor: BPF run-time statistics {} on kernel {} (overhead.bpf_stats: auto)",
                 stats_mode == BpfStatsMode::kSampled ? "sampled" : "always on", uts.release);
  // The helper also opens the uprobe events of l7's Go binaries that start after the drop.
  bool go_tls = false;
  if (auto it = config.sources.find("l7"); it != config.sources.end() && it->second.enabled) {
    SourceConfig l7 = it->second;
    go_tls = l7.own_as<sources::L7Options>().tls && l7.own_as<sources::L7Options>().go_tls;
  }
  StatsSwitch bpf_stats(stats_mode == BpfStatsMode::kSampled || go_tls);
  if (int err = bpf_stats.set(stats_mode != BpfStatsMode::kOff))
    spdlog::warn("governor: the kernel refused BPF run-time statistics ({}): BPF programs' cost not counted", std::strerror(err));
  bpf::Features features = bpf::probe_features();
  Runner runner(features, {config.max_processes, plan.process_table_bytes, plan.dns_names});
  KindCounter kinds;
  runner.add_sink(&kinds);
  runner.set_process_labels(config.process_labels);
  size_t seeded = runner.seed_processes();
  spdlog::info("process table seeded with {} processes from /proc", seeded);

  // The store first: alerts and events go to it from the first one.
  std::unique_ptr<store::Store> db;
  if (config.store.enabled) {
    store::StoreOptions so;
    so.path = config.store.path;
    so.max_age_s = config.store.retention_s;
    so.max_bytes = config.store.max_bytes;
    so.max_event_rows_per_s = config.store.max_event_rows_per_s;
    so.rows_per_endpoint_per_s = config.store.request_rows_per_endpoint_per_s;
    if (auto l7 = config.sources.find("l7"); l7 != config.sources.end())
      so.slow_ns = uint64_t{l7->second.own.as<sources::L7Options>().slow_ms} * 1000000;
    // The request rows a second that let max_size hold the retention at full load, at the
    // ~184 bytes a request row takes (bench/store_bench: "history"), with room for other kinds.
    so.request_rows_per_s = static_cast<double>(config.store.max_bytes) /
                            static_cast<double>(std::max<uint64_t>(config.store.retention_s, 1)) / 256.0;
    so.queue_bytes = plan.store_queue_bytes;
    so.cache_bytes = plan.sqlite_cache_bytes;
    so.wal_bytes = plan.wal_bytes;
    for (const auto& k : config.store.kinds)
      if (const auto* d = core::find_kind(k)) so.kinds.push_back(d->kind);
    if (auto st = store::Store::open(so, &db); !st) {
      spdlog::error("store: {} (store.enabled: false runs without it)", st.message());
      return 1;
    }
    runner.add_sink(db.get());
    spdlog::info("store: {} (retention {} s, at most {} MiB)", so.path, so.max_age_s, so.max_bytes >> 20);
  }

  LiveFeed live;
  runner.add_sink(&live);
  std::unique_ptr<AnomalyWatch> anomalies;
  const std::string models_file = config.anomaly.enabled ? anomaly_file(config) : std::string();
  if (config.anomaly.enabled) {
    anomalies = std::make_unique<AnomalyWatch>(config.anomaly);
    if (std::ifstream in(models_file, std::ios::binary); !models_file.empty() && in) {
      std::string image{std::istreambuf_iterator<char>(in), {}};
      size_t n = 0;
      if (auto st = anomalies->load(image, &n); !st)
        spdlog::warn("anomaly: {}: {} (learning from scratch)", models_file, st.message());
      else
        spdlog::info("anomaly: {} series' models loaded from {}", n, models_file);
    }
  }
  GovernorState governor(config.overhead.max_cpu_percent, stats_mode);
  std::unique_ptr<Exporters> exporters;
  ExportConfig export_config = config.exporters;
  export_config.queue_bytes = plan.exporter_queue_bytes;
  if (auto st = Exporters::create(export_config, &exporters); !st) {
    spdlog::error("exporters: {}", st.message());
    return 1;
  }
  if (exporters) {
    runner.add_sink(exporters.get());
    if (!config.exporters.remote_write_url.empty())
      spdlog::info("remote_write: every {} s to {}", config.exporters.remote_write_interval_s,
                   config.exporters.remote_write_url);
    if (!config.exporters.clickhouse_url.empty())
      spdlog::info("clickhouse: rows to {} (database {})", config.exporters.clickhouse_url,
                   config.exporters.clickhouse_database);
  }

  // Rules: a bad rule file stops the start, like a bad configuration.
  std::unique_ptr<rules::Engine> engine;
  std::shared_ptr<rules::RuleSet> engine_rules;  // the set the engine started with
  auto load = [&](std::shared_ptr<rules::RuleSet>* out) {
    auto rs = std::make_shared<rules::RuleSet>();
    core::Status st = rules::load_rules(config.rules.files, config.rules.defaults, rs.get());
    if (st) *out = std::move(rs);
    return st;
  };
  // The security source sends only the syscalls the rules name; the rest stay attached but off,
  // for a reload to turn on (attaching needs capabilities the agent drops).
  std::optional<std::vector<std::string>> rule_syscalls;
  if (config.rules.enabled) {
    std::shared_ptr<rules::RuleSet> rs;
    if (auto st = load(&rs); !st) {
      spdlog::error("rules: {}", st.message());
      return 1;
    }
    bool to_stdout = config.rules.stdout_alerts.value_or(isatty(STDOUT_FILENO) == 1);
    rules::AlertOutputs outs{to_stdout, config.rules.json_file, config.rules.webhook,
                             config.rules.alertmanager};
    outs.listener = [d = db.get(), x = exporters.get()](const core::Alert& a) {
      if (d) d->add_alert(a);
      if (x) x->on_alert(a);
    };
    rules::Limits limits;
    limits.rate_per_s = config.rules.rate_per_rule;
    engine = std::make_unique<rules::Engine>(&runner.table(), outs, limits);
    if (config.rules.baseline) {
      rules::BaselineOptions bo;
      bo.window_ns = uint64_t{config.rules.baseline_window_s} * 1000000000ULL;
      bo.max_workloads = config.rules.baseline_max_workloads;
      bo.max_items = config.rules.baseline_max_items;
      const core::ProcessTable* table = &runner.table();
      engine->set_baseline(std::make_unique<rules::Baseline>(bo, [table](uint32_t ppid) {
        const core::ProcessInfo* p = table->find(ppid);
        return p ? p->exe : std::string();
      }));
      spdlog::info("rules: learning each workload's behaviour for {} s (rules.baseline)", config.rules.baseline_window_s);
      if (std::string f = baseline_file(config); !f.empty()) {
        std::ifstream in(f);
        if (in) {
          std::string text{std::istreambuf_iterator<char>(in), {}};
          size_t n = 0;
          if (auto st = engine->load_baseline(text, &n); !st)
            spdlog::warn("rules: {}: {} (learning from scratch)", f, st.message());
          else
            spdlog::info("rules: {} workloads' profiles loaded from {}", n, f);
        }
      }
    }
    spdlog::info("rules: {} enabled", rs->enabled_count());
    rule_syscalls = rs->syscalls();
    engine_rules = rs;
    engine->set_rules(std::move(rs));
    runner.add_sink(engine.get());
    runner.add_action_sink(engine.get());
  }

  int running = 0;
  // sched, then l7, then the rest: l7 reads sched's per-thread time (request timelines); its
  // socket programs count net's socket traffic when both run (one program per socket I/O), and
  // net then takes its map.
  std::vector<std::pair<std::string, SourceConfig>> order(config.sources.begin(), config.sources.end());
  std::stable_partition(order.begin(), order.end(), [](const auto& s) { return s.first == "sched" || s.first == "l7"; });
  std::stable_partition(order.begin(), order.end(), [](const auto& s) { return s.first == "sched"; });
  const bool net_on = config.sources.count("net") && config.sources.at("net").enabled;
  for (const auto& [name, sc] : order) {
    if (!sc.enabled) {
      const auto* info = sources::find_source(name);
      if (info && info->off_by_default)
        spdlog::info("source {}: off by default (sources.{}.enabled: true turns it on)", name, name);
      else
        spdlog::info("source {}: disabled in the configuration", name);
      continue;
    }
    sources::SourceOptions opts;
    opts.filter.failed_only = sc.failed_only;
    opts.filter.cgroup_id = scope_cgroup;
    opts.ring_bytes = sc.ring_bytes;
    opts.cache_bytes = plan.symbol_cache_bytes;
    opts.state_bytes = plan.conn_state_bytes;
    // A quarter of the overhead budget: a burst of new processes (a browser's hundred libraries)
    // has its unwind tables built over seconds, not in one that sheds detail for the budget.
    opts.background_cpus = config.overhead.max_cpu_percent / 100.0 * bpf::possible_cpus() / 4;
    opts.own = sc.own;
    if (name == "l7") {
      opts.count_sock_traffic = net_on;  // net takes its map (Runner::start)
      std::string host;
      int port = 0;
      if (split_listen(config.listen, &host, &port)) opts.own_as<sources::L7Options>().self_port = static_cast<uint16_t>(port);
    }
    if (name == "l7" && bpf_stats.has_helper())
      opts.open_uprobe = [&bpf_stats](int fd, uint64_t offset) { return bpf_stats.open_uprobe(fd, offset); };
    if (name == "l7" && engine_rules) {  // every request a rule names by method reaches the rules
      auto& always = opts.own_as<sources::L7Options>().always_detail;
      for (const auto& m : engine_rules->required_values("l7.method")) always.push_back(m);
    }
    if (name == "security" && engine) {
      auto& sec = opts.own_as<sources::SecurityOptions>();
      sec.syscalls = rule_syscalls;
      sec.attach_all_syscalls = true;
    }
    if (name == "uprobe") {
      for (const auto& u : config.uprobes)
        opts.own_as<sources::UprobeOptions>().probes.push_back({u.target, u.latency, false, 0});
      if (config.uprobes.empty()) {
        spdlog::info("source uprobe: no uprobes in the configuration");
        continue;
      }
    }
    if (name == "tracepoint") {
      for (const auto& t : config.tracepoints)
        opts.own_as<sources::TracepointOptions>().probes.push_back({t.event, t.count_by, t.hist});
      if (config.tracepoints.empty()) {
        spdlog::info("source tracepoint: no tracepoints in the configuration");
        continue;
      }
    }
    if (auto st = runner.start(name, opts); st) {
      running++;
      spdlog::info("source {}: running", name);
    } else {
      spdlog::warn("source {}: not running: {}", name, st.message());
    }
  }
  if (running == 0) {
    spdlog::error("no source could start; `sightline doctor` explains what this kernel lacks");
    return 1;
  }
  // Per-request stacks: the profiler joins its stacks to the slow and failed server requests.
  sources::ProfileSource* profiler = nullptr;
  for (const auto& s : runner.sources())
    if (s.running && s.name == "profile") profiler = static_cast<sources::ProfileSource*>(s.source.get());
  if (auto l7 = config.sources.find("l7"); db && config.store.profiles && profiler && l7 != config.sources.end() &&
                                            l7->second.enabled)
    if (auto* sink = profiler->request_sink(uint64_t{l7->second.own.as<sources::L7Options>().slow_ms} * 1000000))
      runner.add_sink(sink);
  // Rules with an action act in the kernel: their programs load now, before the capabilities go.
  Enforcement enforcement;
  if (engine) {
    std::string acting;
    if (auto st = enforcement.start(runner, *engine_rules, config.rules.enforce, &acting); !st) {
      spdlog::error("rules: {}", st.message());
      return 1;
    }
    if (!acting.empty())
      spdlog::info("rules: acting in the kernel{}:\n{}", config.rules.enforce ? "" : " (enforce: false, dry run)", acting);
    engine->set_rules(engine_rules, enforcement.generation());
  }
  // The budget must hold what the sources' maps take in the kernel, which is known now.
  auto map_bytes = [&] {
    uint64_t n = 0;
    for (const auto& s : runner.sources())
      if (s.running)
        for (const auto& m : s.source->map_memory()) n += m.bytes;
    return n;
  };
  uint64_t kernel_bytes = map_bytes();
  if (auto st = check_memory_limit(config.memory_limit, kernel_bytes); !st) {
    spdlog::error("{}", st.message());
    return 1;
  }
  spdlog::info("memory: limit {} MiB; BPF maps {} MiB in the kernel", config.memory_limit >> 20, kernel_bytes >> 20);

  if (!config.pin_maps.empty()) {
    // The BPF file system, mounted as systemd and Kubernetes nodes have it, when it is not.
    struct statfs fs{};
    if (statfs("/sys/fs/bpf", &fs) != 0 || fs.f_type != BPF_FS_MAGIC) {
      if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") == 0)
        spdlog::info("pin_maps: mounted the BPF file system on /sys/fs/bpf");
      else
        spdlog::warn("pin_maps: /sys/fs/bpf is not a BPF file system and mounting one failed: {}", strerror(errno));
    }
    size_t n = 0;
    for (const auto& s : runner.sources()) {
      if (!s.running) continue;
      std::vector<std::string> pinned;
      if (auto st = s.source->pin_maps(config.pin_maps + "/" + s.name, &pinned); !st)
        spdlog::warn("pin_maps: {}", st.message());
      n += pinned.size();
    }
    spdlog::info("pin_maps: {} maps pinned under {}", n, config.pin_maps);
  }

  std::string host;
  int port = 0;
  if (auto st = check_listen(config.listen, config.api_token, &host, &port); !st) {
    spdlog::error("listen: {}", st.message());
    return 1;
  }
  server::HttpServer http;
  if (auto st = secure_listener(http, config); !st) {
    spdlog::error("{}", st.message());
    return 1;
  }
  ApiContext api{&runner, db.get(), &live,
                 [&] { return collect_metrics(runner, kinds, engine.get(), db.get(), exporters.get(), &live, &governor, &memory, anomalies.get()); },
                 [&] { return governor.line(); }, plan.query_bytes,
                 [&] { return engine ? engine->baseline_json() : std::string(); },
                 [&] { return anomalies ? anomalies->json() : std::string(); }};
  add_api_routes(http, api);
  if (auto st = http.start(host, port); !st) {
    spdlog::error("{}", st.message());
    return 1;
  }
  spdlog::info("serving /metrics and /healthz on {}://{}:{}", config.tls_cert.empty() ? "http" : "https", host, port);
  if (!config.api_socket.empty()) {
    if (auto st = http.start_unix(config.api_socket); st)
      spdlog::info("serving the same API on unix:{} (mode 0600)", config.api_socket);
    else
      spdlog::warn("api_socket: {} (the TCP listener still serves)", st.message());
  }
  // Loaded, attached, listening: nothing left that needs CAP_BPF, CAP_SYS_ADMIN and the rest.
  uint64_t keep = 0;
  for (const auto& s : runner.sources())
    if (s.running) keep |= s.source->capabilities_to_stop();
  if (auto st = drop_capabilities(keep); st)
    spdlog::info("capabilities dropped (effective now {})", effective_capabilities());
  else
    spdlog::warn("could not drop capabilities: {}", st.message());

  // The store's periodic inputs: the agent's metrics, and finished minutes of the profile.
  // The minute the agent started in is kept too once it is over (its samples are from its start).
  uint64_t last_sample_ns = 0, last_minute = core::now_wall_ns() / 60000000000ULL - 1;
  // Each minute of the continuous profile, once it is over: to the store and the exporters.
  auto feed_profiles = [&] {
    bool to_store = db && config.store.profiles;
    if (!profiler || (!to_store && !exporters)) return;
    for (auto& [minute, folded] : profiler->finished_minutes(last_minute)) {
      last_minute = minute;
      if (exporters) exporters->on_profile(minute * 60000000000ULL, folded);
      if (to_store) db->add_profile(minute, std::move(folded));
    }
  };
  auto feed_store = [&] {
    uint64_t now = core::now_wall_ns();
    if (config.store.metrics_interval_s && now - last_sample_ns >= config.store.metrics_interval_s * 1000000000ULL) {
      last_sample_ns = now;
      db->add_samples(now, sample_rows(collect_metrics(runner, kinds, engine.get(), db.get(), exporters.get(), &live, &governor, &memory, anomalies.get())));
    }
    if (config.store.profiles && profiler) {
      std::vector<store::RequestStackRow> rows;
      for (auto& r : profiler->take_request_stacks())
        rows.push_back({r.time_ns, r.pid, r.tid, r.offcpu, std::move(r.stack), r.value});
      db->add_request_stacks(std::move(rows));
    }
  };

  // The governor, once a second: the cost since the last look, and a level step when due.
  uint64_t gov_last_ns = 0;
  double gov_last_cpu = 0;
  bool stats_refused = false;
  const unsigned ncpus = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  auto govern = [&] {
    uint64_t now = core::now_boot_ns();
    if (now - gov_last_ns < 1000000000ULL) return;
    double cpu = self_cpu_seconds();
    BpfCost::Counters counters;
    if (governor.cost.mode() != BpfStatsMode::kOff)
      for (const auto& s : runner.sources())
        if (s.running)
          for (const auto& p : s.source->program_stats()) counters[{s.name, p.name}] = {p.run_count, p.run_time_ns};
    std::lock_guard lock(governor.mu);
    if (int err = bpf_stats.set(governor.cost.tick(now, counters, bpf_stats.on())); err && !stats_refused) {
      stats_refused = true;
      spdlog::warn("governor: BPF run-time statistics could not be switched on ({}): BPF programs' cost not counted",
                   std::strerror(err));
    }
    if (gov_last_ns) {
      double wall = static_cast<double>(now - gov_last_ns) / 1e9;
      double cost = cost_percent(cpu - gov_last_cpu + governor.cost.ns_per_s() * wall / 1e9, wall, ncpus);
      int before = governor.g.level();
      if (governor.g.observe(cost)) {
        std::string doing;
        for (const auto& s : runner.sources())
          if (s.running)
            if (std::string d = s.source->shed(governor.g.level()); !d.empty()) doing += (doing.empty() ? "" : "; ") + d;
        governor.doing = doing;
        spdlog::warn("governor: {} {}: {}", governor.g.level() > before ? "shedding" : "restoring", governor.g.reason(),
                     doing.empty() ? "full detail" : doing);
      }
    }
    gov_last_ns = now;
    gov_last_cpu = cpu;
  };

  // The memory budget, once a second: near it, caches go first, then detail (agent/memory.h).
  uint64_t mem_last_s = 0;
  auto guard_memory = [&] {
    uint64_t now_s = core::now_boot_ns() / 1000000000ULL;
    if (now_s == mem_last_s) return;
    mem_last_s = now_s;
    // Maps that allocate on use grow with what they hold: their memory is read again every
    // 5 s (an fdinfo read a map), the agent's own every second.
    if (now_s % 5 == 0) kernel_bytes = map_bytes();
    Resident res = read_resident();
    MemoryUse use{res.rss, res.anon, kernel_bytes};
    int level;
    {
      std::lock_guard lock(memory.mu);
      memory.use = use;
      level = memory.guard.observe(use.total(), now_s);
    }
    if (!level) return;
    std::vector<std::string> what;
    if (level >= 2) {
      if (db) db->release_memory(), what.push_back("sqlite_cache");
      for (const auto& s : runner.sources())
        if (s.running)
          for (auto& w : s.source->release_memory(level - 1)) what.push_back(std::move(w));
    }
    malloc_trim(0);
    what.push_back("heap");
    uint64_t after = read_resident().anon;
    std::string list;
    {
      std::lock_guard lock(memory.mu);
      for (const auto& w : what) memory.shed[w]++, list += (list.empty() ? "" : ", ") + w;
    }
    auto log = level >= 2 ? spdlog::level::warn : spdlog::level::debug;
    spdlog::log(log, "memory: {} MiB of the {} MiB budget in use: gave back {} ({} MiB of anonymous memory)", use.total() >> 20,
                 config.memory_limit >> 20, list, use.anon > after ? (use.anon - after) >> 20 : 0);
  };

  // Learnt profiles, kept across restarts: written every minute and at stop (a whole new file
  // renamed over the old one, so a crash leaves one or the other).
  const std::string profiles_file = engine && config.rules.baseline ? baseline_file(config) : std::string();
  uint64_t profiles_saved_s = core::now_boot_ns() / 1000000000ULL;
  auto save_profiles = [&] {
    if (profiles_file.empty()) return;
    profiles_saved_s = core::now_boot_ns() / 1000000000ULL;
    std::string tmp = profiles_file + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << engine->baseline_json();
      if (!out) return (void)spdlog::warn("rules: cannot write {}: {}", tmp, std::strerror(errno));
    }
    if (rename(tmp.c_str(), profiles_file.c_str()) != 0)
      spdlog::warn("rules: cannot write {}: {}", profiles_file, std::strerror(errno));
  };

  // Anomalies, every anomaly.interval_s: the series' points to the models, and an anomaly event
  // (to the store, the exporters and the rules: the rule `anomaly` alerts) for each change.
  auto watch_anomalies = [&] {
    const uint64_t mono = core::now_boot_ns();
    if (!anomalies->due(mono)) return;
    uint64_t busy = 0, all = 0;
    read_cpu_ticks(&busy, &all);
    const uint64_t wall = core::now_wall_ns();
    auto families = collect_metrics(runner, kinds, engine.get(), db.get(), exporters.get(), &live, &governor, &memory, nullptr);
    for (const auto& a : anomalies->observe(families, busy, all, wall, mono)) {
      if (a.until_s) spdlog::info("anomaly ended: {}", a.text);
      else spdlog::warn("anomaly: {}", a.text);
      core::Event e;
      e.kind = core::EventKind::kAnomaly;
      e.ts_boot_ns = mono;
      e.ts_wall_ns = wall;
      e.duration_ns = a.until_s ? (a.until_s - a.since_s) * 1000000000ULL : 0;
      e.anomaly = &a;
      runner.on_event(e);
    }
  };

  // The models, kept across restarts: every 10 minutes and at stop (a whole new file renamed over
  // the old one).
  uint64_t models_saved_s = core::now_boot_ns() / 1000000000ULL;
  auto save_models = [&] {
    if (!anomalies || models_file.empty()) return;
    models_saved_s = core::now_boot_ns() / 1000000000ULL;
    std::string tmp = models_file + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << anomalies->save();
      if (!out) return (void)spdlog::warn("anomaly: cannot write {}: {}", tmp, std::strerror(errno));
    }
    if (rename(tmp.c_str(), models_file.c_str()) != 0)
      spdlog::warn("anomaly: cannot write {}: {}", models_file, std::strerror(errno));
  };

  // SIGHUP: new rules between two drains; the kernel keeps events in its rings meanwhile.
  runner.run(stop, config.poll_interval_ms, 0, [&] {
    govern();
    if (anomalies) watch_anomalies();
    if (core::now_boot_ns() / 1000000000ULL >= models_saved_s + 600) save_models();
    guard_memory();
    if (core::now_boot_ns() / 1000000000ULL >= profiles_saved_s + 60) save_profiles();
    feed_profiles();
    if (db) feed_store();
    if (exporters) exporters->tick([&] { return collect_metrics(runner, kinds, engine.get(), db.get(), exporters.get(), &live, &governor, &memory, anomalies.get()); });
    if (!reload || !reload->exchange(false) || !engine) return;
    std::shared_ptr<rules::RuleSet> rs;
    if (auto st = load(&rs); !st) {
      engine->reloaded(false);
      spdlog::error("rules: reload failed, the previous rules stay: {}", st.message());
      return;
    }
    std::string acting;
    if (auto st = enforcement.reload(*rs, config.rules.enforce, &acting); !st) {
      engine->reloaded(false);
      spdlog::error("rules: reload failed, the previous rules stay: {}", st.message());
      return;
    }
    spdlog::info("rules: reloaded, {} enabled", rs->enabled_count());
    if (!acting.empty()) spdlog::info("rules: acting in the kernel:\n{}", acting);
    // Syscalls the new rules name start sending before the rules see events.
    if (auto want = rs->syscalls(); want != rule_syscalls) {
      sources::SourceOptions o;
      o.own_as<sources::SecurityOptions>().syscalls = want;
      for (const auto& s : runner.sources())
        if (s.running && s.name == "security") {
          if (auto st = s.source->retune(o); !st) spdlog::warn("rules: {}", st.message());
          else rule_syscalls = std::move(want);
        }
    }
    engine->reloaded(true);
    engine->set_rules(std::move(rs), enforcement.generation());
  });


  spdlog::info("stopping");
  save_profiles();
  save_models();
  live.close_all();
  http.stop();
  for (const auto& s : runner.sources()) {
    if (!s.running) continue;
    auto st = s.source->stats();
    spdlog::info("source {}: {} events, {} lost (ring buffer full {}, pairing map full {})", s.name,
                 st.events, st.lost_ringbuf + st.lost_pairing + st.decode_errors, st.lost_ringbuf,
                 st.lost_pairing);
  }
  runner.stop_all();
  if (!config.pin_maps.empty()) rmdir(config.pin_maps.c_str());  // the sources removed theirs
  exporters.reset();  // what is not sent goes to the spool
  if (db) {
    auto st = db->stats();
    db.reset();  // commits what is queued
    spdlog::info("store: {} rows dropped (queue full), {} batches", st.rows_dropped, st.batches);
  }
  return 0;
}

}  // namespace sightline::agent
