/* sched source: per-process CPU time, run-queue wait, blocked time and context switches, and
 * the node's run-queue latency histogram (wakeup or preemption -> running).
 *
 * tp_btf/sched_wakeup(_new) stamps the wakee; tp_btf/sched_switch counts the switch (runnable
 * -> involuntary, else voluntary) and starts the next task's run-queue wait measure;
 * tp_btf/sched_stat_runtime adds the CPU time the kernel itself accounts, at every tick and
 * switch, so a task that runs for seconds without switching is counted as it runs. Per-task
 * timestamps live in task local storage (an LRU hash by thread id before 5.15); totals in a per-CPU hash
 * keyed by tgid (bounded, see sightline/sched.h); run-queue latency histograms in a per-CPU
 * hash keyed by the cgroup v2 id of the task that waited (the node's is their sum).
 */
#define SL_NO_EVENTS
#include "common.bpf.h"
#include "sightline/sched.h"
#include "thread_time.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SL_SCHED_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct sl_sched_val);
} sched_procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SL_SCHED_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, struct sl_hist);
} runq_hist SEC(".maps");

static const struct sl_hist zero_hist = {};
static const struct sl_sched_thread zero_ts = {};

static const struct sl_sched_val zero_val = {};

/* Why a thread that leaves the CPU blocked: uninterruptible is I/O; interruptible, the syscall
 * it sleeps in (its saved registers' orig_ax: tracing programs have bpf_task_pt_regs from 5.15;
 * without it, or elsewhere than x86_64, other). */
static __always_inline __u32 wait_kind(struct task_struct *prev, unsigned int state)
{
	if (state & 2 /* TASK_UNINTERRUPTIBLE */)
		return SL_WAIT_IO;
#if defined(__TARGET_ARCH_x86)
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs)) {
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(prev);
		long nr = BPF_CORE_READ(regs, orig_ax);
		switch (nr) {
		case 202: /* futex */
		case 449: /* futex_waitv */
			return SL_WAIT_LOCK;
		case 7:   /* poll */
		case 23:  /* select */
		case 232: /* epoll_wait */
		case 281: /* epoll_pwait */
		case 441: /* epoll_pwait2 */
		case 270: /* pselect6 */
		case 271: /* ppoll */
		case 45:  /* recvfrom */
		case 47:  /* recvmsg */
		case 299: /* recvmmsg */
		case 43:  /* accept */
		case 288: /* accept4 */
		case 42:  /* connect */
			return SL_WAIT_NET;
		case 35:  /* nanosleep */
		case 230: /* clock_nanosleep */
			return SL_WAIT_SLEEP;
		}
	}
#endif
	return SL_WAIT_OTHER;
}

static __always_inline struct sl_sched_val *proc_val(__u32 tgid)
{
	return sl_lookup_or_init(&sched_procs, &tgid, &zero_val);
}

/* fresh: a new task (wakeup_new). Its state starts empty: where the state is a hash entry by
 * thread id, a dead thread's stamps under a reused id must not count for it. */
static __always_inline void on_wakeup(struct task_struct *p, bool fresh)
{
	if (p->pid == 0)
		return;
	struct sl_sched_thread *s = sl_thread_state(&sched_ts, p, p->pid, &zero_ts, true);
	if (!s)
		return;
	if (fresh)
		s->ready = s->blocked = 0;
	if (s->ready)
		return; /* already runnable: keep the earlier stamp */
	__u64 now = bpf_ktime_get_ns();
	s->ready = now;
	if (s->blocked) {
		struct sl_sched_val *v = proc_val(p->tgid);
		if (v)
			v->blocked_ns += now - s->blocked;
		__u32 why = s->why;
		if (why < SL_WAIT_N)
			s->t.wait_ns[why] += now - s->blocked;
		s->blocked = 0;
	}
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sl_sched_wakeup, struct task_struct *p)
{
	on_wakeup(p, false);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sl_sched_wakeup_new, struct task_struct *p)
{
	on_wakeup(p, true);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sl_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 now = bpf_ktime_get_ns();
	struct sl_sched_thread *s;
	struct sl_sched_val *v;

	if (prev->pid != 0) { /* not the idle task */
		s = sl_thread_state(&sched_ts, prev, prev->pid, &zero_ts, true);
		v = proc_val(prev->tgid);
		if (s) {
			s->t.cpu_ns = prev->se.sum_exec_runtime;
			s->on = 0;
		}
		if (s && v) {
			unsigned int state = sl_switch_state(prev, ctx);
			/* Each stamp starts afresh here: a wakeup of a thread still on its CPU (a waker
			 * that raced its block, a schedule() that picked it again) stamps `ready` with
			 * no switch to clear it, and on_wakeup keeps an earlier stamp, so the thread's
			 * next sleep became run-queue wait (a CI run: 150 ms of nanosleep counted as
			 * run queue). */
			if (preempt || state == 0) { /* still runnable: waits again */
				v->involuntary++;
				s->ready = now;
				s->blocked = 0;
			} else {
				v->voluntary++;
				s->blocked = now;
				s->ready = 0;
				s->why = wait_kind(prev, state);
			}
		}
	}
	if (next->pid != 0) {
		s = sl_thread_state(&sched_ts, next, next->pid, &zero_ts, true);
		if (!s)
			return 0;
		s->on = now;
		s->t.cpu_ns = next->se.sum_exec_runtime;
		if (s->ready) {
			__u64 wait = now - s->ready;
			s->ready = 0;
			s->t.runq_ns += wait;
			v = proc_val(next->tgid);
			if (v) {
				v->runq_ns += wait;
				v->runq_count++;
			}
			__u64 cg = next->cgroups->dfl_cgrp->kn->id;
			struct sl_hist *h = bpf_map_lookup_elem(&runq_hist, &cg);
			if (!h && bpf_map_update_elem(&runq_hist, &cg, &zero_hist, BPF_NOEXIST) == 0)
				h = bpf_map_lookup_elem(&runq_hist, &cg);
			if (!h) { /* full: the catch-all slot */
				cg = 0;
				h = bpf_map_lookup_elem(&runq_hist, &cg);
			}
			if (h)
				sl_hist_add(h, wait);
		}
	}
	return 0;
}

SEC("tp_btf/sched_stat_runtime")
int BPF_PROG(sl_sched_runtime, struct task_struct *t, __u64 runtime)
{
	if (t->pid == 0)
		return 0;
	struct sl_sched_val *v = proc_val(t->tgid);
	if (v)
		v->cpu_ns += runtime;
	return 0;
}
