// tracepoint source: any kernel tracepoint by name through one precompiled program, decoded
// from the tracepoint's own tracefs format (`sightline trace tp:CAT:NAME`, the agent's
// `tracepoints:`).
#pragma once
#include <memory>
#include <string>

#include "core/status.h"
#include "sources/source.h"
#include "tracepoint/format.h"

namespace sightline::sources {
// A tracepoint to run through the generic program: streamed (neither count_by nor hist), or
// counted by a field's value / histogrammed by an integer field in the kernel.
struct TracepointSpec {
  std::string event;     // CATEGORY:NAME (a "tp:" prefix is accepted)
  std::string count_by;  // field name
  std::string hist;      // field name
};

struct TracepointOptions : Options<TracepointOptions> {
  std::vector<TracepointSpec> probes;  // from the configuration's top-level `tracepoints:` list
  // Who gets streamed records: index into `probes`, the raw record, its process header.
  std::function<void(size_t probe, const uint8_t* rec, size_t len, const core::Event& hdr)> records;
};

std::unique_ptr<Source> make_tracepoint_source();
// Its registry entry (sources/registry.cpp lists it).
extern const SourceInfo kTracepointSource;
// "sched:sched_switch" or "tp:sched:sched_switch" -> its format (from tracefs).
core::Status tracepoint_format(const std::string& event, tracepoint::Format* out);
}  // namespace sightline::sources
