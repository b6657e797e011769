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

/* Per-CPU bytes submitted since that CPU last woke the reader (bpf/common.bpf.h, .bss). */
#define SL_MAX_CPUS 1024
struct sl_pending {
	__u64 bytes;
	__u64 pad[7]; /* one cache line per CPU */
};

#endif
