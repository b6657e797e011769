// packets source: per-interface packets and bytes by direction and protocol from TC programs
// the agent attaches (tcx links on 6.6+, clsact filters before) and detaches on stop, and
// packet drops by the kernel's drop reason (tp_btf/kfree_skb), each one as a drop event when
// asked.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "sources/source.h"

namespace sightline::sources {
struct PacketsOptions : Options<PacketsOptions> {
  // Interfaces to attach to (a trailing * matches a prefix); empty: all, and ones that appear.
  std::vector<std::string> interfaces;
  // lo when `interfaces` is empty: local traffic crosses it twice (egress and ingress), a TC
  // program run per packet that the socket-level metrics (net, l7) already account for.
  bool loopback = false;
  // Where no kinds are named (the agent): each dropped packet as a drop event (per packet: a
  // drop storm is a record storm; the counts by reason are always kept). `trace packet_drop` asks.
  bool drop_events = false;
  // Where no kinds are named: flow events (Hubble's flow log; `trace flow` asks): a flow table
  // updated by every packet (one hash lookup more per packet) and read each second.
  bool flows = false;
  // A flow with no packet for this long ends (state timeout); TCP ends at FIN both ways or RST.
  uint32_t flow_timeout_s = 60;
  void visit(OptionVisitor& v) override {
    v.flag("flows", flows,
           "flow events: each TCP/UDP/ICMP flow when first seen and when it ends, packets and bytes each way, and "
           "each of its dropped packets; a hash update per packet, so off");
    v.number("flow_timeout_s", flow_timeout_s, 1, 86400, "a flow with no packet for this long ends (timeout)");
    v.flag("drop_events", drop_events,
           "each dropped packet as a drop event (reason, where, both ends); per packet, so off: the counts by "
           "reason are always there");
    v.names("interfaces", interfaces, "names, a trailing * matches a prefix (eth*); empty: all but lo, new ones too");
    v.flag("loopback", loopback, "with interfaces empty, lo too (each local packet runs two programs)");
  }
};

std::unique_ptr<Source> make_packets_source();
// Its registry entry (sources/registry.cpp lists it).
extern const SourceInfo kPacketsSource;

// Label values (bounded sets), pure for unit tests.
std::string l3_label(uint16_t ethertype);          // ipv4, ipv6, arp, vlan, other
std::string l4_label(uint16_t ethertype, uint8_t proto);  // tcp, udp, icmp, icmpv6, ..., none
// "SKB_DROP_REASON_NO_SOCKET" -> "no_socket"; other enumerators lowercased whole.
std::string drop_reason_label(std::string_view enumerator);
// The kernel's drop reasons (enum skb_drop_reason in its BTF), by value; empty when it has
// none (before 5.17). Read once.
const std::map<uint32_t, std::string>& drop_reasons();
// True when `name` is selected by `patterns` (exact, or a prefix ending in *); empty selects all.
bool interface_selected(const std::vector<std::string>& patterns, std::string_view name);
}  // namespace sightline::sources
