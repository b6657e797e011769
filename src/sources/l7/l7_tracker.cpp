#include "sources/l7/l7_tracker.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <random>
#include <utility>

#include "core/clock.h"
#include "core/wall_clock.h"
#include "sources/aggregate.h"

namespace sightline::sources {

using protocols::Protocol;
using protocols::Record;
using protocols::Side;

bool L7Tracker::Key::operator==(const Key& o) const {
  return sock == o.sock && peer_port == o.peer_port && memcmp(peer, o.peer, sizeof peer) == 0;
}

size_t L7Tracker::KeyHash::operator()(const Key& k) const {
  uint64_t h = k.sock * 0x9e3779b97f4a7c15ULL ^ k.peer_port;
  uint64_t p[2];
  memcpy(p, k.peer, sizeof p);
  return static_cast<size_t>(h ^ (p[0] * 0xff51afd7ed558ccdULL) ^ (p[1] * 0xc4ceb9fe1a85ec53ULL));
}

L7Tracker::L7Tracker(std::function<void(core::Event&)> on_request, std::function<std::string(uint32_t)> process_key,
                     size_t max_bytes)
    : on_request_(std::move(on_request)), process_key_(std::move(process_key)), max_bytes_(max_bytes) {}

// The Conn, its hash entry and list node, and its address strings.
size_t L7Tracker::conn_bytes() { return sizeof(Conn) + 256; }

void L7Tracker::fit(const Conn* keep) {
  while (stats_.bytes > max_bytes_ && !lru_.empty() && &lru_.back() != keep) {
    stats_.conns_evicted++;
    drop(std::prev(lru_.end()));
  }
}

namespace {

// gRPC's status codes (grpc/doc/statuscodes.md): a bounded label.
std::string_view grpc_status_name(int32_t s) {
  static constexpr std::string_view kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                                                "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                                "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
                                                "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  return s >= 0 && s < 17 ? kNames[s] : "OTHER";
}

// The protocol a record is counted under: gRPC calls apart from the rest of HTTP/2.
std::string_view protocol_of(Protocol p, const protocols::Record& r) {
  return r.grpc ? "grpc" : protocols::protocol_name(p);
}

// Protocols the kernel does not count (no in-kernel pairing): their exact family comes from
// the records, every one of which reaches user space.
bool user_counted(std::string_view proto) {
  return proto == "dns" || proto == "http2" || proto == "grpc" || proto == "memcached" || proto == "nats" ||
         proto == "amqp";
}

std::string addr_text(uint16_t family, const uint8_t* a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (!inet_ntop(family == 10 ? AF_INET6 : AF_INET, a, buf, sizeof buf)) return {};
  return buf;
}

}  // namespace

L7Tracker::Conn* L7Tracker::conn_for(const sl_l7_event& rec, const core::Event& hdr) {
  Key key{};
  key.sock = rec.conn;
  if (rec.sock_type == 2) {  // datagrams: a conversation per peer
    memcpy(key.peer, rec.raddr, sizeof key.peer);
    key.peer_port = rec.rport;
  }
  auto it = conns_.find(key);
  if (it == conns_.end() && rec.sock_type == 2 && rec.rport) {
    // A datagram to a peer on a socket whose receives came without one (an unconnected server
    // socket seen at the socket layer, before recvfrom wrote the sender's address): the
    // conversation of unknown peers answers it, pairing by the protocol's own id (DNS), and its
    // remote end is this peer from now on.
    Key anon = key;
    memset(anon.peer, 0, sizeof anon.peer);
    anon.peer_port = 0;
    if (auto a = conns_.find(anon); a != conns_.end()) {
      it = a;
      Conn& c = *it->second;
      c.raddr = addr_text(rec.family, rec.raddr);
      c.rport = rec.rport;
      c.remote = c.raddr + ":" + std::to_string(c.rport);
      c.edges[0] = c.edges[1] = {};
    }
  }
  if (it != conns_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return &*it->second;
  }
  if (rec.dir == SL_L7_CLOSE) return nullptr;
  auto proto = static_cast<Protocol>(rec.proto);
  auto parser = protocols::make_parser(proto, rec.sock_type != 2);
  if (!parser) return nullptr;  // a protocol the kernel knows and user space does not parse yet
  stats_.bytes += conn_bytes();  // counted before the Conn exists: room is made for it first
  fit(nullptr);
  lru_.emplace_front();
  Conn& c = lru_.front();
  c.key = key;
  c.proto = proto;
  c.role = rec.role;
  c.tls = rec.tls;
  c.parser = std::move(parser);
  c.bytes = conn_bytes() + c.parser->memory();
  stats_.bytes += c.bytes - conn_bytes();
  c.process = process_label(process_key_, hdr.pid);
  // The process's name (its main thread's, as the kernel read it) names it in the map and its
  // events; a thread's own (Chrome_ChildIOT) stays in the event as thread.name.
  c.name.assign(rec.pcomm, strnlen(rec.pcomm, sizeof rec.pcomm));
  if (c.name.empty()) c.name.assign(hdr.comm);
  c.laddr = addr_text(rec.family, rec.laddr);
  c.raddr = addr_text(rec.family, rec.raddr);
  c.lport = rec.lport;
  c.rport = rec.rport;
  c.local = c.laddr + ":" + std::to_string(c.lport);
  c.remote = c.raddr + ":" + std::to_string(c.rport);
  conns_.emplace(key, lru_.begin());
  if (rec.sock_type != 2) {
    Endpoint& ep = endpoints_[c.local];
    ep.comm = c.name;
    ep.role = c.role;
    ep.refs++;
  }
  stats_.conns = conns_.size();
  return &c;
}

std::string L7Tracker::random_hex(size_t digits) {
  if (!rng_) rng_ = std::random_device{}() | (uint64_t{std::random_device{}()} << 32) | 1;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  while (out.size() < digits) {
    rng_ ^= rng_ << 13;  // xorshift: ids need to be unique, not secret
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    for (int i = 0; i < 16 && out.size() < digits; i++) out += kHex[(rng_ >> (4 * i)) & 0xf];
  }
  return out;
}

void L7Tracker::drop(std::list<Conn>::iterator it) {
  scratch_.clear();
  it->parser->close(it->hdr.ts_boot_ns, &scratch_);
  for (const auto& r : scratch_) emit(*it, r);
  const auto& ps = it->parser->stats();
  auto& acc = parser_stats_[static_cast<size_t>(it->proto) % protocols::kProtocols];
  acc.resyncs += ps.resyncs;
  acc.skipped_bytes += ps.skipped_bytes;
  acc.undecoded += ps.undecoded;
  acc.orphans += ps.orphans;
  if (auto e = endpoints_.find(it->local); e != endpoints_.end() && it->key.peer_port == 0 && --e->second.refs == 0)
    endpoints_.erase(e);
  stats_.bytes -= it->bytes;
  conns_.erase(it->key);
  lru_.erase(it);
  stats_.conns = conns_.size();
}

size_t L7Tracker::release_all() {
  size_t n = conns_.size();
  while (!lru_.empty()) drop(std::prev(lru_.end()));
  stats_.conns_evicted += n;
  return n;
}

void L7Tracker::forget_peer_end(std::unordered_map<uint64_t, PeerEnd>::iterator it) {
  if (auto e = endpoints_.find(it->second.local); e != endpoints_.end() && --e->second.refs == 0) endpoints_.erase(e);
  peer_ends_.erase(it);
}

void L7Tracker::peer_end(const sl_l7_event& rec, const core::Event& hdr) {
  if (rec.dir == SL_L7_CLOSE) {
    if (auto it = peer_ends_.find(rec.conn); it != peer_ends_.end()) forget_peer_end(it);
    return;
  }
  stats_.peer_ends++;
  if (auto it = peer_ends_.find(rec.conn); it != peer_ends_.end()) forget_peer_end(it);  // its close was lost
  while (peer_ends_.size() >= kMaxPeerEnds && !peer_order_.empty()) {
    auto [conn, seq] = peer_order_.front();
    peer_order_.pop_front();
    if (auto it = peer_ends_.find(conn); it != peer_ends_.end() && it->second.seq == seq) {
      forget_peer_end(it);
      stats_.peer_ends_forgotten++;
    }
  }
  // closed entries leave their place in the queue: dropped when it outgrows the map
  if (peer_order_.size() > 2 * kMaxPeerEnds) {
    std::erase_if(peer_order_, [this](const auto& o) {
      auto it = peer_ends_.find(o.first);
      return it == peer_ends_.end() || it->second.seq != o.second;
    });
  }
  PeerEnd p;
  p.local = addr_text(rec.family, rec.laddr) + ":" + std::to_string(rec.lport);
  p.seq = ++peer_seq_;
  p.cgroup_id = hdr.cgroup_id;
  p.pid = hdr.pid;
  p.tid = hdr.tid;
  p.ppid = hdr.ppid;
  p.uid = hdr.uid;
  p.gid = hdr.gid;
  p.thread.assign(hdr.comm);
  p.name.assign(rec.pcomm, strnlen(rec.pcomm, sizeof rec.pcomm));
  if (p.name.empty()) p.name = p.thread;
  Endpoint& ep = endpoints_[p.local];
  ep.comm = p.name;
  ep.role = SL_L7_CLIENT;
  ep.refs++;
  ep.peer_conn = rec.conn;
  peer_order_.emplace_back(rec.conn, p.seq);
  peer_ends_.emplace(rec.conn, std::move(p));
}

const L7Tracker::PeerEnd* L7Tracker::peer_of(Conn& c) {
  if (c.peer_conn) {
    if (auto it = peer_ends_.find(c.peer_conn); it != peer_ends_.end() && it->second.local == c.remote) return &it->second;
    c.peer_conn = 0;  // closed, or another connection's now
  }
  if (peer_ends_.empty() || c.peer_tries >= 64) return nullptr;
  c.peer_tries++;
  auto ep = endpoints_.find(c.remote);
  if (ep == endpoints_.end() || !ep->second.peer_conn) return nullptr;
  auto it = peer_ends_.find(ep->second.peer_conn);
  if (it == peer_ends_.end()) return nullptr;
  c.peer_conn = ep->second.peer_conn;
  c.peer_tries = 0;
  return &it->second;
}

void L7Tracker::mirror(const core::Event& server, const PeerEnd& p) {
  core::Event m = server;
  m.pid = p.pid;
  m.tid = p.tid;
  m.ppid = p.ppid;
  m.uid = p.uid;
  m.gid = p.gid;
  m.cgroup_id = p.cgroup_id;
  m.comm = p.name;
  m.thread_name = p.thread;
  m.role = SL_L7_CLIENT;
  std::swap(m.laddr, m.raddr);
  std::swap(m.lport, m.rport);
  // The client's span is the one its traceparent named as the server's parent; what the
  // server's end alone knows (its thread's timeline, its calls, its socket's resends) is not
  // the client's.
  m.span_id = server.parent_span_id;
  m.parent_span_id = {};
  m.downstream = 0;
  m.downstream_ns = 0;
  m.timeline = 0;
  m.tl_cpu_ns = m.tl_runq_ns = 0;
  std::fill(std::begin(m.tl_wait_ns), std::end(m.tl_wait_ns), 0);
  m.req_retransmits = -1;
  stats_.requests++;
  stats_.mirrored++;
  on_request_(m);
}

void L7Tracker::on_record(const sl_l7_event& rec, std::string_view data, const core::Event& hdr) {
  stats_.records++;
  if (rec.dir == SL_L7_PEER_END || (rec.dir == SL_L7_CLOSE && rec.proto == SL_L7_PEER)) {
    peer_end(rec, hdr);
    return;
  }
  Conn* c = conn_for(rec, hdr);
  if (!c) return;
  if (rec.dir == SL_L7_CLOSE) {
    c->hdr.ts_boot_ns = hdr.ts_boot_ns;
    drop(conns_.find(c->key)->second);
    return;
  }
  // The process that moved the bytes (a connection can be handed to another process).
  c->comm.assign(hdr.comm);
  c->hdr = hdr;
  c->hdr.comm = c->comm;
  Side side = (rec.dir == SL_L7_SEND) == (c->role == SL_L7_CLIENT) ? Side::kClient : Side::kServer;
  if (side == Side::kClient) c->weight = std::max<uint32_t>(rec.weight, 1);
  if (c->role == SL_L7_CLIENT) c->serve_id = rec.serve_id;
  if (c->role == SL_L7_SERVER && rec.sock_type != 2) {  // which request this thread is serving
    if (side == Side::kClient) {
      if (serving_.size() >= kMaxThreads && !serving_.contains(hdr.tid)) serving_.clear();
      serving_[hdr.tid] = c->key;
    } else if (auto s = serving_.find(hdr.tid); s != serving_.end() && s->second == c->key) {
      serving_.erase(s);  // answered
    }
  }
  if (rec.tm_flags && c->role == SL_L7_SERVER) {
    c->tl_flags = rec.tm_flags;
    c->tl = rec.tm;
  }
  if (rec.retrans_set) c->retrans = rec.retrans;
  scratch_.clear();
  c->parser->feed(side, data, hdr.ts_boot_ns, &scratch_);
  if (rec.len > data.size()) c->parser->gap(side, rec.len - data.size(), hdr.ts_boot_ns, &scratch_);
  if (auto to = c->parser->switched_to(); to != Protocol::kUnknown && to != c->proto) {
    // Upgraded (HTTP/1.1 to h2c): the kernel sends every message of it from now on, unweighed,
    // and its exchanges (the upgrading one first) are counted here.
    c->proto = to;
    c->weight = 1;
  }
  for (const auto& r : scratch_) emit(*c, r);
  size_t now = conn_bytes() + c->parser->memory();
  stats_.bytes += now - c->bytes;
  c->bytes = now;
  if (stats_.bytes > max_bytes_) fit(c);
}

void L7Tracker::emit(Conn& c, const Record& r) {
  if (learn_dns_)
    for (const auto& a : r.addresses) learn_dns_(a, r.target);
  core::Event e = c.hdr;
  e.kind = core::EventKind::kRequest;
  e.thread_name = e.comm;
  e.comm = c.name;
  e.ts_boot_ns = r.start_ns;
  e.ts_wall_ns = core::wall_clock().to_wall(r.start_ns);
  e.protocol = protocol_of(c.proto, r);
  e.role = c.role;
  e.method = r.method;
  e.target = r.target;
  e.request = r.raw;
  e.error_text = r.error_text;
  e.status = r.status;
  e.error = r.error;
  e.no_response = r.no_response;
  e.tls = c.tls;
  e.rows = r.rows;
  e.duration_ns = r.end_ns > r.start_ns ? r.end_ns - r.start_ns : 0;
  e.request_bytes = r.request_bytes;
  e.response_bytes = r.response_bytes;
  e.trace_id = r.trace.trace_id;
  e.parent_span_id = r.trace.parent_id;
  // Thread-per-request linking: a request this thread made while serving one (and that carried
  // no traceparent of its own) is a child of the served request's span, in its trace; the served
  // request's record takes that span id when it completes.
  std::string link_trace, link_span;
  if (c.role == SL_L7_CLIENT && e.trace_id.empty()) {
    Conn* server = nullptr;
    if (auto s = serving_.find(c.hdr.tid); s != serving_.end())
      if (auto sc = conns_.find(s->second); sc != conns_.end() && &*sc->second != &c) server = &*sc->second;
    if (server) {
      if (server->link_span.empty()) {
        server->link_span = random_hex(16);
        const protocols::TraceContext* t = server->parser->open_trace();
        server->link_trace = t ? t->trace_id : random_hex(32);
      }
      server->down_n++;
      server->down_ns += e.duration_ns;
      e.trace_id = server->link_trace;
      e.parent_span_id = server->link_span;
    } else if (c.serve_id) {
      // Made while serving a request not seen yet (held by the kernel, sent at its answer if it
      // failed or was slow): linked now; the served request takes the link when it comes.
      if (pending_links_.size() >= kMaxPendingLinks) pending_links_.clear();
      PendingLink& l = pending_links_[uint64_t{c.hdr.tid} << 32 | c.serve_id];
      if (l.span.empty()) {
        l.span = random_hex(16);
        l.trace = random_hex(32);
      }
      l.down_n++;
      l.down_ns += e.duration_ns;
      e.trace_id = l.trace;
      e.parent_span_id = l.span;
    }
  } else if (c.role == SL_L7_SERVER && c.link_span.empty() && !pending_links_.empty()) {
    if (auto l = pending_links_.find(uint64_t{c.hdr.tid} << 32 | static_cast<uint32_t>(r.start_ns));
        l != pending_links_.end()) {
      c.link_span = std::move(l->second.span);
      c.link_trace = std::move(l->second.trace);
      c.down_n += l->second.down_n;
      c.down_ns += l->second.down_ns;
      pending_links_.erase(l);
    }
  }
  if (c.role == SL_L7_SERVER && !c.link_span.empty()) {
    link_span = std::move(c.link_span);
    link_trace = std::move(c.link_trace);
    c.link_span.clear();
    c.link_trace.clear();
    e.span_id = link_span;
    if (e.trace_id.empty()) e.trace_id = link_trace;
  }
  if (c.role == SL_L7_SERVER) {
    e.downstream = std::exchange(c.down_n, 0);
    e.downstream_ns = std::exchange(c.down_ns, 0);
    if (c.tl_flags) {
      e.timeline = c.tl_flags == SL_L7_TM_SET ? 1 : 2;
      if (e.timeline == 1) {
        e.tl_cpu_ns = c.tl.cpu_ns;
        e.tl_runq_ns = c.tl.runq_ns;
        static_assert(sizeof(e.tl_wait_ns) / sizeof(e.tl_wait_ns[0]) == SL_WAIT_N);
        std::copy(std::begin(c.tl.wait_ns), std::end(c.tl.wait_ns), e.tl_wait_ns);
      }
      c.tl_flags = 0;
    }
  }
  e.req_retransmits = std::exchange(c.retrans, -1);
  // A failed or slow exchange is sent whatever the sample (the kernel's rule): it stands for itself.
  e.weight = r.error || r.no_response || e.duration_ns >= slow_ns_ ? 1 : c.weight;
  e.laddr = c.laddr;
  e.raddr = c.raddr;
  e.lport = c.lport;
  e.rport = c.rport;
  stats_.requests++;
  // The status class: no string is built per request (this runs for every one).
  static constexpr std::string_view kHttpClass[] = {"0xx", "1xx", "2xx", "3xx", "4xx", "5xx", "other"};
  std::string_view status = r.no_response               ? "none"
                            : c.proto == Protocol::kHttp ? kHttpClass[std::min(r.status < 0 ? 6 : r.status / 100, 6)]
                            : c.proto == Protocol::kDns  ? protocols::dns_rcode_name(r.status)
                            : r.grpc                     ? grpc_status_name(r.status)
                            : c.proto == Protocol::kHttp2 ? kHttpClass[std::min(r.status < 0 ? 6 : r.status / 100, 6)]
                            : r.error                    ? "error"
                            : c.proto == Protocol::kMemcached && r.status ? (r.status == 1 ? "hit" : "miss")
                                                         : "ok";
  account(c, r, status, e.ts_wall_ns);
  if (!on_request_) return;
  // A loopback connection counted at its server's end: the client's view is this record's too.
  const PeerEnd* peer = c.role == SL_L7_SERVER ? peer_of(c) : nullptr;
  if (!peer) {
    on_request_(e);
    return;
  }
  core::Event server = e;  // the sinks may add to e
  on_request_(e);
  mirror(server, *peer);
}

namespace {
// latency_bounds(), once: a request's bucket is looked up for every one seen in detail.
const std::vector<uint64_t>& bounds_ns() {
  static const std::vector<uint64_t> b = L7Tracker::latency_bounds();
  return b;
}
}  // namespace

void L7Tracker::keep_sample(Samples& v, const Sample& s) {
  const auto& b = bounds_ns();
  if (!s.wall_ns) return;  // an empty bucket's place
  if (v.empty()) v.resize(b.size() + 1);
  // The bucket whose `le` is the first bound above the value (le counts values below it).
  size_t i = std::upper_bound(b.begin(), b.end(), s.latency_ns) - b.begin();
  if (s.wall_ns >= v[i].wall_ns) v[i] = s;
}

std::vector<core::Exemplar> L7Tracker::exemplars_of(const Samples& v) {
  std::vector<core::Exemplar> out;
  for (const auto& s : v)
    if (s.wall_ns)
      out.push_back({s.latency_ns, s.wall_ns, {{"evt_time", std::to_string(s.wall_ns)}, {"proc_tid", std::to_string(s.tid)}}});
  return out;
}

void L7Tracker::account(Conn& c, const Record& r, std::string_view status, uint64_t wall_ns) {
  std::string_view proto = protocol_of(c.proto, r);
  std::string_view role = c.role == SL_L7_CLIENT ? "client" : "server";
  // HTTP paths as routes that cluster themselves (/u/alice/x1 -> /u/{x}/{x} once they vary).
  const std::string* target = &r.target;
  if (c.proto == Protocol::kHttp || (c.proto == Protocol::kHttp2 && !r.grpc)) {
    if (c.last_route_gen != routes_.generation() || c.last_path != r.target) {
      c.last_route = routes_.route(c.process, r.target);
      c.last_path = r.target;
      c.last_route_gen = routes_.generation();
    }
    // A position became {x}: fold the series, and route this request again (its route may have
    // been learnt just before the collapse).
    while (routes_.generation() != routes_folded_) {
      fold_routes();
      c.last_route = routes_.route(c.process, r.target);
      c.last_route_gen = routes_.generation();
    }
    target = &c.last_route;
  }
  // RED: one series per (process, protocol, role, method, target, status class), capped.
  if (!c.last_red || c.last_method != r.method || c.last_target != *target || c.last_status != status) {
    std::vector<std::string> key = {c.process, std::string(proto), std::string(role), r.method, *target, std::string(status)};
    auto it = red_.find(key);
    if (it == red_.end()) {
      if (red_.size() >= kMaxSeries) {
        red_overflow_++;
        key = {overflow_key(c.process), std::string(proto), std::string(role), kOverflowLabel, kOverflowLabel, kOverflowLabel};
      }
      it = red_.try_emplace(std::move(key)).first;
    }
    c.last_red = &it->second;
    c.last_method = r.method;
    c.last_target = *target;
    c.last_status = status;
  }
  Red& red = *c.last_red;
  red.requests++;
  red.errors += r.error;
  if (!r.no_response) {
    red.latency.add(r.end_ns - r.start_ns);
    keep_sample(red.exemplars, {r.end_ns - r.start_ns, wall_ns, c.hdr.tid});
  }
  if (c.edge_skip) return;
  Conn::EdgeRef& er = c.edges[r.delivery];
  if (er.provisional && ++er.tries > 64) er.provisional = false;  // the client is not traced here
  if (er.edge && !er.provisional) {
    er.edge->requests++;
    er.edge->errors += r.error;
    if (!r.no_response) er.edge->seconds += static_cast<double>(r.end_ns - r.start_ns) * 1e-9;
    return;
  }

  // Service map: from the server's side where it is traced here; a client's request to a
  // server traced here too is the same request, counted once. A delivery's edge runs the other
  // way (producer -> broker -> consumer).
  std::string client, server;
  bool provisional = false;
  if (c.role == SL_L7_SERVER) {
    server = c.name;
    auto peer = endpoints_.find(c.remote);
    provisional = !(peer != endpoints_.end() && peer->second.role == SL_L7_CLIENT);
    client = provisional ? c.raddr : peer->second.comm;
  } else {
    auto peer = endpoints_.find(c.remote);
    if (peer != endpoints_.end() && peer->second.role == SL_L7_SERVER) {
      c.edge_skip = true;
      return;
    }
    client = c.name;
    server = c.remote;
  }
  auto ek = r.delivery ? std::make_tuple(server, client, std::string(proto)) : std::make_tuple(client, server, std::string(proto));
  auto e = edges_.find(ek);
  if (e == edges_.end()) {
    if (edges_.size() >= kMaxEdges) ek = std::make_tuple(std::string(kOverflowLabel), std::string(kOverflowLabel), std::string(proto));
    e = edges_.try_emplace(ek, ServiceEdge{std::get<0>(ek), std::get<1>(ek), std::get<2>(ek)}).first;
  }
  if (er.edge && er.provisional && er.edge != &e->second) {  // the client is known now
    er.edge->requests -= er.prov_requests;
    er.edge->errors -= er.prov_errors;
    er.edge->seconds -= er.prov_seconds;
    e->second.requests += er.prov_requests;
    e->second.errors += er.prov_errors;
    e->second.seconds += er.prov_seconds;
  }
  er.edge = &e->second;
  er.provisional = provisional;
  double seconds = r.no_response ? 0 : static_cast<double>(r.end_ns - r.start_ns) * 1e-9;
  if (provisional) er.prov_requests++, er.prov_errors += r.error, er.prov_seconds += seconds;
  e->second.requests++;
  e->second.errors += r.error;
  e->second.seconds += seconds;
}

void L7Tracker::fold_routes() {
  const std::string http(protocols::protocol_name(Protocol::kHttp));
  // Re-routing can teach the trie more and collapse again: until it holds (collapses only
  // shrink it, so this ends).
  while (routes_folded_ != routes_.generation()) {
    routes_folded_ = routes_.generation();
    std::map<std::vector<std::string>, Red> folded;
    for (auto& [key, red] : red_) {
      std::vector<std::string> k = key;
      if (k[1] == http && k[4] != kOverflowLabel) k[4] = routes_.route(k[0], k[4]);
      Red& dst = folded[std::move(k)];
      dst.requests += red.requests;
      dst.errors += red.errors;
      dst.latency.merge(red.latency);
      for (const auto& e : red.exemplars) keep_sample(dst.exemplars, e);
    }
    red_ = std::move(folded);
  }
  for (auto& c : lru_) c.last_red = nullptr;
}

std::vector<ServiceEdge> L7Tracker::service_map() const {
  std::vector<ServiceEdge> out;
  for (const auto& [k, e] : edges_)
    if (e.requests) out.push_back(e);  // an address's edge whose requests all moved to a name
  return out;
}

protocols::ParserStats L7Tracker::parser_stats(Protocol p) const {
  protocols::ParserStats s = parser_stats_[static_cast<size_t>(p) % protocols::kProtocols];
  for (const auto& c : lru_)
    if (c.proto == p) {
      s.resyncs += c.parser->stats().resyncs;
      s.skipped_bytes += c.parser->stats().skipped_bytes;
      s.undecoded += c.parser->stats().undecoded;
      s.orphans += c.parser->stats().orphans;
    }
  return s;
}

std::vector<uint64_t> L7Tracker::latency_bounds() { return core::LogHistogram::pow2_bounds(14, 34, 2); }  // 16 us .. 17 s

void L7Tracker::collect_user_counted(core::MetricFamily& req, core::MetricFamily& err, core::MetricFamily& lat) const {
  std::map<std::vector<std::string>, Red> by;  // the route dropped
  for (const auto& [k, v] : red_) {
    if (!user_counted(k[1])) continue;
    Red& r = by[{k[0], k[1], k[2], k[3], k[5]}];
    r.requests += v.requests;
    r.errors += v.errors;
    r.latency.merge(v.latency);
    for (const auto& s : v.exemplars) keep_sample(r.exemplars, s);
  }
  for (const auto& [k, v] : by) {
    core::Labels labels = process_labels(k[0], {{"protocol", k[1]}, {"role", k[2]}, {"method", k[3]}, {"status", k[4]}});
    req.series.push_back({labels, static_cast<double>(v.requests), {}});
    if (v.errors) err.series.push_back({labels, static_cast<double>(v.errors), {}});
    if (v.latency.count()) lat.series.push_back({std::move(labels), 0, v.latency, exemplars_of(v.exemplars)});
  }
}

std::map<std::vector<std::string>, std::vector<core::Exemplar>> L7Tracker::kernel_exemplars() const {
  // The kernel's labels (l7_source.cpp red_labels): the method's first SL_L7_METHOD_LEN bytes
  // ("OTHER" for none), HTTP's status class, else ok or error; DNS is not the kernel's.
  std::map<std::vector<std::string>, Samples> by;
  for (const auto& [k, v] : red_) {
    if (v.exemplars.empty() || k[5] == "none" || user_counted(k[1])) continue;
    std::string method = k[3].substr(0, SL_L7_METHOD_LEN);
    if (method.empty()) method = "OTHER";
    Samples& dst = by[{k[0], k[1], k[2], std::move(method), k[5]}];
    for (const auto& s : v.exemplars) keep_sample(dst, s);
  }
  std::map<std::vector<std::string>, std::vector<core::Exemplar>> out;
  for (const auto& [k, v] : by) out.emplace(k, exemplars_of(v));
  return out;
}

void L7Tracker::collect(std::vector<core::MetricFamily>& out) const {
  using core::MetricType;
  core::MetricFamily req{"sightline_l7_route_requests_total",
                         "L7 requests seen in detail, by process, protocol, role, method, route and status class "
                         "(all of them with sources.l7.sample 1; else every failed or slow one and 1 in N of the "
                         "rest; sightline_l7_requests_total counts every one)",
                         MetricType::kCounter};
  core::MetricFamily err{"sightline_l7_route_errors_total", "Failed L7 requests seen in detail, by route",
                         MetricType::kCounter};
  core::MetricFamily lat{"sightline_l7_route_duration_seconds",
                         "Latency of the L7 requests seen in detail, by route: the request's first byte to the "
                         "response's last, as the process moved them",
                         MetricType::kHistogram};
  lat.scale = 1e-9;
  lat.bounds = latency_bounds();
  for (const auto& [k, v] : red_) {
    core::Labels labels =
        process_labels(k[0], {{"protocol", k[1]}, {"role", k[2]}, {"method", k[3]}, {"target", k[4]}, {"status", k[5]}});
    req.series.push_back({labels, static_cast<double>(v.requests), {}});
    if (v.errors) err.series.push_back({labels, static_cast<double>(v.errors), {}});
    if (v.latency.count()) lat.series.push_back({std::move(labels), 0, v.latency, exemplars_of(v.exemplars)});
  }
  core::MetricFamily edges{"sightline_service_map_requests_total",
                           "Requests from a client to a server (process names where both ends are on this node, "
                           "else addresses)",
                           MetricType::kCounter};
  core::MetricFamily edge_err{"sightline_service_map_errors_total", "Failed requests on a service-map edge",
                              MetricType::kCounter};
  core::MetricFamily edge_sec{"sightline_service_map_request_seconds_total",
                              "Latency summed over a service-map edge's requests", MetricType::kCounter};
  for (const auto& [k, e] : edges_) {
    core::Labels l = {{"client", e.client}, {"server", e.server}, {"protocol", e.protocol}};
    edges.series.push_back({l, static_cast<double>(e.requests), {}});
    edge_err.series.push_back({l, static_cast<double>(e.errors), {}});
    edge_sec.series.push_back({l, e.seconds, {}});
  }
  core::MetricFamily conns{"sightline_l7_connections", "Connections with parser state now", MetricType::kGauge};
  conns.series.push_back({{}, static_cast<double>(conns_.size()), {}});
  core::MetricFamily conn_bytes{"sightline_l7_connection_bytes",
                                "Bytes the connections' parser state holds now (bounded by memory_limit's share)",
                                MetricType::kGauge};
  conn_bytes.series.push_back({{}, static_cast<double>(stats_.bytes), {}});
  core::MetricFamily evicted{"sightline_l7_connections_evicted_total",
                             "Connections whose parser state was dropped to stay within the bound",
                             MetricType::kCounter};
  evicted.series.push_back({{}, static_cast<double>(stats_.conns_evicted), {}});
  core::MetricFamily peers{"sightline_l7_peer_ends_total",
                           "Loopback connections counted at their server's end only: their client's end named itself",
                           MetricType::kCounter};
  peers.series.push_back({{}, static_cast<double>(stats_.peer_ends), {}});
  core::MetricFamily peers_lost{"sightline_l7_peer_ends_forgotten_total",
                                "Loopback client ends forgotten before their close (past the bound): their server's "
                                "edges name them by address",
                                MetricType::kCounter};
  peers_lost.series.push_back({{}, static_cast<double>(stats_.peer_ends_forgotten), {}});
  core::MetricFamily resync{"sightline_l7_parser_resyncs_total",
                            "Times a parser lost a message boundary (garbage, a gap in a header, a full buffer) "
                            "and looked for the next one",
                            MetricType::kCounter};
  core::MetricFamily orphans{"sightline_l7_orphan_responses_total", "Responses with no request to match",
                             MetricType::kCounter};
  core::MetricFamily undecoded{"sightline_l7_undecoded_headers_total",
                               "HTTP/2 header fields HPACK could not name: entries of a connection's table inserted "
                               "before the agent saw it (joined mid-way) or in a block it lost",
                               MetricType::kCounter};
  for (auto p : {Protocol::kHttp, Protocol::kPgsql, Protocol::kMysql, Protocol::kRedis, Protocol::kDns, Protocol::kHttp2,
                 Protocol::kMemcached, Protocol::kNats, Protocol::kAmqp}) {
    auto s = parser_stats(p);
    core::Labels l = {{"protocol", std::string(protocols::protocol_name(p))}};
    resync.series.push_back({l, static_cast<double>(s.resyncs), {}});
    orphans.series.push_back({l, static_cast<double>(s.orphans), {}});
    if (p == Protocol::kHttp2) undecoded.series.push_back({l, static_cast<double>(s.undecoded), {}});
  }
  core::MetricFamily routes{"sightline_l7_route_positions_collapsed_total",
                            "HTTP path positions seen to vary and turned into the wildcard {x} (routes that "
                            "cluster themselves)",
                            MetricType::kCounter};
  routes.series.push_back({{}, static_cast<double>(routes_.collapsed()), {}});
  core::MetricFamily route_nodes{"sightline_l7_route_nodes",
                                 "Path segments the route clustering remembers (bounded; past the bound, new "
                                 "segments are {x})",
                                 MetricType::kGauge};
  route_nodes.series.push_back({{}, static_cast<double>(routes_.nodes()), {}});
  for (auto* f : {&req, &err, &lat, &edges, &edge_err, &edge_sec, &conns, &conn_bytes, &evicted, &peers, &peers_lost, &resync, &orphans, &undecoded, &routes,
                  &route_nodes})
    out.push_back(std::move(*f));
}

}  // namespace sightline::sources
