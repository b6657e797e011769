#include "agent/privileges.h"

#include <bpf/bpf.h>
#include <linux/capability.h>
#include <linux/perf_event.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <csignal>
#include <cstring>
#include <fstream>

namespace sightline::agent {

namespace {
// Bits newer than some C libraries' headers.
constexpr int kCapPerfmon = 38, kCapBpf = 39;
constexpr Capability kCapabilities[] = {
    {kCapBpf, "CAP_BPF", "load BPF programs and create their maps (5.8+; before: CAP_SYS_ADMIN); kept after start while l7 links Go binaries' uprobes as they start (sources.l7.go_tls; the sl-bpf-stats helper opens their events)", false},
    {kCapPerfmon, "CAP_PERFMON", "attach tracing programs, uprobes and perf events; read kernel memory (5.8+)", false},
    {CAP_SYS_ADMIN, "CAP_SYS_ADMIN", "BPF run-time statistics (each program's cost, the overhead governor: kept after start by the sl-bpf-stats helper alone); BPF before 5.8", false},
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

namespace {
// Keeps the capabilities in `keep` (bits) and drops the rest from every set; 0 or the errno.
// System calls only: a forked child of the threaded agent may call it.
int keep_only_capabilities(uint64_t keep) {
  // Bounding set first: it needs CAP_SETPCAP, which the capset below gives up.
  for (int cap = 0; cap <= 63; cap++) {
    if (keep & (1ULL << cap)) continue;
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  }
  struct __user_cap_header_struct hdr = {};
  hdr.version = _LINUX_CAPABILITY_VERSION_3;
  struct __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &hdr, data) != 0) return errno;
  for (int i = 0; i < 2; i++) {
    uint32_t k = static_cast<uint32_t>(keep >> (32 * i));
    data[i].effective &= k;
    data[i].permitted &= k;
    data[i].inheritable = 0;
  }
  if (syscall(SYS_capset, &hdr, data) != 0) return errno;
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  return 0;
}

bool read_full(int fd, void* buf, size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n) {
    ssize_t r = read(fd, p, n);
    if (r <= 0) return false;
    p += r, n -= static_cast<size_t>(r);
  }
  return true;
}

// One byte, and the descriptor that came with it (SCM_RIGHTS) into *fd (else -1).
bool recv_with_fd(int sock, unsigned char* byte, int* fd) {
  *fd = -1;
  iovec iov{byte, 1};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  m.msg_control = ctl;
  m.msg_controllen = sizeof ctl;
  if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1) return false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) memcpy(fd, CMSG_DATA(c), sizeof(int));
  return true;
}

// One byte, and `fd` with it when >= 0 (SCM_RIGHTS).
bool send_with_fd(int sock, unsigned char byte, int fd) {
  iovec iov{&byte, 1};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  if (fd >= 0) {
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  return sendmsg(sock, &m, MSG_NOSIGNAL) == 1;
}

// What libbpf opens for a uprobe on every process: the uprobe PMU's event, path and offset in
// config1 and config2, on CPU 0 with pid -1. The fd, or -errno.
int open_uprobe_event(const char* path, uint64_t offset) {
  int type = -1;
  if (FILE* f = fopen("/sys/bus/event_source/devices/uprobe/type", "re")) {
    if (fscanf(f, "%d", &type) != 1) type = -1;
    fclose(f);
  }
  if (type < 0) return -ENOTSUP;
  perf_event_attr a = {};
  a.size = sizeof a;
  a.type = static_cast<uint32_t>(type);
  a.config1 = reinterpret_cast<uint64_t>(path);
  a.config2 = offset;
  int fd = static_cast<int>(syscall(SYS_perf_event_open, &a, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
  return fd < 0 ? -errno : fd;
}

// The helper's life (StatsSwitch): its socket is fd 0; it ends when the agent closes it or dies.
[[noreturn]] void stats_helper(int sock, pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (getppid() != parent) _exit(0);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGPIPE}) signal(sig, SIG_DFL);
  if (sock != 0 && dup2(sock, 0) != 0) _exit(1);
  // Nothing of the agent's: its BPF links (which keep programs attached), listeners, files.
  if (syscall(SYS_close_range, 1U, ~0U, 0U) != 0)
    for (int fd = 1; fd < 65536; fd++) close(fd);
  prctl(PR_SET_NAME, "sl-bpf-stats", 0, 0, 0);
  if (keep_only_capabilities(1ULL << CAP_SYS_ADMIN) != 0) _exit(1);
  int stats = -1;
  unsigned char c;
  int in_fd = -1;
  while (recv_with_fd(0, &c, &in_fd)) {
    unsigned char err = 0;
    if (c == 'u') {  // the file's descriptor came with it; its offset (8 bytes) follows
      uint64_t offset = 0;
      if (!read_full(0, &offset, sizeof offset)) break;
      int fd = in_fd >= 0 ? open_uprobe_event(("/proc/self/fd/" + std::to_string(in_fd)).c_str(), offset) : -EBADF;
      if (in_fd >= 0) close(in_fd), in_fd = -1;
      err = static_cast<unsigned char>(fd < 0 ? -fd : 0);
      bool sent = send_with_fd(0, err, fd);
      if (fd >= 0) close(fd);
      if (!sent) break;
      continue;
    }
    if (in_fd >= 0) close(in_fd), in_fd = -1;  // none expected
    if (c == '1' && stats < 0) {
      stats = bpf_enable_stats(BPF_STATS_RUN_TIME);
      if (stats < 0) err = static_cast<unsigned char>(errno ? errno : EPERM);
    } else if (c == '0' && stats >= 0) {
      close(stats);
      stats = -1;
    }
    if (write(0, &err, 1) != 1) break;
  }
  _exit(0);
}
}  // namespace

core::Status drop_capabilities(uint64_t extra) {
  uint64_t keep = extra;
  for (const auto& c : kCapabilities)
    if (c.kept) keep |= 1ULL << c.bit;
  if (int err = keep_only_capabilities(keep))
    return core::Status::error(err, std::string("capset: ") + strerror(err));
  return {};
}

StatsSwitch::StatsSwitch(bool helper) {
  if (!helper || !has_capability(CAP_SYS_ADMIN)) return;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return;
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) stats_helper(sv[1], parent);
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    return;
  }
  sock_ = sv[0];
  pid_ = pid;
}

StatsSwitch::~StatsSwitch() {
  if (local_fd_ >= 0) close(local_fd_);
  if (sock_ >= 0) {
    close(sock_);  // the helper reads the end, closes the statistics' descriptor and exits
    waitpid(pid_, nullptr, 0);
  }
}

int StatsSwitch::open_uprobe(int file_fd, uint64_t offset) {
  if (sock_ < 0) return -ENOTSUP;
  std::lock_guard lock(mu_);
  if (!send_with_fd(sock_, 'u', file_fd) ||
      send(sock_, &offset, sizeof offset, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof offset))
    return -(errno ? errno : EPIPE);
  unsigned char err = 0;
  int fd = -1;
  if (!recv_with_fd(sock_, &err, &fd)) return -(errno ? errno : EPIPE);
  if (err) {
    if (fd >= 0) close(fd);
    return -err;
  }
  return fd >= 0 ? fd : -EPROTO;
}

int StatsSwitch::set(bool on) {
  if (on == on_) return 0;
  std::lock_guard lock(mu_);
  if (sock_ >= 0) {
    unsigned char c = on ? '1' : '0', err = 0;
    if (send(sock_, &c, 1, MSG_NOSIGNAL) != 1 || recv(sock_, &err, 1, 0) != 1) return errno ? errno : EPIPE;
    if (err) return err;
  } else if (on) {
    local_fd_ = bpf_enable_stats(BPF_STATS_RUN_TIME);
    if (local_fd_ < 0) return errno ? errno : EPERM;
  } else {
    close(local_fd_);
    local_fd_ = -1;
  }
  on_ = on;
  return 0;
}

std::string effective_capabilities() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("CapEff:")) return line.substr(line.find_first_not_of(" \t", 7));
  return {};
}

}  // namespace sightline::agent
