// block source (bpf/block.bpf.c, sightline/block.h).
#include "sources/block/block_source.h"

#include <array>
#include <chrono>
#include <fstream>
#include <map>
#include <tuple>

#include <spdlog/spdlog.h>

#include "bpf/libbpf_util.h"
#include "core/clock.h"
#include "core/wall_clock.h"
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
    want_pc_ = wants_page_cache(o);
    counts_accesses_ = false;
    if (want_pc_) {
      for (const auto& h : plan(f, o))
        if (h.enabled && h.program.find("_accessed") != std::string::npos) counts_accesses_ = true;
      if (!counts_accesses_)
        spdlog::warn("block: no kprobes on this kernel: the page cache's misses and dirtied pages are counted, "
                     "its hits are not (they need a kprobe on folio_mark_accessed)");
    }
    pc_last_ = {};
    pc_primed_ = false;
    bool io = want_io_;
    // Per-I/O records: 1 MiB (~10k I/Os between polls); else a ring nothing writes to.
    return start_skeleton<block_bpf>(skel_, kFns, o, f, sink, io ? 1 << 20 : 4096,
                                     [io](block_bpf* s) { s->rodata->want_io = io; });
  }

  std::vector<Hook> plan(const bpf::Features& f, const SourceOptions& o) const override {
    auto hooks = tp_btf_plan(f,
                             {{"sl_block_insert", "block_rq_insert"},
                              {"sl_block_issue", "block_rq_issue"},
                              {"sl_block_complete", "block_rq_complete"}});
    // The page cache (cachestat): the functions and tracepoints this kernel has, one of each pair.
    bool want = wants_page_cache(o);
    const char* off = "off (sources.block.page_cache, trace cachestat)";
    if (!want) {  // one line for doctor; programs outside the plan do not load
      hooks.push_back(Hook{"", "page cache: kprobes, tracepoints filemap, writeback", false, off});
      return hooks;
    }
    auto kprobe = [&](const char* program, const char* fn, bool other) {
      std::string why = !f.kprobe ? "needs kprobes (CONFIG_KPROBES): page-cache hits are not counted"
                        : other ? "the kernel has its newer twin"
                        : !f.kernel_function(fn) ? std::string("no ") + fn + " in this kernel"
                                                 : "";
      hooks.push_back(Hook{program, std::string("kprobe ") + fn, why.empty(), why});
      return why.empty();
    };
    auto tracepoint = [&](const char* program, const char* cat, const char* tp, bool other) {
      std::string why = other ? "the kernel has its newer twin"
                        : !f.tracepoint_exists(cat, tp) ? std::string("no tracepoint ") + cat + ":" + tp
                                                        : "";
      hooks.push_back(Hook{program, std::string("tracepoint ") + cat + "/" + tp, why.empty(), why});
      return why.empty();
    };
    bool folio = kprobe("sl_pc_folio_accessed", "folio_mark_accessed", false);
    kprobe("sl_pc_page_accessed", "mark_page_accessed", folio);
    kprobe("sl_pc_buffer_dirty", "mark_buffer_dirty", false);
    // Folio kernels (5.16+) pass the folio, whose pages are counted (tp_btf); before, a page each.
    bool folios = f.tp_btf && f.kernel_function("folio_mark_accessed");
    auto folio_tp = [&](const char* program, const char* tp) {
      std::string why = !folios ? "before folios (5.16) or without tp_btf: its twin" : "";
      hooks.push_back(Hook{program, std::string("tp_btf ") + tp, why.empty(), why});
    };
    folio_tp("sl_pc_folio_added", "mm_filemap_add_to_page_cache");
    tracepoint("sl_pc_page_added", "filemap", "mm_filemap_add_to_page_cache", folios);
    folio_tp("sl_pc_folio_dirtied", "writeback_dirty_folio");
    tracepoint("sl_pc_page_dirtied", "writeback", "writeback_dirty_page", folios);
    return hooks;
  }

  // The records, then (cachestat) the page cache's counts once a second.
  int consume() override {
    int n = SkeletonSource::consume();
    if (want_pc_ && skel_) {
      auto now = std::chrono::steady_clock::now();
      if (now - pc_tick_ >= std::chrono::seconds(1)) {
        pc_tick_ = now;
        n += page_cache_step();
      }
    }
    return n;
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
    if (!want_pc_) return;
    auto counter = [&](const char* name, const char* help, const std::atomic<uint64_t>& v) {
      core::MetricFamily m{name, help, MetricType::kCounter};
      m.series.push_back({{}, double(v.load(std::memory_order_relaxed)), {}});
      out.push_back(std::move(m));
    };
    if (counts_accesses_)
      counter("sightline_page_cache_hits_total",
              "Page-cache accesses that found their page, as cachestat counts them (counted each second)",
              pc_hits_);
    counter("sightline_page_cache_misses_total",
            "Pages added to the page cache less pages dirtied: read misses, as cachestat counts them", pc_misses_);
    counter("sightline_page_cache_dirtied_total", "Pages dirtied in the page cache", pc_dirtied_);
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
  bool wants_page_cache(const SourceOptions& o) const {
    return o.kinds.empty() ? o.own_as<BlockOptions>().page_cache : wants(o, core::EventKind::kCacheStat);
  }

  // One second of the page cache: the counters' growth since the last step turned into hits and
  // misses as cachestat does (accesses less buffer dirties are the lookups, additions less
  // dirtied pages the read misses; a miss is a lookup too), added to the totals, and a cachestat
  // event. The first step only takes the counters' start.
  int page_cache_step() {
    std::array<uint64_t, SL_PC_COUNTERS> now{};
    std::vector<uint64_t> per_cpu(bpf::possible_cpus());
    int fd = bpf_map__fd(skel_->maps.page_cache);
    for (uint32_t i = 0; i < SL_PC_COUNTERS; i++)
      if (bpf_map_lookup_elem(fd, &i, per_cpu.data()) == 0)
        for (uint64_t v : per_cpu) now[i] += v;
    auto delta = [&](int i) { return int64_t(now[i] - pc_last_[i]); };
    uint64_t step_ns = core::now_boot_ns(), interval = step_ns - pc_last_ns_;
    bool primed = pc_primed_;
    int64_t lookups = delta(SL_PC_ACCESSED) - delta(SL_PC_BUFFER_DIRTIED);
    int64_t misses = delta(SL_PC_ADDED) - delta(SL_PC_DIRTIED);
    int64_t dirtied = delta(SL_PC_DIRTIED);
    pc_last_ = now;
    pc_last_ns_ = step_ns;
    pc_primed_ = true;
    if (!primed) return 0;
    lookups = std::max<int64_t>(lookups, 0);
    misses = std::max<int64_t>(misses, 0);
    int64_t hits = -1;
    if (counts_accesses_) {
      hits = lookups - misses;
      if (hits < 0) misses = lookups, hits = 0;
      pc_hits_.fetch_add(uint64_t(hits), std::memory_order_relaxed);
    }
    pc_misses_.fetch_add(uint64_t(misses), std::memory_order_relaxed);
    pc_dirtied_.fetch_add(uint64_t(dirtied), std::memory_order_relaxed);

    core::Event e;
    e.kind = core::EventKind::kCacheStat;
    e.ts_boot_ns = step_ns;
    e.ts_wall_ns = core::wall_clock().to_wall(step_ns);
    e.duration_ns = interval;
    e.pc_hits = hits;
    e.pc_misses = uint64_t(misses);
    e.pc_dirtied = uint64_t(dirtied);
    std::ifstream in("/proc/meminfo");
    for (std::string line; std::getline(in, line);) {
      uint64_t kib = 0;
      if (sscanf(line.c_str(), "Cached: %lu kB", &kib) == 1) e.mem_cached = kib << 10;
      else if (sscanf(line.c_str(), "Buffers: %lu kB", &kib) == 1) e.mem_buffers = kib << 10;
    }
    sink_->on_event(e);
    return 1;
  }

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
  // cachestat: the counters at the last step, the totals the metrics show.
  bool want_pc_ = false, counts_accesses_ = false, pc_primed_ = false;
  std::array<uint64_t, SL_PC_COUNTERS> pc_last_{};
  uint64_t pc_last_ns_ = 0;
  std::chrono::steady_clock::time_point pc_tick_{};
  std::atomic<uint64_t> pc_hits_{0}, pc_misses_{0}, pc_dirtied_{0};
};

}  // namespace

std::unique_ptr<Source> make_block_source() { return std::make_unique<BlockSource>(); }

constexpr core::EventKind kBlockKinds[] = {core::EventKind::kBlockIo, core::EventKind::kCacheStat};
constinit const SourceInfo kBlockSource = {
    "block",
    "block I/O latency and size per device and op, queue time, I/O per process (in-kernel); each I/O, the page "
    "cache's hits and misses when asked",
    kBlockKinds, /*streams=*/true, /*has_failed=*/true,
    &make_options<BlockOptions>, &make_block_source};

}  // namespace sightline::sources
