// tracepoint source (bpf/tracepoint.bpf.c, sightline/tracepoint.h).
#include "sources/tracepoint/tracepoint_source.h"

#include <cstring>
#include <map>

#include "bpf/features.h"
#include "bpf/libbpf_util.h"
#include "sightline/tracepoint.h"
#include "sources/aggregate.h"
#include "sources/bpf_source.h"
#include "sources/decode.h"

// The skeleton names the ABI types of sightline/*.h: it comes after them.
#include "tracepoint.skel.h"

namespace sightline::sources {

core::Status tracepoint_format(const std::string& event, tracepoint::Format* out) {
  std::string e = event.starts_with("tp:") ? event.substr(3) : event;
  size_t colon = e.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= e.size() || e.find(':', colon + 1) != std::string::npos)
    return core::Status::error(EINVAL, "'" + event + "': expected CATEGORY:NAME (e.g. sched:sched_switch; "
                                                     "ls /sys/kernel/tracing/events)");
  std::string events = bpf::ensure_tracefs();
  if (events.empty()) return core::Status::error(ENOENT, "no tracefs: cannot read tracepoint formats");
  return tracepoint::load_format(events, e.substr(0, colon), e.substr(colon + 1), out);
}

namespace {

constexpr SkeletonFns<tracepoint_bpf> kFns = {&tracepoint_bpf__open, &tracepoint_bpf__load,
                                              &tracepoint_bpf__attach, &tracepoint_bpf__destroy};
constexpr size_t kMaxSeries = 4096;

class TracepointSource final : public SkeletonSource<tracepoint_bpf, kFns, 4u << 20> {
 public:
  std::string_view name() const override { return "tracepoint"; }

  std::vector<Hook> plan(const bpf::Features& f, const SourceOptions& o) const override {
    std::string note = base_requirements(f);
    if (note.empty() && !f.tracepoint) note = "no tracepoint program support";
    if (note.empty() && o.own_as<TracepointOptions>().probes.empty()) note = "no tracepoints configured";
    return {{"sl_tracepoint", "tracepoint, each configured one", note.empty(), note}};
  }

  core::Status start(const SourceOptions& o, const bpf::Features& f, EventSink* sink) override {
    stop();
    if (o.own_as<TracepointOptions>().probes.size() > SL_TP_MAX_PROBES)
      return core::Status::error(E2BIG, "tracepoint: at most " + std::to_string(SL_TP_MAX_PROBES) + " tracepoints");
    probes_.clear();
    std::vector<sl_tp_conf> confs;
    for (const auto& spec : o.own_as<TracepointOptions>().probes) {
      Probe p;
      if (auto st = tracepoint_format(spec.event, &p.fmt); !st) return core::Status::error(st.err(), "tracepoint: " + st.message());
      p.label = p.fmt.category + ":" + p.fmt.name;
      sl_tp_conf c = {};
      c.fixed = p.fmt.fixed_size;
      const std::string& fname = !spec.count_by.empty() ? spec.count_by : spec.hist;
      if (!fname.empty()) {
        const tracepoint::Field* fld = p.fmt.find(fname);
        if (!fld) {
          std::string names;
          for (const auto& x : p.fmt.fields)
            if (!x.common) names += (names.empty() ? "" : ", ") + x.name;
          return core::Status::error(EINVAL, "tracepoint: " + p.label + " has no field '" + fname + "' (fields: " + names + ")");
        }
        p.field = *fld;
        c.offset = fld->offset;
        c.size = fld->size;
        c.data_loc = fld->data_loc;
        c.is_signed = fld->is_signed;
        if (!spec.count_by.empty()) {
          c.mode = SL_TP_COUNT;
        } else {
          if (fld->array || fld->data_loc || (fld->size != 1 && fld->size != 2 && fld->size != 4 && fld->size != 8))
            return core::Status::error(EINVAL, "tracepoint: --hist needs an integer field; " + p.label + ":" + fname +
                                                   " is " + fld->type);
          c.mode = SL_TP_HIST;
        }
      }
      p.mode = c.mode;
      confs.push_back(c);
      probes_.push_back(std::move(p));
    }
    records_ = o.own_as<TracepointOptions>().records;
    if (auto st = start_skeleton(skel_, kFns, o, f, sink, 4u << 20); !st) return st;
    int fd = bpf_map__fd(skel_->maps.tp_conf);
    for (uint32_t id = 0; id < confs.size(); id++) {
      bpf_map_update_elem(fd, &id, &confs[id], BPF_ANY);
      bpf_tracepoint_opts opts = {};
      opts.sz = sizeof opts;
      opts.bpf_cookie = id;
      bpf_link* l = bpf_program__attach_tracepoint_opts(skel_->progs.sl_tracepoint, probes_[id].fmt.category.c_str(),
                                                        probes_[id].fmt.name.c_str(), &opts);
      if (!l) {
        int err = errno;
        stop();
        return bpf::libbpf_error(err, "tracepoint: attaching to " + probes_[id].label);
      }
      keep_link(l);
    }
    return {};
  }

  void collect(std::vector<core::MetricFamily>& out) override {
    if (!skel_) return;
    core::MetricFamily counts{"sightline_tracepoint_events_total",
                              "Tracepoint hits counted in the kernel, by tracepoint, field and the field's value",
                              core::MetricType::kCounter};
    std::map<std::pair<size_t, std::string>, uint64_t> sums;
    std::vector<uint64_t> per_cpu(bpf::possible_cpus());
    int fd = bpf_map__fd(skel_->maps.tp_counts);
    sl_tp_key k{}, next{};
    for (bool first = true; bpf_map_get_next_key(fd, first ? nullptr : &k, &next) == 0; first = false) {
      k = next;
      if (k.probe >= probes_.size() || bpf_map_lookup_elem(fd, &k, per_cpu.data()) != 0) continue;
      uint64_t n = 0;
      for (auto v : per_cpu) n += v;
      std::string value = key_text(probes_[k.probe].field, k.value);
      auto key = std::make_pair(static_cast<size_t>(k.probe), value);
      if (!sums.count(key) && sums.size() >= kMaxSeries) key.second = kOverflowLabel, overflowed_++;
      sums[key] += n;
    }
    for (const auto& [key, n] : sums) {
      const Probe& p = probes_[key.first];
      counts.series.push_back({{{"tracepoint", p.label}, {"field", p.field.name}, {"value", key.second}}, double(n), {}});
    }
    core::MetricFamily hist{"sightline_tracepoint_field_value", "Values of a tracepoint's integer field (--hist)",
                            core::MetricType::kHistogram};
    hist.bounds = core::LogHistogram::pow2_bounds(0, 40, 1);
    std::vector<sl_hist> hs(per_cpu.size());
    fd = bpf_map__fd(skel_->maps.tp_hist);
    for (uint32_t id = 0; id < probes_.size(); id++) {
      if (probes_[id].mode != SL_TP_HIST || bpf_map_lookup_elem(fd, &id, hs.data()) != 0) continue;
      core::MetricSeries s;
      s.labels = {{"tracepoint", probes_[id].label}, {"field", probes_[id].field.name}};
      for (const auto& h : hs) s.hist.merge(h);
      hist.series.push_back(std::move(s));
    }
    core::MetricFamily over = overflow_family("tracepoint", overflowed_);
    for (auto* f : {&counts, &hist, &over}) out.push_back(std::move(*f));
  }

 protected:
  bool decode(const void* data, size_t size) override {
    if (size < sizeof(sl_tp_event)) return false;
    const auto* e = static_cast<const sl_tp_event*>(data);
    if (e->hdr.kind != SL_EV_TRACEPOINT || e->probe >= probes_.size()) return false;
    core::Event hdr;
    decode_header(e->hdr, hdr);
    if (records_) records_(e->probe, e->data, sizeof e->data, hdr);
    return true;
  }

 private:
  struct Probe {
    tracepoint::Format fmt;
    std::string label;
    tracepoint::Field field;
    uint32_t mode = SL_TP_STREAM;
  };

  // The text of a counted field's value, from the key bytes.
  static std::string key_text(const tracepoint::Field& f, const uint8_t* bytes) {
    if (f.data_loc) return std::string(reinterpret_cast<const char*>(bytes), strnlen(reinterpret_cast<const char*>(bytes), SL_TP_KEY));
    tracepoint::Field at0 = f;
    at0.offset = 0;
    at0.size = std::min<uint32_t>(f.size, SL_TP_KEY);
    tracepoint::Value v;
    return tracepoint::field_value(at0, bytes, SL_TP_KEY, &v) ? v.text : "?";
  }

  std::vector<Probe> probes_;
  std::function<void(size_t, const uint8_t*, size_t, const core::Event&)> records_;
  uint64_t overflowed_ = 0;
};

}  // namespace

std::unique_ptr<Source> make_tracepoint_source() { return std::make_unique<TracepointSource>(); }

constinit const SourceInfo kTracepointSource = {
    "tracepoint",
    "any kernel tracepoint by name: counted by a field, a field's histogram, or its records",
    {}, /*streams=*/true, /*has_failed=*/false,
    &make_options<TracepointOptions>, &make_tracepoint_source};

}  // namespace sightline::sources
