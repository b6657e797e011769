// uprobe source (bpf/uprobe.bpf.c, sightline/uprobe.h).
#include "sources/uprobe/uprobe_source.h"

#include <tuple>

#include "bpf/libbpf_util.h"
#include "sightline/uprobe.h"
#include "sources/aggregate.h"
#include "sources/bpf_source.h"
#include "sources/decode.h"
#include "sources/uprobe/uprobe_target.h"

// The skeleton names the ABI types of sightline/*.h: it comes after them.
#include "uprobe.skel.h"

namespace sightline::sources {
namespace {

constexpr SkeletonFns<uprobe_bpf> kFns = {&uprobe_bpf__open, &uprobe_bpf__load, &uprobe_bpf__attach,
                                          &uprobe_bpf__destroy};
constexpr size_t kMaxSeries = 4096;

using CallLabel = std::pair<std::string, std::string>;  // probe, process key

class UprobeSource final : public SkeletonSource<uprobe_bpf, kFns, 1 << 20> {
 public:
  std::string_view name() const override { return "uprobe"; }

  std::vector<Hook> plan(const bpf::Features& f, const SourceOptions& o) const override {
    std::string note = base_requirements(f);
    if (note.empty() && !f.uprobe) note = "no uprobe PMU: kernel built without CONFIG_UPROBE_EVENTS";
    if (note.empty() && o.own_as<UprobeOptions>().probes.empty()) note = "no probes configured";
    bool any_latency = false;
    for (const auto& u : o.own_as<UprobeOptions>().probes) any_latency |= u.latency;
    std::string ret_note = note.empty() && !any_latency ? "no probe asks for latency" : note;
    return {{"sl_uprobe_entry", "uprobe on each probed function", note.empty(), note},
            {"sl_uprobe_return", "uretprobe on each timed function", ret_note.empty(), ret_note}};
  }

  core::Status start(const SourceOptions& o, const bpf::Features& f, EventSink* sink) override {
    name_of_ = o.process_name;
    // Resolve every target first: a typo is an error before anything is loaded.
    std::vector<std::pair<UprobeFunction, const UprobeSpec*>> fns;
    for (const auto& spec : o.own_as<UprobeOptions>().probes) {
      std::vector<UprobeFunction> found;
      size_t room = SL_UPROBE_MAX_PROBES - fns.size();
      if (auto st = resolve_uprobe(spec.target, o.filter.pid, room, &found); !st)
        return core::Status::error(st.err(), "uprobe: " + st.message());
      for (auto& fn : found) fns.emplace_back(std::move(fn), &spec);
    }
    if (auto st = start_skeleton(skel_, kFns, o, f, sink, 1 << 20); !st) return st;
    names_.clear();
    int conf_fd = bpf_map__fd(skel_->maps.uprobe_conf);
    int pid = o.filter.pid ? static_cast<int>(o.filter.pid) : -1;
    for (uint32_t id = 0; id < fns.size(); id++) {
      const auto& [fn, spec] = fns[id];
      sl_uprobe_conf c = {};
      c.latency = spec->latency;
      c.stream = spec->stream;
      c.str_arg = static_cast<uint8_t>(spec->str_arg);
      bpf_map_update_elem(conf_fd, &id, &c, BPF_ANY);
      names_.push_back(fn.label);
      for (bool ret : {false, true}) {
        if (ret && !spec->latency) continue;
        bpf_uprobe_opts opts = {};
        opts.sz = sizeof opts;
        opts.bpf_cookie = id;
        opts.retprobe = ret;
        bpf_link* l = bpf_program__attach_uprobe_opts(ret ? skel_->progs.sl_uprobe_return : skel_->progs.sl_uprobe_entry,
                                                      pid, fn.path.c_str(), fn.offset, &opts);
        if (!l) {
          int err = errno;
          stop();
          return bpf::libbpf_error(err, "uprobe: attaching to " + fn.label + " (" + fn.path + "+0x" +
                                            hex(fn.offset) + ")");
        }
        keep_link(l);
      }
    }
    return {};
  }

  void collect(std::vector<core::MetricFamily>& out) override {
    if (!skel_) return;
    calls_.read(
        bpf_map__fd(skel_->maps.uprobe_calls),
        [&](const sl_uprobe_key& k) {
          return CallLabel{k.probe < names_.size() ? names_[k.probe] : "?", process_label(name_of_, k.tgid)};
        },
        [](const CallLabel& l) { return CallLabel{l.first, overflow_key(l.second)}; });
    core::MetricFamily calls{"sightline_uprobe_calls_total", "Calls of probed user-space functions, by probe and process",
                             core::MetricType::kCounter};
    for (const auto& [l, n] : calls_.totals())
      calls.series.push_back({process_labels(l.second, {{"probe", l.first}}), double(n.n), {}});
    core::MetricFamily lat{"sightline_uprobe_latency_seconds", "Entry to return of timed probed functions, by probe",
                           core::MetricType::kHistogram};
    lat.scale = 1e-9;
    lat.bounds = core::LogHistogram::pow2_bounds(8, 34, 2);  // 256 ns .. 17 s
    std::vector<sl_hist> per_cpu(bpf::possible_cpus());
    int fd = bpf_map__fd(skel_->maps.uprobe_latency);
    for (uint32_t id = 0; id < names_.size(); id++) {
      if (bpf_map_lookup_elem(fd, &id, per_cpu.data()) != 0) continue;
      core::MetricSeries s;
      s.labels = {{"probe", names_[id]}};
      for (const auto& h : per_cpu) s.hist.merge(h);
      if (s.hist.count()) lat.series.push_back(std::move(s));
    }
    core::MetricFamily over = overflow_family("uprobe", calls_.overflowed());
    for (auto* f : {&calls, &lat, &over}) out.push_back(std::move(*f));
  }

 protected:
  bool decode(const void* data, size_t size) override {
    core::Event e;
    if (!decode_uprobe_record(data, size, names_, e)) return false;
    if (sink_) sink_->on_event(e);
    return true;
  }

 private:
  static std::string hex(uint64_t v) {
    char b[24];
    snprintf(b, sizeof b, "%llx", static_cast<unsigned long long>(v));
    return b;
  }
  std::vector<std::string> names_;  // by probe id (the attach cookie)
  DeltaTotals<sl_uprobe_key, Count, CallLabel> calls_{kMaxSeries, &process_settled_};
};

}  // namespace

std::unique_ptr<Source> make_uprobe_source() { return std::make_unique<UprobeSource>(); }

constexpr core::EventKind kUprobeKinds[] = {core::EventKind::kUprobe};
constinit const SourceInfo kUprobeSource = {
    "uprobe",
    "user-space functions by symbol: calls, latency histograms, arguments and return values",
    kUprobeKinds, /*streams=*/true, /*has_failed=*/false,
    &make_options<UprobeOptions>, &make_uprobe_source};

}  // namespace sightline::sources
