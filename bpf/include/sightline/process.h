/* process source ABI: exec, fork, exit records. */
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

#endif
