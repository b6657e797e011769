// The event table. Order of common fields is the order of JSON keys and table columns.
#include "core/schema.h"

#include <array>
#include <cmath>

#include "core/anomaly.h"
#include "core/syscalls.h"
#include "protocols/protocol.h"

namespace sightline::core {
namespace {

Value I(int64_t v) { return Value{.type = FieldType::kInt, .i = v}; }
Value U(uint64_t v) { return Value{.type = FieldType::kUint, .u = v}; }
Value S(std::string_view v) { return Value{.type = FieldType::kString, .s = v}; }
Value B(bool v) { return Value{.type = FieldType::kBool, .b = v}; }
Value T(FieldType t, uint64_t u) { return Value{.type = t, .u = u}; }

std::string_view kind_name(EventKind k);

constexpr FieldDef kCommon[] = {
    {"evt.time", FieldType::kTime, "ns", "Wall-clock time of the event (from the kernel's boot clock)",
     [](const Event& e) { return T(FieldType::kTime, e.ts_wall_ns); }, "TIME", 12},
    {"evt.type", FieldType::kString, "", "Event kind: exec, fork, exit, open, tcp, connect, accept, retransmit, packet_drop, stat, block_io, mount, uprobe, syscall, request, signal, oom_kill, flow, slow_io, file_lifetime, cachestat, anomaly",
     [](const Event& e) { return S(kind_name(e.kind)); }, "EVENT", 5},
    {"proc.pid", FieldType::kUint, "", "Process id (tgid)", [](const Event& e) { return U(e.pid); },
     "PID", 7},
    {"proc.tid", FieldType::kUint, "", "Thread id", [](const Event& e) { return U(e.tid); }, "", 0},
    {"proc.ppid", FieldType::kUint, "", "Parent process id",
     [](const Event& e) { return U(e.ppid); }, "PPID", 7},
    {"proc.name", FieldType::kString, "", "Process name (comm, at most 15 bytes)",
     [](const Event& e) { return S(e.comm); }, "COMM", 16},
    {"proc.pname", FieldType::kString, "", "Parent process name (process table)",
     [](const Event& e) { return S(e.pname); }, "", 0},
    {"proc.exepath", FieldType::kString, "", "Executable path (process table; exec: the filename)",
     [](const Event& e) { return S(e.exe); }, "", 0},
    {"user.uid", FieldType::kUint, "", "Real user id", [](const Event& e) { return U(e.uid); },
     "UID", 6},
    {"group.gid", FieldType::kUint, "", "Real group id", [](const Event& e) { return U(e.gid); },
     "", 0},
    {"cgroup.id", FieldType::kUint, "", "cgroup v2 id of the task",
     [](const Event& e) { return U(e.cgroup_id); }, "", 0},
    {"container.id", FieldType::kString, "", "Container id (12 hex digits), empty on the host",
     [](const Event& e) { return S(e.container_id); }, "", 0},
    {"container.runtime", FieldType::kString, "", "docker, containerd, crio or podman, from the cgroup path",
     [](const Event& e) { return S(e.container_runtime); }, "", 0},
    {"k8s.pod.uid", FieldType::kString, "", "Kubernetes pod uid, from the cgroup path (kubepods)",
     [](const Event& e) { return S(e.pod_uid); }, "", 0},
    {"k8s.pod.qos", FieldType::kString, "", "The pod's QoS class: guaranteed, burstable or besteffort",
     [](const Event& e) { return S(e.pod_qos); }, "", 0},
};

Value res(const Event& e) { return I(e.ret); }
Value err(const Event& e) { return Value{.type = FieldType::kErrno, .i = e.ret}; }
Value failed(const Event& e) { return B(e.ret < 0); }

// Every kind's but request's (which has l7.weight, its kernel sample's weight and the store's).
constexpr FieldDef kWeight = {
    "evt.weight", FieldType::kUint, "",
    "Events this row stands for: 1, or 16 where the store kept 1 in 16 past store.max_event_rows_per_s; "
    "sum(evt_weight) estimates the total",
    [](const Event& e) { return U(e.weight); }, "", 0};

constexpr FieldDef kExec[] = {
    {"evt.rawres", FieldType::kInt, "", "execve result: 0 or -errno", res, "RET", 4},
    {"evt.errno", FieldType::kErrno, "", "errno name of a failed exec (ENOENT ...)", err, "", 0},
    {"evt.failed", FieldType::kBool, "", "The exec failed", failed, "", 0},
    {"evt.filename", FieldType::kString, "", "Filename passed to execve",
     [](const Event& e) { return S(e.path); }, "FILENAME", 24},
    {"proc.args", FieldType::kArgv, "", "Arguments (argv, including argv[0])",
     [](const Event& e) { return Value{.type = FieldType::kArgv, .u = e.args_count, .s = e.args}; },
     "ARGS", 0},
    {"proc.args_truncated", FieldType::kBool, "",
     "argv or filename was longer than captured (64 args, 256 bytes each, 2 KiB in all)",
     [](const Event& e) { return B(e.truncated); }, "", 0},
    {"user.euid", FieldType::kUint, "", "Effective user id once the exec is done (a setuid program changes it)",
     [](const Event& e) { return U(e.euid); }, "", 0},
    kWeight,
};

constexpr FieldDef kFork[] = {
    {"child.pid", FieldType::kUint, "", "Process id of the new process",
     [](const Event& e) { return U(e.child_pid); }, "CHILD", 0},
    kWeight,
};

constexpr FieldDef kExit[] = {
    {"proc.exit_code", FieldType::kInt, "", "Exit status (0-255); 0 when killed by a signal",
     [](const Event& e) { return I(e.exit_code); }, "CODE", 5},
    {"proc.exit_signal", FieldType::kUint, "", "Signal that killed the process, 0 if none",
     [](const Event& e) { return U(e.signal); }, "SIG", 4},
    {"proc.core_dumped", FieldType::kBool, "", "A core dump was written",
     [](const Event& e) { return B(e.core_dumped); }, "", 0},
    {"proc.duration", FieldType::kDuration, "ns", "Lifetime of the process",
     [](const Event& e) { return T(FieldType::kDuration, e.duration_ns); }, "AGE", 0},
    kWeight,
};

constexpr FieldDef kTargetPid = {"target.pid", FieldType::kUint, "",
                                 "signal: the receiving task (a thread id); oom_kill: the victim",
                                 [](const Event& e) { return U(e.target_pid); }, "TPID", 7};
constexpr FieldDef kTargetName = {"target.name", FieldType::kString, "", "The receiving task's or the victim's name",
                                  [](const Event& e) { return S(e.target_comm); }, "TCOMM", 16};

std::string_view sig_result_name(int32_t r) {
  static constexpr std::string_view kNames[] = {"delivered", "ignored", "pending", "overflow", "lost_info"};
  return r >= 0 && r < 5 ? kNames[r] : "other";
}

constexpr FieldDef kSignal[] = {
    {"sig.num", FieldType::kUint, "", "Signal number", [](const Event& e) { return U(e.signal); }, "", 0},
    {"sig.name", FieldType::kString, "", "SIGKILL, SIGTERM, SIGSEGV ... (SIG34 for real-time ones)",
     [](const Event& e) { return S(signal_name(static_cast<int>(e.signal))); }, "SIGNAL", 9},
    kTargetPid,
    kTargetName,
    {"sig.code", FieldType::kInt, "",
     "si_code: 0 kill() (SI_USER), 128 the kernel (SI_KERNEL), -6 tgkill, -1 sigqueue; positive ones "
     "name a fault's cause",
     [](const Event& e) { return I(e.sig_code); }, "", 0},
    {"sig.result", FieldType::kString, "",
     "delivered, ignored (the target ignores it), pending (already), overflow (the queue was full), lost_info",
     [](const Event& e) { return S(sig_result_name(e.sig_result)); }, "RESULT", 9},
    {"sig.group", FieldType::kBool, "", "Sent to the whole process, not one thread",
     [](const Event& e) { return B(e.sig_group); }, "", 0},
    kWeight,
};

constexpr FieldDef kOomKill[] = {
    kTargetPid,
    kTargetName,
    {"oom.uid", FieldType::kUint, "", "The victim's user id (0 where the kernel does not say: before 6.8)",
     [](const Event& e) { return U(e.oom_uid); }, "", 0},
    {"oom.total_vm", FieldType::kUint, "bytes", "The victim's virtual memory (0 before 6.8)",
     [](const Event& e) { return U(e.oom_total_vm); }, "", 0},
    {"oom.anon_rss", FieldType::kUint, "bytes", "Its resident anonymous memory (0 before 6.8)",
     [](const Event& e) { return U(e.oom_anon_rss); }, "ANON_RSS", 10},
    {"oom.file_rss", FieldType::kUint, "bytes", "Its resident file pages (0 before 6.8)",
     [](const Event& e) { return U(e.oom_file_rss); }, "", 0},
    {"oom.shmem_rss", FieldType::kUint, "bytes", "Its resident shared memory (0 before 6.8)",
     [](const Event& e) { return U(e.oom_shmem_rss); }, "", 0},
    {"oom.score_adj", FieldType::kInt, "", "Its oom_score_adj (-1000 to 1000)",
     [](const Event& e) { return I(e.oom_score_adj); }, "", 0},
    kWeight,
};

std::string_view syscall_name(uint16_t s) {
  switch (s) {
    case 1: return "open";
    case 2: return "openat";
    case 3: return "openat2";
    case 4: return "creat";
    case 5: return "stat";
    case 6: return "lstat";
    case 7: return "newfstatat";
    case 8: return "statx";
    case 9: return "statfs";
  }
  return "";
}

constexpr FieldDef kOpen[] = {
    {"fd.num", FieldType::kInt, "", "File descriptor returned, -1 on failure",
     [](const Event& e) { return I(e.ret >= 0 ? e.ret : -1); }, "FD", 4},
    {"evt.rawres", FieldType::kInt, "", "Syscall result: fd or -errno", res, "", 0},
    {"evt.errno", FieldType::kErrno, "", "errno name of a failed open (ENOENT ...)", err, "ERR", 7},
    {"evt.failed", FieldType::kBool, "", "The open failed", failed, "", 0},
    {"evt.syscall", FieldType::kString, "", "open, openat, openat2 or creat",
     [](const Event& e) { return S(syscall_name(e.syscall)); }, "", 0},
    {"evt.arg.flags", FieldType::kOpenFlags, "", "Open flags",
     [](const Event& e) { return T(FieldType::kOpenFlags, e.flags); }, "FLAGS", 24},
    {"evt.arg.mode", FieldType::kOctal, "", "Creation mode",
     [](const Event& e) { return T(FieldType::kOctal, e.mode); }, "", 0},
    {"evt.arg.dirfd", FieldType::kInt, "", "Directory fd for a relative path (-100: cwd)",
     [](const Event& e) { return I(e.dirfd); }, "", 0},
    {"fd.name", FieldType::kString, "", "Path as passed to the syscall",
     [](const Event& e) { return S(e.path); }, "PATH", 0},
    {"fd.name_truncated", FieldType::kBool, "", "Path was longer than 255 bytes and was cut",
     [](const Event& e) { return B(e.truncated); }, "", 0},
    kWeight,
};

// Both ends of a TCP connection (tcp, connect, accept, retransmit).
constexpr FieldDef kLip = {"fd.lip", FieldType::kString, "", "Local address",
                           [](const Event& e) { return S(e.laddr); }, "LADDR", 16};
constexpr FieldDef kLport = {"fd.lport", FieldType::kUint, "", "Local port",
                             [](const Event& e) { return U(e.lport); }, "LPORT", 6};
constexpr FieldDef kRip = {"fd.rip", FieldType::kString, "", "Remote address",
                           [](const Event& e) { return S(e.raddr); }, "RADDR", 16};
constexpr FieldDef kRport = {"fd.rport", FieldType::kUint, "", "Remote port",
                             [](const Event& e) { return U(e.rport); }, "RPORT", 6};
constexpr FieldDef kRname = {"fd.rname", FieldType::kString, "",
                             "The remote address's DNS name, learnt from the DNS answers processes here received",
                             [](const Event& e) { return S(e.rname); }, "", 0};
constexpr FieldDef kConnectLatency = {"tcp.connect_latency", FieldType::kDuration, "ns",
                                      "SYN sent to established (clients)",
                                      [](const Event& e) { return T(FieldType::kDuration, e.connect_ns); },
                                      "CONNECT", 9};
constexpr FieldDef kSrtt = {"tcp.srtt", FieldType::kDuration, "ns", "Smoothed round-trip time",
                            [](const Event& e) { return T(FieldType::kDuration, uint64_t(e.srtt_us) * 1000); },
                            "RTT", 0};

constexpr FieldDef kStat[] = {
    {"evt.rawres", FieldType::kInt, "", "Syscall result: 0 or -errno", res, "RET", 4},
    {"evt.errno", FieldType::kErrno, "", "errno name of a failed call (ENOENT ...)", err, "ERR", 7},
    {"evt.failed", FieldType::kBool, "", "The call failed", failed, "", 0},
    {"evt.syscall", FieldType::kString, "", "stat, lstat, newfstatat, statx or statfs",
     [](const Event& e) { return S(syscall_name(e.syscall)); }, "SYSCALL", 10},
    {"evt.arg.dirfd", FieldType::kInt, "", "Directory fd for a relative path (-100: cwd)",
     [](const Event& e) { return I(e.dirfd); }, "", 0},
    {"stat.flags", FieldType::kUint, "", "newfstatat, statx: AT_* flags (0x100 AT_SYMLINK_NOFOLLOW, 0x1000 AT_EMPTY_PATH)",
     [](const Event& e) { return U(e.flags); }, "", 0},
    // Not fd.name: a rule about opening a file (fd.name = /etc/shadow) is not about its stat.
    {"fs.path.name", FieldType::kString, "", "Path as passed to the syscall (Falco's name for paths of file-system calls)",
     [](const Event& e) { return S(e.path); }, "PATH", 0},
    {"fs.path.truncated", FieldType::kBool, "", "Path was longer than 255 bytes and was cut",
     [](const Event& e) { return B(e.truncated); }, "", 0},
    kWeight,
};

constexpr FieldDef kBlockIo[] = {
    {"bio.device", FieldType::kString, "", "The disk: vda, nvme0n1 ... (MAJ:MIN without a name)",
     [](const Event& e) { return S(e.device); }, "DISK", 8},
    {"bio.op", FieldType::kString, "", "read, write, flush, discard, write_zeroes ...",
     [](const Event& e) { return S(e.block_op); }, "OP", 6},
    {"bio.sector", FieldType::kUint, "", "First sector (512 bytes)", [](const Event& e) { return U(e.sector); },
     "SECTOR", 12},
    {"bio.bytes", FieldType::kUint, "bytes", "Bytes completed", [](const Event& e) { return U(e.io_bytes); }, "BYTES",
     8},
    {"bio.latency", FieldType::kDuration, "ns", "Issue to the device until completion",
     [](const Event& e) { return T(FieldType::kDuration, e.duration_ns); }, "LAT", 9},
    {"bio.queue", FieldType::kDuration, "ns", "Time in the I/O scheduler before issue (0: issued directly)",
     [](const Event& e) { return T(FieldType::kDuration, e.queue_ns); }, "QUEUE", 9},
    {"evt.failed", FieldType::kBool, "", "The I/O completed with an error", failed, "", 0},
    {"bio.error", FieldType::kInt, "", "The block layer's status (blk_status_t: 10 BLK_STS_IOERR ...), 0 when ok",
     [](const Event& e) { return I(-e.ret); }, "", 0},
    kWeight,
};

constexpr FieldDef kMount[] = {
    {"mount.call", FieldType::kString, "", "mount or umount (umount2)", [](const Event& e) { return S(e.sys_name); },
     "CALL", 6},
    {"mount.source", FieldType::kString, "", "What is mounted: a device, a directory (bind), a name (tmpfs, proc)",
     [](const Event& e) { return S(e.path); }, "SOURCE", 16},
    {"mount.target", FieldType::kString, "", "The mount point", [](const Event& e) { return S(e.path2); }, "TARGET",
     20},
    {"mount.fstype", FieldType::kString, "", "File system type (mount): ext4, tmpfs, overlay ...",
     [](const Event& e) { return S(e.fstype); }, "FSTYPE", 8},
    {"mount.flags", FieldType::kUint, "", "MS_* flags of mount (0x1000 MS_BIND, 0x1 MS_RDONLY ...); MNT_* of umount",
     [](const Event& e) { return U(e.flags); }, "FLAGS", 8},
    {"mount.data", FieldType::kString, "", "The options string (first 63 bytes)",
     [](const Event& e) { return S(e.mount_data); }, "", 0},
    {"mount.ns", FieldType::kUint, "", "The caller's mount namespace (its inode number)",
     [](const Event& e) { return U(e.mnt_ns); }, "", 0},
    {"evt.rawres", FieldType::kInt, "", "Result: 0 or -errno", res, "RET", 4},
    {"evt.errno", FieldType::kErrno, "", "errno name of a failure (EPERM, EBUSY ...)", err, "ERR", 7},
    {"evt.failed", FieldType::kBool, "", "The call failed", failed, "", 0},
    kWeight,
};

constexpr FieldDef kSlowIo[] = {
    {"io.op", FieldType::kString, "", "read, write or sync", [](const Event& e) { return S(e.block_op); }, "OP", 5},
    {"io.syscall", FieldType::kString, "", "read, write, pread64, pwrite64, readv, writev, fsync, fdatasync",
     [](const Event& e) { return S(e.sys_name); }, "", 0},
    {"io.bytes", FieldType::kUint, "bytes", "Bytes read or written (0 for a sync or a failure)",
     [](const Event& e) { return U(e.ret > 0 ? static_cast<uint64_t>(e.ret) : 0); }, "BYTES", 8},
    {"io.offset", FieldType::kInt, "bytes", "The file position it started at (-1 for a sync)",
     [](const Event& e) { return I(e.io_offset); }, "OFFSET", 10},
    {"io.latency", FieldType::kDuration, "ns", "The syscall's enter to exit",
     [](const Event& e) { return T(FieldType::kDuration, e.duration_ns); }, "LATENCY", 10},
    {"fs.type", FieldType::kString, "", "The file system: ext4, xfs, btrfs, tmpfs ...",
     [](const Event& e) { return S(e.fstype); }, "FS", 6},
    {"fd.num", FieldType::kInt, "", "The file descriptor", [](const Event& e) { return I(e.fd_num); }, "", 0},
    {"fd.filename", FieldType::kString, "", "The file's name (its last path component, as fsslower shows it)",
     [](const Event& e) { return S(e.path); }, "FILE", 0},
    {"evt.rawres", FieldType::kInt, "", "Result: bytes, 0, or -errno", res, "", 0},
    {"evt.errno", FieldType::kErrno, "", "errno name of a failure", err, "", 0},
    {"evt.failed", FieldType::kBool, "", "The call failed", failed, "", 0},
    kWeight,
};

constexpr FieldDef kFileLifetime[] = {
    {"file.age", FieldType::kDuration, "ns", "Created (its inode allocated) to deleted",
     [](const Event& e) { return T(FieldType::kDuration, e.duration_ns); }, "AGE", 10},
    {"file.size", FieldType::kUint, "bytes", "Its size when deleted", [](const Event& e) { return U(e.io_bytes); },
     "SIZE", 9},
    {"fs.path.name", FieldType::kString, "", "The path unlink or unlinkat was given (relative to its directory fd)",
     [](const Event& e) { return S(e.path); }, "PATH", 0},
    {"file.ino", FieldType::kUint, "", "Its inode number", [](const Event& e) { return U(e.sector); }, "", 0},
    {"file.device", FieldType::kString, "", "The file system's device (major:minor)",
     [](const Event& e) { return S(e.device); }, "", 0},
    kWeight,
};

// anomaly: read from the model's record (Event::anomaly), which the agent holds while it sends.
const Anomaly& A(const Event& e) {
  static const Anomaly kNone{};
  return e.anomaly ? *e.anomaly : kNone;
}
constexpr FieldDef kAnomaly[] = {
    {"anomaly.state", FieldType::kString, "", "started or ended",
     [](const Event& e) { return S(A(e).until_s ? "ended" : "started"); }, "STATE", 8},
    {"anomaly.signal", FieldType::kString, "",
     "What was modelled: l7.rate, l7.error_ratio, l7.latency_mean (per service: process, protocol, role), "
     "l7.endpoint.rate, l7.endpoint.latency_mean (per route), node.cpu_busy, runq.latency_mean, "
     "disk.latency_mean (per device), tcp.retransmits, agent.events_lost",
     [](const Event& e) { return S(A(e).spec ? std::string_view(A(e).spec->name) : std::string_view()); }, "SIGNAL",
     20},
    {"anomaly.subject", FieldType::kString, "", "Whose: the series' labels (comm=nginx protocol=http role=server); "
     "empty for the node's",
     [](const Event& e) { return S(A(e).subject); }, "", 0},
    {"anomaly.direction", FieldType::kString, "", "up or down: which way it left its usual range",
     [](const Event& e) { return S(direction_name(A(e).dir)); }, "DIR", 5},
    {"anomaly.score", FieldType::kInt, "", "How far from usual at its worst, in spreads (robust z; signed)",
     [](const Event& e) { return I(static_cast<int64_t>(std::lround(A(e).score))); }, "SCORE", 6},
    {"anomaly.value", FieldType::kString, "", "Its value at its worst, with its unit",
     [](const Event& e) { return S(A(e).value_text); }, "", 0},
    {"anomaly.usual", FieldType::kString, "", "What the model expected then, and its spread (4.10 ms ± 0.60 ms)",
     [](const Event& e) { return S(A(e).usual_text); }, "", 0},
    {"anomaly.baseline", FieldType::kString, "",
     "What the expectation came from: weekly (the same hour of the week), daily (of the day), recent (the last "
     "30 points, before two days of history)",
     [](const Event& e) { return S(A(e).baseline); }, "", 0},
    {"anomaly.since", FieldType::kTime, "", "Its first point off",
     [](const Event& e) { return T(FieldType::kTime, A(e).since_s * 1000000000ULL); }, "", 0},
    {"anomaly.related", FieldType::kString, "", "Other anomalies of the node that started within minutes of it, "
     "comma-separated",
     [](const Event& e) { return S(A(e).related_text); }, "", 0},
    {"anomaly.text", FieldType::kString, "", "All of it in a sentence",
     [](const Event& e) { return S(A(e).text); }, "TEXT", 0},
};

constexpr FieldDef kCacheStat[] = {
    {"cache.hits", FieldType::kInt, "pages",
     "Page-cache accesses that found their page: accesses (folio_mark_accessed) less buffer dirties, less "
     "misses, as cachestat counts them; -1 where the kernel has no kprobes to count accesses",
     [](const Event& e) { return I(e.pc_hits); }, "HITS", 9},
    {"cache.misses", FieldType::kUint, "pages",
     "Pages added to the page cache less pages dirtied: reads that missed (cachestat's MISSES)",
     [](const Event& e) { return U(e.pc_misses); }, "MISSES", 9},
    {"cache.dirtied", FieldType::kUint, "pages", "Pages dirtied (written) in the page cache",
     [](const Event& e) { return U(e.pc_dirtied); }, "DIRTIES", 9},
    {"cache.hit_pct", FieldType::kInt, "percent", "hits / (hits + misses) in percent; -1 when hits are not counted",
     [](const Event& e) {
       uint64_t all = e.pc_hits < 0 ? 0 : uint64_t(e.pc_hits) + e.pc_misses;
       return I(e.pc_hits < 0 ? -1 : all ? int64_t(100 * uint64_t(e.pc_hits) / all) : 0);
     },
     "HIT%", 5},
    {"mem.buffers", FieldType::kUint, "bytes", "Buffers in /proc/meminfo (block device pages)",
     [](const Event& e) { return U(e.mem_buffers); }, "BUFFERS", 10},
    {"mem.cached", FieldType::kUint, "bytes", "Cached in /proc/meminfo (the page cache)",
     [](const Event& e) { return U(e.mem_cached); }, "CACHED", 11},
    {"cache.interval", FieldType::kDuration, "ns", "The interval counted",
     [](const Event& e) { return T(FieldType::kDuration, e.duration_ns); }, "", 0},
};

constexpr FieldDef kTcp[] = {
    {"net.role", FieldType::kString, "", "client (connected) or server (accepted)",
     [](const Event& e) { return S(e.role == 1 ? "client" : e.role == 2 ? "server" : ""); }, "ROLE", 7},
    kLip,
    kLport,
    kRip,
    kRport,
    kRname,
    {"evt.failed", FieldType::kBool, "", "The connect never completed", failed, "", 0},
    {"evt.errno", FieldType::kErrno, "", "Socket error at close (ECONNREFUSED ...)", err, "ERR", 13},
    {"tcp.reset", FieldType::kBool, "", "A RST was sent or received",
     [](const Event& e) { return B(e.reset); }, "", 0},
    kConnectLatency,
    {"tcp.duration", FieldType::kDuration, "ns", "Established (or SYN sent) to closed",
     [](const Event& e) { return T(FieldType::kDuration, e.duration_ns); }, "AGE", 9},
    {"tcp.bytes_sent", FieldType::kUint, "bytes", "Bytes sent and acknowledged by the peer",
     [](const Event& e) { return U(e.bytes_sent); }, "TX", 9},
    {"tcp.bytes_received", FieldType::kUint, "bytes", "Bytes received",
     [](const Event& e) { return U(e.bytes_received); }, "RX", 9},
    {"tcp.retransmits", FieldType::kUint, "", "Segments retransmitted",
     [](const Event& e) { return U(e.retransmits); }, "RETR", 5},
    kSrtt,
    kWeight,
};

constexpr FieldDef kConnect[] = {
    kLip,
    kLport,
    kRip,
    kRport,
    kRname,
    {"evt.failed", FieldType::kBool, "", "The handshake failed (refused, timed out, unreachable ...)", failed, "", 0},
    {"evt.errno", FieldType::kErrno, "", "Why it failed (ECONNREFUSED, ETIMEDOUT ...)", err, "ERR", 13},
    {"tcp.reset", FieldType::kBool, "", "Refused by a RST", [](const Event& e) { return B(e.reset); }, "", 0},
    kConnectLatency,
    kWeight,
};

constexpr FieldDef kAccept[] = {
    kLip,
    kLport,
    kRip,
    kRport,
    kRname,
    {"fd.num", FieldType::kInt, "", "The connection's new file descriptor", [](const Event& e) { return I(e.fd_num); },
     "FD", 4},
    {"tcp.accept_wait", FieldType::kDuration, "ns",
     "Established to accepted: the time the connection waited in the listen queue (0 when its handshake was not seen)",
     [](const Event& e) { return T(FieldType::kDuration, e.duration_ns); }, "WAIT", 9},
    kWeight,
};

constexpr FieldDef kRetransmit[] = {
    kLip,
    kLport,
    kRip,
    kRport,
    kRname,
    {"net.role", FieldType::kString, "", "client (connected) or server (accepted); empty when its handshake was not seen",
     [](const Event& e) { return S(e.role == 1 ? "client" : e.role == 2 ? "server" : ""); }, "ROLE", 7},
    {"tcp.state", FieldType::kString, "", "The socket's state: established, syn_sent (a SYN again), fin_wait1 ...",
     [](const Event& e) { return S(tcp_state_name(e.tcp_state)); }, "STATE", 12},
    {"tcp.retransmits", FieldType::kUint, "", "Segments this connection has retransmitted, this one included",
     [](const Event& e) { return U(e.retransmits); }, "RETR", 5},
    kSrtt,
    kWeight,
};

constexpr FieldDef kDropReason = {
    "drop.reason", FieldType::kString, "",
    "The kernel's drop reason (enum skb_drop_reason, lower case): no_socket, netfilter_drop, socket_filter, "
    "tc_ingress, tcp_csum, queue_purge ...",
    [](const Event& e) { return S(e.drop_reason); }, "REASON", 16};
constexpr FieldDef kPktProto = {"pkt.proto", FieldType::kString, "", "tcp, udp, icmp ...; empty when not IP",
                                [](const Event& e) { return S(e.l4proto); }, "PROTO", 5};
constexpr FieldDef kPktSrc = {"pkt.src", FieldType::kString, "", "Source address (flow: the initiator's)",
                              [](const Event& e) { return S(e.laddr); }, "SRC", 16};
constexpr FieldDef kPktSport = {"pkt.sport", FieldType::kUint, "", "Source port (ICMP: type; flow: an echo's identifier)",
                                [](const Event& e) { return U(e.lport); }, "SPORT", 6};
constexpr FieldDef kPktDst = {"pkt.dst", FieldType::kString, "", "Destination address (flow: the responder's)",
                              [](const Event& e) { return S(e.raddr); }, "DST", 16};
constexpr FieldDef kPktDport = {"pkt.dport", FieldType::kUint, "", "Destination port (ICMP: code)",
                                [](const Event& e) { return U(e.rport); }, "DPORT", 6};
constexpr FieldDef kPktIface = {"pkt.iface", FieldType::kString, "", "The device the packet was on (empty: none yet)",
                                [](const Event& e) { return S(e.iface); }, "IFACE", 8};
constexpr FieldDef kDropLocation = {"drop.location", FieldType::kString, "",
                                    "The kernel function that dropped it (tcpdrop's first frame)",
                                    [](const Event& e) { return S(e.drop_location); }, "WHERE", 0};

constexpr FieldDef kDrop[] = {
    kDropReason, kPktProto, kPktSrc, kPktSport, kPktDst, kPktDport, kPktIface,
    {"pkt.len", FieldType::kUint, "bytes", "The packet's length", [](const Event& e) { return U(e.pkt_len); }, "LEN", 6},
    kDropLocation,
    kWeight,
};

constexpr FieldDef kFlow[] = {
    {"flow.state", FieldType::kString, "",
     "new (its first packet was seen), closed (FIN both ways or RST, then 1 s quiet), timeout (idle for "
     "sources.packets.flow_timeout), evicted (the flow table was full), dropped (one of its packets was dropped)",
     [](const Event& e) { return S(e.flow_state); }, "STATE", 7},
    {"flow.verdict", FieldType::kString, "", "forwarded, or dropped (flow.state dropped: drop.reason says why)",
     [](const Event& e) { return S(e.flow_state == "dropped" ? "dropped" : "forwarded"); }, "VERDICT", 9},
    kPktProto, kPktSrc, kPktSport, kPktDst, kPktDport,
    {"flow.src_packets", FieldType::kUint, "", "Packets the initiator sent (a dropped packet's flow: 1)",
     [](const Event& e) { return U(e.packets_sent); }, "PKTS>", 7},
    {"flow.src_bytes", FieldType::kUint, "bytes", "IP bytes (headers included) the initiator sent",
     [](const Event& e) { return U(e.bytes_sent); }, "BYTES>", 9},
    {"flow.dst_packets", FieldType::kUint, "", "Packets the responder sent", [](const Event& e) { return U(e.packets_received); },
     "<PKTS", 7},
    {"flow.dst_bytes", FieldType::kUint, "bytes", "IP bytes the responder sent",
     [](const Event& e) { return U(e.bytes_received); }, "<BYTES", 9},
    kPktIface,
    {"flow.direction", FieldType::kString, "",
     "egress: initiated from this side of the interface (this host, for a physical one); ingress: from the "
     "other; local: on lo",
     [](const Event& e) { return S(e.flow_dir); }, "DIR", 7},
    {"flow.duration", FieldType::kDuration, "ns", "First packet to last so far",
     [](const Event& e) { return T(FieldType::kDuration, e.duration_ns); }, "", 0},
    {"flow.src_pid", FieldType::kUint, "", "The process here that owns the initiator's socket, 0 if none",
     [](const Event& e) { return U(e.src_pid); }, "", 0},
    {"flow.src_name", FieldType::kString, "", "Its name", [](const Event& e) { return S(e.src_comm); }, "SRCPROC", 12},
    {"flow.dst_pid", FieldType::kUint, "", "The process here that owns the responder's socket, 0 if none",
     [](const Event& e) { return U(e.dst_pid); }, "", 0},
    {"flow.dst_name", FieldType::kString, "", "Its name", [](const Event& e) { return S(e.dst_comm); }, "DSTPROC", 12},
    {"flow.mid", FieldType::kBool, "", "TCP: first seen after its SYN (the agent started mid-way): the initiator is a guess",
     [](const Event& e) { return B(e.flow_mid); }, "", 0},
    kDropReason,
    kDropLocation,
    kWeight,
};

constexpr FieldDef kUprobe[] = {
    {"probe.func", FieldType::kString, "", "The probed function, BINARY:FUNCTION",
     [](const Event& e) { return S(e.probe); }, "FUNCTION", 28},
    {"probe.arg1", FieldType::kUint, "", "First integer argument (raw register value)",
     [](const Event& e) { return U(e.uargs[0]); }, "ARG1", 14},
    {"probe.arg2", FieldType::kUint, "", "Second integer argument", [](const Event& e) { return U(e.uargs[1]); }, "ARG2", 14},
    {"probe.arg3", FieldType::kUint, "", "Third integer argument", [](const Event& e) { return U(e.uargs[2]); }, "", 0},
    {"probe.arg4", FieldType::kUint, "", "Fourth integer argument", [](const Event& e) { return U(e.uargs[3]); }, "", 0},
    {"probe.arg5", FieldType::kUint, "", "Fifth integer argument", [](const Event& e) { return U(e.uargs[4]); }, "", 0},
    {"probe.arg6", FieldType::kUint, "", "Sixth integer argument", [](const Event& e) { return U(e.uargs[5]); }, "", 0},
    {"probe.str", FieldType::kString, "", "The argument chosen with --str, read as a string (64 bytes)",
     [](const Event& e) { return S(e.str_arg); }, "STR", 16},
    {"probe.ret", FieldType::kInt, "", "Return value (with latency: probes that wait for the return)",
     [](const Event& e) { return I(e.ret); }, "RET", 12},
    {"probe.latency", FieldType::kDuration, "ns", "Entry to return", [](const Event& e) { return T(FieldType::kDuration, e.duration_ns); },
     "LATENCY", 10},
    kWeight,
};

// chmod family: the mode argument's position.
uint64_t chmod_mode(const Event& e) {
  if (e.sys_name == "chmod" || e.sys_name == "fchmod") return e.sys_args[1];
  if (e.sys_name == "fchmodat") return e.sys_args[2];
  return 0;
}

constexpr FieldDef kSyscall[] = {
    {"syscall.name", FieldType::kString, "", "The syscall: ptrace, bpf, mount, setns, unshare, chmod, unlink ...",
     [](const Event& e) { return S(e.sys_name); }, "SYSCALL", 14},
    {"syscall.arg1", FieldType::kUint, "", "First argument (raw)", [](const Event& e) { return U(e.sys_args[0]); }, "ARG1", 12},
    {"syscall.arg2", FieldType::kUint, "", "Second argument (raw)", [](const Event& e) { return U(e.sys_args[1]); }, "ARG2", 12},
    {"syscall.arg3", FieldType::kUint, "", "Third argument (raw)", [](const Event& e) { return U(e.sys_args[2]); }, "", 0},
    {"syscall.arg4", FieldType::kUint, "", "Fourth argument (raw)", [](const Event& e) { return U(e.sys_args[3]); }, "", 0},
    {"syscall.path", FieldType::kString, "", "First path or name argument (unlink, chmod, mount source, memfd name, a symlink's target, link's existing path ...)",
     [](const Event& e) { return S(e.path); }, "PATH", 24},
    {"syscall.target", FieldType::kString, "", "Second path argument (rename target, mount point, the new link's path)",
     [](const Event& e) { return S(e.path2); }, "TARGET", 0},
    {"evt.rawres", FieldType::kInt, "", "Result: >= 0, or -errno", res, "RET", 5},
    {"evt.errno", FieldType::kErrno, "", "errno name of a failure", err, "ERR", 0},
    {"evt.failed", FieldType::kBool, "", "The syscall failed", failed, "", 0},
    {"syscall.mode", FieldType::kOctal, "", "chmod, fchmod, fchmodat: the new mode",
     [](const Event& e) { return T(FieldType::kOctal, chmod_mode(e)); }, "", 0},
    {"syscall.setuid", FieldType::kBool, "", "chmod family: the mode sets the setuid or setgid bit",
     [](const Event& e) { return B((chmod_mode(e) & 06000) != 0); }, "", 0},
    {"syscall.ns_flags", FieldType::kString, "", "unshare, setns, clone, clone3: the namespaces (CLONE_NEWNS|CLONE_NEWNET ...)",
     [](const Event& e) { return S(std::string_view(e.flags_text)); }, "", 0},
    {"fd.num", FieldType::kInt, "", "connect: the socket; accept, dup, dup2, dup3: the new fd; -1 otherwise",
     [](const Event& e) { return I(e.fd_num); }, "", 0},
    {"fd.type", FieldType::kString, "", "What fd.num is: ipv4, ipv6, unix, netlink, packet, socket, file, directory, pipe, char ...",
     [](const Event& e) { return S(e.fd_type); }, "", 0},
    {"fd.l4proto", FieldType::kString, "", "An IP socket's protocol: tcp, udp, icmp ...",
     [](const Event& e) { return S(e.l4proto); }, "PROTO", 0},
    {"fd.lip", FieldType::kString, "",
     "An IP socket's local address (bind: the one bound; a failed bind: the one asked for)",
     [](const Event& e) { return S(e.laddr); }, "LADDR", 0},
    {"fd.lport", FieldType::kUint, "", "An IP socket's local port (bind: as fd.lip)", [](const Event& e) { return U(e.lport); },
     "LPORT", 0},
    {"fd.rip", FieldType::kString, "", "An IP socket's remote address", [](const Event& e) { return S(e.raddr); }, "", 0},
    {"fd.rport", FieldType::kUint, "", "An IP socket's remote port", [](const Event& e) { return U(e.rport); }, "", 0},
    {"fd.rname", FieldType::kString, "", "The remote address's DNS name, learnt from the DNS answers processes here received",
     [](const Event& e) { return S(e.rname); }, "", 0},
    kWeight,
};

std::string_view role_name(const Event& e) { return e.role == 1 ? "client" : e.role == 2 ? "server" : ""; }

constexpr FieldDef kRequest[] = {
    {"l7.protocol", FieldType::kString, "", "http, http2, grpc, pgsql, mysql, redis, dns, memcached, nats or amqp",
     [](const Event& e) { return S(e.protocol); }, "PROTO", 6},
    {"net.role", FieldType::kString, "", "The side this process plays: client (sent the request) or server",
     [](const Event& e) { return S(role_name(e)); }, "ROLE", 7},
    {"l7.method", FieldType::kString, "", "HTTP method, SQL verb, Redis command, DNS query type",
     [](const Event& e) { return S(e.method); }, "METHOD", 8},
    {"l7.status", FieldType::kInt, "", "HTTP status, DNS rcode, gRPC status (grpc-status), a memcached retrieval's 1 (a hit) or 2 (a miss); 0 where the protocol has none",
     [](const Event& e) { return I(e.status); }, "STATUS", 7},
    {"dns.rcode", FieldType::kString, "", "A DNS answer's response code by name: NOERROR, NXDOMAIN, SERVFAIL, REFUSED ... (empty: not DNS, or no answer)",
     [](const Event& e) {
       return S(e.protocol == "dns" && !e.no_response ? protocols::dns_rcode_name(e.status) : std::string_view());
     }, "", 0},
    {"thread.name", FieldType::kString, "",
     "The thread that moved the request's bytes (proc.name is its process's: chromium, not Chrome_ChildIOT)",
     [](const Event& e) { return S(e.thread_name.empty() ? e.comm : e.thread_name); }, "", 0},
    {"l7.latency", FieldType::kDuration, "ns", "Request's first byte to the response's last, as this process moved them",
     [](const Event& e) { return T(FieldType::kDuration, e.duration_ns); }, "LATENCY", 10},
    {"fd.rip", FieldType::kString, "", "Remote address", [](const Event& e) { return S(e.raddr); }, "RADDR", 16},
    {"fd.rport", FieldType::kUint, "", "Remote port", [](const Event& e) { return U(e.rport); }, "RPORT", 6},
    {"fd.rname", FieldType::kString, "", "The remote address's DNS name, learnt from the DNS answers processes here received",
     [](const Event& e) { return S(e.rname); }, "", 0},
    {"fd.lip", FieldType::kString, "", "Local address", [](const Event& e) { return S(e.laddr); }, "", 0},
    {"fd.lport", FieldType::kUint, "", "Local port", [](const Event& e) { return U(e.lport); }, "", 0},
    {"l7.target", FieldType::kString, "", "Normalized target: URL path with ids as {id}, SQL with literals as ?, a DNS name",
     [](const Event& e) { return S(e.target); }, "", 0},
    {"l7.request", FieldType::kString, "", "The request as sent (URL, SQL, command and key; 256 bytes at most)",
     [](const Event& e) { return S(e.request); }, "REQUEST", 0},
    {"l7.error", FieldType::kBool, "", "HTTP 5xx, an error reply, a DNS rcode other than NOERROR",
     [](const Event& e) { return B(e.error); }, "", 0},
    {"l7.error_text", FieldType::kString, "", "The server's error message, when it sent one",
     [](const Event& e) { return S(e.error_text); }, "", 0},
    {"trace.id", FieldType::kString, "",
     "The trace (32 hex digits) the request belongs to: the W3C traceparent's it carried (HTTP/1, HTTP/2, gRPC; an AMQP "
     "message's headers), or, for a "
     "request a thread made while serving another (thread-per-request servers), the served one's; its OTLP span joins it",
     [](const Event& e) { return S(e.trace_id); }, "", 0},
    {"trace.parent_id", FieldType::kString, "",
     "The calling span (16 hex digits): the traceparent's parent id, or the span of the request this one was made for; the "
     "parent of this request's OTLP span",
     [](const Event& e) { return S(e.parent_span_id); }, "", 0},
    {"span.id", FieldType::kString, "",
     "This request's OTLP span id (16 hex digits) where requests made while serving it name it as their parent (empty: "
     "the exporter draws one)",
     [](const Event& e) { return S(e.span_id); }, "", 0},
    {"l7.tls", FieldType::kBool, "", "Seen as plaintext inside OpenSSL (SSL_read/SSL_write) or Go's crypto/tls on a TLS connection",
     [](const Event& e) { return B(e.tls); }, "", 0},
    {"l7.no_response", FieldType::kBool, "", "The connection closed before a response came",
     [](const Event& e) { return B(e.no_response); }, "", 0},
    {"l7.rows", FieldType::kInt, "", "Rows returned or affected; DNS answers; gRPC response messages (-1: unknown)",
     [](const Event& e) { return I(e.rows); }, "", 0},
    {"l7.weight", FieldType::kUint, "",
     "Exchanges this record stands for: N when the kernel sent 1 in N (sources.l7.sample), 1 when every one "
     "is sent (failed, slow, the per-second allowance); sum(l7_weight) estimates the total",
     [](const Event& e) { return U(e.weight); }, "", 0},
    {"l7.request_bytes", FieldType::kUint, "bytes", "Size of the request on the wire",
     [](const Event& e) { return U(e.request_bytes); }, "", 0},
    {"l7.response_bytes", FieldType::kUint, "bytes", "Size of the response on the wire",
     [](const Event& e) { return U(e.response_bytes); }, "", 0},
    // The timeline of a server's request (docs/timelines.md): the req.* times sum to the
    // request's start -> its response's start on the thread that served it.
    {"req.timeline", FieldType::kString, "",
     "A server request's timeline: 'thread' (the req.* times are its serving thread's, from the request's first read "
     "to its response's first write), 'two threads' (another thread answered than read it: not attributed), empty "
     "(none: a client, a protocol the kernel does not pair, or the sched source off)",
     [](const Event& e) { return S(e.timeline == 1 ? "thread" : e.timeline == 2 ? "two threads" : ""); }, "", 0},
    {"req.cpu_time", FieldType::kDuration, "ns", "Of the timeline: on a CPU",
     [](const Event& e) { return T(FieldType::kDuration, e.tl_cpu_ns); }, "", 0},
    {"req.runq_time", FieldType::kDuration, "ns", "Of the timeline: runnable, waiting for a CPU (the run queue)",
     [](const Event& e) { return T(FieldType::kDuration, e.tl_runq_ns); }, "", 0},
    {"req.io_time", FieldType::kDuration, "ns", "Of the timeline: blocked uninterruptibly (block I/O, page faults)",
     [](const Event& e) { return T(FieldType::kDuration, e.tl_wait_ns[0]); }, "", 0},
    {"req.lock_time", FieldType::kDuration, "ns", "Of the timeline: blocked on a lock (futex)",
     [](const Event& e) { return T(FieldType::kDuration, e.tl_wait_ns[1]); }, "", 0},
    {"req.net_wait", FieldType::kDuration, "ns",
     "Of the timeline: blocked on the network (poll, select, epoll, recv, accept, connect): downstream calls' answers",
     [](const Event& e) { return T(FieldType::kDuration, e.tl_wait_ns[2]); }, "", 0},
    {"req.sleep_time", FieldType::kDuration, "ns", "Of the timeline: asleep (nanosleep, clock_nanosleep)",
     [](const Event& e) { return T(FieldType::kDuration, e.tl_wait_ns[3]); }, "", 0},
    {"req.other_wait", FieldType::kDuration, "ns", "Of the timeline: blocked otherwise (pipes, signals, other syscalls)",
     [](const Event& e) { return T(FieldType::kDuration, e.tl_wait_ns[4]); }, "", 0},
    {"req.retransmits", FieldType::kInt, "",
     "TCP segments the connection's socket resent from the request's start to its response's (a client's request "
     "resent; at a server, its earlier answers); -1: not measured (a protocol the kernel does not pair, UDP)",
     [](const Event& e) { return I(e.req_retransmits); }, "", 0},
    {"req.downstream", FieldType::kUint, "",
     "Requests the serving thread made while serving this one (SQL, Redis, HTTP, DNS: its child spans), as seen in detail",
     [](const Event& e) { return U(e.downstream); }, "", 0},
    {"req.downstream_time", FieldType::kDuration, "ns", "Those requests' latencies summed",
     [](const Event& e) { return T(FieldType::kDuration, e.downstream_ns); }, "", 0},
};

constexpr std::array<KindDef, static_cast<size_t>(EventKind::kCount)> kKinds = {{
    {EventKind::kExec, "exec", "process", "A program was executed (execve/execveat), or failed to",
     kExec},
    {EventKind::kFork, "fork", "process", "A new process was created (fork/vfork/clone)", kFork},
    {EventKind::kExit, "exit", "process", "A process ended (its last thread exited)", kExit},
    {EventKind::kOpen, "open", "file", "A file was opened (open/openat/openat2/creat)", kOpen},
    {EventKind::kTcp, "tcp", "net", "A TCP connection closed (or failed to connect)", kTcp},
    {EventKind::kUprobe, "uprobe", "uprobe", "A probed user-space function was called (sightline uprobe)", kUprobe},
    {EventKind::kSyscall, "syscall", "security",
     "A security-relevant syscall returned (ptrace, bpf, mount, namespaces, privileges, chmod, unlink, rename, connect, accept, dup2 of a socket onto stdio, clone into new namespaces, symlink, link, AF_PACKET sockets ...)",
     kSyscall},
    {EventKind::kRequest, "request", "l7",
     "An L7 request and its response (HTTP/1, HTTP/2, gRPC, PostgreSQL, MySQL, Redis, DNS), seen in the socket payloads of the server or the client",
     kRequest},
    {EventKind::kSignal, "signal", "process",
     "A signal was sent (kill, tgkill, sigqueue, or the kernel: a fault, a broken pipe ...); by default not SIGCHLD, "
     "SIGURG, SIGWINCH (sources.process.ignore_signals)",
     kSignal},
    {EventKind::kOomKill, "oom_kill", "process", "The kernel's OOM killer chose a victim (oom/mark_victim)", kOomKill},
    {EventKind::kConnect, "connect", "net",
     "A TCP connect's handshake ended: established (with its latency) or failed (tcpconnect, tcpconnlat); in the "
     "agent with sources.net.handshakes",
     kConnect},
    {EventKind::kAccept, "accept", "net",
     "accept() returned a TCP connection (tcpaccept), with its wait in the listen queue; in the agent with "
     "sources.net.handshakes",
     kAccept},
    {EventKind::kRetransmit, "retransmit", "net",
     "A TCP segment was retransmitted (tcpretrans): both ends, the state, the connection's count so far", kRetransmit},
    {EventKind::kDrop, "packet_drop", "packets",
     "The kernel dropped a packet (skb:kfree_skb; tcpdrop, Hubble's dropped flows): reason, where, both ends, the "
     "device; cgroup.id is the packet's socket's. Per packet: in the agent with sources.packets.drop_events",
     kDrop},
    {EventKind::kStat, "stat", "file",
     "A stat-family call returned (stat, lstat, newfstatat, statx, statfs: statsnoop); in the agent with "
     "sources.file.stats",
     kStat},
    {EventKind::kBlockIo, "block_io", "block",
     "A block I/O completed (biosnoop): the submitting process, disk, op, sector, bytes, latency, queue time; per "
     "I/O: in the agent with sources.block.io_events",
     kBlockIo},
    {EventKind::kMount, "mount", "file",
     "mount or umount returned (mountsnoop): source, target, type, flags, options, mount namespace, result", kMount},
    {EventKind::kFlow, "flow", "packets",
     "An L3/L4 flow (Hubble's flow log): TCP, UDP or ICMP between two ends on one interface, when first seen and "
     "when it ends, with packets and bytes each way, both ends' local processes; and each of its packets the kernel "
     "dropped, with the reason. cgroup.id: the local socket's. In the agent with sources.packets.flows",
     kFlow},
    {EventKind::kSlowIo, "slow_io", "file",
     "A read, write or sync of a regular file took longer than sources.file.slow_io_ms (fsslower, ext4slower; "
     "trace slow_io --slow-ms N): the file's name and file system, bytes, offset, latency. In the agent with "
     "sources.file.slow_io",
     kSlowIo},
    {EventKind::kFileLifetime, "file_lifetime", "file",
     "A regular file created while the agent ran was deleted (filelife): its age, size and path; ext4 (its "
     "tracepoints; other file systems need kprobes). In the agent with sources.file.lifetimes",
     kFileLifetime},
    {EventKind::kCacheStat, "cachestat", "block",
     "The page cache each second (cachestat): hits, misses and dirtied pages in the second, the cache's and the "
     "buffers' size. Hits need kprobes (folio_mark_accessed); misses and dirties come from tracepoints. In the "
     "agent with sources.block.page_cache",
     kCacheStat, /*node_wide=*/true},
    {EventKind::kAnomaly, "anomaly", "agent",
     "A series the agent models (RED per service and endpoint, node CPU, run-queue and disk latency, "
     "retransmits, its own losses) left its usual range (started), or came back (ended): what, how far, since "
     "when, what else started with it. The rule `anomaly` raises an alert for each one that starts. In the agent "
     "with anomaly.enabled (on by default); GET /api/v1/anomalies",
     kAnomaly, /*node_wide=*/true},
}};

std::string_view kind_name(EventKind k) { return kKinds[static_cast<size_t>(k)].name; }

}  // namespace

std::span<const FieldDef> common_fields() { return kCommon; }
std::span<const KindDef> kinds() { return kKinds; }
const KindDef& kind_def(EventKind kind) { return kKinds[static_cast<size_t>(kind)]; }

const KindDef* find_kind(std::string_view name) {
  for (const auto& k : kKinds)
    if (k.name == name) return &k;
  return nullptr;
}

const FieldDef* find_field(std::string_view name) {
  for (const auto& f : kCommon)
    if (f.name == name) return &f;
  for (const auto& k : kKinds)
    for (const auto& f : k.fields)
      if (f.name == name) return &f;
  return nullptr;
}

bool kind_has_field(EventKind kind, const FieldDef* field) {
  for (const auto& f : kCommon)
    if (&f == field) return true;
  for (const auto& f : kind_def(kind).fields)
    if (&f == field || f.name == field->name) return true;
  return false;
}

}  // namespace sightline::core
