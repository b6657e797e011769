// The one list of sources. Adding a source: a folder under src/sources/, a .bpf.c, one line here.
#include "sources/block/block_source.h"
#include "sources/file/file_source.h"
#include "sources/l7/l7_source.h"
#include "sources/net/net_source.h"
#include "sources/packets/packets_source.h"
#include "sources/process/process_source.h"
#include "sources/profile/profile_source.h"
#include "sources/sched/sched_source.h"
#include "sources/source.h"
#include "sources/security/security_source.h"
#include "sources/syscalls/syscalls_source.h"
#include "sources/tracepoint/tracepoint_source.h"
#include "sources/uprobe/uprobe_source.h"

namespace sightline::sources {
namespace {
using core::EventKind;
const std::vector<SourceInfo>& sources() {
  static const std::vector<SourceInfo> list = {
      {"process", "exec (argv, result), fork, exit (code, signal, lifetime)",
       {EventKind::kExec, EventKind::kFork, EventKind::kExit}, &make_process_source},
      {"file", "file opens (open, openat, openat2, creat): path, flags, mode, result",
       {EventKind::kOpen}, &make_file_source},
      {"net", "TCP connections: both ends, role, connect latency, duration, bytes, retransmits, RTT, resets",
       {EventKind::kTcp}, &make_net_source},
      {"security", "security-relevant syscalls: ptrace, bpf, mount, namespaces, privileges, chmod, unlink, rename ...",
       {EventKind::kSyscall}, &make_security_source},
      {"l7", "L7 requests from socket payloads (HTTP/1, PostgreSQL, MySQL, Redis, DNS): method, target, status, latency; RED metrics, service map",
       {EventKind::kRequest}, &make_l7_source},
      {"syscalls", "syscall counts, errors by errno, time and latency histograms (in-kernel)",
       {}, &make_syscalls_source},
      {"sched", "CPU time, run-queue wait and latency, blocked time, context switches (in-kernel)",
       {}, &make_sched_source},
      {"block", "block I/O latency and size per device and op, queue time, I/O per process (in-kernel)",
       {}, &make_block_source},
      {"packets", "packets and bytes per interface, direction and protocol (TC); drops by kernel reason",
       {}, &make_packets_source},
      {"profile", "CPU profile: stack samples on every CPU (perf_event), off-CPU time by stack",
       {}, &make_profile_source},
      {"uprobe", "user-space functions by symbol: calls, latency histograms, arguments and return values",
       {EventKind::kUprobe}, &make_uprobe_source},
      {"tracepoint", "any kernel tracepoint by name: counted by a field, a field's histogram, or its records",
       {}, &make_tracepoint_source},
  };
  return list;
}
}  // namespace

std::span<const SourceInfo> registry() { return sources(); }

const SourceInfo* find_source(std::string_view name) {
  for (const auto& s : sources())
    if (s.name == name) return &s;
  return nullptr;
}

const SourceInfo* source_for_kind(core::EventKind kind) {
  for (const auto& s : sources())
    for (auto k : s.kinds)
      if (k == kind) return &s;
  return nullptr;
}

}  // namespace sightline::sources
