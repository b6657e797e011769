// packets source (bpf/packets.bpf.c, sightline/packets.h).
#include "sources/packets/packets_source.h"

#include <linux/capability.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstring>
#include <tuple>
#include <unordered_map>

#include "bpf/libbpf_util.h"
#include "sightline/packets.h"
#include "sources/aggregate.h"
#include "sources/bpf_source.h"
#include "sources/decode.h"
#include "core/clock.h"
#include "core/wall_clock.h"
#include "sources/packets/local_sockets.h"
#include "symbols/symbolizer.h"

// The skeleton names the ABI types of sightline/*.h: it comes after them.
#include "packets.skel.h"

namespace sightline::sources {

std::string l3_label(uint16_t ethertype) {
  switch (ethertype) {
    case 0x0800: return "ipv4";
    case 0x86DD: return "ipv6";
    case 0x0806: return "arp";
    case 0x8100:
    case 0x88A8: return "vlan";
    default: return "other";
  }
}

std::string l4_label(uint16_t ethertype, uint8_t proto) {
  if (ethertype != 0x0800 && ethertype != 0x86DD) return "none";
  switch (proto) {
    case 6: return "tcp";
    case 17: return "udp";
    case 1: return "icmp";
    case 58: return "icmpv6";
    case 132: return "sctp";
    case 47: return "gre";
    case 50: return "esp";
    case 2: return "igmp";
    default: return "other";
  }
}

std::string drop_reason_label(std::string_view e) {
  constexpr std::string_view kPrefix = "SKB_DROP_REASON_";
  if (e.starts_with(kPrefix)) e.remove_prefix(kPrefix.size());
  std::string out(e);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

const std::map<uint32_t, std::string>& drop_reasons() {
  static const std::map<uint32_t, std::string> names = [] {
    std::map<uint32_t, std::string> m;
    btf* vmlinux = btf__load_vmlinux_btf();
    if (!vmlinux) return m;
    int id = btf__find_by_name_kind(vmlinux, "skb_drop_reason", BTF_KIND_ENUM);
    if (id > 0) {
      const btf_type* t = btf__type_by_id(vmlinux, id);
      const struct btf_enum* e = btf_enum(t);
      for (int i = 0; i < btf_vlen(t); i++)
        m[static_cast<uint32_t>(e[i].val)] = drop_reason_label(btf__name_by_offset(vmlinux, e[i].name_off));
    }
    btf__free(vmlinux);
    return m;
  }();
  return names;
}

bool interface_selected(const std::vector<std::string>& patterns, std::string_view name) {
  if (patterns.empty()) return true;
  for (const auto& p : patterns) {
    if (!p.empty() && p.back() == '*' ? name.starts_with(std::string_view(p).substr(0, p.size() - 1))
                                       : name == p)
      return true;
  }
  return false;
}

namespace {

constexpr SkeletonFns<packets_bpf> kFns = {&packets_bpf__open, &packets_bpf__load,
                                           &packets_bpf__attach, &packets_bpf__destroy};
constexpr size_t kMaxInterfaces = 1024;
constexpr auto kRescan = std::chrono::seconds(5);
// enum bpf_attach_type of 6.6+ (the build's uapi headers may predate it).
constexpr int kTcxIngress = 46, kTcxEgress = 47;

// A BPF link of a TC program on one side of one interface (6.6+). Closing the fd detaches it,
// also when the agent dies.
int tcx_link(int prog_fd, int ifindex, bool egress) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.link_create.prog_fd = static_cast<uint32_t>(prog_fd);
  attr.link_create.target_ifindex = static_cast<uint32_t>(ifindex);
  attr.link_create.attach_type = static_cast<bpf_attach_type>(egress ? kTcxEgress : kTcxIngress);
  int fd = static_cast<int>(syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof attr));
  return fd >= 0 ? fd : -errno;
}

struct Attachment {
  std::string name;
  int links[2] = {-1, -1};            // tcx: ingress, egress
  bool legacy = false;                // clsact filters instead
  bool created_qdisc = false;         // ours to remove at detach
  bpf_tc_opts filters[2] = {};        // legacy: handle/priority of ours
};

struct FlowKeyHash {
  size_t operator()(const sl_flow_key& k) const {
    return std::hash<std::string_view>()(std::string_view(reinterpret_cast<const char*>(&k), sizeof k));
  }
};
struct FlowKeyEq {
  bool operator()(const sl_flow_key& a, const sl_flow_key& b) const { return memcmp(&a, &b, sizeof a) == 0; }
};
// A flow user space has announced (state new), until it ends: its last counts and its owners.
struct KnownFlow {
  sl_flow_val last{};
  uint64_t generation = 0;  // the sweep that last saw it in the table
  uint32_t src_pid = 0, dst_pid = 0;
  SocketOwner src, dst;  // as /proc showed them when the flow began
};
constexpr uint64_t kCloseQuietNs = 1000000000ULL;  // after FIN both ways or RST: the last ACK
constexpr auto kSweep = std::chrono::seconds(1);

// packets, bytes; summed over CPUs.
struct PktTotals {
  uint64_t packets = 0, bytes = 0;
};

class PacketsSource final : public SkeletonSource<packets_bpf, kFns, 4096> {
 public:
  ~PacketsSource() override { detach_all(); }
  std::string_view name() const override { return "packets"; }

  std::vector<Hook> plan(const bpf::Features& f, const SourceOptions& o) const override {
    std::string base = base_requirements(f);
    std::string tc_note = !base.empty()   ? base
                          : !f.sched_cls  ? "needs BPF_PROG_TYPE_SCHED_CLS"
                                          : "";
    const char* how = o.force_fallback_hooks ? "tc clsact (forced)" : "tcx link, clsact before 6.6";
    // Kinds named (trace packet_drop): the TC counters are not asked for.
    if (tc_note.empty() && !o.kinds.empty() && !wants(o, core::EventKind::kFlow))
      tc_note = "not requested (the packet_drop kind needs only kfree_skb)";
    std::vector<Hook> hooks = {
        {"sl_tc_ingress", std::string(how) + " ingress, every interface", tc_note.empty(), tc_note},
        {"sl_tc_egress", std::string(how) + " egress, every interface", tc_note.empty(), tc_note},
    };
    std::string drop_note = !base.empty()              ? base
                            : !f.tp_btf                ? "needs tp_btf (kernel 5.5+)"
                            : drop_reasons().empty()   ? "kernel has no skb drop reasons (5.17+)"
                                                       : "";
    hooks.push_back({"sl_kfree_skb", "tp_btf kfree_skb", drop_note.empty(), drop_note});
    return hooks;
  }

  core::Status start(const SourceOptions& o, const bpf::Features& f, EventSink* sink) override {
    detach_all();
    opts_ = o;
    name_of_ = o.process_name;
    const auto& own = o.own_as<PacketsOptions>();
    want_drop_ = o.kinds.empty() ? own.drop_events : wants(o, core::EventKind::kDrop);
    want_flows_ = o.kinds.empty() ? own.flows : wants(o, core::EventKind::kFlow);
    trace_flows_ = !o.kinds.empty() && want_flows_;
    tc_ = o.kinds.empty() || want_flows_;
    flow_timeout_ns_ = uint64_t(own.flow_timeout_s) * 1000000000ULL;
    lo_ifindex_ = if_nametoindex("lo");
    known_.clear();
    // Each dropped packet is a record for drop events and for dropped flows.
    bool drop = want_drop_ || want_flows_;
    bool flows = want_flows_;
    uint32_t lo = lo_ifindex_;
    // Drop events: 4 MiB (~30000 records: a storm of 300k drops/s on this 2-CPU host loses
    // none; 1 MiB lost 8%, bench/drop_overhead.sh); else a ring nothing writes to.
    if (auto st = start_skeleton<packets_bpf>(skel_, kFns, o, f, sink, drop ? 4 << 20 : 4096,
                                              [drop, flows, lo](packets_bpf* s) {
                                                s->rodata->want_drop = drop;
                                                s->rodata->want_flows = flows;
                                                s->rodata->lo_ifindex = lo;
                                              });
        !st)
      return st;
    if (!tc_) return {};
    attach_new();
    if (attached_.empty() && !last_error_.empty()) {
      std::string err = last_error_;
      stop();
      return core::Status::error(EINVAL, "packets: no interface could be attached: " + err);
    }
    return {};
  }

  void stop() override {
    detach_all();
    known_.clear();
    SkeletonSource::stop();
  }

  // The records, then (flows) the flow table once a second.
  int consume() override {
    int n = SkeletonSource::consume();
    if (want_flows_ && skel_) {
      auto now = std::chrono::steady_clock::now();
      if (now - last_sweep_ >= kSweep) {
        last_sweep_ = now;
        n += sweep_flows();
      }
    }
    return n;
  }

  // clsact filters (before 6.6, or forced) are removed by netlink at stop: CAP_NET_ADMIN.
  uint64_t capabilities_to_stop() const override {
    bool legacy = !tcx_;
    for (const auto& [i, a] : attached_) legacy |= a.legacy;
    return legacy ? 1ULL << CAP_NET_ADMIN : 0;
  }

  void collect(std::vector<core::MetricFamily>& out) override {
    if (!skel_) return;
    if (tc_ && std::chrono::steady_clock::now() - last_scan_ >= kRescan) attach_new();
    using core::MetricType;
    core::MetricFamily pkts{"sightline_network_packets_total",
                            "Packets seen by the agent's TC programs, by interface, direction, "
                            "network (l3) and transport (l4) protocol",
                            MetricType::kCounter};
    core::MetricFamily bytes{"sightline_network_bytes_total",
                             "Bytes of those packets, link-layer header included",
                             MetricType::kCounter};
    std::map<std::tuple<std::string, std::string, std::string, std::string>, PktTotals> sums;
    std::vector<sl_pkt_key> gone;
    std::vector<sl_pkt_val> vals(bpf::possible_cpus());
    int fd = bpf_map__fd(skel_->maps.pkt_counts);
    sl_pkt_key key{}, next{};
    for (bool first = true; bpf_map_get_next_key(fd, first ? nullptr : &key, &next) == 0; first = false) {
      key = next;
      if (bpf_map_lookup_elem(fd, &key, vals.data()) != 0) continue;
      char ifname[IF_NAMESIZE] = {};
      if (!if_indextoname(key.ifindex, ifname)) {
        gone.push_back(key);  // the interface is gone, its series with it
        continue;
      }
      auto& t = sums[{ifname, key.dir == SL_PKT_EGRESS ? "egress" : "ingress", l3_label(key.l3),
                      l4_label(key.l3, key.l4)}];
      for (const auto& v : vals) t.packets += v.packets, t.bytes += v.bytes;
    }
    for (const auto& k : gone) bpf_map_delete_elem(fd, &k);
    for (const auto& [l, t] : sums) {
      core::Labels labels{{"interface", std::get<0>(l)}, {"direction", std::get<1>(l)},
                          {"l3", std::get<2>(l)}, {"l4", std::get<3>(l)}};
      pkts.series.push_back({labels, double(t.packets), {}});
      bytes.series.push_back({labels, double(t.bytes), {}});
    }

    core::MetricFamily drops{"sightline_network_drops_total",
                             "Packets the kernel dropped (skb:kfree_skb), by its drop reason and the "
                             "packet's network protocol",
                             MetricType::kCounter};
    std::map<std::pair<std::string, std::string>, uint64_t> drop_sums;
    std::vector<uint64_t> counts(vals.size());
    fd = bpf_map__fd(skel_->maps.pkt_drops);
    sl_drop_key dk{}, dnext{};
    for (bool first = true; bpf_map_get_next_key(fd, first ? nullptr : &dk, &dnext) == 0; first = false) {
      dk = dnext;
      if (bpf_map_lookup_elem(fd, &dk, counts.data()) != 0) continue;
      auto it = drop_reasons().find(dk.reason);
      auto& n = drop_sums[{it != drop_reasons().end() ? it->second : std::to_string(dk.reason), l3_label(dk.l3)}];
      for (auto c : counts) n += c;
    }
    uint64_t total_drops = 0;
    for (const auto& [l, n] : drop_sums) {
      drops.series.push_back({{{"reason", l.first}, {"l3", l.second}}, double(n), {}});
      total_drops += n;
    }
    if (!want_drop_ && !want_flows_) events_.store(total_drops, std::memory_order_relaxed);  // else: the records

    core::MetricFamily ifaces{"sightline_network_interfaces_attached",
                              "Interfaces the packets source has TC programs on, by attach mode",
                              MetricType::kGauge};
    size_t legacy = 0;
    for (const auto& [i, a] : attached_) legacy += a.legacy;
    ifaces.series.push_back({{{"mode", "tcx"}}, double(attached_.size() - legacy), {}});
    ifaces.series.push_back({{{"mode", "clsact"}}, double(legacy), {}});
    core::MetricFamily over = overflow_family("packets", skipped_);
    for (auto* f : {&pkts, &bytes, &drops, &ifaces, &over}) out.push_back(std::move(*f));
    if (!want_flows_) return;
    core::MetricFamily fl{"sightline_network_flows_total",
                          "Flows the packets source reported, by how they ended (new: began)", MetricType::kCounter};
    for (size_t i = 0; i < kFlowStates; i++)
      fl.series.push_back({{{"state", kFlowStateNames[i]}}, double(flow_counts_[i].load(std::memory_order_relaxed)), {}});
    core::MetricFamily lost{"sightline_network_flows_lost_total",
                            "Flows never reported: evicted from the full flow table (65536) before the sweep "
                            "that would have seen them, or whose entry could not be made (packets)",
                            MetricType::kCounter};
    lost.series.push_back({{{"what", "flows"}}, double(flows_unseen_.load(std::memory_order_relaxed)), {}});
    lost.series.push_back({{{"what", "packets"}}, double(flow_failed_.load(std::memory_order_relaxed)), {}});
    out.push_back(std::move(fl));
    out.push_back(std::move(lost));
  }

 protected:
  bool decode(const void* data, size_t size) override {
    core::Event e;
    uint32_t reason = 0;
    uint64_t location = 0;
    if (!decode_drop_record(data, size, e, &reason, &location)) return false;
    auto it = drop_reasons().find(reason);
    std::string code = std::to_string(reason);
    e.drop_reason = it != drop_reasons().end() ? std::string_view(it->second) : std::string_view(code);
    if (!ksyms_) {
      ksyms_ = std::make_unique<symbols::KernelSymbols>();
      ksyms_->load();  // empty when unreadable: addresses are printed as they are
    }
    symbols::Frame f = ksyms_->lookup(location);
    char buf[32];
    if (f.function.empty() || f.function == "[unknown]") {
      snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(location));
      where_ = buf;
    } else {
      snprintf(buf, sizeof buf, "+0x%llx", static_cast<unsigned long long>(f.offset));
      where_ = f.function + buf;
    }
    e.drop_location = where_;
    if (want_drop_) {
      core::Event d = e;
      sink_->on_event(d);
    }
    if (want_flows_) {  // the dropped packet as its flow's event
      e.kind = core::EventKind::kFlow;
      e.flow_state = "dropped";
      e.packets_sent = 1;
      e.bytes_sent = e.ip_len ? e.ip_len : e.pkt_len;
      flow_counts_[kDropped].fetch_add(1, std::memory_order_relaxed);
      sink_->on_event(e);
    }
    return true;
  }

 private:
  enum FlowState { kNew, kClosed, kTimeout, kEvicted, kDropped, kFlowStates };
  static constexpr const char* kFlowStateNames[kFlowStates] = {"new", "closed", "timeout", "evicted", "dropped"};

  // Reads the flow table: announces the flows not seen yet, ends the closed and idle ones
  // (deleting them), and the ones gone from it without an end (evicted). Returns the events.
  int sweep_flows() {
    int fd = bpf_map__fd(skel_->maps.flows);
    uint64_t now = core::now_boot_ns();
    generation_++;
    std::vector<std::pair<sl_flow_key, sl_flow_val>> table;
    table.reserve(known_.size() + 64);
    sl_flow_key key{}, next{};
    for (bool first = true; bpf_map_get_next_key(fd, first ? nullptr : &key, &next) == 0; first = false) {
      key = next;
      sl_flow_val v;
      if (bpf_map_lookup_elem(fd, &key, &v) == 0) table.emplace_back(key, v);
      if (table.size() > SL_FLOW_MAX) break;  // the table changing under the walk
    }
    bool fresh = false;
    for (const auto& [k, v] : table) fresh |= !known_.count(k);
    if (fresh) sockets_.refresh();
    int n = 0;
    for (const auto& [k, v] : table) {
      auto it = known_.find(k);
      if (it == known_.end()) {
        KnownFlow f;
        if (k.l4 == 6 || k.l4 == 17) {
          f.src_pid = sockets_.owner(k.l4, k.family, k.src, k.sport, k.dst, k.dport);
          f.dst_pid = sockets_.owner(k.l4, k.family, k.dst, k.dport, k.src, k.sport);
          f.src = sockets_.info(f.src_pid);
          f.dst = sockets_.info(f.dst_pid);
        }
        it = known_.emplace(k, f).first;
        emit_flow(k, v, it->second, kNew);
        n++;
      }
      it->second.last = v;
      it->second.generation = generation_;
      uint8_t flags = v.tcp_flags[0] | v.tcp_flags[1];
      bool fins = (v.tcp_flags[0] & 1) && (v.tcp_flags[1] & 1);
      uint64_t idle = now > v.last_ns ? now - v.last_ns : 0;
      int end = -1;
      if (k.l4 == 6 && ((flags & 0x04) || fins) && idle >= kCloseQuietNs)
        end = kClosed;
      else if (idle >= flow_timeout_ns_)
        end = kTimeout;
      if (end >= 0) {
        emit_flow(k, v, it->second, static_cast<FlowState>(end));
        n++;
        bpf_map_delete_elem(fd, &k);
        known_.erase(it);
      }
    }
    for (auto it = known_.begin(); it != known_.end();) {
      if (it->second.generation != generation_) {  // evicted by the kernel (LRU): its last counts
        emit_flow(it->first, it->second.last, it->second, kEvicted);
        n++;
        it = known_.erase(it);
      } else {
        ++it;
      }
    }
    // Entries the kernel made that no sweep saw: made and evicted in between.
    uint64_t created = 0, failed = 0;
    std::vector<uint64_t> per_cpu(bpf::possible_cpus());
    int sfd = bpf_map__fd(skel_->maps.flow_stats);
    uint32_t i = SL_FLOW_CREATED;
    if (bpf_map_lookup_elem(sfd, &i, per_cpu.data()) == 0)
      for (auto c : per_cpu) created += c;
    i = SL_FLOW_FAILED;
    if (bpf_map_lookup_elem(sfd, &i, per_cpu.data()) == 0)
      for (auto c : per_cpu) failed += c;
    uint64_t seen = flow_counts_[kNew].load(std::memory_order_relaxed);
    flows_unseen_.store(created > seen ? created - seen : 0, std::memory_order_relaxed);
    flow_failed_.store(failed, std::memory_order_relaxed);
    return n;
  }

  void emit_flow(const sl_flow_key& k, const sl_flow_val& v, const KnownFlow& f, FlowState state) {
    core::Event e;
    decode_flow(k, v, lo_ifindex_, e);
    if (state == kNew) e.ts_boot_ns = v.first_ns;
    e.ts_wall_ns = core::wall_clock().to_wall(e.ts_boot_ns);
    e.flow_state = kFlowStateNames[state];
    auto a = attached_.find(static_cast<int>(k.ifindex));
    if (a != attached_.end()) e.iface = a->second.name;
    e.src_pid = f.src_pid;
    e.dst_pid = f.dst_pid;
    e.src_comm = f.src.comm;
    e.dst_comm = f.dst.comm;
    const SocketOwner& o = f.src_pid ? f.src : f.dst;
    e.pid = e.tid = o.pid;
    e.ppid = o.ppid;
    e.uid = o.uid;
    e.gid = o.gid;
    e.comm = o.comm;
    flow_counts_[state].fetch_add(1, std::memory_order_relaxed);
    events_.fetch_add(1, std::memory_order_relaxed);
    sink_->on_event(e);
  }

  // Attaches to every selected interface not attached yet; forgets the ones that are gone.
  void attach_new() {
    last_scan_ = std::chrono::steady_clock::now();
    struct if_nameindex* list = if_nameindex();
    if (!list) return;
    std::map<int, std::string> present;
    for (struct if_nameindex* i = list; i->if_index != 0; i++) present[static_cast<int>(i->if_index)] = i->if_name;
    if_freenameindex(list);
    for (auto it = attached_.begin(); it != attached_.end();) {
      auto p = present.find(it->first);
      if (p == present.end() || p->second != it->second.name) {
        detach(it->first, it->second);  // gone (or renamed and reused): the kernel dropped it
        it = attached_.erase(it);
      } else {
        ++it;
      }
    }
    for (const auto& [ifindex, name] : present) {
      const auto& own = opts_.own_as<PacketsOptions>();
      if (attached_.count(ifindex) || !interface_selected(own.interfaces, name)) continue;
      // lo: for trace flow (local flows are what a developer's machine has), else when asked.
      if (own.interfaces.empty() && !own.loopback && !trace_flows_ && name == "lo") continue;
      if (attached_.size() >= kMaxInterfaces) {
        skipped_++;
        continue;
      }
      Attachment a;
      a.name = name;
      if (auto st = attach(ifindex, a); !st) {
        last_error_ = name + ": " + st.message();
        spdlog::warn("packets: {}", last_error_);
        continue;
      }
      attached_.emplace(ifindex, a);
    }
  }

  core::Status attach(int ifindex, Attachment& a) {
    int progs[2] = {bpf_program__fd(skel_->progs.sl_tc_ingress), bpf_program__fd(skel_->progs.sl_tc_egress)};
    if (!opts_.force_fallback_hooks && tcx_) {
      for (int dir = 0; dir < 2; dir++) {
        a.links[dir] = tcx_link(progs[dir], ifindex, dir == 1);
        if (a.links[dir] < 0) {
          int err = -a.links[dir];
          a.links[dir] = -1;
          if (dir == 0 && (err == EINVAL || err == EOPNOTSUPP)) {
            tcx_ = false;  // no tcx in this kernel: clsact from now on
            break;
          }
          detach(ifindex, a);
          return bpf::libbpf_error(-err, "tcx link on " + a.name);
        }
      }
      if (a.links[0] >= 0) return {};
    }
    a.legacy = true;
    for (int dir = 0; dir < 2; dir++) {
      bpf_tc_hook hook = {};
      hook.sz = sizeof hook;
      hook.ifindex = ifindex;
      hook.attach_point = dir ? BPF_TC_EGRESS : BPF_TC_INGRESS;
      int err = bpf_tc_hook_create(&hook);
      if (err && err != -EEXIST) {
        detach(ifindex, a);
        return bpf::libbpf_error(err, "clsact qdisc on " + a.name);
      }
      if (!err) a.created_qdisc = true;
      bpf_tc_opts& o = a.filters[dir];
      o = {};
      o.sz = sizeof o;
      o.prog_fd = progs[dir];
      if ((err = bpf_tc_attach(&hook, &o))) {
        o.handle = 0;
        detach(ifindex, a);
        return bpf::libbpf_error(err, "tc filter on " + a.name);
      }
    }
    return {};
  }

  void detach(int ifindex, Attachment& a) {
    for (int& fd : a.links)
      if (fd >= 0) close(fd), fd = -1;
    if (!a.legacy) return;
    for (int dir = 0; dir < 2; dir++) {
      bpf_tc_hook hook = {};
      hook.sz = sizeof hook;
      hook.ifindex = ifindex;
      hook.attach_point = dir ? BPF_TC_EGRESS : BPF_TC_INGRESS;
      bpf_tc_opts& o = a.filters[dir];
      if (o.handle) {
        bpf_tc_opts d = {};
        d.sz = sizeof d;
        d.handle = o.handle;
        d.priority = o.priority;
        bpf_tc_detach(&hook, &d);
        o.handle = 0;
      }
    }
    if (a.created_qdisc) {  // the clsact qdisc we added, with nothing of ours left on it
      bpf_tc_hook hook = {};
      hook.sz = sizeof hook;
      hook.ifindex = ifindex;
      hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
      bpf_tc_hook_destroy(&hook);
      a.created_qdisc = false;
    }
  }

  void detach_all() {
    for (auto& [ifindex, a] : attached_) detach(ifindex, a);
    attached_.clear();
  }

  SourceOptions opts_;
  bool tc_ = true;          // the TC counters (the agent), not with kinds named (trace packet_drop)
  bool want_drop_ = false;  // drop events
  bool want_flows_ = false;   // flow events
  bool trace_flows_ = false;  // ... asked by naming the kind (trace flow): lo too
  uint64_t flow_timeout_ns_ = 60000000000ULL;
  uint32_t lo_ifindex_ = 1;
  std::unordered_map<sl_flow_key, KnownFlow, FlowKeyHash, FlowKeyEq> known_;  // bounded by the table's size
  uint64_t generation_ = 0;
  LocalSockets sockets_;
  std::chrono::steady_clock::time_point last_sweep_{};
  std::atomic<uint64_t> flow_counts_[kFlowStates] = {};
  std::atomic<uint64_t> flows_unseen_{0}, flow_failed_{0};
  std::unique_ptr<symbols::KernelSymbols> ksyms_;  // drop locations, loaded at the first one
  std::string where_;       // the current event's drop.location
  std::map<int, Attachment> attached_;  // by ifindex
  bool tcx_ = true;                     // until the kernel says otherwise
  uint64_t skipped_ = 0;                // interfaces beyond kMaxInterfaces
  std::string last_error_;
  std::chrono::steady_clock::time_point last_scan_{};
};

}  // namespace

std::unique_ptr<Source> make_packets_source() { return std::make_unique<PacketsSource>(); }

constexpr core::EventKind kPacketsKinds[] = {core::EventKind::kDrop, core::EventKind::kFlow};
constinit const SourceInfo kPacketsSource = {
    "packets",
    "packets and bytes per interface, direction and protocol (TC); drops by kernel reason, each one as a drop "
    "event when asked; flows (TCP/UDP/ICMP, packets and bytes each way, drops) when asked",
    kPacketsKinds, /*streams=*/true, /*has_failed=*/false,
    &make_options<PacketsOptions>, &make_packets_source};

}  // namespace sightline::sources
