/* sched source ABI: per-process scheduler totals and the run-queue latency histogram. */
#ifndef SIGHTLINE_SCHED_H
#define SIGHTLINE_SCHED_H

#include "sightline/common.h"
#include "sightline/hist.h"

/* Processes tracked at once; user space deletes exited ones each interval, a full map is
 * counted (SL_STAT_MAP_FULL). */
#define SL_SCHED_MAX_PROCS 16384

/* cgroups with their own run-queue latency histogram; waits in others go to cgroup id 0, which
 * user space creates at start so that it always exists. */
#define SL_SCHED_MAX_CGROUPS 256

struct sl_sched_val {
	__u64 cpu_ns;      /* on-CPU time, as the kernel accounts it (sched_stat_runtime) */
	__u64 runq_ns;     /* runnable but waiting for a CPU (after wakeup or preemption) */
	__u64 runq_count;  /* waits measured */
	__u64 blocked_ns;  /* off-CPU, blocked (sleep, I/O, lock) until woken */
	__u64 voluntary;   /* context switches out while blocking */
	__u64 involuntary; /* context switches out while still runnable (preempted) */
};

#endif
