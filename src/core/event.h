// The decoded, enriched event every source produces and every consumer reads. Strings are views
// into the ring-buffer record or the process table: valid only during the callback that
// receives the event (consumers copy what they keep). Fields are declared in schema.h.
#pragma once

#include <cstdint>
#include <string_view>

namespace sightline::core {

struct Anomaly;

enum class EventKind : uint8_t {
  kExec, kFork, kExit, kOpen, kTcp, kUprobe, kSyscall, kRequest, kSignal, kOomKill, kConnect, kAccept, kRetransmit,
  kDrop, kStat, kBlockIo, kMount, kFlow, kSlowIo, kFileLifetime, kCacheStat, kAnomaly, kCount
};

struct Event {
  EventKind kind = EventKind::kExec;
  uint64_t ts_boot_ns = 0;  // CLOCK_BOOTTIME, as the kernel stamped it
  uint64_t ts_wall_ns = 0;  // the same instant on the realtime clock (ns since the epoch)

  // Process identity (header of every record) and enrichment from the process table.
  uint32_t pid = 0, tid = 0, ppid = 0, uid = 0, gid = 0;
  uint64_t cgroup_id = 0;
  std::string_view comm;          // task name at the time of the event (request: the process's)
  std::string_view thread_name;   // request: the thread's own name (comm is its process's)
  std::string_view pname;         // parent's name (process table), may be empty
  std::string_view exe;           // executable path (process table), may be empty
  std::string_view container_id;  // 12-hex short id, empty on the host
  std::string_view container_runtime, pod_uid, pod_qos;  // from the cgroup path (ContainerInfo)

  // Kind-specific payload.
  std::string_view path;  // exec: filename passed to execve; open: path argument
  std::string_view args;  // exec: argv, NUL-separated, each argument NUL-terminated; other
                          // kinds: the process's argv from the process table (proc.cmdline)
  uint32_t args_count = 0;
  bool truncated = false;  // exec: argv or filename cut; open: path cut
  uint32_t euid = 0;       // exec: effective uid after it (setuid programs change it)
  int64_t ret = 0;         // exec/open: result (fd, 0, or -errno)
  uint64_t flags = 0;      // open: O_* flags
  uint32_t mode = 0;       // open: creation mode
  int32_t dirfd = 0;       // open: directory fd for relative paths (AT_FDCWD = -100)
  uint16_t syscall = 0;    // open: which syscall (sl_open_syscall)
  uint32_t child_pid = 0;  // fork
  int32_t exit_code = 0;   // exit
  uint32_t signal = 0;     // exit: terminating signal; signal: the signal sent
  bool core_dumped = false;
  uint64_t duration_ns = 0;  // exit: process lifetime; tcp: connection lifetime

  // signal (sent by this process) and oom_kill (the victim): the other task
  uint32_t target_pid = 0;
  std::string_view target_comm;   // from the record; else the process table
  int32_t sig_code = 0;           // si_code
  int32_t sig_result = 0;         // 0 delivered, 1 ignored, 2 pending, 3 overflow, 4 info lost
  bool sig_group = false;
  uint32_t oom_uid = 0;
  int32_t oom_score_adj = 0;
  uint64_t oom_total_vm = 0, oom_anon_rss = 0, oom_file_rss = 0, oom_shmem_rss = 0;  // bytes

  // tcp, connect, accept, retransmit (duration_ns: accept's wait in the listen queue)
  std::string_view laddr, raddr;  // text (views into addr_text)
  std::string_view rname;         // raddr's DNS name, learnt from answers the node received
  uint16_t lport = 0, rport = 0;
  uint8_t role = 0;               // sl_tcp_role
  bool reset = false;
  uint64_t connect_ns = 0, bytes_sent = 0, bytes_received = 0;
  uint32_t retransmits = 0, srtt_us = 0;
  uint8_t tcp_state = 0;          // retransmit: the socket's state (include/net/tcp_states.h)
  char addr_text[2][48] = {};     // storage for laddr/raddr

  // drop (packets source): laddr/lport the packet's source, raddr/rport its destination (ICMP:
  // type, code), l4proto its protocol
  std::string_view drop_reason;    // the kernel's: no_socket, netfilter_drop, tcp_csum ...
  std::string_view drop_location;  // where it was freed: tcp_v4_rcv+0x3c2
  std::string_view iface;          // the device it was on
  uint32_t pkt_len = 0;
  uint32_t ip_len = 0;             // the IP header's length (IPv6: + 40), 0 if not IP

  // flow (packets source): laddr/lport the initiator, raddr/rport the responder, l4proto, iface;
  // bytes_sent/bytes_received: IP bytes each way, duration_ns: first to last packet; a dropped
  // packet's flow: drop_reason, drop_location, pkt_len. pid/comm: src_pid's, else dst_pid's.
  std::string_view flow_state;     // new, closed, timeout, evicted, dropped
  std::string_view flow_dir;       // egress (initiated from this side of the interface), ingress, local
  uint64_t packets_sent = 0, packets_received = 0;
  bool flow_mid = false;           // TCP: seen from a packet after its SYN
  uint32_t src_pid = 0, dst_pid = 0;  // the local processes at either end, 0 if none here
  std::string_view src_comm, dst_comm;

  // mount (path: source, path2: target, flags, ret, sys_name: mount or umount)
  std::string_view fstype, mount_data;
  uint64_t mnt_ns = 0;

  // slow_io (file source; duration_ns: latency, ret: bytes or -errno, path: the file's name,
  // fstype, fd_num, sys_name: the syscall, block_op: read, write or sync, io_offset)
  int64_t io_offset = -1;
  // file_lifetime (file source; duration_ns: its age, path: as given to unlink, io_bytes: its
  // size, sector: its inode, device: the disk)

  // block_io (duration_ns: issue to completion; ret: 0 or the negated blk_status_t)
  std::string_view device, block_op;  // vda; read, write, flush ...
  uint64_t sector = 0, io_bytes = 0, queue_ns = 0;
  // cachestat (block source, once a second; duration_ns: the interval): pages that were hits
  // (-1: this kernel cannot count accesses, no kprobes), read misses and dirtied; the page
  // cache's size and the buffers' from /proc/meminfo, bytes.
  int64_t pc_hits = 0;
  uint64_t pc_misses = 0, pc_dirtied = 0, mem_cached = 0, mem_buffers = 0;

  // anomaly (the agent's models, core/anomaly.h): one that started or ended; duration_ns: how
  // long it lasted (ended). Its fields read the model's record, owned by the agent meanwhile.
  const Anomaly* anomaly = nullptr;

  // uprobe (duration_ns: latency; ret: return value)
  std::string_view probe;         // BINARY:FUNCTION
  uint64_t uargs[6] = {};
  std::string_view str_arg;       // the argument read as a string, if asked

  // syscall (security source; path: first string argument, ret: result)
  std::string_view sys_name;
  uint64_t sys_args[6] = {};
  std::string_view path2;         // second string argument (rename target, mount point)
  int32_t fd_num = -1;            // the fd it made or used (connect, accept, dup2), -1 if none;
  std::string_view fd_type;       // ... what it is (ipv4, ipv6, unix, file, pipe ...) and for
  std::string_view l4proto;       // an IP socket its protocol (tcp, udp); laddr/raddr, l/rport
  char flags_text[96] = {};       // storage for syscall.ns_flags

  // request (l7 source): one request and its response. laddr/raddr/lport/rport: the
  // connection; role: which side this process is; duration_ns: the latency.
  std::string_view protocol;      // http, http2, grpc, pgsql, mysql, redis, dns
  std::string_view trace_id, parent_span_id;  // request: its W3C traceparent's (hex), or the request it was made for
  std::string_view span_id;       // request: the span id its OTLP span takes (hex; empty: one is drawn)
  std::string_view method;        // GET, SELECT, SET, A ...
  std::string_view target;        // normalized: /users/{id}, SELECT * FROM t WHERE id = ?
  std::string_view request;       // as sent (bounded)
  std::string_view error_text;    // the server's error message, if any
  int32_t status = 0;             // HTTP status, DNS rcode
  bool error = false, no_response = false;
  bool tls = false;               // the plaintext of a TLS connection (OpenSSL)
  int64_t rows = -1;
  uint64_t request_bytes = 0, response_bytes = 0;
  uint32_t weight = 1;            // exchanges it stands for (1 in N sampled: N)
  // A server's request, its timeline (issue 20.1): what the serving thread did from the
  // request's start to its response's, by the sched source's per-thread accounting.
  uint8_t timeline = 0;           // 0: none; 1: measured on the serving thread; 2: another thread answered
  uint64_t tl_cpu_ns = 0, tl_runq_ns = 0;
  uint64_t tl_wait_ns[5] = {};    // blocked: I/O, lock, network, sleep, other (sl_wait_kind's order)
  int32_t req_retransmits = -1;   // TCP segments its socket resent from its start to its response's, -1: not measured
  uint32_t downstream = 0;        // requests the serving thread made meanwhile (seen in detail)
  uint64_t downstream_ns = 0;     // ... their latencies summed

  // An enforcing rule acted (rules/enforce.h): the event is its hook's (open or exec, path: the
  // file's or the new executable's full path, exe: the executable's) and goes to the rule
  // engine alone (Runner::add_action_sink), which raises the rule's alert with the outcome.
  uint8_t action = 0;             // 0: none; else rules::Action (1 kill, 2 deny)
  uint8_t action_outcome = 0;     // sl_enf_outcome: 1 killed, 2 would kill (dry run), 3 failed,
                                  // 4 denied, 5 would deny
  uint16_t action_rule = 0;       // the rule's bit in the plan of that generation
  uint32_t action_generation = 0;
  int32_t action_err = 0;         // with outcome 3: bpf_send_signal's error
};

}  // namespace sightline::core
