// block source (bpf/block.bpf.c, sightline/block.h).
#include "sources/block/block_source.h"

#include <fstream>
#include <map>
#include <tuple>

#include "bpf/libbpf_util.h"
#include "sightline/block.h"
#include "sources/aggregate.h"
#include "sources/bpf_source.h"
#include "sources/decode.h"

// The skeleton names the ABI types of sightline/*.h: it comes after them.
#include "block.skel.h"

namespace sightline::sources {
namespace {

constexpr SkeletonFns<block_bpf> kFns = {&block_bpf__open, &block_bpf__load, &block_bpf__attach,
                                         &block_bpf__destroy};
constexpr size_t kMaxSeries = 4096;

struct ProcTotals {
  uint64_t ios = 0, bytes = 0;
  ProcTotals& operator+=(const ProcTotals& o) {
    ios += o.ios, bytes += o.bytes;
    return *this;
  }
  ProcTotals operator-(const ProcTotals& o) const { return {ios - o.ios, bytes - o.bytes}; }
};
static_assert(sizeof(ProcTotals) == sizeof(sl_block_proc_val));

using ProcLabel = std::tuple<std::string, uint32_t, uint32_t>;  // comm, dev, op

std::string op_name(uint32_t op) {
  switch (op) {
    case 0:
      return "read";
    case 1:
      return "write";
    case 2:
      return "flush";
    case 3:
      return "discard";
    case 5:
      return "secure_erase";
    case 9:
      return "write_zeroes";
  }
  return "op" + std::to_string(op);
}

class BlockSource final : public SkeletonSource<block_bpf, kFns, 4096> {
 public:
  std::string_view name() const override { return "block"; }

  core::Status start(const SourceOptions& o, const bpf::Features& f, EventSink* sink) override {
    name_of_ = o.process_name;
    want_io_ = o.kinds.empty() ? o.own_as<BlockOptions>().io_events : wants(o, core::EventKind::kBlockIo);
    bool io = want_io_;
    // Per-I/O records: 1 MiB (~10k I/Os between polls); else a ring nothing writes to.
    return start_skeleton<block_bpf>(skel_, kFns, o, f, sink, io ? 1 << 20 : 4096,
                                     [io](block_bpf* s) { s->rodata->want_io = io; });
  }

  std::vector<Hook> plan(const bpf::Features& f, const SourceOptions&) const override {
    return tp_btf_plan(f,
                       {{"sl_block_insert", "block_rq_insert"},
                        {"sl_block_issue", "block_rq_issue"},
                        {"sl_block_complete", "block_rq_complete"}});
  }

  void collect(std::vector<core::MetricFamily>& out) override {
    if (!skel_) return;
    using core::MetricType;
    core::MetricFamily lat{
        "sightline_block_io_latency_seconds",
        "Block I/O time from issue to the device until completion, by device and op",
        MetricType::kHistogram};
    lat.scale = 1e-9;
    lat.bounds = core::LogHistogram::pow2_bounds(12, 32, 2);  // 4 us .. 4.3 s
    core::MetricFamily size{"sightline_block_io_size_bytes", "Block I/O sizes, by device and op",
                            MetricType::kHistogram};
    size.bounds = core::LogHistogram::pow2_bounds(9, 21, 2);  // 512 B .. 2 MiB
    core::MetricFamily queue{"sightline_block_io_queue_seconds_total",
                             "Time block requests waited in the I/O scheduler before issue",
                             MetricType::kCounter};
    core::MetricFamily errs{"sightline_block_io_errors_total", "Block I/O completed with an error",
                            MetricType::kCounter};

    int fd = bpf_map__fd(skel_->maps.block_devops);
    std::vector<sl_block_val> per_cpu(bpf::possible_cpus());
    sl_block_key key{}, next{};
    bool first = true;
    uint64_t ios = 0;
    while (bpf_map_get_next_key(fd, first ? nullptr : &key, &next) == 0) {
      first = false;
      key = next;
      if (bpf_map_lookup_elem(fd, &key, per_cpu.data()) != 0) continue;
      core::Labels l = {{"device", device_name(key.dev)}, {"op", op_name(key.op)}};
      core::MetricSeries ls{l, 0, {}}, ss{l, 0, {}};
      uint64_t queue_ns = 0, errors = 0;
      for (const auto& v : per_cpu) {
        ls.hist.merge(v.latency);
        ss.hist.merge(v.size);
        queue_ns += v.queue_ns;
        errors += v.errors;
      }
      ios += ls.hist.count();
      lat.series.push_back(std::move(ls));
      size.series.push_back(std::move(ss));
      queue.series.push_back({l, queue_ns * 1e-9, {}});
      errs.series.push_back({l, double(errors), {}});
    }
    if (!want_io_) events_.store(ios, std::memory_order_relaxed);  // else: the records

    procs_.read(
        bpf_map__fd(skel_->maps.block_procs),
        [&](const sl_block_proc_key& k) {
          return ProcLabel{process_label(name_of_, k.tgid), k.dev, k.op};
        },
        [](const ProcLabel& l) {
          return ProcLabel{overflow_key(std::get<0>(l)), std::get<1>(l), std::get<2>(l)};
        });
    core::MetricFamily pios{"sightline_block_ios_total",
                            "Block I/Os completed, by submitting process name, device and op",
                            MetricType::kCounter};
    core::MetricFamily pbytes{
        "sightline_block_io_bytes_total",
        "Block I/O bytes completed, by submitting process name, device and op",
        MetricType::kCounter};
    for (const auto& [k, t] : procs_.totals()) {
      core::Labels l = process_labels(std::get<0>(k), {{"device", device_name(std::get<1>(k))},
                                                       {"op", op_name(std::get<2>(k))}});
      pios.series.push_back({l, double(t.ios), {}});
      pbytes.series.push_back({l, double(t.bytes), {}});
    }
    core::MetricFamily over = overflow_family("block", procs_.overflowed());
    for (auto* f : {&lat, &size, &queue, &errs, &pios, &pbytes, &over})
      out.push_back(std::move(*f));
  }

 protected:
  bool decode(const void* data, size_t size) override {
    core::Event e;
    uint32_t dev = 0, op = 0;
    if (!decode_block_io_record(data, size, e, &dev, &op)) return false;
    device_ = device_name(dev);
    op_ = op_name(op);
    e.device = device_;
    e.block_op = op_;
    sink_->on_event(e);
    return true;
  }

 private:
  // "vda" from /sys/dev/block/MAJ:MIN/uevent; "MAJ:MIN" if it has none.
  std::string device_name(uint32_t dev) {
    auto it = devices_.find(dev);
    if (it != devices_.end()) return it->second;
    std::string id = std::to_string(dev >> 20) + ":" + std::to_string(dev & ((1u << 20) - 1));
    std::string name = id;
    std::ifstream in("/sys/dev/block/" + id + "/uevent");
    for (std::string line; std::getline(in, line);)
      if (line.starts_with("DEVNAME=")) name = line.substr(8);
    if (devices_.size() < 4096) devices_[dev] = name;
    return name;
  }

  DeltaTotals<sl_block_proc_key, ProcTotals, ProcLabel> procs_{kMaxSeries, &process_settled_};
  std::map<uint32_t, std::string> devices_;
  bool want_io_ = false;
  std::string device_, op_;  // the current block_io event's names
};

}  // namespace

std::unique_ptr<Source> make_block_source() { return std::make_unique<BlockSource>(); }

constexpr core::EventKind kBlockKinds[] = {core::EventKind::kBlockIo};
constinit const SourceInfo kBlockSource = {
    "block",
    "block I/O latency and size per device and op, queue time, I/O per process (in-kernel); each I/O when asked",
    kBlockKinds, /*streams=*/true, /*has_failed=*/true,
    &make_options<BlockOptions>, &make_block_source};

}  // namespace sightline::sources
