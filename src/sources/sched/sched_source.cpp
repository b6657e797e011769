// sched source (bpf/sched.bpf.c, sightline/sched.h).
#include "sources/sched/sched_source.h"

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

class SchedSource final : public SkeletonSource<sched_bpf, kFns, 4096> {
 public:
  std::string_view name() const override { return "sched"; }

  std::vector<Hook> plan(const bpf::Features& f, const SourceOptions&) const override {
    return tp_btf_plan(f,
                       {{"sl_sched_wakeup", "sched_wakeup"},
                        {"sl_sched_wakeup_new", "sched_wakeup_new"},
                        {"sl_sched_switch", "sched_switch"},
                        {"sl_sched_runtime", "sched_stat_runtime"}},
                       true);
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
    core::MetricSeries all;
    int ncpu = libbpf_num_possible_cpus();
    std::vector<sl_hist> per_cpu(static_cast<size_t>(ncpu > 0 ? ncpu : 1));
    uint32_t zero = 0;
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.runq_hist), &zero, per_cpu.data()) == 0)
      for (const auto& h : per_cpu) all.hist.merge(h);
    events_.store(all.hist.count(), std::memory_order_relaxed);
    lat.series.push_back(std::move(all));
    core::MetricFamily over = overflow_family("sched", procs_.overflowed());
    for (auto* f : {&cpu, &runq, &blocked, &cs, &lat, &over}) out.push_back(std::move(*f));
  }

 private:
  DeltaTotals<uint32_t, Totals, std::string> procs_{kMaxSeries};
};

}  // namespace

std::unique_ptr<Source> make_sched_source() { return std::make_unique<SchedSource>(); }

}  // namespace sightline::sources
