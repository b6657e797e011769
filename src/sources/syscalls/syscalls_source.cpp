// syscalls source (bpf/syscalls.bpf.c, sightline/syscalls.h): reads the kernel's per-CPU
// aggregation maps each interval, turns per-process counters into per-(name, syscall) series
// with a cap, and forgets the keys of processes that exited.
#include "sources/syscalls/syscalls_source.h"

#include <tuple>

#include "bpf/libbpf_util.h"
#include "core/render.h"
#include "core/syscalls.h"
#include "sightline/syscalls.h"
#include "sources/aggregate.h"
#include "sources/bpf_source.h"

// The skeleton names the ABI types of sightline/*.h: it comes after them.
#include "syscalls.skel.h"

namespace sightline::sources {
namespace {

constexpr SkeletonFns<syscalls_bpf> kFns = {&syscalls_bpf__open, &syscalls_bpf__load,
                                            &syscalls_bpf__attach, &syscalls_bpf__destroy};

// Series per family: (process name, syscall) pairs beyond this fold into comm="__overflow__",
// so a fork bomb of uniquely named processes cannot grow the exposition without bound.
constexpr size_t kMaxSeries = 4096;

struct Totals {
  uint64_t count = 0, errors = 0, time_ns = 0;
  Totals& operator+=(const Totals& o) {
    count += o.count, errors += o.errors, time_ns += o.time_ns;
    return *this;
  }
  Totals operator-(const Totals& o) const {
    return {count - o.count, errors - o.errors, time_ns - o.time_ns};
  }
};
static_assert(sizeof(Totals) == sizeof(sl_sys_val));

using CallLabel = std::pair<std::string, uint32_t>;            // comm, syscall
using ErrLabel = std::tuple<std::string, uint32_t, uint32_t>;  // comm, syscall, errno

class SyscallsSource final : public SkeletonSource<syscalls_bpf, kFns, 4096> {
 public:
  std::string_view name() const override { return "syscalls"; }

  std::vector<Hook> plan(const bpf::Features& f, const SourceOptions& o) const override {
    auto hooks = tp_btf_plan(f, {{"sl_sys_enter", "sys_enter"}, {"sl_sys_exit", "sys_exit"}});
    if (!o.own_as<SyscallsOptions>().latency && hooks[0].enabled)
      hooks[0].enabled = false, hooks[0].note = "latency off: counts and errors only";
    return hooks;
  }

  core::Status start(const SourceOptions& o, const bpf::Features& f, EventSink* sink) override {
    name_of_ = o.process_name;
    latency_ = o.own_as<SyscallsOptions>().latency;
    return start_skeleton<syscalls_bpf>(skel_, kFns, o, f, sink, 4096, [&](syscalls_bpf* s) {
      s->rodata->measure_latency = o.own_as<SyscallsOptions>().latency;
      // Keys of exited processes are deleted at each read; between two reads an exec storm
      // (1k processes a second, ~25 syscalls each) needs more than 16k. Where entries are
      // allocated on use, a larger bound costs nothing until it is used.
      if (f.htab_mem_alloc) {
        bpf_map__set_max_entries(s->maps.sys_counts, 4 * SL_SYS_MAX_KEYS);
        bpf_map__set_max_entries(s->maps.sys_errors, 4 * SL_SYS_MAX_ERR_KEYS);
      }
    });
  }

  // The governor's first level: latency off (enter returns at once, exit counts untimed); the
  // counts and errors stay exact.
  std::string shed(int level) override {
    if (!skel_ || !skel_->bss || !latency_) return {};
    skel_->bss->latency_shed = level >= 1;
    return level >= 1 ? "syscall latency (counts and errors stay)" : "";
  }

  void collect(std::vector<core::MetricFamily>& out) override {
    if (!skel_) return;
    calls_.read(
        bpf_map__fd(skel_->maps.sys_counts),
        [&](const sl_sys_key& k) {
          return CallLabel{label_of(k.tgid), k.nr};
        },
        [](const CallLabel& l) {
          return CallLabel{overflow_key(l.first), l.second};
        });
    errors_.read(
        bpf_map__fd(skel_->maps.sys_errors),
        [&](const sl_sys_err_key& k) {
          return ErrLabel{label_of(k.tgid), k.nr, k.err};
        },
        [](const ErrLabel& l) {
          return ErrLabel{overflow_key(std::get<0>(l)), std::get<1>(l), std::get<2>(l)};
        });
    emit(out);
  }

 private:
  std::string label_of(uint32_t tgid) { return process_label(name_of_, tgid); }

  void emit(std::vector<core::MetricFamily>& out) {
    core::MetricFamily calls{"sightline_syscalls_total",
                             "System calls made, by process name and syscall",
                             core::MetricType::kCounter};
    core::MetricFamily secs{"sightline_syscall_seconds_total",
                            "Time spent inside system calls, by process name and syscall",
                            core::MetricType::kCounter};
    core::MetricFamily errs{"sightline_syscall_errors_total",
                            "Failed system calls, by process name, syscall and errno",
                            core::MetricType::kCounter};
    uint64_t total = 0;
    for (const auto& [k, t] : calls_.totals()) {
      core::Labels l = process_labels(k.first, {{"syscall", std::string(core::syscall_name(k.second))}});
      calls.series.push_back({l, static_cast<double>(t.count), {}});
      secs.series.push_back({l, static_cast<double>(t.time_ns) * 1e-9, {}});
      total += t.count;
    }
    for (const auto& [k, n] : errors_.totals()) {
      core::Labels l = process_labels(
          std::get<0>(k), {{"syscall", std::string(core::syscall_name(std::get<1>(k)))},
                           {"errno", std::string(core::errno_name(static_cast<int>(std::get<2>(k))))}});
      errs.series.push_back({l, static_cast<double>(n.n), {}});
    }
    events_.store(total, std::memory_order_relaxed);

    core::MetricFamily lat{"sightline_syscall_latency_seconds",
                           "Time from syscall entry to exit, by syscall (all processes)",
                           core::MetricType::kHistogram};
    lat.scale = 1e-9;
    lat.bounds = core::LogHistogram::pow2_bounds(10, 34, 2);  // 1 us .. 17 s
    int fd = bpf_map__fd(skel_->maps.sys_latency);
    std::vector<sl_hist> per_cpu(bpf::possible_cpus());
    uint32_t key, next;
    bool first = true;
    while (bpf_map_get_next_key(fd, first ? nullptr : &key, &next) == 0) {
      first = false;
      key = next;
      if (bpf_map_lookup_elem(fd, &key, per_cpu.data()) != 0) continue;
      core::MetricSeries s;
      s.labels = {{"syscall", std::string(core::syscall_name(key))}};
      for (const auto& h : per_cpu) s.hist.merge(h);
      lat.series.push_back(std::move(s));
    }
    core::MetricFamily over =
        overflow_family("syscalls", calls_.overflowed() + errors_.overflowed());
    out.push_back(std::move(calls));
    if (latency_) out.push_back(std::move(secs));
    out.push_back(std::move(errs));
    if (latency_) out.push_back(std::move(lat));
    out.push_back(std::move(over));
  }

  bool latency_ = true;
  DeltaTotals<sl_sys_key, Totals, CallLabel> calls_{kMaxSeries, &process_settled_};
  DeltaTotals<sl_sys_err_key, Count, ErrLabel> errors_{kMaxSeries, &process_settled_};
};

}  // namespace

std::unique_ptr<Source> make_syscalls_source() { return std::make_unique<SyscallsSource>(); }

constinit const SourceInfo kSyscallsSource = {
    "syscalls",
    "syscall counts, errors by errno, time and latency histograms (in-kernel)",
    {}, /*streams=*/false, /*has_failed=*/false,
    &make_options<SyscallsOptions>, &make_syscalls_source,
    // A program on every syscall of every process: a getppid loop 1.33x slower, nginx 0.75 of
    // its bare throughput with it against 1.00 and 0.84 without (bench/agent_overhead.sh).
    /*off_by_default=*/true};

}  // namespace sightline::sources
