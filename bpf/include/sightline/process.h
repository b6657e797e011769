/* process source ABI: exec, fork, exit, signal and OOM-kill records. */
#ifndef SIGHTLINE_PROCESS_H
#define SIGHTLINE_PROCESS_H

#include "sightline/common.h"

/* argv capture: SL_ARGS_SIZE bytes in all. A successful exec copies them whole from the new
 * image; a failed one reads at most SL_ARGS_MAX_COUNT arguments of SL_ARG_MAX bytes from the
 * old one (execsnoop's shape). Anything beyond sets args_truncated. */
#define SL_ARGS_SIZE 2048
#define SL_ARG_MAX 256
#define SL_ARGS_MAX_COUNT 64

struct sl_exec_event {
	struct sl_event_hdr hdr;
	__s32 ret;           /* 0, or -errno of a failed execve */
	__u16 args_size;     /* bytes used in args: NUL-separated argv */
	__u16 args_count;    /* unused by the kernel side: user space counts */
	__u8 args_truncated;
	__u8 filename_truncated;
	__u8 pad[2];
	__u32 euid;          /* effective uid once the exec is done (a setuid program changes it) */
	char filename[SL_PATH_MAX];
	char args[SL_ARGS_SIZE];
};

struct sl_fork_event {
	struct sl_event_hdr hdr;
	__u32 child_pid;
	__u32 pad;
};

struct sl_exit_event {
	struct sl_event_hdr hdr;
	__s32 exit_code;     /* exit status (0-255) when not killed by a signal */
	__u32 signal;        /* terminating signal, 0 if exited normally */
	__u64 lifetime_ns;   /* since the process started */
	__u32 core_dumped;
	__u32 pad;
};

/* signal: signal/signal_generate. The header is the sender (the current task: a kill() caller,
 * or the task whose fault or exit made the kernel send it). */
struct sl_signal_event {
	struct sl_event_hdr hdr;
	__s32 sig;
	__s32 code;       /* si_code: SI_USER 0 (kill), SI_KERNEL 0x80, SI_TKILL -6, SI_QUEUE -1 ... */
	__u32 target_pid; /* the receiving task (its thread id) */
	__s32 result;     /* 0 delivered, 1 ignored, 2 already pending, 3 queue overflow, 4 info lost */
	__u32 group;      /* sent to the whole thread group */
	__u32 pad;
	char target_comm[SL_COMM_LEN];
};

/* oom_kill: oom/mark_victim, the OOM killer chose a victim. The header is the task that ran it
 * (the allocation that failed). Sizes in KiB; 0 where the kernel's tracepoint has only the pid
 * (before 6.8: the name then comes from the process table). */
struct sl_oom_event {
	struct sl_event_hdr hdr;
	__u32 victim_pid;
	__u32 victim_uid;
	__u64 total_vm_kb;
	__u64 anon_rss_kb;
	__u64 file_rss_kb;
	__u64 shmem_rss_kb;
	__s16 score_adj;
	__u16 pad[3];
	char victim_comm[SL_COMM_LEN];
};

#endif
