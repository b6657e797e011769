// net source: TCP connection lifecycle events (both ends, role, connect latency, duration,
// bytes, retransmits, RTT, resets) and the metrics derived from them; connects, accepts and
// retransmits as they happen.
#pragma once
#include <memory>

#include "sources/source.h"

namespace sightline::sources {
struct NetOptions : Options<NetOptions> {
  // Where no kinds are named (the agent), the per-event kinds these turn on; `trace connect`
  // and a store or exporter kinds list that names them turn them on too.
  bool handshakes = false;  // connect and accept: two more records per connection
  bool retransmits = true;  // retransmit: one per retransmitted segment (rare on a sound network)
  void visit(OptionVisitor& v) override {
    v.flag("handshakes", handshakes,
           "connect and accept events as they happen (tcpconnect, tcpconnlat, tcpaccept): two more records per "
           "connection; the tcp event at close is always there");
    v.flag("retransmits", retransmits, "a retransmit event for each retransmitted segment (tcpretrans)");
  }
};

std::unique_ptr<Source> make_net_source();
// Its registry entry (sources/registry.cpp lists it).
extern const SourceInfo kNetSource;
}
