/* The per-thread time the sched source accounts (sightline/sched.h: on-CPU, run queue, blocked
 * by why), in its task storage. sched.bpf.c writes it; l7.bpf.c reads it at request boundaries
 * through the same map (user space hands sched's map to l7 before l7 loads). Include after
 * common.bpf.h. */
#ifndef SL_THREAD_TIME_BPF_H
#define SL_THREAD_TIME_BPF_H

#include "sightline/sched.h"

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sl_sched_thread);
} sched_ts SEC(".maps");

/* A thread's time until `now`, the slice it is running now included, into `out` (a map value:
 * no stack); false when the sched source has not seen it. The thread is marked serving a
 * request that started at `now` (cleared by l7's timeline_end), sent in detail with `weight`
 * (0: held). */
static __always_inline bool sl_thread_time_now(struct task_struct *task, __u32 tid, __u64 now, __u32 weight,
					       struct sl_thread_time *out)
{
	struct sl_sched_thread *s = sl_thread_state(&sched_ts, task, tid, NULL, false);
	if (!s)
		return false;
	__builtin_memcpy(out, &s->t, sizeof(*out));
	s->serving = now;
	s->serving_weight = weight;
	if (s->on && now > s->on)
		out->cpu_ns += now - s->on;
	return true;
}

/* Requests served longer than this are not followed by their stacks: a mark l7 could not clear
 * (another thread answered, the connection closed first) goes stale. */
#define SL_SERVING_MAX_NS (10ULL * 1000000000ULL)

#endif
