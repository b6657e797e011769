// net source: TCP connection lifecycle events (both ends, role, connect latency, duration,
// bytes, retransmits, RTT, resets) and the metrics derived from them.
#pragma once
#include <memory>

#include "sources/source.h"

namespace sightline::sources {
std::unique_ptr<Source> make_net_source();
// Its registry entry (sources/registry.cpp lists it).
extern const SourceInfo kNetSource;
}
