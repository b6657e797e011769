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

/* Per-thread time, cumulative since the thread was first seen (the sched source's task storage):
 * what a request's serving thread did between two instants is the difference of two readings
 * (issue 20.1's timelines). Off-CPU time is split by why the thread blocked: the state it left
 * the CPU in (uninterruptible: I/O) and, interruptible, the syscall it slept in (x86_64). */
enum sl_wait_kind {
	SL_WAIT_IO,    /* uninterruptible sleep: block I/O, page faults, some locks */
	SL_WAIT_LOCK,  /* futex */
	SL_WAIT_NET,   /* poll, select, epoll, recv*, accept, connect */
	SL_WAIT_SLEEP, /* nanosleep, clock_nanosleep */
	SL_WAIT_OTHER, /* any other blocking (pipes, signals, a syscall not classified) */
	SL_WAIT_N,
};

struct sl_thread_time {
	/* On-CPU since the thread started: the kernel's own sum (se.sum_exec_runtime, what the
	 * thread's CPU clock reads) taken at each switch. Not summed switch to switch: a switch the
	 * kernel does not trace (this host's sandbox supervisor threads: neither ftrace nor BPF sees
	 * their switches) lost the slice after it (issue 20's test read 30 ms of a 146 ms burn). A
	 * reader adds the slice running now, from `on`. */
	__u64 cpu_ns;
	__u64 runq_ns;             /* runnable, waiting for a CPU */
	__u64 wait_ns[SL_WAIT_N];  /* blocked, by why */
};

/* A thread's state in the sched source's task storage (user space reads it by pidfd). */
struct sl_sched_thread {
	__u64 ready;   /* became runnable (woken, or preempted) */
	__u64 blocked; /* started blocking */
	__u64 on;      /* switched in (0: not on a CPU, or not seen switching in) */
	__u32 why;     /* sl_wait_kind of the current block */
	/* The served request's (below) detail weight: N when l7 sends it in detail (1 in N), 0 when
	 * it is held; the client requests the thread makes while serving it follow (parent-based
	 * sampling: a sampled request's calls are all there, linked). */
	__u32 serving_weight;
	/* The start (sl_now) of the request this thread serves, 0 for none: l7 marks it where a
	 * server request starts and clears it where its answer starts; the profile source counts
	 * the thread's stacks meanwhile by it (issue 20's per-request stacks). */
	__u64 serving;
	struct sl_thread_time t; /* this thread's time, cumulative */
};

#endif
