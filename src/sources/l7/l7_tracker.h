// The user side of the l7 source: socket payload records in, request events out, with RED
// metrics (rate, errors, latency per process, protocol, method, target and status class) and
// the service map (client -> server edges). No BPF here: the source hands it decoded records,
// the unit tests hand it recorded ones.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/event.h"
#include "core/metrics.h"
#include "protocols/protocol.h"
#include "protocols/routes.h"
#include "sightline/l7.h"

namespace sightline::sources {

struct L7Stats {
  uint64_t records = 0;           // socket payload records taken
  uint64_t requests = 0;          // request events made
  uint64_t conns_evicted = 0;     // connections dropped (LRU) with their parser state
  uint64_t conns = 0;             // connections tracked now
  uint64_t bytes = 0;             // their state: conn_bytes() each and their parsers' memory()
  uint64_t peer_ends = 0;         // loopback client ends counted at their server's end: named now
  uint64_t peer_ends_forgotten = 0;  // of those, dropped past kMaxPeerEnds before their close
  uint64_t mirrored = 0;          // request events made for a peer end from its server's record
};

// One service-map edge.
struct ServiceEdge {
  std::string client, server, protocol;
  uint64_t requests = 0, errors = 0;
  double seconds = 0;  // latency summed
};

class L7Tracker {
 public:
  // Bounds: the bytes of the connections' state (memory_limit's share; a connection costs
  // conn_bytes() and its parser's buffers and pending requests, up to 2 x kMaxBuffered and
  // more), label sets of the RED families, service-map edges. Past the bytes, the least
  // recently used connections go (their pending requests closed as a close would, counted).
  static constexpr size_t kDefaultMaxBytes = 16ULL << 20;
  static constexpr size_t kMaxSeries = 2000;
  static constexpr size_t kMaxEdges = 1000;
  // Loopback client ends the kernel counts at their server's end (SL_L7_PEER_END): remembered
  // until their close to name the server's edges; past this many the oldest are forgotten.
  static constexpr size_t kMaxPeerEnds = 16384;

  // `on_request` gets each request event (views valid during the call); `process_key` names a
  // process for metric labels (sources/aggregate.h keys).
  L7Tracker(std::function<void(core::Event&)> on_request, std::function<std::string(uint32_t)> process_key,
            size_t max_bytes = kDefaultMaxBytes);
  // What a connection costs before its parser's memory.
  static size_t conn_bytes();
  // Told each address a DNS answer gives (before the request's event goes out).
  void set_dns_learner(std::function<void(std::string_view, std::string_view)> f) { learn_dns_ = std::move(f); }
  // The kernel's slow threshold (sources.l7.slow_ms): a slower exchange was sent whatever the
  // sample, so its event's weight is 1.
  void set_slow_ns(uint64_t ns) { slow_ns_ = ns; }
  // HTTP route templates that win over learnt clustering (sources.l7.routes).
  void set_route_templates(std::vector<std::string> t) { routes_.set_templates(std::move(t)); }

  // A record from the kernel: its header already decoded into `hdr` (process identity, time),
  // `data` the captured bytes.
  void on_record(const sl_l7_event& rec, std::string_view data, const core::Event& hdr);

  // The per-route families (sightline_l7_route_*: what arrived in detail), the service map, the
  // parsers' and the tracker's own counters.
  void collect(std::vector<core::MetricFamily>& out) const;
  // The exact families' series (sightline_l7_requests_total ...) of the protocols the kernel
  // does not count (DNS, HTTP/2, gRPC): every message of theirs arrives as a record. The route
  // (the name, the path) is left out.
  void collect_user_counted(core::MetricFamily& req, core::MetricFamily& err, core::MetricFamily& lat) const;
  // The `le` bounds of the latency histograms, in ns.
  static std::vector<uint64_t> latency_bounds();
  // Exemplars of the kernel's exact latency series (process key, protocol, role, method, status
  // class, as the kernel labels them): for each, the newest request seen in detail per bucket.
  std::map<std::vector<std::string>, std::vector<core::Exemplar>> kernel_exemplars() const;
  std::vector<ServiceEdge> service_map() const;
  const L7Stats& stats() const { return stats_; }
  // Drops every connection's parser state (memory pressure; their pending requests are closed
  // as a close would). Returns how many connections were dropped.
  size_t release_all();
  // Label sets of the route families folded into __overflow__ so far.
  uint64_t red_overflow() const { return red_overflow_; }
  protocols::ParserStats parser_stats(protocols::Protocol p) const;

 private:
  struct Key {
    uint64_t sock;
    uint8_t peer[16];  // datagram sockets: one conversation per peer
    uint16_t peer_port;
    bool operator==(const Key& o) const;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  // An exemplar as kept: one request's latency, time and thread (the store's evt_time and
  // proc_tid find its row).
  struct Sample {
    uint64_t latency_ns = 0, wall_ns = 0;
    uint32_t tid = 0;
  };
  using Samples = std::vector<Sample>;  // by latency bucket (latency_bounds() and +Inf), newest; empty until one
  struct Red {
    uint64_t requests = 0, errors = 0;
    core::LogHistogram latency;
    Samples exemplars;
  };
  struct Conn {
    Key key;
    protocols::Protocol proto;
    uint8_t role;
    bool tls = false;
    std::unique_ptr<protocols::Parser> parser;
    std::string process;   // metric label key, taken once
    std::string name;      // the process's name (its comm label, else the first record's thread)
    std::string local, remote;  // ip:port
    std::string laddr, raddr;
    uint16_t lport = 0, rport = 0;
    core::Event hdr;       // the latest record's process (strings below)
    std::string comm;      // the latest record's thread
    // The series the last request went to: keep-alive connections repeat one route, so most
    // requests find their RED series and edge here without building a key.
    std::string last_method, last_target, last_status;
    Red* last_red = nullptr;
    // The route the last HTTP target clustered to, valid while the clusters' generation holds.
    std::string last_path, last_route;
    uint64_t last_route_gen = ~0ULL;
    // Its service-map edges: [0] client -> server (requests), [1] server -> client (messages
    // the server delivers: NATS MSG).
    struct EdgeRef {
      ServiceEdge* edge = nullptr;  // nullptr: not yet known; the map's nodes never move
      // A server's edge named by the client's address because the client's side was not known
      // yet (its record can come later): looked at again on the next exchanges, and what it
      // counted moves to the client's name once known.
      bool provisional = false;
      uint8_t tries = 0;
      uint64_t prov_requests = 0, prov_errors = 0;
      double prov_seconds = 0;
    };
    EdgeRef edges[2];
    bool edge_skip = false;  // a client of a server traced here: counted there
    // A server's: the peer end at its other end (peer_ends_ key; 0: none found yet), and the
    // lookups left before it stops looking (a remote client never names itself).
    uint64_t peer_conn = 0;
    uint8_t peer_tries = 0;
    // A server connection whose thread made requests while serving its open request: the span
    // id (and trace) its next record takes, named by those requests as their parent.
    std::string link_span, link_trace;
    uint32_t weight = 1;          // of the exchange under way (the kernel's sample: 1 in N sent)
    // A server's: the timeline its response's first record carried (sl_l7_event.tm), and the
    // requests its thread made while serving (linked as children), for its next request event.
    uint32_t tl_flags = 0;
    sl_thread_time tl{};
    int32_t retrans = -1;  // the socket's retransmits over the exchange (sl_l7_event.retrans), -1: none
    uint32_t down_n = 0;
    uint64_t down_ns = 0;
    uint32_t serve_id = 0;  // a client's exchange under way: the kernel's sl_l7_event.serve_id
    size_t bytes = 0;             // conn_bytes() and the parser's memory() after its last feed
  };

  Conn* conn_for(const sl_l7_event& rec, const core::Event& hdr);
  // A loopback client's end counted at its server's (its one record) or its close.
  void peer_end(const sl_l7_event& rec, const core::Event& hdr);
  void drop(std::list<Conn>::iterator it);
  void emit(Conn& c, const protocols::Record& r);
  void account(Conn& c, const protocols::Record& r, std::string_view status, uint64_t wall_ns);
  // Keeps `s` as its bucket's exemplar when it is newer than the one there.
  static void keep_sample(Samples& v, const Sample& s);
  static std::vector<core::Exemplar> exemplars_of(const Samples& v);
  // After a path position became {x}: the series of the literals it forgot move into their new
  // route (counts stay exact; those series end), and cached series pointers are dropped.
  void fold_routes();

  std::function<void(core::Event&)> on_request_;
  std::function<std::string(uint32_t)> process_key_;
  std::function<void(std::string_view, std::string_view)> learn_dns_;
  size_t max_bytes_;
  // Evicts least recently used connections (never `keep`) until the state fits in max_bytes_.
  void fit(const Conn* keep);
  uint64_t slow_ns_ = UINT64_MAX;
  std::list<Conn> lru_;  // most recent first
  std::unordered_map<Key, std::list<Conn>::iterator, KeyHash> conns_;
  // Local endpoints (ip:port) of traced connections: who is at the other end of a local one.
  struct Endpoint {
    std::string comm;
    uint8_t role;
    uint32_t refs;  // the connections that have it (a server's listening address: many)
    uint64_t peer_conn = 0;  // a peer end's socket (peer_ends_), 0: a traced connection's
  };
  // A loopback client's end that the kernel counts at its server's (SL_L7_PEER_END): who it is,
  // for the client's view of each request its server's end sends (mirror()).
  struct PeerEnd {
    std::string local;  // its ip:port, its endpoints_ key
    uint64_t seq = 0;   // when it came (peer_order_)
    uint64_t cgroup_id = 0;
    uint32_t pid = 0, tid = 0, ppid = 0, uid = 0, gid = 0;
    std::string name, thread;  // the process's name, the thread's
  };
  std::unordered_map<std::string, Endpoint> endpoints_;
  // Peer ends by socket: their endpoint (in endpoints_) and when they came (peer_order_: oldest
  // first, each with the sequence it was added at; an entry closed since is skipped there).
  std::unordered_map<uint64_t, PeerEnd> peer_ends_;
  std::deque<std::pair<uint64_t, uint64_t>> peer_order_;
  uint64_t peer_seq_ = 0;
  void forget_peer_end(std::unordered_map<uint64_t, PeerEnd>::iterator it);
  // The peer end at a server connection's other end, if its client's end named itself.
  const PeerEnd* peer_of(Conn& c);
  // The client's view of a request a server's end sent: its event again as the client's.
  void mirror(const core::Event& server, const PeerEnd& p);
  std::map<std::vector<std::string>, Red> red_;
  protocols::RouteClusters routes_;  // HTTP targets of RED series, clustered per process
  uint64_t routes_folded_ = 0;       // the clusters' generation red_ was last folded at
  uint64_t red_overflow_ = 0;
  std::map<std::tuple<std::string, std::string, std::string>, ServiceEdge> edges_;
  protocols::ParserStats parser_stats_[protocols::kProtocols] = {};  // by protocol, of dropped connections
  L7Stats stats_;
  std::vector<protocols::Record> scratch_;
  // Threads serving a request: tid -> the server connection it last read a request from and has
  // not answered yet. Thread-per-request servers make their downstream calls on that thread;
  // event loops (nginx, Node) serve many connections a thread, so a link there can be wrong.
  static constexpr size_t kMaxThreads = 8192;
  std::unordered_map<uint32_t, Key> serving_;
  // Calls whose served request had not come yet (the kernel held it until its answer said it
  // goes out: failed or slow): the link they were given, by (tid << 32 | the served request's
  // start, low 32 bits: the kernel's serve_id), for that request to take when it comes.
  struct PendingLink {
    std::string span, trace;
    uint32_t down_n = 0;
    uint64_t down_ns = 0;
  };
  static constexpr size_t kMaxPendingLinks = 4096;
  std::unordered_map<uint64_t, PendingLink> pending_links_;
  uint64_t rng_ = 0;
  std::string random_hex(size_t digits);
};

}  // namespace sightline::sources
