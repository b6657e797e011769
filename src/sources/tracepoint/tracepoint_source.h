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
std::unique_ptr<Source> make_tracepoint_source();
// "sched:sched_switch" or "tp:sched:sched_switch" -> its format (from tracefs).
core::Status tracepoint_format(const std::string& event, tracepoint::Format* out);
}  // namespace sightline::sources
