// l7 source (bpf/l7.bpf.c, sightline/l7.h): the kernel side finds the connections that speak a
// protocol we parse and streams their payloads; here each record goes to the tracker.
#include "sources/l7/l7_source.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include <set>
#include <mutex>

#include <spdlog/spdlog.h>

#include "bpf/libbpf_util.h"
#include "core/syscalls.h"
#include "sightline/l7.h"
#include "sightline/l7_infer.h"
#include "sightline/net.h"
#include "sources/aggregate.h"
#include "sources/bpf_source.h"
#include "sources/cpu_slots.h"
#include "sources/decode.h"
#include "sources/l7/go_tls.h"
#include "sources/uprobe/uprobe_target.h"

// The skeleton names the ABI types of sightline/*.h: it comes after them.
#include "l7.skel.h"

namespace sightline::sources {
namespace {

// One l7_red value (sightline/l7.h) as DeltaTotals adds them.
struct KernelRed {
  uint64_t requests = 0, errors = 0, sum_ns = 0;
  uint64_t buckets[SL_L7_RED_BUCKETS] = {};
  KernelRed& operator+=(const KernelRed& o) {
    requests += o.requests, errors += o.errors, sum_ns += o.sum_ns;
    for (int i = 0; i < SL_L7_RED_BUCKETS; i++) buckets[i] += o.buckets[i];
    return *this;
  }
  KernelRed operator-(const KernelRed& o) const {
    KernelRed d = *this;
    d.requests -= o.requests, d.errors -= o.errors, d.sum_ns -= o.sum_ns;
    for (int i = 0; i < SL_L7_RED_BUCKETS; i++) d.buckets[i] -= o.buckets[i];
    return d;
  }
};
static_assert(sizeof(KernelRed) == sizeof(sl_l7_red_val));

// The labels of a kernel key after the process: protocol, role, method, status.
std::vector<std::string> red_labels(const sl_l7_red_key& k) {
  std::string method(k.method, strnlen(k.method, sizeof k.method));
  if (method.empty()) method = "OTHER";
  std::string status = k.proto == SL_L7_HTTP ? std::to_string(k.status) + "xx"
                       : k.status == SL_L7_ST_ERROR ? "error" : "ok";
  return {std::string(protocols::protocol_name(static_cast<protocols::Protocol>(k.proto))),
          k.role == SL_L7_CLIENT ? "client" : "server", method, status};
}

// With every exchange in detail (sources.l7.sample: 1, as `sightline trace` runs): 8 MiB (kernel
// memory, charged to the agent), ~30k records of a few hundred bytes, a third of a second of a
// saturated keep-alive HTTP benchmark on this class of machine (bench/l7_overhead.sh: none
// lost), the reader woken at an eighth of it. Sampled (the default), the records are 1/64 of
// that past 100 a CPU a second, plus the failed and slow: 2 MiB.
constexpr uint32_t kDefaultRingBytes = 8 << 20;
constexpr uint32_t kSampledRingBytes = 2 << 20;

constexpr SkeletonFns<l7_bpf> kFns = {&l7_bpf__open, &l7_bpf__load, &l7_bpf__attach, &l7_bpf__destroy};

constexpr std::pair<const char*, const char*> kData[] = {
    {"sl_l7_read", "sys_exit_read"},         {"sl_l7_write", "sys_exit_write"},
    {"sl_l7_recvfrom", "sys_exit_recvfrom"}, {"sl_l7_sendto", "sys_exit_sendto"},
    {"sl_l7_readv", "sys_exit_readv"},       {"sl_l7_writev", "sys_exit_writev"},
    {"sl_l7_recvmsg", "sys_exit_recvmsg"},   {"sl_l7_sendmsg", "sys_exit_sendmsg"},
    {"sl_l7_sendmmsg", "sys_exit_sendmmsg"},   {"sl_l7_recvmmsg", "sys_exit_recvmmsg"},
    {"sl_l7_sendfile", "sys_exit_sendfile64"},
};

constexpr std::pair<const char*, const char*> kSsl[] = {
    {"sl_ssl_write", "SSL_write"}, {"sl_ssl_write_ex", "SSL_write_ex"},
    {"sl_ssl_read", "SSL_read"},   {"sl_ssl_read_ex", "SSL_read_ex"},
};

constexpr std::pair<const char*, const char*> kGoTls[] = {
    {"sl_go_tls_write", "uprobe crypto/tls.(*Conn).Write (each Go binary)"},
    {"sl_go_tls_read", "uprobe crypto/tls.(*Conn).Read (each Go binary)"},
    {"sl_go_tls_read_ret", "uprobe crypto/tls.(*Conn).Read's RET instructions (each Go binary)"},
};

class L7SourceImpl final : public SkeletonSource<l7_bpf, kFns, kDefaultRingBytes>, public ServiceMapProvider {
 public:
  std::string_view name() const override { return "l7"; }
  std::vector<std::string> release_memory(int level) override {
    if (level < 2 || !tracker_ || !tracker_->release_all()) return {};
    return {"l7_connections"};
  }

  std::vector<Hook> plan(const bpf::Features& f, const SourceOptions& o) const override {
    std::string base = base_requirements(f);
    // The per-syscall tracepoints read the registers through bpf_task_pt_regs (5.15+); the raw
    // sys_exit has them as an argument (5.5+), sendmmsg/recvmmsg included.
    if (base.empty() && !f.task_pt_regs && !f.tp_btf) base = "needs bpf_task_pt_regs (kernel 5.15+) or tp_btf (5.5+)";
    // Its records are made deep in inlined helpers, without the program's context that the
    // perf buffer's output needs (bpf/common.bpf.h: SL_NO_CTX).
    if (base.empty() && !f.ringbuf) base = "needs the BPF ring buffer (kernel 5.8+)";
    bool wanted = wants(o, core::EventKind::kRequest);
    std::vector<Hook> hooks;
    // Three ways, cheapest first: the socket layer's tracepoints (6.3+: only socket I/O runs a
    // program; sendmmsg/recvmmsg by their exit tracepoints), the raw sys_exit (every syscall runs
    // it; the read/write family's numbers go on), one tracepoint per syscall of the family.
    auto sock = tp_btf_plan(f, {{"sl_l7_sock_send", "sock_send_length"}, {"sl_l7_sock_recv", "sock_recv_length"}});
    bool has_sock = f.tracepoint_exists("sock", "sock_send_length") && f.tracepoint_exists("sock", "sock_recv_length");
    bool use_sock = sock[0].enabled && sock[1].enabled && has_sock && f.task_pt_regs && wanted && base.empty() &&
                    !o.force_fallback_hooks;
    auto raw = tp_btf_plan(f, {{"sl_l7_sys_exit", "sys_exit (the read/write family's numbers)"}});
    bool use_raw = !use_sock && raw[0].enabled && wanted && base.empty() && (!o.force_fallback_hooks || !f.task_pt_regs);
    std::string why_not = !wanted ? "not requested" : o.force_fallback_hooks ? "fallback asked for" : base;
    for (auto& h : sock) {
      h.enabled = use_sock;
      if (!use_sock && h.note.empty())
        h.note = !has_sock         ? "tracepoint sock/sock_send_length not in this kernel (6.3+)"
                 : !f.task_pt_regs ? "needs bpf_task_pt_regs (kernel 5.15+)"
                                   : why_not;
    }
    raw[0].enabled = use_raw;
    if (!use_raw && raw[0].note.empty()) raw[0].note = use_sock ? "the socket tracepoints serve it" : why_not;
    hooks.insert(hooks.end(), sock.begin(), sock.end());
    hooks.push_back(raw[0]);
    // Below 5.15 the mmsg tracepoints cannot read the registers: a second raw program takes them.
    bool raw_mmsg = use_raw && !f.task_pt_regs;
    hooks.push_back({"sl_l7_sys_exit_mmsg", "tp_btf sys_exit (sendmmsg, recvmmsg)", raw_mmsg,
                     raw_mmsg ? "" : use_raw ? "their own tracepoints serve them (5.15+)" : raw[0].note});
    for (const auto& [prog, tp] : kData) {
      bool mmsg = std::string_view(prog).ends_with("mmsg");
      bool raw_serves = use_raw && (!mmsg || raw_mmsg);
      Hook h = tracepoint_hook(f, prog, "syscalls", tp, wanted && !raw_serves && (!use_sock || mmsg), base);
      if (raw_serves) h.enabled = false, h.note = "the raw sys_exit serves it";
      else if (use_sock && !mmsg) h.note = "the socket tracepoints serve it";
      hooks.push_back(std::move(h));
    }
    auto tp = tp_btf_plan(f, {{"sl_l7_close", "inet_sock_set_state"}});
    for (auto& h : tp) {
      // The close of a connection only matters to the hooks above: off with them.
      if (h.enabled && !base.empty()) h.note = base;
      h.enabled = h.enabled && wanted && base.empty();
    }
    hooks.insert(hooks.end(), tp.begin(), tp.end());
    // OpenSSL's plaintext: uprobes on libssl, attached by start() (every process that maps it).
    std::vector<UprobeFunction> fns;
    std::string why = !o.own_as<L7Options>().tls ? "l7.tls is off" : !f.uprobe ? "no uprobe support" : base;
    if (why.empty()) why = ssl_functions(&fns);
    for (const auto& [prog, sym] : kSsl) {
      Hook h{prog, std::string("uprobe libssl.so.3:") + sym, why.empty() && wanted, why};
      hooks.push_back(h);
    }
    hooks.push_back({"sl_ssl_return", "uretprobe libssl.so.3 (each of them)", why.empty() && wanted, why});
    // Go's crypto/tls: uprobes on each Go binary (running at the start, started later: by the
    // exec tracepoint), attached by start() and on exec records.
    std::string go_why = !o.own_as<L7Options>().tls      ? "l7.tls is off"
                         : !o.own_as<L7Options>().go_tls ? "l7.go_tls is off"
                         : !f.uprobe                     ? "no uprobe support"
                                                         : base;
#if !defined(__x86_64__)
    if (go_why.empty()) go_why = "amd64 only";
#endif
    Hook exec = tracepoint_hook(f, "sl_l7_exec", "sched", "sched_process_exec", wanted && go_why.empty(), go_why);
    go_why = exec.enabled ? "" : exec.note.empty() ? "not requested" : exec.note;
    for (const auto& [prog, what] : kGoTls) hooks.push_back({prog, what, go_why.empty(), go_why});
    hooks.push_back(std::move(exec));
    return hooks;
  }

  // The OpenSSL functions, in kSsl's order; a sentence when libssl.so.3 is not there.
  static std::string ssl_functions(std::vector<UprobeFunction>* out) {
    out->clear();
    for (const auto& [prog, sym] : kSsl) {
      std::vector<UprobeFunction> one;
      if (auto st = resolve_uprobe(std::string("libssl.so.3:") + sym, 0, 1, &one); !st || one.size() != 1)
        return "libssl.so.3 (OpenSSL 3) not found: no TLS plaintext";
      out->push_back(one[0]);
    }
    return {};
  }

  core::Status start(const SourceOptions& o, const bpf::Features& f, EventSink* sink) override {
    name_of_ = o.process_name;
    tracker_ = std::make_unique<L7Tracker>([sink](core::Event& e) { sink->on_event(e); }, o.process_name,
                                           o.state_bytes ? o.state_bytes : L7Tracker::kDefaultMaxBytes);
    tracker_->set_route_templates(o.own_as<L7Options>().routes);
    tracker_->set_slow_ns(uint64_t{o.own_as<L7Options>().slow_ms} * 1000000);
    tracker_->set_dns_learner(o.learn_dns);
    uint32_t capture = std::min<uint32_t>(std::max<uint32_t>(o.own_as<L7Options>().capture_bytes, 64), SL_L7_MAX_CAPTURE);
    std::vector<UprobeFunction> ssl;
    // The TLS uprobes as the plan has them (off with the source's base requirements).
    auto hooks = plan(f, o);
    bool tls = std::any_of(hooks.begin(), hooks.end(), [](const Hook& h) { return h.program == "sl_ssl_return" && h.enabled; }) &&
               ssl_functions(&ssl).empty();
    bool go_tls = std::any_of(hooks.begin(), hooks.end(), [](const Hook& h) { return h.program == "sl_l7_exec" && h.enabled; });
    // net's socket traffic, counted here when both run on the socket tracepoints.
    bool traffic = o.count_sock_traffic &&
                   std::any_of(hooks.begin(), hooks.end(), [](const Hook& h) { return h.program == "sl_l7_sock_send" && h.enabled; });
    counting_traffic_ = traffic;
    const auto& own = o.own_as<L7Options>();
    std::map<uint16_t, uint8_t> hints;
    if (auto st = l7_port_hints(own.ports, &hints); !st) return core::Status::error(EINVAL, "l7: " + st.message());
    // The sched source's per-thread time (SourceOptions::thread_time_fd): servers' timelines.
    const int times = o.thread_time_fd;
    int reuse_err = 0;
    sample_ = std::max<uint32_t>(own.sample, 1);
    detail_per_s_ = own.detail_per_s;
    auto load = [&] {
      return start_skeleton<l7_bpf>(skel_, kFns, o, f, sink, own.sample > 1 ? kSampledRingBytes : kDefaultRingBytes,
                                         [capture, tls, go_tls, traffic, times, &reuse_err, &own, &o, &f, &hints](l7_bpf* s) {
                                           s->rodata->capture_bytes = capture;
                                           s->rodata->thread_times = times >= 0;
                                           if (times >= 0)
                                             reuse_err = bpf_map__reuse_fd(s->maps.sched_ts, times);
                                           else if (bpf_map__type(s->maps.sched_ts) != BPF_MAP_TYPE_TASK_STORAGE)
                                             bpf_map__set_max_entries(s->maps.sched_ts, 1);  // unused: no threads'

                                           s->rodata->local_server_end = !own.both_local_ends && !o.filter.pid &&
                                                                         o.filter.comm.empty() && !o.filter.cgroup_id;
                                           s->rodata->self_port = own.self_port;
                                           s->rodata->count_sock_traffic = traffic;
                                           size_cpu_slots(s->maps.sock_slots, SL_NET_SOCK_SLOTS, traffic);
                                           size_cpu_slots(s->maps.l7_red_slots, SL_L7_RED_SLOTS, true);
                                           if (!traffic) bpf_map__set_max_entries(s->maps.sock_traffic, 1);
                                           s->rodata->has_bpf_loop = f.bpf_loop;
                                           s->data->detail_sample = std::max<uint32_t>(own.sample, 1);
                                           s->bss->detail_per_s = own.detail_per_s;
                                           s->rodata->slow_ns = uint64_t{own.slow_ms} * 1000000;
                                           s->rodata->tls_enabled = tls;
                                           s->rodata->go_tls_enabled = go_tls;
                                           if (!go_tls) bpf_map__set_max_entries(s->maps.go_tls_reads, 1);
                                           auto* r = s->rodata;
                                           r->nr_read = core::syscall_number("read");
                                           r->nr_write = core::syscall_number("write");
                                           r->nr_recvfrom = core::syscall_number("recvfrom");
                                           r->nr_sendto = core::syscall_number("sendto");
                                           r->nr_readv = core::syscall_number("readv");
                                           r->nr_writev = core::syscall_number("writev");
                                           r->nr_recvmsg = core::syscall_number("recvmsg");
                                           r->nr_sendmsg = core::syscall_number("sendmsg");
                                           r->nr_recvmmsg = core::syscall_number("recvmmsg");
                                           r->nr_sendmmsg = core::syscall_number("sendmmsg");
                                           r->nr_sendfile = core::syscall_number("sendfile");
                                           uint32_t i = 0;
                                           for (const auto& [port, proto] : hints) {
                                             const_cast<uint16_t&>(r->port_hint_port[i]) = port;
                                             const_cast<uint8_t&>(r->port_hint_proto[i]) = proto;
                                             i++;
                                           }
                                           r->port_hints_n = i;
                                         });
    };
    core::Status st = load();
    if (!st) return st;
    if (reuse_err) {
      stop();
      return bpf::libbpf_error(-reuse_err, "l7: taking the sched source's thread times");
    }
    if (auto m = red_slots_.map(bpf_map__fd(skel_->maps.l7_red_slots), SL_L7_RED_SLOTS, "l7's RED slots"); !m) {
      stop();
      return core::Status::error(m.err(), "l7: " + m.message());
    }
    std::set<uint64_t> words;
    for (const auto& m : own.always_detail)
      if (uint64_t w = l7_method_word(m)) words.insert(w);
    if (words.size() > SL_L7_MAX_ALWAYS) {
      stop();
      return core::Status::error(EINVAL, "l7: " + std::to_string(words.size()) + " always_detail methods: at most " +
                                             std::to_string(SL_L7_MAX_ALWAYS));
    }
    for (uint64_t w : words) {
      uint8_t one = 1;
      if (bpf_map_update_elem(bpf_map__fd(skel_->maps.l7_always_detail), &w, &one, BPF_ANY)) {
        int err = errno;
        stop();
        return bpf::libbpf_error(err, "l7: map l7_always_detail");
      }
    }
    skel_->bss->always_detail_n = static_cast<uint32_t>(words.size());
    go_tls_ = go_tls;
    open_uprobe_ = o.open_uprobe;
    go_files_.clear();
    for (auto& c : go_count_) c = 0;
    if (go_tls) {
      scan_go_binaries();
    }
    if (!tls) return {};
    bpf_program* enter[] = {skel_->progs.sl_ssl_write, skel_->progs.sl_ssl_write_ex, skel_->progs.sl_ssl_read,
                            skel_->progs.sl_ssl_read_ex};
    for (size_t i = 0; i < ssl.size(); i++)
      for (bool ret : {false, true}) {
        bpf_uprobe_opts opts = {};
        opts.sz = sizeof opts;
        opts.retprobe = ret;
        bpf_link* l = bpf_program__attach_uprobe_opts(ret ? skel_->progs.sl_ssl_return : enter[i], -1,
                                                      ssl[i].path.c_str(), ssl[i].offset, &opts);
        if (!l) {
          int err = errno;
          stop();
          return bpf::libbpf_error(err, "l7: attaching to " + ssl[i].path + ":" + kSsl[i].second);
        }
        keep_link(l);
      }
    return {};
  }

  void collect(std::vector<core::MetricFamily>& out) override {
    if (!tracker_) return;
    collect_kernel_red(out);
    if (go_tls_) {
      core::MetricFamily go{"sightline_l7_go_tls_binaries",
                            "Go binaries looked at for crypto/tls (running at the start, or started since): "
                            "attached (their TLS plaintext is read), without (no crypto/tls, a Go before 1.18, "
                            "not amd64), failed (an attach failed; the agent's log says why), unchecked "
                            "(past the bound of files remembered)",
                            core::MetricType::kGauge};
      go.series.push_back({{{"result", "attached"}}, static_cast<double>(go_count_[0]), {}});
      go.series.push_back({{{"result", "without"}}, static_cast<double>(go_count_[1]), {}});
      go.series.push_back({{{"result", "failed"}}, static_cast<double>(go_count_[2]), {}});
      go.series.push_back({{{"result", "unchecked"}}, static_cast<double>(go_count_[3]), {}});
      out.push_back(std::move(go));
    }
    tracker_->collect(out);
    std::lock_guard lock(mu_);
    edges_ = tracker_->service_map();
  }

  std::string shed(int level) override {
    static constexpr uint32_t kFactor[] = {1, 8, 64, 0};
    if (!skel_ || !skel_->data) return {};
    uint32_t f = kFactor[std::clamp(level, 0, 3)];
    uint64_t n = f ? uint64_t{sample_} * f : UINT32_MAX;
    skel_->data->detail_sample = static_cast<uint32_t>(std::min<uint64_t>(n, UINT32_MAX));
    skel_->bss->detail_per_s = f == 1 ? detail_per_s_ : 0;
    if (f == 1) return {};
    return f ? "L7 detail 1 in " + std::to_string(n) + " exchanges, none by rate (and every failed or slow one)"
             : "L7 detail: failed or slow exchanges only";
  }

  void stop() override {
    red_slots_.unmap();
    SkeletonSource::stop();
  }

  int shared_map_fd(std::string_view map) const override {
    if (!skel_ || !counting_traffic_) return -1;
    return map == "sock_traffic" ? bpf_map__fd(skel_->maps.sock_traffic)
           : map == "sock_slots" ? bpf_map__fd(skel_->maps.sock_slots)
                                 : -1;
  }
  // The shared map is net's to report (it reads it): not counted twice.
  std::vector<bpf::MapMemory> map_memory() const override {
    auto out = SkeletonSource::map_memory();
    if (counting_traffic_)
      std::erase_if(out, [](const bpf::MapMemory& m) { return m.name == "sock_traffic" || m.name == "sock_slots"; });
    std::erase_if(out, [](const bpf::MapMemory& m) { return m.name == "sched_ts"; });  // sched's, or unused
    return out;
  }

  // Go binaries that start later get their uprobes then: the event is the agent's helper's to
  // open (SourceOptions::open_uprobe: it needs CAP_SYS_ADMIN), the BPF link the agent's, which
  // takes CAP_BPF where the kernel checks it for every bpf() command (before 6.5 with
  // unprivileged BPF off, Debian's default). A kernel without CAP_BPF (before 5.8) would need
  // CAP_SYS_ADMIN: not kept, those attaches fail and are counted.
  uint64_t capabilities_to_stop() const override {
    constexpr int kCapBpf = 39;
    if (!go_tls_ || !open_uprobe_ || prctl(PR_CAPBSET_READ, kCapBpf, 0, 0, 0) < 0) return 0;
    return 1ULL << kCapBpf;
  }

  std::vector<ServiceEdge> service_map() const override {
    std::lock_guard lock(mu_);
    return edges_;
  }

 protected:
  bool decode(const void* data, size_t size) override {
    if (size < sizeof(sl_l7_event)) return false;
    const auto* rec = static_cast<const sl_l7_event*>(data);
    if (rec->hdr.kind != SL_EV_L7 || rec->captured > size - sizeof(sl_l7_event) || rec->captured > rec->len ||
        rec->dir < SL_L7_SEND || rec->dir > SL_L7_PEER_END)
      return false;
    if (rec->dir == SL_L7_EXEC) {
      if (go_tls_) check_go_binary(rec->hdr.pid);
      return true;
    }
    core::Event hdr;
    decode_header(rec->hdr, hdr);
    std::string_view bytes(reinterpret_cast<const char*>(rec + 1), rec->captured);
    tracker_->on_record(*rec, bytes, hdr);
    return true;
  }

 private:
  // Go's crypto/tls (go_tls.h): every binary file (device, inode) is looked at once; a Go one
  // with crypto/tls gets the uprobes (by its /proc/PID/exe path: the kernel keys them by inode,
  // so every process of the file, now and later, is covered). Bounded: kMaxGoFiles files
  // remembered, kMaxGoAttached attached.
  static constexpr size_t kMaxGoFiles = 65536, kMaxGoAttached = 256;
  void scan_go_binaries() {
    DIR* d = opendir("/proc");
    if (!d) return;
    while (dirent* e = readdir(d)) {
      uint32_t pid = 0;
      auto [end, ec] = std::from_chars(e->d_name, e->d_name + strlen(e->d_name), pid);
      if (ec == std::errc() && !*end && pid) check_go_binary(pid);
    }
    closedir(d);
  }
  void check_go_binary(uint32_t pid) {
    std::string exe = "/proc/" + std::to_string(pid) + "/exe";
    struct stat st;
    if (stat(exe.c_str(), &st) != 0) return;  // gone already, or a kernel thread
    auto key = std::make_pair(static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino));
    if (go_files_.count(key)) return;
    if (go_files_.size() >= kMaxGoFiles) {
      go_count_[3]++;
      return;
    }
    go_files_.insert(key);
    if (!is_go_binary(exe)) return;
    GoTlsProbes p;
    std::string why = go_tls_probes(exe, &p);
    if (why.empty() && go_count_[0] >= kMaxGoAttached) why = "past " + std::to_string(kMaxGoAttached) + " Go binaries";
    char path[4096];
    ssize_t n = readlink(exe.c_str(), path, sizeof path - 1);
    std::string name = n > 0 ? std::string(path, static_cast<size_t>(n)) : exe;
    if (!why.empty()) {
      go_count_[1]++;
      spdlog::info("l7: Go binary {} (pid {}): no TLS probes: {}", name, pid, why);
      return;
    }
    std::vector<std::pair<bpf_program*, uint64_t>> at = {{skel_->progs.sl_go_tls_write, p.write},
                                                         {skel_->progs.sl_go_tls_read, p.read}};
    for (uint64_t r : p.read_rets) at.push_back({skel_->progs.sl_go_tls_read_ret, r});
    int file = -1;  // the binary, open for the helper once the agent may not open uprobe events itself
    for (const auto& [prog, off] : at) {
      bpf_uprobe_opts opts = {};
      opts.sz = sizeof opts;
      bpf_link* l = bpf_program__attach_uprobe_opts(prog, -1, exe.c_str(), off, &opts);
      int err = l ? 0 : errno;
      if (!l && (err == EACCES || err == EPERM) && open_uprobe_) {
        if (file < 0) file = open(exe.c_str(), O_RDONLY | O_CLOEXEC);
        int pfd = file >= 0 ? open_uprobe_(file, off) : -errno;
        l = pfd >= 0 ? bpf_program__attach_perf_event(prog, pfd) : nullptr;
        err = l ? 0 : pfd < 0 ? -pfd : errno;
        if (!l && pfd >= 0) close(pfd);
      }
      if (!l) {
        if (file >= 0) close(file);
        go_count_[2]++;
        spdlog::warn("l7: Go binary {} (pid {}): uprobe at offset {:#x}: {}", name, pid, off, strerror(err));
        return;  // the links made so far stay (with the source): a half-traced binary sends nothing wrong
      }
      keep_link(l);
    }
    if (file >= 0) close(file);
    go_count_[0]++;
    spdlog::info("l7: Go binary {} ({}): TLS plaintext through {} uprobes", name, p.go_version, at.size());
  }
  bool go_tls_ = false;
  std::function<int(int, uint64_t)> open_uprobe_;  // SourceOptions::open_uprobe
  std::set<std::pair<uint64_t, uint64_t>> go_files_;
  std::atomic<uint64_t> go_count_[4] = {};  // attached, without, failed, unchecked (collect() reads them)

  // sightline_l7_requests_total and its errors and latency: every exchange the kernel paired
  // (HTTP/1, Redis, PostgreSQL, MySQL), plus DNS from its records; and the kernel's counters of
  // what it sent in detail and what its bounds cut.
  void collect_kernel_red(std::vector<core::MetricFamily>& out) {
    using core::MetricType;
    auto label = [this](const sl_l7_red_key& k) {
      std::vector<std::string> l = {process_label(name_of_, k.tgid)};
      for (auto& v : red_labels(k)) l.push_back(std::move(v));
      return l;
    };
    auto fold = [](const std::vector<std::string>& l) {
      return std::vector<std::string>{overflow_key(l[0]), l[1], l[2], kOverflowLabel, kOverflowLabel};
    };
    if (red_slots_.size()) red_.read_slots(red_slots_.slots(), red_slots_.size(), label, fold);
    red_.read(bpf_map__fd(skel_->maps.l7_red), label, fold, /*per_cpu_map=*/false);
    core::MetricFamily req{"sightline_l7_requests_total",
                           "L7 requests by process, protocol, role, method and status class (HTTP 2xx..5xx, "
                           "ok/error, DNS rcode), every one: paired and counted in the kernel whatever is "
                           "sampled or lost (DNS: from its records)",
                           MetricType::kCounter};
    core::MetricFamily err{"sightline_l7_errors_total",
                           "L7 requests that failed (HTTP 5xx, error replies, DNS errors), every one",
                           MetricType::kCounter};
    core::MetricFamily lat{"sightline_l7_request_duration_seconds",
                           "L7 latency, every request: its first byte to its response's first, as the process "
                           "moved them (pipelined requests: from the first of them)",
                           MetricType::kHistogram};
    lat.scale = 1e-9;
    lat.bounds = L7Tracker::latency_bounds();
    auto detail = tracker_->kernel_exemplars();
    for (const auto& [k, v] : red_.totals()) {
      core::Labels labels =
          process_labels(k[0], {{"protocol", k[1]}, {"role", k[2]}, {"method", k[3]}, {"status", k[4]}});
      req.series.push_back({labels, static_cast<double>(v.requests), {}});
      if (v.errors) err.series.push_back({labels, static_cast<double>(v.errors), {}});
      core::LogHistogram h;
      uint64_t approx = 0;
      for (int i = 0; i < SL_L7_RED_BUCKETS; i++)
        if (v.buckets[i]) {
          h.add(uint64_t{1} << (SL_L7_RED_MIN_POW + i), v.buckets[i]);  // its bucket's lower bound
          approx += (uint64_t{1} << (SL_L7_RED_MIN_POW + i)) * v.buckets[i];
        }
      h.add_sum(v.sum_ns - approx);  // the exact sum
      auto ex = detail.find(k);
      if (h.count())
        lat.series.push_back({std::move(labels), 0, h, ex == detail.end() ? std::vector<core::Exemplar>{} : std::move(ex->second)});
    }
    tracker_->collect_user_counted(req, err, lat);
    std::vector<uint64_t> stats(SL_L7_RS_N);
    std::vector<uint64_t> per_cpu(bpf::possible_cpus());
    for (uint32_t i = 0; i < SL_L7_RS_N; i++)
      if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.l7_red_stats), &i, per_cpu.data()) == 0)
        for (auto v : per_cpu) stats[i] += v;
    core::MetricFamily ex{"sightline_l7_exchanges_total",
                          "Request/response exchanges the kernel paired, by whether they went to user space "
                          "in detail: sample (1 in sources.l7.sample), failed_or_slow (always), no (counted only)",
                          MetricType::kCounter};
    uint64_t exemplars = stats[SL_L7_RS_EXEMPLARS] + stats[SL_L7_RS_HELD_LOST];
    ex.series.push_back({{{"detail", "sample"}}, static_cast<double>(stats[SL_L7_RS_SAMPLED]), {}});
    ex.series.push_back({{{"detail", "failed_or_slow"}}, static_cast<double>(exemplars), {}});
    ex.series.push_back({{{"detail", "no"}}, static_cast<double>(stats[SL_L7_RS_UNSENT] - std::min(stats[SL_L7_RS_UNSENT], exemplars)), {}});
    core::MetricFamily cut{"sightline_l7_kernel_cut_total",
                           "What the kernel left out: red_map_full (a key not counted: l7_red is full), "
                           "resp_scan (a pipelined Redis write longer than the walk: its rest not counted), "
                           "held_evicted (a failed or slow request's bytes were evicted: its record has no request), "
                           "after_close (a socket's first message seen after a reset closed it: not tracked)",
                           MetricType::kCounter};
    cut.series.push_back({{{"what", "red_map_full"}}, static_cast<double>(stats[SL_L7_RS_FULL]), {}});
    cut.series.push_back({{{"what", "resp_scan"}}, static_cast<double>(stats[SL_L7_RS_SCAN_CUT]), {}});
    cut.series.push_back({{{"what", "held_evicted"}}, static_cast<double>(stats[SL_L7_RS_HELD_LOST]), {}});
    cut.series.push_back({{{"what", "after_close"}}, static_cast<double>(stats[SL_L7_RS_AFTER_CLOSE]), {}});
    for (auto* f : {&req, &err, &lat, &ex, &cut}) out.push_back(std::move(*f));
    if (uint64_t n = red_.overflowed() + tracker_->red_overflow()) out.push_back(overflow_family("l7", n));
  }

  std::unique_ptr<L7Tracker> tracker_;
  uint32_t sample_ = 1;  // sources.l7.sample: the governor multiplies it
  CpuSlots<sl_l7_red_slot> red_slots_;  // l7_red's slots, mapped while loaded
  bool counting_traffic_ = false;  // SourceOptions::count_sock_traffic, where the socket programs run
  uint32_t detail_per_s_ = 0;  // sources.l7.detail_per_s: the governor sets it to 0
  DeltaTotals<sl_l7_red_key, KernelRed, std::vector<std::string>> red_{L7Tracker::kMaxSeries, &process_settled_};
  mutable std::mutex mu_;
  std::vector<ServiceEdge> edges_;
};

}  // namespace

core::Status l7_port_hints(const std::vector<std::string>& items, std::map<uint16_t, uint8_t>* out) {
  // The protocols whose inference asks the port (sightline/l7_infer.h), each with its default.
  static constexpr std::pair<uint8_t, uint16_t> kHinted[] = {
      {SL_L7_PGSQL, 5432}, {SL_L7_MYSQL, 3306}, {SL_L7_MEMCACHED, 11211}, {SL_L7_NATS, 4222}, {SL_L7_AMQP, 5672}};
  auto name = [](uint8_t p) { return protocols::protocol_name(static_cast<protocols::Protocol>(p)); };
  out->clear();
  for (const auto& [proto, port] : kHinted) (*out)[port] = proto;
  std::map<uint16_t, uint8_t> given;
  for (const auto& item : items) {
    const size_t colon = item.rfind(':');
    const std::string_view proto = colon == std::string::npos ? std::string_view() : std::string_view(item).substr(0, colon);
    const std::string_view num = colon == std::string::npos ? std::string_view() : std::string_view(item).substr(colon + 1);
    uint32_t port = 0;
    auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), port);
    if (proto.empty() || num.empty() || ec != std::errc() || end != num.data() + num.size())
      return core::Status::error(EINVAL, "ports: '" + item + "' is not protocol:port (e.g. memcached:11212)");
    if (port < 1 || port > 65535)
      return core::Status::error(EINVAL, "ports: '" + item + "': port " + std::string(num) + " is not 1-65535");
    const auto* hinted = std::find_if(std::begin(kHinted), std::end(kHinted), [&](const auto& h) { return name(h.first) == proto; });
    if (hinted == std::end(kHinted)) {
      std::string names;
      for (const auto& h : kHinted) names += (names.empty() ? "" : ", ") + std::string(name(h.first));
      return core::Status::error(EINVAL, "ports: '" + item + "': " + std::string(proto) +
                                             " is not a protocol found by its port (" + names +
                                             "; http, http2, redis and dns are found on any port)");
    }
    // An item takes a default port from its protocol (this node runs something else there);
    // two items cannot share one.
    if (auto [it, fresh] = given.emplace(static_cast<uint16_t>(port), hinted->first); !fresh && it->second != hinted->first)
      return core::Status::error(EINVAL, "ports: '" + item + "': port " + std::to_string(port) + " is given to " +
                                             std::string(name(it->second)) + " too");
    (*out)[static_cast<uint16_t>(port)] = hinted->first;
  }
  if (out->size() > SL_L7_MAX_PORTS)
    return core::Status::error(EINVAL, "ports: " + std::to_string(out->size()) + " ports with the defaults: at most " +
                                           std::to_string(SL_L7_MAX_PORTS));
  return {};
}

core::Status L7Options::check() const {
  std::map<uint16_t, uint8_t> hints;
  return l7_port_hints(ports, &hints);
}

uint64_t l7_method_word(std::string_view method) {
  uint64_t raw = 0;
  for (size_t i = 0; i < 8 && i < method.size(); i++) raw |= uint64_t{static_cast<unsigned char>(method[i])} << (8 * i);
  return sl_l7_word8(raw);  // the kernel's own cut
}

std::unique_ptr<Source> make_l7_source() { return std::make_unique<L7SourceImpl>(); }

constexpr core::EventKind kL7Kinds[] = {core::EventKind::kRequest};
constinit const SourceInfo kL7Source = {
    "l7",
    "L7 requests from socket payloads (HTTP/1, PostgreSQL, MySQL, Redis, DNS): method, target, status, latency; RED metrics, service map",
    kL7Kinds, /*streams=*/true, /*has_failed=*/false,
    &make_options<L7Options>, &make_l7_source};

}  // namespace sightline::sources
