/* profile source: on-CPU stack samples and off-CPU time by stack.
 *
 * sl_profile runs on a perf_event cpu-clock timer on every CPU (the agent opens one per CPU at
 * the chosen frequency) and counts (process, kernel stack id, user stack id). Stacks are
 * walked by the kernel (frame pointers for user code); the stack map dedups them.
 *
 * sl_offcpu (tp_btf/sched_switch) stamps the task leaving the CPU with the time and its stacks
 * (task local storage), and when the task runs again adds the time it was off the CPU under
 * those stacks: time-weighted, not sampled. Preempted tasks (still runnable) are not blocked
 * and are skipped.
 *
 * With `request_stacks` (the sched source runs: its task storage is handed over), the samples and
 * off-CPU time of a thread serving a request (sl_sched_thread.serving, which l7 marks) are also
 * counted by (thread, request start, stacks): a slow request's own stacks.
 *
 * With `dwarf`, an on-CPU sample of a user task instead goes to the ring buffer with its user
 * registers and the top 8 KiB of its user stack, for unwinding in user space (code without
 * frame pointers). The events ring is sized by user space (small when not in this mode).
 */
#include "common.bpf.h"
#include "sightline/profile.h"
#include "thread_time.bpf.h"

SL_BTF_TYPE(sl_prof_sample);

const volatile bool include_idle = false;  /* samples of the idle task (pid 0) */
const volatile __u64 offcpu_min_ns = 1000; /* shorter blocks are not recorded */
const volatile bool dwarf = false;          /* on-CPU user stacks: copied, unwound in user space */
const volatile bool request_stacks = false; /* sched_ts is the sched source's: per-request stacks */

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, SL_PROF_MAX_STACKS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, SL_PROF_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SL_PROF_MAX_KEYS);
	__type(key, struct sl_prof_key);
	__type(value, __u64);
} prof_counts SEC(".maps");

struct offcpu_start {
	__u64 ts;
	__s32 kstack;
	__s32 ustack;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct offcpu_start);
} offcpu_start SEC(".maps");
static const struct offcpu_start zero_start = {};

/* Adds v to the counter of key k in hash map `map` (prof_counts, req_counts). */
static __always_inline void add(void *map, const void *k, __u64 v)
{
	__u64 *n = bpf_map_lookup_elem(map, k);
	if (n) {
		__sync_fetch_and_add(n, v);
		return;
	}
	if (bpf_map_update_elem(map, k, &v, BPF_NOEXIST)) {
		n = bpf_map_lookup_elem(map, k); /* another CPU inserted it */
		if (n)
			__sync_fetch_and_add(n, v);
		else
			sl_count(SL_STAT_MAP_FULL);
	}
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SL_PROF_MAX_REQ_KEYS);
	__type(key, struct sl_prof_req_key);
	__type(value, __u64);
} req_counts SEC(".maps");

/* The request `task` serves now (its start), 0 for none or a stale mark. */
static __always_inline __u64 serving(struct task_struct *task, __u32 tid, __u64 now)
{
	if (!request_stacks || (!task && has_task_storage))
		return 0;
	struct sl_sched_thread *s = sl_thread_state(&sched_ts, task, tid, NULL, false);
	if (!s)
		return 0;
	__u64 start = s->serving;
	return start && now >= start && now - start < SL_SERVING_MAX_NS ? start : 0;
}

static __always_inline void stack_ids(void *ctx, struct sl_prof_key *k)
{
	k->kstack = bpf_get_stackid(ctx, &stacks, 0);
	k->ustack = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	/* -EEXIST: a hash collision in the stack map (it is full or unlucky): counted. */
	if (k->kstack == -17 || k->ustack == -17)
		sl_count(SL_STAT_PAIR_LOST);
}

/* The sample with a copy of the user stack; false when there is no user context (a kernel
 * thread) and the stack-id path should count it. */
static __always_inline bool sample_with_stack(struct bpf_perf_event_data *ctx, struct sl_task *t)
{
	struct task_struct *task = t->btf;
	if (!task || !task->mm || (task->flags & 0x00200000 /* PF_KTHREAD */))
		return false;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		return false;
	struct sl_prof_sample *s = sl_reserve(sizeof(*s));
	if (!s)
		return true; /* counted lost */
	s->kind = SL_EV_PROFILE;
	s->tgid = t->pid_tgid >> 32;
	s->tid = (__u32)t->pid_tgid;
	sl_task_comm(t);
	__builtin_memcpy(s->comm, t->comm, sizeof(s->comm));
	s->kstack = bpf_get_stackid(ctx, &stacks, 0);
	s->ip = regs->ip;
	s->sp = regs->sp;
	s->bp = regs->bp;
	s->pad = 0;
	/* Chunks aligned to their size: the end of the stack mapping (page-aligned) ends a chunk,
	 * so the outermost frames are copied too. */
	__u64 base = s->sp & ~(__u64)(SL_PROF_USTACK_CHUNK - 1);
	s->stack_base = base;
	__u32 len = 0;
	for (int i = 0; i < SL_PROF_USTACK_CHUNKS; i++) {
		if (sl_read_user(s->stack + i * SL_PROF_USTACK_CHUNK, SL_PROF_USTACK_CHUNK,
					(void *)(base + i * SL_PROF_USTACK_CHUNK)))
			break;
		len += SL_PROF_USTACK_CHUNK;
	}
	s->stack_len = len;
	sl_submit(ctx, s, sizeof(*s));
	return true;
}

SEC("perf_event")
int sl_profile(struct bpf_perf_event_data *ctx)
{
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	if (!t.pid_tgid && !include_idle)
		return 0;
	if (dwarf && sample_with_stack(ctx, &t))
		return 0;
	struct sl_prof_key k = {.tgid = t.pid_tgid >> 32};
	sl_task_comm(&t);
	__builtin_memcpy(k.comm, t.comm, sizeof(k.comm));
	stack_ids(ctx, &k);
	add(&prof_counts, &k, 1);
	__u32 tid = (__u32)t.pid_tgid;
	__u64 start = serving(t.btf, tid, sl_now());
	if (start) {
		struct sl_prof_req_key r = {.tgid = k.tgid, .tid = tid, .start = start, .kstack = k.kstack, .ustack = k.ustack};
		__builtin_memcpy(r.comm, k.comm, sizeof(r.comm));
		add(&req_counts, &r, 1);
	}
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sl_offcpu, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 now = sl_now(); /* l7's clock: a request's start is compared with it */
	struct sl_task t;
	/* prev is the current task here: the filters and the stack walk see it. */
	/* Not a task on its way out (PF_EXITING): its last switch starts no wait, and a hash entry
	 * it left would be read by the next thread given its id. */
	if (prev->pid && !preempt && !(prev->flags & 0x4) && sl_switch_state(prev, ctx) != 0 && sl_wanted(&t)) {
		struct offcpu_start *s = sl_thread_state(&offcpu_start, prev, prev->pid, &zero_start, true);
		if (s) {
			struct sl_prof_key k = {};
			stack_ids(ctx, &k);
			s->ts = now;
			s->kstack = k.kstack;
			s->ustack = k.ustack;
		}
	}
	if (!next->pid)
		return 0;
	struct offcpu_start *s = sl_thread_state(&offcpu_start, next, next->pid, NULL, false);
	if (!s || !s->ts)
		return 0;
	__u64 since = s->ts;
	__u64 delta = now - since;
	s->ts = 0;
	if (delta < offcpu_min_ns)
		return 0;
	struct sl_prof_key k = {.tgid = next->tgid, .kstack = s->kstack, .ustack = s->ustack, .offcpu = 1};
	__builtin_memcpy(k.comm, next->comm, sizeof(k.comm));
	add(&prof_counts, &k, delta);
	/* Blocked while serving a request that started before the block did. */
	__u64 start = serving(next, next->pid, now);
	if (start && start <= since) {
		struct sl_prof_req_key r = {.tgid = next->tgid, .tid = next->pid, .start = start,
					    .kstack = k.kstack, .ustack = k.ustack, .offcpu = 1};
		__builtin_memcpy(r.comm, k.comm, sizeof(r.comm));
		add(&req_counts, &r, delta);
	}
	return 0;
}
