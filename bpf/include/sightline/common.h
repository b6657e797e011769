/* Kernel <-> user ABI shared by every source: the event header, the loss counters, the bounds.
 * Plain C, fixed-width types, explicit padding; the C++ side pins the sizes with static_assert. */
#ifndef SIGHTLINE_COMMON_H
#define SIGHTLINE_COMMON_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define SL_COMM_LEN 16
/* Paths longer than this are cut and flagged: PATH_MAX (4096) per event would make every open
 * event 16x larger for the rare long path. */
#define SL_PATH_MAX 256

/* Every streamed record starts with this header. */
enum sl_event_kind {
	SL_EV_EXEC = 1,
	SL_EV_FORK = 2,
	SL_EV_EXIT = 3,
	SL_EV_OPEN = 4,
	SL_EV_TCP = 5,
	SL_EV_PROFILE = 6, /* sl_prof_sample: not an sl_event_hdr record */
	SL_EV_UPROBE = 7,
	SL_EV_TRACEPOINT = 8,
	SL_EV_SYSCALL = 9,
	SL_EV_L7 = 10,
	SL_EV_SIGNAL = 11,
	SL_EV_OOM_KILL = 12,
	SL_EV_CONNECT = 13,    /* sl_tcp_event: a connect's handshake ended */
	SL_EV_ACCEPT = 14,     /* sl_tcp_event: accept() returned a connection */
	SL_EV_RETRANSMIT = 15, /* sl_tcp_event: a segment was retransmitted */
	SL_EV_DROP = 16,       /* sl_drop_event: the kernel dropped a packet */
	SL_EV_STAT = 17,       /* sl_open_event: a stat-family syscall returned */
	SL_EV_BLOCK_IO = 18,   /* sl_block_io_event: a block I/O completed */
	SL_EV_MOUNT = 19,      /* sl_mount_event: mount or umount returned */
	SL_EV_ACTION = 20,     /* sl_enf_event: an enforcing rule acted (or would have) */
	SL_EV_SLOW_IO = 21,    /* sl_slow_io_event: a read, write or sync of a file was slow */
	SL_EV_FILE_LIFE = 22,  /* sl_file_life_event: a file created since the start was deleted */
};

struct sl_event_hdr {
	__u64 ts_ns;     /* CLOCK_BOOTTIME (bpf_ktime_get_boot_ns) */
	__u64 cgroup_id; /* cgroup v2 id of the task */
	__u32 kind;      /* enum sl_event_kind */
	__u32 pid;       /* tgid */
	__u32 tid;
	__u32 ppid;      /* real_parent's tgid */
	__u32 uid;
	__u32 gid;
	char comm[SL_COMM_LEN];
};

/* Per-CPU loss and health counters of one BPF object (map "sl_stats", one slot each). */
enum sl_stat {
	SL_STAT_RB_LOST = 0,   /* ring buffer full: reservation failed, event lost */
	SL_STAT_PAIR_LOST = 1, /* enter/exit pairing map full: the syscall was not traced */
	SL_STAT_PAIR_MISS = 2, /* exit without its enter (attached mid-syscall, exec from a thread) */
	SL_STAT_MAP_FULL = 3,  /* an aggregation map was full: those updates were not counted */
	SL_STAT_MAX = 4,
};

/* A failed helper call, counted where it happened (map "sl_errors" of each object, per CPU;
 * Tetragon's errmetrics): which file and line, which helper, which errno. User space names
 * them (sightline_bpf_errors_total{source,where,helper,errno}, `doctor --verbose`). */
enum sl_err_file {
	SL_FILE_MAIN = 0,   /* the source's own <source>.bpf.c */
	SL_FILE_COMMON = 1, /* common.bpf.h */
	SL_FILE_SOCK = 2,   /* sock.bpf.h */
	SL_FILE_SOCK_TRAFFIC = 3, /* sock_traffic.bpf.h */
};
enum sl_helper {
	SL_H_PROBE_READ_USER = 1,
	SL_H_PROBE_READ_USER_STR = 2,
	SL_H_PROBE_READ_KERNEL = 3,
	SL_H_PROBE_READ_KERNEL_STR = 4,
	SL_H_MAP_UPDATE = 5,      /* an insert into a full map: E2BIG */
	SL_H_RINGBUF_RESERVE = 6, /* the ring buffer was full: reported as ENOSPC */
	SL_H_RINGBUF_OUTPUT = 7,
	SL_H_GET_STACKID = 8,
	SL_H_PERF_EVENT_OUTPUT = 9, /* the perf buffer (no ring buffer) was full: ENOSPC */
};
/* The largest record a source reserves (sl_reserve): its per-CPU scratch value when there is no
 * ring buffer and records go out with bpf_perf_event_output (the profile sample, with 8 KiB of
 * user stack, is the largest: src/sources/decode.cpp checks each). */
#define SL_MAX_RESERVE 8448
struct sl_err_key {
	__u16 file;  /* enum sl_err_file */
	__u16 line;
	__u16 helper; /* enum sl_helper */
	__s16 err;   /* the helper's negative errno */
};
/* Distinct (file, line, helper, errno) sites an object can count: its call sites times the few
 * errnos each can return stay far below this; a site beyond it is not counted. */
#define SL_MAX_ERR_SITES 256

/* Threads whose state (a start time between two hooks) one map keeps where the kernel has no
 * task local storage (before 5.11, or without task BTF before 5.15): an LRU hash keyed by thread
 * id; past the bound the least recently used thread's state goes (its next interval is not
 * measured). About 64 bytes each, preallocated. */
#define SL_MAX_THREADS 32768

/* Per-CPU bytes submitted since that CPU last woke the reader (bpf/common.bpf.h, .bss). */
#define SL_MAX_CPUS 1024
struct sl_pending {
	__u64 bytes;
	__u64 pad[7]; /* one cache line per CPU */
};

#endif
