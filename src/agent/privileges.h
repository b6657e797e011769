// After its programs are loaded and attached the agent needs almost none of root's powers:
// drop every capability but the few that reading /proc of other processes needs.
#pragma once

#include <span>
#include <string>

#include "core/status.h"

namespace sightline::agent {

// A capability the agent asks for, and what for. The one list: `sightline doctor` checks it,
// `sightline doctor --capabilities` prints it, and the systemd unit (packaging/) and the
// DaemonSet (deploy/kubernetes/) grant exactly it (tests/unit/packaging_test.cpp compares).
struct Capability {
  int bit;
  const char* name;  // as systemd and Kubernetes spell it: CAP_BPF
  const char* why;
  bool kept;  // still held after start (drop_capabilities keeps it)
};
std::span<const Capability> agent_capabilities();
// Whether this process has `bit` in its effective set.
bool has_capability(int bit);

// Keeps the capabilities marked `kept` above (/proc/PID/exe and cgroup trees of every
// process), and the capabilities in `extra` (bits; what running sources need to stop, see
// Source::capabilities_to_stop), and drops the rest from the effective, permitted, inheritable
// and bounding sets.
core::Status drop_capabilities(uint64_t extra = 0);
// The effective set as /proc/self/status shows it (hex), for logs and tests.
std::string effective_capabilities();

}  // namespace sightline::agent
