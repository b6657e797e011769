// After its programs are loaded and attached the agent needs almost none of root's powers:
// drop every capability but the few that reading /proc of other processes needs.
#pragma once

#include <cstdint>
#include <mutex>
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

// Kernel BPF run-time statistics (bpf_stats) switched on and off while the agent runs, also after
// drop_capabilities: turning them on needs CAP_SYS_ADMIN. With `helper`, a child forked now, while
// the agent still holds it, keeps CAP_SYS_ADMIN and nothing else (every other capability dropped,
// every descriptor closed but its socket to the agent, killed with the agent) and holds the
// statistics on while told to: one byte in ('1' on, '0' off), one out (0 or the errno). Without
// it, the agent's own process switches them (while it may). The helper also opens uprobe perf
// events for the agent ('u' with the file's descriptor by SCM_RIGHTS, then the offset, in; the
// error byte with the event's descriptor out; its own copies closed at once): the l7 source
// attaches Go binaries that start after the drop, and a uprobe event needs CAP_SYS_ADMIN
// (CAP_PERFMON alone is refused on 6.18). The file comes open, as /proc/self/fd/N to the helper:
// it cannot follow other processes' /proc/PID/exe (no CAP_SYS_PTRACE), and needs no path of
// another mount namespace.
class StatsSwitch {
 public:
  explicit StatsSwitch(bool helper);
  ~StatsSwitch();
  StatsSwitch(const StatsSwitch&) = delete;
  StatsSwitch& operator=(const StatsSwitch&) = delete;
  // Returns 0 once the statistics are as asked, else the errno why not.
  int set(bool on);
  bool on() const { return on_; }
  // A uprobe perf event on the open file `file_fd` at file offset `offset`, every process (the
  // fd), or -errno (-ENOTSUP without a helper). Any thread.
  int open_uprobe(int file_fd, uint64_t offset);
  bool has_helper() const { return sock_ >= 0; }

 private:
  std::mutex mu_;  // one exchange with the helper at a time
  int sock_ = -1;
  int pid_ = -1;
  int local_fd_ = -1;  // bpf_enable_stats' descriptor, without a helper
  bool on_ = false;
};

}  // namespace sightline::agent
