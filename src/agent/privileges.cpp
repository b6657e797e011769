#include "agent/privileges.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace sightline::agent {

core::Status drop_capabilities(uint64_t extra) {
  const uint64_t keep = (1ULL << CAP_SYS_PTRACE) | (1ULL << CAP_DAC_READ_SEARCH) | extra;
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
