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

/* Per-request stacks: the samples and off-CPU time of a thread while it serves a request (the
 * sched source's `serving` mark, set by l7), by (thread, request start, stacks). */
#define SL_PROF_MAX_REQ_KEYS 2048

struct sl_prof_req_key {
	__u32 tgid;
	__u32 tid;
	__u64 start;  /* the request's start (sl_now): the request event's ts_boot_ns */
	__s32 kstack;
	__s32 ustack;
	__u32 offcpu; /* 0: samples; 1: off-CPU ns */
	__u32 pad;
	char comm[SL_COMM_LEN]; /* the thread's */
};

/* DWARF mode: each on-CPU sample carries the top of the user stack and the user registers;
 * user space unwinds it with the CFI of the mapped files. */
#define SL_PROF_USTACK_CHUNK 512
#define SL_PROF_USTACK_CHUNKS 16 /* 8 KiB, what perf --call-graph dwarf copies by default */

struct sl_prof_sample {
	__u32 kind; /* SL_EV_PROFILE */
	__u32 tgid;
	__u32 tid;
	__s32 kstack;
	char comm[SL_COMM_LEN];
	__u64 ip, sp, bp;    /* user registers at the sample */
	__u64 stack_base;    /* address of stack[0]: sp rounded down to a chunk */
	__u32 stack_len;     /* bytes copied: up to the end of the stack mapping */
	__u32 pad;
	__u8 stack[SL_PROF_USTACK_CHUNK * SL_PROF_USTACK_CHUNKS];
};

#endif
