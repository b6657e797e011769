// l7 source: socket payloads of connections speaking HTTP/1, Redis or DNS (bpf/l7.bpf.c,
// sightline/l7.h), parsed into request events, RED metrics and a service map (l7_tracker.h).
#pragma once

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

std::unique_ptr<Source> make_l7_source();

}  // namespace sightline::sources
