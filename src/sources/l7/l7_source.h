// l7 source: socket payloads of connections speaking HTTP/1, Redis or DNS (bpf/l7.bpf.c,
// sightline/l7.h), parsed into request events, RED metrics and a service map (l7_tracker.h).
#pragma once

#include <map>
#include <memory>
#include <vector>

#include "sources/l7/l7_tracker.h"
#include "sources/source.h"

namespace sightline::sources {

// What the l7 source offers beyond Source (the agent finds it with dynamic_cast).
class ServiceMapProvider {
 public:
  virtual ~ServiceMapProvider() = default;
  // The service map as of the last collection (once a second in the agent). Any thread.
  virtual std::vector<ServiceEdge> service_map() const = 0;
};

struct L7Options : Options<L7Options> {
  // Bytes of each socket message copied for the parsers (<= SL_L7_MAX_CAPTURE); the rest is
  // counted, not read.
  uint32_t capture_bytes = 4096;
  // TLS plaintext through uprobes on OpenSSL 3 (libssl.so.3: SSL_read/SSL_write and _ex) and
  // on Go's crypto/tls in each Go binary (go_tls.h) with `go_tls` too.
  bool tls = true;
  // Go binaries started after the agent are attached as they exec: their uprobe events opened by
  // the agent's helper, linked by the agent, which keeps CAP_BPF for it (off: dropped too).
  bool go_tls = true;
  // HTTP route templates for RED series, before the learnt clustering: `/api/users/{id}/orders`.
  std::vector<std::string> routes;
  // Exchanges sent to user space in detail (request events, per-route series, the store): 1 in
  // `sample`, and every one that fails or takes `slow_ms` or more. The kernel counts all of them
  // (sightline_l7_requests_total) whatever is sampled or lost.
  // Every exchange is sent while a CPU has sent fewer than `detail_per_s` this second: a quiet
  // service shows every request.
  uint32_t detail_per_s = 100;
  uint32_t sample = 64;
  uint32_t slow_ms = 100;
  // Methods (HTTP method, SQL verb, Redis command: 8 letters are compared) whose exchanges are
  // always sent in detail, whatever the sample and the governor. The agent adds those its rules
  // compare l7.method with.
  std::vector<std::string> always_detail;
  // protocol:port items: connections to or from the port are taken for the protocol where its
  // messages alone are ambiguous (a Memcached text command is a Redis inline one elsewhere) or
  // where a connection is joined mid-way, as on its default port (pgsql 5432, mysql 3306,
  // memcached 11211, nats 4222, amqp 5672, kept).
  std::vector<std::string> ports;
  // A loopback TCP connection is counted at both ends (default: at its server's end only, the
  // client's end naming itself for the service map; bpf/l7.bpf.c local_server_end). Off when a
  // filter (pid, name, cgroup) may leave the server's end untraced.
  bool both_local_ends = false;
  // Set by the agent, not the configuration: the port of its own listener, whose loopback
  // clients are counted at their end (the agent does not trace itself).
  uint16_t self_port = 0;
  core::Status check() const override;
  void visit(OptionVisitor& v) override {
    v.number("detail_per_s", detail_per_s, 0, 1000000,
             "exchanges each CPU sends in detail every second before the sample applies");
    v.number("sample", sample, 1, 1000000,
             "past detail_per_s, send 1 in N exchanges in detail (plus every failed or slow one); the kernel counts all");
    v.number("slow_ms", slow_ms, 1, 3600000, "an exchange this slow (ms) is always sent in detail");
    v.number("capture_bytes", capture_bytes, 64, 8192, "of each socket message, for the parsers (64 to 8192)");
    v.flag("tls", tls, "plaintext of TLS connections through uprobes on OpenSSL 3 (libssl.so.3) and Go's crypto/tls (each Go binary)");
    v.flag("go_tls", go_tls,
           "with tls: Go's crypto/tls in each Go binary, those started later too (the agent keeps CAP_BPF to attach them)");
    v.names("routes", routes, "HTTP routes of RED series, e.g. /api/users/{id}/orders ({...}: any segment); others cluster themselves");
    v.names("always_detail", always_detail,
            "methods always sent in detail whatever the sample, e.g. [DELETE, DROP, FLUSHALL] (the rules' are added)");
    v.flag("both_local_ends", both_local_ends,
           "count a loopback connection at its client's end too (default: at its server's end only, half the cost)");
    v.names("ports", ports,
            "protocol:port, e.g. [memcached:11212, pgsql:6432]: that protocol on that port too, as on its default "
            "(pgsql, mysql, memcached, nats, amqp; the others are found on any port)");
  }
};

// The kernel's key for a method (sl_l7_word8): its first 8 letters or '_', upper-cased, packed
// little-endian; 0 when it starts with anything else.
uint64_t l7_method_word(std::string_view method);

// The kernel's port hints (its l7_ports map: port -> enum sl_l7_proto): the defaults, then the
// `ports` items (protocol:port); an item that is not one is an error naming it.
core::Status l7_port_hints(const std::vector<std::string>& items, std::map<uint16_t, uint8_t>* out);

std::unique_ptr<Source> make_l7_source();
// Its registry entry (sources/registry.cpp lists it).
extern const SourceInfo kL7Source;

}  // namespace sightline::sources
