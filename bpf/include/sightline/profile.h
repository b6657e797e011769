/* profile source ABI: stack samples (perf_event cpu-clock) and off-CPU time (sched_switch),
 * both aggregated in the kernel by (process, kernel stack, user stack). */
#ifndef SIGHTLINE_PROFILE_H
#define SIGHTLINE_PROFILE_H

#include "sightline/common.h"

#define SL_PROF_STACK_DEPTH 127     /* frames per stack (the kernel's PERF_MAX_STACK_DEPTH) */
#define SL_PROF_MAX_STACKS 16384    /* distinct stacks between two reads */
#define SL_PROF_MAX_KEYS 16384      /* distinct (process, stacks) between two reads */

struct sl_prof_key {
	__u32 tgid;
	__s32 kstack; /* stack id, or -errno (-EFAULT: no user stack, e.g. a kernel thread) */
	__s32 ustack;
	__u32 offcpu; /* 0: samples (value: count); 1: off-CPU (value: ns blocked) */
	char comm[SL_COMM_LEN];
};

#endif
