#include "agent/privileges.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace sightline::agent {

namespace {
// Bits newer than some C libraries' headers.
constexpr int kCapPerfmon = 38, kCapBpf = 39;
constexpr Capability kCapabilities[] = {
    {kCapBpf, "CAP_BPF", "load BPF programs and create their maps (5.8+; before: CAP_SYS_ADMIN)", false},
    {kCapPerfmon, "CAP_PERFMON", "attach tracing programs, uprobes and perf events; read kernel memory (5.8+)", false},
    {CAP_SYS_ADMIN, "CAP_SYS_ADMIN", "BPF run-time statistics (each program's cost, the overhead governor); BPF before 5.8", false},
    {CAP_NET_ADMIN, "CAP_NET_ADMIN", "attach TC and cgroup socket programs (packets, net); remove clsact filters at stop", false},
    {CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE", "raise RLIMIT_MEMLOCK for BPF maps on kernels before 5.11", false},
    {CAP_SYSLOG, "CAP_SYSLOG", "read kernel symbol addresses in /proc/kallsyms (kernel stacks of profiles)", false},
    {CAP_SYS_PTRACE, "CAP_SYS_PTRACE", "read /proc/PID/exe, maps and mem of every process (symbols, uprobe and TLS targets)", true},
    {CAP_DAC_READ_SEARCH, "CAP_DAC_READ_SEARCH", "read every process's binaries and cgroup files (symbols, containers)", true},
};
}  // namespace

std::span<const Capability> agent_capabilities() { return kCapabilities; }

bool has_capability(int bit) {
  struct __user_cap_header_struct hdr = {};
  hdr.version = _LINUX_CAPABILITY_VERSION_3;
  struct __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &hdr, data) != 0) return false;
  return (data[bit / 32].effective >> (bit % 32)) & 1;
}

core::Status drop_capabilities(uint64_t extra) {
  uint64_t keep = extra;
  for (const auto& c : kCapabilities)
    if (c.kept) keep |= 1ULL << c.bit;
  // Bounding set first: it needs CAP_SETPCAP, which the capset below gives up.
  for (int cap = 0; cap <= 63; cap++) {
    if (keep & (1ULL << cap)) continue;
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  }
  struct __user_cap_header_struct hdr = {};
  hdr.version = _LINUX_CAPABILITY_VERSION_3;
  struct __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &hdr, data) != 0)
    return core::Status::error(errno, std::string("capget: ") + strerror(errno));
  for (int i = 0; i < 2; i++) {
    uint32_t k = static_cast<uint32_t>(keep >> (32 * i));
    data[i].effective &= k;
    data[i].permitted &= k;
    data[i].inheritable = 0;
  }
  if (syscall(SYS_capset, &hdr, data) != 0)
    return core::Status::error(errno, std::string("capset: ") + strerror(errno));
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  return {};
}

std::string effective_capabilities() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("CapEff:")) return line.substr(line.find_first_not_of(" \t", 7));
  return {};
}

}  // namespace sightline::agent
