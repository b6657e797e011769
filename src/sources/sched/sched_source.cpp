// sched source (bpf/sched.bpf.c, sightline/sched.h).
#include "sources/sched/sched_source.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <map>

#include "bpf/libbpf_util.h"
#include "sightline/sched.h"
#include "sources/aggregate.h"
#include "sources/bpf_source.h"

// The skeleton names the ABI types of sightline/*.h: it comes after them.
#include "sched.skel.h"

namespace sightline::sources {
namespace {

constexpr SkeletonFns<sched_bpf> kFns = {&sched_bpf__open, &sched_bpf__load, &sched_bpf__attach,
                                         &sched_bpf__destroy};

// Process names tracked; beyond, comm="__overflow__".
constexpr size_t kMaxSeries = 4096;

struct Totals {
  uint64_t cpu_ns = 0, runq_ns = 0, runq_count = 0, blocked_ns = 0, voluntary = 0, involuntary = 0;
  Totals& operator+=(const Totals& o) {
    cpu_ns += o.cpu_ns, runq_ns += o.runq_ns, runq_count += o.runq_count;
    blocked_ns += o.blocked_ns, voluntary += o.voluntary, involuntary += o.involuntary;
    return *this;
  }
  Totals operator-(const Totals& o) const {
    return {cpu_ns - o.cpu_ns,         runq_ns - o.runq_ns,     runq_count - o.runq_count,
            blocked_ns - o.blocked_ns, voluntary - o.voluntary, involuntary - o.involuntary};
  }
};
static_assert(sizeof(Totals) == sizeof(sl_sched_val));

class SchedSource final : public SkeletonSource<sched_bpf, kFns, 4096>, public ThreadTimeProvider {
 public:
  bool thread_time(int pid, sl_thread_time* out) const override {
    if (!skel_) return false;
    sl_sched_thread t{};
    int fd = bpf_map__fd(skel_->maps.sched_ts);
    bool ok;
    if (bpf_map__type(skel_->maps.sched_ts) != BPF_MAP_TYPE_TASK_STORAGE) {  // before 5.15: by thread id
      uint32_t tid = static_cast<uint32_t>(pid);
      ok = bpf_map_lookup_elem(fd, &tid, &t) == 0;
    } else {
      int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
      if (pidfd < 0) return false;
      ok = bpf_map_lookup_elem(fd, &pidfd, &t) == 0;
      close(pidfd);
    }
    if (ok) *out = t.t;
    return ok;
  }
  std::string_view name() const override { return "sched"; }
  // Its per-thread time, for l7's timelines (SourceOptions::thread_time_fd).
  int shared_map_fd(std::string_view map) const override {
    return skel_ && map == "thread_time" ? bpf_map__fd(skel_->maps.sched_ts) : -1;
  }

  std::vector<Hook> plan(const bpf::Features& f, const SourceOptions&) const override {
    return tp_btf_plan(f,
                       {{"sl_sched_wakeup", "sched_wakeup"},
                        {"sl_sched_wakeup_new", "sched_wakeup_new"},
                        {"sl_sched_switch", "sched_switch"},
                        {"sl_sched_runtime", "sched_stat_runtime"}});
  }

  core::Status start(const SourceOptions& o, const bpf::Features& f, EventSink* sink) override {
    cgroup_info_ = o.cgroup_info;
    name_of_ = o.process_name;
    auto st = start_skeleton<sched_bpf>(skel_, kFns, o, f, sink, 4096, [](sched_bpf* s) {
      // Allocated on use, the per-process map can fail an insert right after attach: every
      // running process's first switch inserts at once, and the allocator's per-CPU cache starts
      // with a few entries (ENOMEM, counted as a full map; seen in CI under an exec burst). Its
      // whole bound preallocated costs about 64 bytes an entry plus its value per CPU: taken up to
      // 4 MiB (machines of up to 4 CPUs); larger ones keep allocation on use and that rare loss.
      size_t per_entry = 64 + sizeof(sl_sched_val) * static_cast<size_t>(bpf::possible_cpus());
      if (per_entry * SL_SCHED_MAX_PROCS <= (4u << 20))
        bpf_map__set_map_flags(s->maps.sched_procs, bpf_map__map_flags(s->maps.sched_procs) & ~BPF_F_NO_PREALLOC);
    });
    if (st) {  // the catch-all slot for cgroups past the map's bound
      std::vector<sl_hist> zero(bpf::possible_cpus());
      uint64_t other = 0;
      bpf_map_update_elem(bpf_map__fd(skel_->maps.runq_hist), &other, zero.data(), BPF_NOEXIST);
    }
    return st;
  }

  void collect(std::vector<core::MetricFamily>& out) override {
    if (!skel_) return;
    procs_.read(
        bpf_map__fd(skel_->maps.sched_procs),
        [&](const uint32_t& tgid) { return process_label(name_of_, tgid); },
        [](const std::string& key) { return overflow_key(key); });

    using core::MetricType;
    core::MetricFamily cpu{"sightline_cpu_seconds_total", "On-CPU time, by process name",
                           MetricType::kCounter};
    core::MetricFamily runq{"sightline_runqueue_wait_seconds_total",
                            "Time runnable but waiting for a CPU, by process name",
                            MetricType::kCounter};
    core::MetricFamily blocked{"sightline_blocked_seconds_total",
                               "Off-CPU time while blocked (sleep, I/O, locks), by process name",
                               MetricType::kCounter};
    core::MetricFamily cs{"sightline_context_switches_total",
                          "Context switches, by process name and kind (voluntary: blocked; "
                          "involuntary: preempted)",
                          MetricType::kCounter};
    for (const auto& [key, t] : procs_.totals()) {
      core::Labels l = process_labels(key);
      cpu.series.push_back({l, t.cpu_ns * 1e-9, {}});
      runq.series.push_back({l, t.runq_ns * 1e-9, {}});
      blocked.series.push_back({l, t.blocked_ns * 1e-9, {}});
      cs.series.push_back({process_labels(key, {{"kind", "voluntary"}}), double(t.voluntary), {}});
      cs.series.push_back({process_labels(key, {{"kind", "involuntary"}}), double(t.involuntary), {}});
    }
    core::MetricFamily lat{
        "sightline_runqueue_latency_seconds",
        "Time from becoming runnable (wakeup or preemption) to running, whole node",
        MetricType::kHistogram};
    lat.scale = 1e-9;
    lat.bounds = core::LogHistogram::pow2_bounds(10, 30, 2);  // 1 us .. 1 s
    core::MetricFamily cglat{
        "sightline_cgroup_runqueue_latency_seconds",
        "Run-queue latency by cgroup v2 path and container id of the waiting task (cgroup "
        "\"__other__\": past the bound of " + std::to_string(SL_SCHED_MAX_CGROUPS) + " cgroups)",
        MetricType::kHistogram};
    cglat.scale = lat.scale;
    cglat.bounds = lat.bounds;
    core::MetricSeries all;
    std::map<std::pair<std::string, std::string>, core::LogHistogram> by_cgroup;
    std::vector<sl_hist> per_cpu(bpf::possible_cpus());
    int fd = bpf_map__fd(skel_->maps.runq_hist);
    uint64_t key = 0, next = 0;
    std::vector<uint64_t> gone;
    for (bool first = true; bpf_map_get_next_key(fd, first ? nullptr : &key, &next) == 0; first = false) {
      key = next;
      if (bpf_map_lookup_elem(fd, &key, per_cpu.data()) != 0) continue;
      core::LogHistogram h;
      for (const auto& one : per_cpu) h.merge(one);
      std::pair<std::string, std::string> info = {kOther, ""};
      if (key) {
        info = cgroup_info_ ? cgroup_info_(key) : std::pair<std::string, std::string>{};
        if (info.first.empty()) {  // removed (or not resolvable): its counts live on in __other__
          retired_.merge(h);
          gone.push_back(key);
          continue;
        }
      }
      by_cgroup[info].merge(h);
      all.hist.merge(h);
    }
    for (uint64_t k : gone) bpf_map_delete_elem(fd, &k);
    by_cgroup[{kOther, ""}].merge(retired_);
    all.hist.merge(retired_);
    for (auto& [info, h] : by_cgroup) {
      core::MetricSeries s;
      s.labels = {{"cgroup", info.first}, {"container_id", info.second}};
      s.hist = h;
      cglat.series.push_back(std::move(s));
    }
    events_.store(all.hist.count(), std::memory_order_relaxed);
    lat.series.push_back(std::move(all));
    core::MetricFamily over = overflow_family("sched", procs_.overflowed());
    for (auto* f : {&cpu, &runq, &blocked, &cs, &lat, &cglat, &over}) out.push_back(std::move(*f));
  }

 private:
  static constexpr const char* kOther = "__other__";

  DeltaTotals<uint32_t, Totals, std::string> procs_{kMaxSeries, &process_settled_};
  std::function<std::pair<std::string, std::string>(uint64_t)> cgroup_info_;
  core::LogHistogram retired_;  // waits of cgroups since removed (counters never go down)
};

}  // namespace

std::unique_ptr<Source> make_sched_source() { return std::make_unique<SchedSource>(); }

constinit const SourceInfo kSchedSource = {
    "sched",
    "CPU time, run-queue wait and latency, blocked time, context switches (in-kernel)",
    {}, /*streams=*/false, /*has_failed=*/false,
    nullptr, &make_sched_source};

}  // namespace sightline::sources
