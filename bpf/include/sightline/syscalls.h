/* syscalls source ABI: in-kernel aggregation maps, read by user space on its interval. */
#ifndef SIGHTLINE_SYSCALLS_H
#define SIGHTLINE_SYSCALLS_H

#include "sightline/common.h"
#include "sightline/hist.h"

/* Bounds: (process, syscall) pairs and (process, syscall, errno) triples tracked at once.
 * User space deletes the keys of exited processes each interval; a full map is counted
 * (SL_STAT_MAP_FULL) and those syscalls go uncounted until room returns. */
#define SL_SYS_MAX_KEYS 16384
#define SL_SYS_MAX_ERR_KEYS 8192
#define SL_SYS_MAX_NR 512 /* latency histograms: one per syscall number below this (x86_64 has ~460) */

struct sl_sys_key {
	__u32 tgid;
	__u32 nr;
};

struct sl_sys_val {
	__u64 count;
	__u64 errors;
	__u64 time_ns; /* total time inside the syscall */
};

struct sl_sys_err_key {
	__u32 tgid;
	__u32 nr;
	__u32 err; /* positive errno */
	__u32 pad;
};

#endif
