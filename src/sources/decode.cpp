// The kernel<->user ABI read back: sizes pinned here, every length checked against the record.
#include "sources/decode.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/wall_clock.h"
#include <arpa/inet.h>

#include "sightline/block.h"
#include "sightline/enforce.h"
#include "sightline/file.h"
#include "sightline/net.h"
#include "sightline/packets.h"
#include "sightline/process.h"
#include "sightline/l7.h"
#include "sightline/security.h"
#include "sightline/profile.h"
#include "sightline/tracepoint.h"
#include "sightline/uprobe.h"

namespace sightline::sources {

static_assert(sizeof(sl_event_hdr) == 56);
static_assert(sizeof(sl_l7_event) == 56 + 8 + 12 + 12 + 32 + 8 + 16 + 64);
static_assert(sizeof(sl_exec_event) == 56 + 16 + SL_PATH_MAX + SL_ARGS_SIZE);
static_assert(sizeof(sl_fork_event) == 64);
static_assert(sizeof(sl_enf_event) == 56 + 40 + 2 * SL_ENF_PATH);
static_assert(sizeof(sl_exit_event) == 80);
static_assert(sizeof(sl_open_event) == 56 + 32 + SL_PATH_MAX);
static_assert(sizeof(sl_tcp_event) == 56 + 40 + 56);
static_assert(sizeof(sl_drop_event) == 56 + 24 + 32 + 4 + 16 + 4);
static_assert(sizeof(sl_block_io_event) == 56 + 24 + 16);
static_assert(sizeof(sl_mount_event) == 56 + 32 + SL_MOUNT_FSTYPE + SL_MOUNT_DATA + 2 * SL_PATH_MAX);
static_assert(sizeof(sl_sec_event) == 56 + 16 + 48 + 16 + 32 + 2 * SL_PATH_MAX);
static_assert(sizeof(sl_uprobe_event) == 56 + 8 + 48 + 16 + SL_UPROBE_STR);
// What sl_reserve gives out fits the perf path's scratch record (bpf/common.bpf.h).
static_assert(std::max({sizeof(sl_l7_event), sizeof(sl_fork_event), sizeof(sl_exit_event), sizeof(sl_open_event),
                        sizeof(sl_tcp_event), sizeof(sl_sec_event), sizeof(sl_mount_event), sizeof(sl_uprobe_event), sizeof(sl_tp_event),
                        sizeof(sl_prof_sample)}) <= SL_MAX_RESERVE);

void decode_header(const sl_event_hdr& h, core::Event& e) {
  e.ts_boot_ns = h.ts_ns;
  e.ts_wall_ns = core::wall_clock().to_wall(h.ts_ns);
  e.cgroup_id = h.cgroup_id;
  e.pid = h.pid;
  e.tid = h.tid;
  e.ppid = h.ppid;
  e.uid = h.uid;
  e.gid = h.gid;
  e.comm = std::string_view(h.comm, strnlen(h.comm, sizeof h.comm));
}

bool decode_process_record(const void* data, size_t size, core::Event& e) {
  if (size < sizeof(sl_event_hdr)) return false;
  const auto* h = static_cast<const sl_event_hdr*>(data);
  decode_header(*h, e);
  switch (h->kind) {
    case SL_EV_EXEC: {
      constexpr size_t fixed = sizeof(sl_exec_event) - SL_ARGS_SIZE;
      if (size < fixed) return false;
      const auto* x = static_cast<const sl_exec_event*>(data);
      size_t args = std::min<size_t>({x->args_size, size - fixed, SL_ARGS_SIZE});
      e.kind = core::EventKind::kExec;
      e.ret = x->ret;
      e.path = std::string_view(x->filename, strnlen(x->filename, sizeof x->filename));
      e.args = std::string_view(x->args, args);
      e.args_count = 0;
      for (char c : e.args) e.args_count += c == '\0';
      if (!e.args.empty() && e.args.back() != '\0') e.args_count++;  // cut inside the last
      e.truncated = x->args_truncated || x->filename_truncated;
      e.euid = x->euid;
      return true;
    }
    case SL_EV_FORK:
      if (size < sizeof(sl_fork_event)) return false;
      e.kind = core::EventKind::kFork;
      e.child_pid = static_cast<const sl_fork_event*>(data)->child_pid;
      return true;
    case SL_EV_EXIT: {
      if (size < sizeof(sl_exit_event)) return false;
      const auto* x = static_cast<const sl_exit_event*>(data);
      e.kind = core::EventKind::kExit;
      e.exit_code = x->exit_code;
      e.signal = x->signal;
      e.core_dumped = x->core_dumped;
      e.duration_ns = x->lifetime_ns;
      return true;
    }
    case SL_EV_SIGNAL: {
      if (size < sizeof(sl_signal_event)) return false;
      const auto* x = static_cast<const sl_signal_event*>(data);
      e.kind = core::EventKind::kSignal;
      e.signal = static_cast<uint32_t>(x->sig);
      e.sig_code = x->code;
      e.sig_result = x->result;
      e.sig_group = x->group != 0;
      e.target_pid = x->target_pid;
      e.target_comm = std::string_view(x->target_comm, strnlen(x->target_comm, sizeof x->target_comm));
      return true;
    }
    case SL_EV_OOM_KILL: {
      if (size < sizeof(sl_oom_event)) return false;
      const auto* x = static_cast<const sl_oom_event*>(data);
      e.kind = core::EventKind::kOomKill;
      e.target_pid = x->victim_pid;
      e.target_comm = std::string_view(x->victim_comm, strnlen(x->victim_comm, sizeof x->victim_comm));
      e.oom_uid = x->victim_uid;
      e.oom_score_adj = x->score_adj;
      e.oom_total_vm = x->total_vm_kb * 1024;
      e.oom_anon_rss = x->anon_rss_kb * 1024;
      e.oom_file_rss = x->file_rss_kb * 1024;
      e.oom_shmem_rss = x->shmem_rss_kb * 1024;
      return true;
    }
  }
  return false;
}

namespace {
std::string_view cstr(const char* s, size_t n) { return std::string_view(s, strnlen(s, n)); }

bool decode_mount_record(const void* data, size_t size, core::Event& e) {
  if (size < sizeof(sl_mount_event)) return false;
  const auto* x = static_cast<const sl_mount_event*>(data);
  decode_header(x->hdr, e);
  e.kind = core::EventKind::kMount;
  e.ret = x->ret;
  e.flags = x->flags;
  e.mnt_ns = x->mnt_ns;
  e.sys_name = x->call == SL_MOUNT_CALL_UMOUNT ? "umount" : "mount";
  e.fstype = cstr(x->fstype, sizeof x->fstype);
  e.mount_data = cstr(x->data, sizeof x->data);
  e.path = cstr(x->source, sizeof x->source);
  e.path2 = cstr(x->target, sizeof x->target);
  return true;
}
}  // namespace

bool decode_slow_io_record(const void* data, size_t size, core::Event& e) {
  if (size < sizeof(sl_slow_io_event)) return false;
  const auto* x = static_cast<const sl_slow_io_event*>(data);
  static constexpr std::string_view kSyscalls[] = {"",      "read",   "write",  "pread64", "pwrite64",
                                                   "readv", "writev", "fsync", "fdatasync"};
  if (x->syscall < 1 || x->syscall >= std::size(kSyscalls)) return false;
  decode_header(x->hdr, e);
  e.kind = core::EventKind::kSlowIo;
  e.ret = x->ret;
  e.duration_ns = x->latency_ns;
  e.io_offset = x->offset;
  e.fd_num = x->fd;
  e.sys_name = kSyscalls[x->syscall];
  e.block_op = x->syscall >= SL_IO_FSYNC ? "sync" : (x->syscall % 2) ? "read" : "write";
  e.fstype = std::string_view(x->fstype, strnlen(x->fstype, sizeof x->fstype));
  e.path = std::string_view(x->name, strnlen(x->name, sizeof x->name));
  return true;
}

bool decode_file_life_record(const void* data, size_t size, core::Event& e, char* dev_text, size_t dev_size) {
  if (size < sizeof(sl_file_life_event)) return false;
  const auto* x = static_cast<const sl_file_life_event*>(data);
  decode_header(x->hdr, e);
  e.kind = core::EventKind::kFileLifetime;
  e.duration_ns = x->age_ns;
  e.io_bytes = x->size > 0 ? static_cast<uint64_t>(x->size) : 0;
  e.sector = x->ino;
  snprintf(dev_text, dev_size, "%u:%u", x->dev >> 20, x->dev & 0xfffff);
  e.device = dev_text;
  e.path = std::string_view(x->path, strnlen(x->path, sizeof x->path));
  return true;
}

bool decode_file_record(const void* data, size_t size, core::Event& e) {
  if (size >= sizeof(sl_event_hdr) && static_cast<const sl_event_hdr*>(data)->kind == SL_EV_MOUNT)
    return decode_mount_record(data, size, e);
  if (size >= sizeof(sl_event_hdr) && static_cast<const sl_event_hdr*>(data)->kind == SL_EV_SLOW_IO)
    return decode_slow_io_record(data, size, e);
  if (size >= sizeof(sl_event_hdr) && static_cast<const sl_event_hdr*>(data)->kind == SL_EV_FILE_LIFE) {
    static thread_local char dev[24];  // the event's view: valid during its callback, as the record's
    return decode_file_life_record(data, size, e, dev, sizeof dev);
  }
  if (size < sizeof(sl_open_event)) return false;
  const auto* x = static_cast<const sl_open_event*>(data);
  if (x->hdr.kind != SL_EV_OPEN && x->hdr.kind != SL_EV_STAT) return false;
  decode_header(x->hdr, e);
  e.kind = x->hdr.kind == SL_EV_OPEN ? core::EventKind::kOpen : core::EventKind::kStat;
  e.ret = x->ret;
  e.flags = x->flags;
  e.mode = x->mode;
  e.dirfd = x->dirfd;
  e.syscall = x->syscall;
  e.truncated = x->path_truncated;
  e.path = std::string_view(x->path, strnlen(x->path, sizeof x->path));
  return true;
}

namespace {

// Both ends of an IPv4 (first 4 bytes) or IPv6 connection as text, into e.laddr / e.raddr.
void set_addresses(core::Event& e, uint16_t family, const uint8_t* local, const uint8_t* remote) {
  int af = family == 10 ? AF_INET6 : AF_INET;
  for (int i = 0; i < 2; i++)
    if (!inet_ntop(af, i == 0 ? local : remote, e.addr_text[i], sizeof e.addr_text[i])) e.addr_text[i][0] = 0;
  e.laddr = e.addr_text[0];
  e.raddr = e.addr_text[1];
}

// Falco's fd.type names, from the inode type and the socket family.
std::string_view fd_type(uint16_t mode, uint16_t family) {
  switch (mode) {
    case 0140000:
      return family == 2 ? "ipv4" : family == 10 ? "ipv6" : family == 1 ? "unix" : family == 16 ? "netlink" : family == 17 ? "packet" : "socket";
    case 0100000: return "file";
    case 0040000: return "directory";
    case 0010000: return "pipe";
    case 0020000: return "char";
    case 0060000: return "block";
    case 0120000: return "symlink";
  }
  return "";
}

std::string_view l4_name(uint16_t protocol, uint16_t family) {
  if (family != 2 && family != 10) return "";
  switch (protocol) {
    case 6: return "tcp";
    case 17: return "udp";
    case 1: case 58: return "icmp";
    case 132: return "sctp";
    case 136: return "udplite";
    case 262: return "mptcp";
  }
  return "";
}

}  // namespace

bool decode_net_record(const void* data, size_t size, core::Event& e) {
  if (size < sizeof(sl_tcp_event)) return false;
  const auto* x = static_cast<const sl_tcp_event*>(data);
  switch (x->hdr.kind) {
    case SL_EV_TCP: e.kind = core::EventKind::kTcp; break;
    case SL_EV_CONNECT: e.kind = core::EventKind::kConnect; break;
    case SL_EV_ACCEPT: e.kind = core::EventKind::kAccept; break;
    case SL_EV_RETRANSMIT: e.kind = core::EventKind::kRetransmit; break;
    default: return false;
  }
  decode_header(x->hdr, e);
  set_addresses(e, x->family, x->saddr, x->daddr);
  e.lport = x->sport;
  e.rport = x->dport;
  e.role = x->role;
  e.reset = x->flags & (SL_TCP_RESET_RECV | SL_TCP_RESET_SENT);
  // A failed connect is a failure even when the kernel left no error on the socket.
  e.ret = x->error > 0 ? -x->error : ((x->flags & SL_TCP_FAILED) ? -ECONNABORTED : 0);
  e.duration_ns = x->duration_ns;
  e.connect_ns = x->connect_ns;
  e.bytes_sent = x->bytes_sent;
  e.bytes_received = x->bytes_received;
  e.retransmits = x->retransmits;
  e.srtt_us = x->srtt_us;
  e.fd_num = x->fd;
  e.tcp_state = x->state;
  return true;
}

bool decode_drop_record(const void* data, size_t size, core::Event& e, uint32_t* reason, uint64_t* location) {
  if (size < sizeof(sl_drop_event)) return false;
  const auto* x = static_cast<const sl_drop_event*>(data);
  if (x->hdr.kind != SL_EV_DROP) return false;
  decode_header(x->hdr, e);
  e.kind = core::EventKind::kDrop;
  if (x->family == 2 || x->family == 10) {
    set_addresses(e, x->family, x->saddr, x->daddr);
    e.l4proto = l4_name(x->l4, x->family);
    if (e.l4proto.empty()) e.l4proto = "other";
  }
  e.lport = x->sport;
  e.rport = x->dport;
  e.iface = std::string_view(x->ifname, strnlen(x->ifname, sizeof x->ifname));
  e.pkt_len = x->len;
  e.ip_len = x->ip_len;
  *reason = x->reason;
  *location = x->location;
  return true;
}

void decode_flow(const sl_flow_key& k, const sl_flow_val& v, uint32_t lo_ifindex, core::Event& e) {
  e.kind = core::EventKind::kFlow;
  e.ts_boot_ns = v.last_ns;
  e.cgroup_id = v.cgroup_id;
  uint16_t family = k.family == 10 ? 10 : 2;
  set_addresses(e, family, k.src, k.dst);
  e.l4proto = l4_name(k.l4, family);
  if (e.l4proto.empty()) e.l4proto = "other";
  e.lport = k.sport;
  e.rport = k.dport;
  e.packets_sent = v.packets[0];
  e.packets_received = v.packets[1];
  e.bytes_sent = v.bytes[0];
  e.bytes_received = v.bytes[1];
  e.duration_ns = v.last_ns > v.first_ns ? v.last_ns - v.first_ns : 0;
  e.flow_dir = k.ifindex == lo_ifindex ? "local" : v.dir == SL_PKT_EGRESS ? "egress" : "ingress";
  e.flow_mid = v.mid != 0;
}

bool decode_block_io_record(const void* data, size_t size, core::Event& e, uint32_t* dev, uint32_t* op) {
  if (size < sizeof(sl_block_io_event)) return false;
  const auto* x = static_cast<const sl_block_io_event*>(data);
  if (x->hdr.kind != SL_EV_BLOCK_IO) return false;
  decode_header(x->hdr, e);
  e.kind = core::EventKind::kBlockIo;
  e.sector = x->sector;
  e.io_bytes = x->bytes;
  e.duration_ns = x->latency_ns;
  e.queue_ns = x->queue_ns;
  e.ret = -static_cast<int64_t>(x->error);
  *dev = x->dev;
  *op = x->op;
  return true;
}

bool decode_uprobe_record(const void* data, size_t size, const std::vector<std::string>& probe_names,
                          core::Event& e) {
  if (size < sizeof(sl_uprobe_event)) return false;
  const auto* u = static_cast<const sl_uprobe_event*>(data);
  if (u->hdr.kind != SL_EV_UPROBE || u->probe >= probe_names.size()) return false;
  decode_header(u->hdr, e);
  e.kind = core::EventKind::kUprobe;
  e.probe = probe_names[u->probe];
  for (int i = 0; i < 6; i++) e.uargs[i] = u->args[i];
  e.ret = u->ret;
  e.duration_ns = u->latency_ns;
  e.str_arg = std::string_view(u->str, strnlen(u->str, sizeof u->str));
  return true;
}

bool decode_security_record(const void* data, size_t size, const std::vector<std::string>& names, core::Event& e) {
  if (size < sizeof(sl_sec_event)) return false;
  const auto* x = static_cast<const sl_sec_event*>(data);
  if (x->hdr.kind != SL_EV_SYSCALL || x->syscall >= names.size()) return false;
  decode_header(x->hdr, e);
  e.kind = core::EventKind::kSyscall;
  e.sys_name = names[x->syscall];
  for (int i = 0; i < 6; i++) e.sys_args[i] = x->args[i];
  e.ret = x->ret;
  e.path = std::string_view(x->path, strnlen(x->path, sizeof x->path));
  e.path2 = std::string_view(x->path2, strnlen(x->path2, sizeof x->path2));
  // The fd the syscall made or used (connect, accept, dup2): what it is, both ends of a socket.
  e.fd_num = x->fd;
  e.fd_type = fd_type(x->fd_mode, x->sock_family);
  e.l4proto = l4_name(x->sock_protocol, x->sock_family);
  if (x->sock_family == 2 || x->sock_family == 10) {
    set_addresses(e, x->sock_family, x->laddr, x->raddr);
    e.lport = x->lport;
    e.rport = x->rport;
  }
  // Namespaces of unshare and clone (flags: arg1; clone3's read from its struct by the kernel
  // side) and setns (nstype: arg2), by name.
  uint64_t ns = (e.sys_name == "unshare" || e.sys_name == "clone" || e.sys_name == "clone3") ? x->args[0]
                : e.sys_name == "setns" ? x->args[1] : 0;
  static const std::pair<uint64_t, const char*> kNs[] = {
      {0x00020000, "CLONE_NEWNS"},  {0x02000000, "CLONE_NEWCGROUP"}, {0x04000000, "CLONE_NEWUTS"},
      {0x08000000, "CLONE_NEWIPC"}, {0x10000000, "CLONE_NEWUSER"},   {0x20000000, "CLONE_NEWPID"},
      {0x40000000, "CLONE_NEWNET"}, {0x00000080, "CLONE_NEWTIME"}};
  size_t n = 0;
  e.flags_text[0] = 0;
  for (const auto& [bit, name] : kNs) {
    if (!(ns & bit)) continue;
    int w = snprintf(e.flags_text + n, sizeof e.flags_text - n, "%s%s", n ? "|" : "", name);
    if (w < 0 || static_cast<size_t>(w) >= sizeof e.flags_text - n) break;
    n += static_cast<size_t>(w);
  }
  return true;
}

bool decode_enforce_record(const void* data, size_t size, core::Event& e) {
  if (size < sizeof(sl_enf_event)) return false;
  const auto* x = static_cast<const sl_enf_event*>(data);
  if (x->hdr.kind != SL_EV_ACTION || x->hook >= SL_ENF_HOOKS || x->outcome < SL_ENF_KILLED ||
      x->outcome > SL_ENF_WOULD_DENY || x->rule >= SL_ENF_MAX_RULES)
    return false;
  decode_header(x->hdr, e);
  e.kind = x->hook == SL_ENF_HOOK_OPEN   ? core::EventKind::kOpen
           : x->hook == SL_ENF_HOOK_EXEC ? core::EventKind::kExec
                                         : core::EventKind::kConnect;
  if (x->hook == SL_ENF_HOOK_CONNECT) {
    const uint8_t none[16] = {};
    set_addresses(e, x->family, none, x->raddr);
    e.laddr = {};
    e.rport = x->rport;
    e.fd_num = x->fd;
    e.role = 1;  // client
  }
  e.path = std::string_view(x->path, strnlen(x->path, sizeof x->path));
  e.exe = std::string_view(x->exe, strnlen(x->exe, sizeof x->exe));
  e.truncated = x->path_truncated;
  e.ret = x->hook == SL_ENF_HOOK_OPEN ? x->fd : 0;
  e.dirfd = -100;
  e.action = x->outcome >= SL_ENF_DENIED ? 2 : 1;  // rules::Action::kDeny, kKill
  e.action_outcome = x->outcome;
  e.action_rule = x->rule;
  e.action_generation = x->generation;
  e.action_err = x->err;
  return true;
}

}  // namespace sightline::sources
