// net source (bpf/net.bpf.c, sightline/net.h): streams one event per closed TCP connection and
// keeps, from those events, per-process connection, byte and latency metrics (capped).
#include <sys/socket.h>
#include <netinet/in.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <mutex>
#include <tuple>

#include "bpf/libbpf_util.h"
#include "core/syscalls.h"
#include "sightline/net.h"
#include "sources/aggregate.h"
#include "sources/bpf_source.h"
#include "sources/decode.h"
#include "sources/net/net_source.h"
#include "sources/cpu_slots.h"

// The skeleton names the ABI types of sightline/*.h: it comes after them.
#include "net.skel.h"

namespace sightline::sources {
namespace {

constexpr SkeletonFns<net_bpf> kFns = {&net_bpf__open, &net_bpf__load, &net_bpf__attach,
                                       &net_bpf__destroy};
// Connections close at a few thousand per second at most on a busy node: 1 MiB is seconds.
constexpr uint32_t kDefaultRingBytes = 1 << 20;
constexpr size_t kMaxSeries = 4096;

// process key, role, peer address, port (the remote one of a client, the local one of a server)
using PeerLabel = std::tuple<std::string, std::string, std::string, std::string>;
constexpr size_t kMaxPeerSeries = 2048;

// process key, role, result (ok, failed, reset)
using ConnLabel = std::tuple<std::string, std::string, std::string>;

struct ConnTotals {
  uint64_t connections = 0, bytes_sent = 0, bytes_received = 0, retransmits = 0;
};

struct SockTotals {
  uint64_t sent_bytes = 0, sent_calls = 0, recv_bytes = 0, recv_calls = 0;
  SockTotals& operator+=(const SockTotals& o) {
    sent_bytes += o.sent_bytes, sent_calls += o.sent_calls;
    recv_bytes += o.recv_bytes, recv_calls += o.recv_calls;
    return *this;
  }
  SockTotals operator-(const SockTotals& o) const {
    return {sent_bytes - o.sent_bytes, sent_calls - o.sent_calls, recv_bytes - o.recv_bytes,
            recv_calls - o.recv_calls};
  }
};
static_assert(sizeof(SockTotals) == sizeof(sl_sock_val));

// The protocol label of a socket: tcp, udp, icmp, raw, unix, netlink ... (bounded set).
std::string socket_protocol(uint16_t family, uint16_t protocol) {
  switch (family) {
    case AF_UNIX: return "unix";
    case AF_NETLINK: return "netlink";
    case AF_PACKET: return "packet";
    case AF_VSOCK: return "vsock";
    case AF_INET:
    case AF_INET6:
      switch (protocol) {
        case IPPROTO_TCP: return "tcp";
        case IPPROTO_UDP: return "udp";
        case IPPROTO_UDPLITE: return "udplite";
        case IPPROTO_ICMP: return "icmp";
        case IPPROTO_ICMPV6: return "icmpv6";
        case IPPROTO_SCTP: return "sctp";
        case IPPROTO_MPTCP: return "mptcp";
        default: return "ip_other";
      }
    default: return "other";
  }
}

// process key, protocol
using SockLabel = std::pair<std::string, std::string>;

class NetSource final : public SkeletonSource<net_bpf, kFns, kDefaultRingBytes> {
 public:
  std::string_view name() const override { return "net"; }

  // The per-event kinds this start sends: those named, or where none are (the agent) those its
  // options turn on.
  bool streams(const SourceOptions& o, core::EventKind k) const {
    if (!o.kinds.empty()) return wants(o, k);
    const auto& own = o.own_as<NetOptions>();
    return k == core::EventKind::kRetransmit ? own.retransmits : own.handshakes;
  }

  core::Status start(const SourceOptions& o, const bpf::Features& f, EventSink* sink) override {
    name_of_ = o.process_name;
    int shared = o.sock_traffic_fd, err = 0;
    bool tcp = wants(o, core::EventKind::kTcp), connect = streams(o, core::EventKind::kConnect), accept = streams(o, core::EventKind::kAccept),
         retransmit = streams(o, core::EventKind::kRetransmit);
    auto hooks = plan(f, o);
    bool own = std::any_of(hooks.begin(), hooks.end(), [](const Hook& h) { return h.program == "sl_sock_send" && h.enabled; });
    int shared_slots = o.sock_slots_fd;
    auto st = start_skeleton<net_bpf>(skel_, kFns, o, f, sink, kDefaultRingBytes, [&](net_bpf* s) {
      s->rodata->want_tcp = tcp;
      s->rodata->want_connect = connect;
      s->rodata->want_accept = accept;
      s->rodata->want_retransmit = retransmit;
      // Another source's programs count into these maps: ours reads theirs (plan(): no programs
      // of our own on the socket tracepoints).
      size_cpu_slots(s->maps.sock_slots, SL_NET_SOCK_SLOTS, own || shared_slots >= 0);
      if (shared >= 0) err = bpf_map__reuse_fd(s->maps.sock_traffic, shared);
      if (shared_slots >= 0 && !err) err = bpf_map__reuse_fd(s->maps.sock_slots, shared_slots);
    });
    if (st && err) {
      stop();
      return bpf::libbpf_error(-err, "net: taking l7's socket traffic maps");
    }
    if (st && (own || shared_slots >= 0)) {
      if (auto m = slots_.map(bpf_map__fd(skel_->maps.sock_slots), SL_NET_SOCK_SLOTS, "the socket traffic slots"); !m) {
        stop();
        return core::Status::error(m.err(), "net: " + m.message());
      }
    }
    return st;
  }

  void stop() override {
    slots_.unmap();
    SkeletonSource::stop();
  }

  std::vector<Hook> plan(const bpf::Features& f, const SourceOptions& o) const override {
    auto hooks = tp_btf_plan(f,
                             {{"sl_tcp_state", "inet_sock_set_state"},
                              {"sl_tcp_rst_recv", "tcp_receive_reset"},
                              {"sl_tcp_rst_sent", "tcp_send_reset"},
                              {"sl_tcp_retransmit", "tcp_retransmit_skb"},
                              {"sl_sock_send", "sock_send_length"},
                              {"sl_sock_recv", "sock_recv_length"}});
    for (auto& h : hooks) {
      if (!h.enabled || !h.program.starts_with("sl_sock_")) continue;
      if (!f.tracepoint_exists("sock", "sock_send_length"))
        h.enabled = false, h.note = "tracepoint sock/sock_send_length not in this kernel (6.3+)";
      else if (o.sock_traffic_fd >= 0)
        h.enabled = false, h.note = "l7's socket programs count it (one program per socket I/O)";
    }
    std::string base = base_requirements(f);
    // accept() names an accepted connection's owner as it happens (its close does otherwise).
    for (const char* call : {"accept4", "accept"}) {
      std::string prog = std::string("sl_") + call + "_exit", tp = std::string("sys_exit_") + call;
      hooks.push_back(tracepoint_hook(f, prog.c_str(), "syscalls", tp.c_str(), true, base));
    }
    bool any = false;
    for (auto k : {core::EventKind::kTcp, core::EventKind::kConnect, core::EventKind::kAccept,
                   core::EventKind::kRetransmit})
      any |= wants(o, k);
    if (!any)
      for (auto& h : hooks) h.enabled = false, h.note = "not requested";
    if (!base.empty())
      for (auto& h : hooks) h.enabled = false, h.note = base;
    return hooks;
  }

  void collect(std::vector<core::MetricFamily>& out) override {
    std::lock_guard lock(mu_);
    using core::MetricType;
    core::MetricFamily conns{"sightline_tcp_connections_total",
                             "TCP connections closed, by process name, role and result (ok, failed, reset)",
                             MetricType::kCounter};
    core::MetricFamily bytes{"sightline_tcp_bytes_total",
                             "TCP payload bytes of closed connections, by process name and direction",
                             MetricType::kCounter};
    core::MetricFamily retr{"sightline_tcp_retransmits_total",
                            "TCP segments retransmitted on closed connections, by process name",
                            MetricType::kCounter};
    std::map<std::string, ConnTotals> per_comm;
    for (const auto& [k, t] : totals_) {
      conns.series.push_back({process_labels(std::get<0>(k), {{"role", std::get<1>(k)}, {"result", std::get<2>(k)}}),
                              double(t.connections), {}});
      auto& c = per_comm[std::get<0>(k)];
      c.bytes_sent += t.bytes_sent;
      c.bytes_received += t.bytes_received;
      c.retransmits += t.retransmits;
    }
    for (const auto& [key, t] : per_comm) {
      bytes.series.push_back({process_labels(key, {{"direction", "sent"}}), double(t.bytes_sent), {}});
      bytes.series.push_back({process_labels(key, {{"direction", "received"}}), double(t.bytes_received), {}});
      retr.series.push_back({process_labels(key), double(t.retransmits), {}});
    }
    core::MetricFamily lat{"sightline_tcp_connect_latency_seconds",
                           "Time from SYN sent to established, outgoing connections, whole node",
                           MetricType::kHistogram};
    lat.scale = 1e-9;
    lat.bounds = core::LogHistogram::pow2_bounds(12, 32, 2);  // 4 us .. 4.3 s
    lat.series.push_back({{}, 0, connect_latency_});

    core::MetricFamily sbytes{"sightline_socket_bytes_total",
                              "Bytes moved by sendmsg/recvmsg, by process name, socket protocol and direction",
                              MetricType::kCounter};
    core::MetricFamily smsgs{"sightline_socket_messages_total",
                             "sendmsg/recvmsg calls that moved data (for UDP: datagrams), by process "
                             "name, socket protocol and direction",
                             MetricType::kCounter};
    if (skel_) {
      auto label = [&](const sl_sock_key& k) {
        return SockLabel{process_label(name_of_, k.tgid), socket_protocol(k.family, k.protocol)};
      };
      auto fold = [](const SockLabel& l) { return SockLabel{overflow_key(l.first), l.second}; };
      if (slots_.size()) sockets_.read_slots(slots_.slots(), slots_.size(), label, fold);
      sockets_.read(bpf_map__fd(skel_->maps.sock_traffic), label, fold);
      for (const auto& entry : sockets_.totals()) {
        const SockLabel& l = entry.first;
        const SockTotals& t = entry.second;
        auto labels = [&l](const char* dir) {
          return process_labels(l.first, {{"protocol", l.second}, {"direction", dir}});
        };
        sbytes.series.push_back({labels("sent"), double(t.sent_bytes), {}});
        sbytes.series.push_back({labels("received"), double(t.recv_bytes), {}});
        smsgs.series.push_back({labels("sent"), double(t.sent_calls), {}});
        smsgs.series.push_back({labels("received"), double(t.recv_calls), {}});
      }
    }

    core::MetricFamily pconns{"sightline_tcp_peer_connections_total",
                              "TCP connections closed, by process name, role, peer address and port "
                              "(the server's port: remote for clients, local for servers); capped",
                              MetricType::kCounter};
    core::MetricFamily pbytes{"sightline_tcp_peer_bytes_total",
                              "TCP payload bytes of closed connections, by process name, role, peer "
                              "address, port and direction; capped",
                              MetricType::kCounter};
    for (const auto& [k, t] : peers_) {
      const auto& [key, role, peer, port] = k;
      core::Labels base = {{"role", role}, {"peer", peer}, {"port", port}};
      pconns.series.push_back({process_labels(key, base), double(t.connections), {}});
      auto with = base;
      with.emplace_back("direction", "sent");
      pbytes.series.push_back({process_labels(key, with), double(t.bytes_sent), {}});
      with.back().second = "received";
      pbytes.series.push_back({process_labels(key, with), double(t.bytes_received), {}});
    }

    core::MetricFamily states{"sightline_tcp_state_transitions_total",
                              "TCP socket state changes, whole node, by old and new state",
                              MetricType::kCounter};
    core::MetricFamily live_retr{"sightline_tcp_retransmitted_segments_total",
                                 "TCP segments retransmitted, whole node, counted as they happen",
                                 MetricType::kCounter};
    if (skel_) {
      std::vector<uint64_t> per_cpu(bpf::possible_cpus());
      int fd = bpf_map__fd(skel_->maps.tcp_transitions);
      for (uint32_t i = 0; i < SL_TCP_NSTATES * SL_TCP_NSTATES; i++) {
        if (bpf_map_lookup_elem(fd, &i, per_cpu.data()) != 0) continue;
        uint64_t n = 0;
        for (auto v : per_cpu) n += v;
        if (n)
          states.series.push_back({{{"from", std::string(core::tcp_state_name(i / SL_TCP_NSTATES))},
                                    {"to", std::string(core::tcp_state_name(i % SL_TCP_NSTATES))}},
                                   double(n), {}});
      }
      uint32_t zero = 0;
      uint64_t n = 0;
      if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.tcp_retransmits), &zero, per_cpu.data()) == 0)
        for (auto v : per_cpu) n += v;
      live_retr.series.push_back({{}, double(n), {}});
    }
    core::MetricFamily over = overflow_family("net", overflowed_ + sockets_.overflowed());
    for (auto* f : {&conns, &bytes, &retr, &lat, &sbytes, &smsgs, &pconns, &pbytes, &states, &live_retr, &over})
      out.push_back(std::move(*f));
  }

 protected:
  bool decode(const void* data, size_t size) override {
    core::Event e;
    if (!decode_net_record(data, size, e)) return false;
    sink_->on_event(e);  // the process table fills e.comm for an owner it knows
    if (e.kind == core::EventKind::kTcp) account(e);
    return true;
  }

 private:
  void account(const core::Event& e) {
    std::lock_guard lock(mu_);
    // The owner's key; a process already gone from /proc and the table is named by the event.
    std::string key = process_label(name_of_, e.pid);
    if (key.starts_with("comm=unknown") && !e.comm.empty()) key.replace(5, 7, e.comm);
    ConnLabel label{key, e.role == SL_TCP_CLIENT ? "client" : "server",
                    e.ret < 0 && e.connect_ns == 0 && e.role == SL_TCP_CLIENT ? "failed"
                    : e.reset                                                  ? "reset"
                                                                               : "ok"};
    if (!totals_.count(label) && totals_.size() >= kMaxSeries) {
      std::get<0>(label) = overflow_key(std::get<0>(label));
      overflowed_++;
    }
    auto& t = totals_[label];
    t.connections++;
    t.bytes_sent += e.bytes_sent;
    t.bytes_received += e.bytes_received;
    t.retransmits += e.retransmits;
    bool client = e.role == SL_TCP_CLIENT;
    PeerLabel peer{std::get<0>(label), std::get<1>(label), std::string(e.raddr),
                   std::to_string(client ? e.rport : e.lport)};
    if (!peers_.count(peer) && peers_.size() >= kMaxPeerSeries) {
      std::get<2>(peer) = std::get<3>(peer) = kOverflowLabel;
      overflowed_++;
    }
    auto& p = peers_[peer];
    p.connections++;
    p.bytes_sent += e.bytes_sent;
    p.bytes_received += e.bytes_received;
    if (e.connect_ns) connect_latency_.add(e.connect_ns);
  }

  std::mutex mu_;  // decode (polling thread) vs collect (same thread today; cheap insurance)
  std::map<ConnLabel, ConnTotals> totals_;
  std::map<PeerLabel, ConnTotals> peers_;
  core::LogHistogram connect_latency_;
  uint64_t overflowed_ = 0;
  DeltaTotals<sl_sock_key, SockTotals, SockLabel> sockets_{kMaxSeries, &process_settled_};
  CpuSlots<sl_sock_slot> slots_;  // sock_traffic's slots, mapped while counted
};

}  // namespace

std::unique_ptr<Source> make_net_source() { return std::make_unique<NetSource>(); }

constexpr core::EventKind kNetKinds[] = {core::EventKind::kTcp, core::EventKind::kConnect, core::EventKind::kAccept,
                                         core::EventKind::kRetransmit};
constinit const SourceInfo kNetSource = {
    "net",
    "TCP connections at close (both ends, role, connect latency, duration, bytes, retransmits, RTT, resets); "
    "connects, accepts and retransmits as they happen",
    kNetKinds, /*streams=*/true, /*has_failed=*/true,
    &make_options<NetOptions>, &make_net_source};

}  // namespace sightline::sources
