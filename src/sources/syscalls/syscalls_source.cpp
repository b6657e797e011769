// syscalls source (bpf/syscalls.bpf.c, sightline/syscalls.h): reads the kernel's per-CPU
// aggregation maps each interval, turns per-process counters into per-(name, syscall) series
// with a cap, and forgets the keys of processes that exited.
#include <bpf/bpf.h>
#include <signal.h>

#include <map>
#include <unordered_map>

#include "bpf/libbpf_util.h"
#include "core/render.h"
#include "core/syscalls.h"
#include "sightline/syscalls.h"
#include "sources/bpf_source.h"
#include "sources/syscalls/syscalls_source.h"

// The skeleton names the ABI types of sightline/*.h: it comes after them.
#include "syscalls.skel.h"

namespace sightline::sources {
namespace {

constexpr SkeletonFns<syscalls_bpf> kFns = {&syscalls_bpf__open, &syscalls_bpf__load,
                                            &syscalls_bpf__attach, &syscalls_bpf__destroy};

// Series per family: (process name, syscall) pairs beyond this fold into comm="__overflow__",
// so a fork bomb of uniquely named processes cannot grow the exposition without bound.
constexpr size_t kMaxSeries = 4096;
constexpr const char* kOverflow = "__overflow__";

bool alive(uint32_t pid) { return kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH; }

struct Totals {
  uint64_t count = 0, errors = 0, time_ns = 0;
};

class SyscallsSource final : public BpfSource {
 public:
  ~SyscallsSource() override { stop(); }
  std::string_view name() const override { return "syscalls"; }

  std::vector<Hook> plan(const bpf::Features& f, const SourceOptions&) const override {
    std::string why;
    if (!f.btf || !f.can_load) why = base_requirements(f);
    else if (!f.tp_btf) why = "needs tp_btf (kernel 5.5+)";
    else if (!f.task_storage || !f.task_pt_regs) why = "needs task local storage and task BTF (kernel 5.11+)";
    return {Hook{"sl_sys_enter", "tp_btf sys_enter", why.empty(), why},
            Hook{"sl_sys_exit", "tp_btf sys_exit", why.empty(), why}};
  }

  core::Status start(const SourceOptions& o, const bpf::Features& f, EventSink* sink) override {
    name_of_ = o.process_name;
    return start_skeleton(skel_, kFns, o, f, sink, 4096);
  }
  void stop() override { stop_skeleton(skel_, kFns); }

  void collect(std::vector<core::MetricFamily>& out) override {
    if (!skel_) return;
    read_counts();
    read_errors();
    emit(out);
  }

 private:
  std::string label_of(uint32_t tgid) {
    std::string n = name_of_ ? name_of_(tgid) : std::string();
    return n.empty() ? "unknown" : n;
  }

  // Adds `delta` to the series (name, ...) unless the cap is reached.
  template <class Map, class Key>
  typename Map::mapped_type& series(Map& m, Key key, std::string& name_field) {
    auto it = m.find(key);
    if (it != m.end()) return it->second;
    if (m.size() >= kMaxSeries) {
      overflowed_++;
      name_field = kOverflow;
    }
    return m[key];
  }

  void read_counts() {
    int fd = bpf_map__fd(skel_->maps.sys_counts);
    int ncpu = libbpf_num_possible_cpus();
    std::vector<sl_sys_val> per_cpu(static_cast<size_t>(ncpu));
    std::vector<sl_sys_key> dead;
    sl_sys_key key, next;
    bool first = true;
    uint64_t total = 0;
    while (bpf_map_get_next_key(fd, first ? nullptr : &key, &next) == 0) {
      first = false;
      key = next;
      if (bpf_map_lookup_elem(fd, &key, per_cpu.data()) != 0) continue;
      sl_sys_val sum = {};
      for (const auto& v : per_cpu) {
        sum.count += v.count;
        sum.errors += v.errors;
        sum.time_ns += v.time_ns;
      }
      uint64_t id = (uint64_t(key.tgid) << 32) | key.nr;
      auto& st = keys_[id];
      if (st.label.empty()) st.label = label_of(key.tgid);
      std::string label = st.label;
      Totals& t = series(totals_, std::make_pair(label, key.nr), label);
      Totals& target = label == kOverflow ? totals_[{kOverflow, key.nr}] : t;
      target.count += sum.count - st.last.count;
      target.errors += sum.errors - st.last.errors;
      target.time_ns += sum.time_ns - st.last.time_ns;
      st.last = sum;
      total += sum.count;
      if (!alive(key.tgid)) dead.push_back(key);
    }
    for (const auto& k : dead) {
      bpf_map_delete_elem(fd, &k);
      keys_.erase((uint64_t(k.tgid) << 32) | k.nr);
    }
    events_.store(events_.load(std::memory_order_relaxed) + 0, std::memory_order_relaxed);
    (void)total;
  }

  void read_errors() {
    int fd = bpf_map__fd(skel_->maps.sys_errors);
    int ncpu = libbpf_num_possible_cpus();
    std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpu));
    std::vector<sl_sys_err_key> dead;
    sl_sys_err_key key, next;
    bool first = true;
    while (bpf_map_get_next_key(fd, first ? nullptr : &key, &next) == 0) {
      first = false;
      key = next;
      if (bpf_map_lookup_elem(fd, &key, per_cpu.data()) != 0) continue;
      uint64_t sum = 0;
      for (uint64_t v : per_cpu) sum += v;
      ErrId id{key.tgid, key.nr, key.err};
      auto& st = err_keys_[id];
      if (st.label.empty()) st.label = label_of(key.tgid);
      std::string label = st.label;
      uint64_t& t = series(err_totals_, std::make_tuple(label, key.nr, key.err), label);
      uint64_t& target = label == kOverflow ? err_totals_[{kOverflow, key.nr, key.err}] : t;
      target += sum - st.last;
      st.last = sum;
      if (!alive(key.tgid)) dead.push_back(key);
    }
    for (const auto& k : dead) {
      bpf_map_delete_elem(fd, &k);
      err_keys_.erase(ErrId{k.tgid, k.nr, k.err});
    }
  }

  void emit(std::vector<core::MetricFamily>& out) {
    core::MetricFamily calls{"sightline_syscalls_total", "System calls made, by process name and syscall",
                             core::MetricType::kCounter};
    core::MetricFamily secs{"sightline_syscall_seconds_total",
                            "Time spent inside system calls, by process name and syscall",
                            core::MetricType::kCounter};
    core::MetricFamily errs{"sightline_syscall_errors_total",
                            "Failed system calls, by process name, syscall and errno",
                            core::MetricType::kCounter};
    uint64_t total = 0;
    for (const auto& [k, t] : totals_) {
      core::Labels l = {{"comm", k.first}, {"syscall", std::string(core::syscall_name(k.second))}};
      calls.series.push_back({l, static_cast<double>(t.count), {}});
      secs.series.push_back({l, static_cast<double>(t.time_ns) * 1e-9, {}});
      total += t.count;
    }
    for (const auto& [k, n] : err_totals_) {
      core::Labels l = {{"comm", std::get<0>(k)},
                        {"syscall", std::string(core::syscall_name(std::get<1>(k)))},
                        {"errno", std::string(core::errno_name(static_cast<int>(std::get<2>(k))))}};
      errs.series.push_back({l, static_cast<double>(n), {}});
    }
    events_.store(total, std::memory_order_relaxed);

    core::MetricFamily lat{"sightline_syscall_latency_seconds",
                           "Time from syscall entry to exit, by syscall (all processes)",
                           core::MetricType::kHistogram};
    lat.scale = 1e-9;
    lat.bounds = core::LogHistogram::pow2_bounds(10, 34, 2);  // 1 us .. 17 s
    int fd = bpf_map__fd(skel_->maps.sys_latency);
    int ncpu = libbpf_num_possible_cpus();
    std::vector<sl_hist> per_cpu(static_cast<size_t>(ncpu));
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
    core::MetricFamily over{"sightline_series_overflow_total",
                            "Series folded into an __overflow__ label because a family hit its cap",
                            core::MetricType::kCounter};
    over.series.push_back({{{"source", "syscalls"}}, static_cast<double>(overflowed_), {}});
    out.push_back(std::move(calls));
    out.push_back(std::move(secs));
    out.push_back(std::move(errs));
    out.push_back(std::move(lat));
    out.push_back(std::move(over));
  }

  struct KeyState {
    sl_sys_val last{};
    std::string label;
  };
  struct ErrState {
    uint64_t last = 0;
    std::string label;
  };
  using ErrId = std::tuple<uint32_t, uint32_t, uint32_t>;

  syscalls_bpf* skel_ = nullptr;
  std::function<std::string(uint32_t)> name_of_;
  std::unordered_map<uint64_t, KeyState> keys_;
  std::map<ErrId, ErrState> err_keys_;
  std::map<std::pair<std::string, uint32_t>, Totals> totals_;
  std::map<std::tuple<std::string, uint32_t, uint32_t>, uint64_t> err_totals_;
  uint64_t overflowed_ = 0;
};

}  // namespace

std::unique_ptr<Source> make_syscalls_source() { return std::make_unique<SyscallsSource>(); }

}  // namespace sightline::sources
