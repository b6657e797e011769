// After its programs are loaded and attached the agent needs almost none of root's powers:
// drop every capability but the few that reading /proc of other processes needs.
#pragma once

#include <string>

#include "core/status.h"

namespace sightline::agent {

// Keeps CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (/proc/PID/exe and cgroup trees of every
// process), and the capabilities in `extra` (bits; what running sources need to stop, see
// Source::capabilities_to_stop), and drops the rest from the effective, permitted, inheritable
// and bounding sets.
core::Status drop_capabilities(uint64_t extra = 0);
// The effective set as /proc/self/status shows it (hex), for logs and tests.
std::string effective_capabilities();

}  // namespace sightline::agent
