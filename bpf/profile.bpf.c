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
 * With `kernel_unwind`, user stacks are walked here with unwind tables user space built from the
 * binaries' .eh_frame (sightline/profile.h: unw_rows, unw_procs), in a bpf_loop: complete stacks
 * of code without frame pointers, nothing copied out. A process without tables yet is asked of
 * user space (rate-limited) and walked by frame pointers meanwhile.
 *
 * With `dwarf`, an on-CPU sample of a user task instead goes to the ring buffer with its user
 * registers and the top 8 KiB of its user stack, for unwinding in user space (code without
 * frame pointers). The events ring is sized by user space (small when not in this mode).
 */
#include "common.bpf.h"
#include "sightline/profile.h"
#include "thread_time.bpf.h"

SL_BTF_TYPE(sl_prof_sample);
SL_BTF_TYPE(sl_prof_ask);

const volatile bool include_idle = false;  /* samples of the idle task (pid 0) */
const volatile __u64 offcpu_min_ns = 1000; /* shorter blocks are not recorded */
const volatile bool dwarf = false;          /* on-CPU user stacks: copied, unwound in user space */
const volatile bool request_stacks = false; /* sched_ts is the sched source's: per-request stacks */
const volatile bool kernel_unwind = false;  /* user stacks walked here with unw_rows */
/* Processes younger than this are not asked for tables (frame pointers): a node's short-lived
 * commands (curl, sed, a shell) would each have dozens of libraries' tables built. */
const volatile __u64 unw_min_age_ns = 0;

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
	__u64 uhash;
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


/* ---- In-kernel unwinding with .eh_frame tables (kernel_unwind) ---- */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE); /* user space writes the rows in place */
	__uint(max_entries, 1);            /* sized by user space */
	__type(key, __u32);
	__type(value, struct sl_unw_row);
} unw_rows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* sized by user space */
	__type(key, __u32);
	__type(value, struct sl_unw_proc);
} unw_procs SEC(".maps");

/* When each process was last asked for (ns), and the gap before it may be asked again: 50 ms
 * after its exec, doubling to a second. A process sampled while the dynamic loader still maps
 * its libraries is loaded without them; its first samples in them ask again soon (a fixed
 * second lost a short program's first second of stacks), a process that keeps running code
 * mapped after its load (dlopen, JIT) asks once a second. */
struct unw_asked_at {
	__u64 at, gap;
};
#define SL_UNW_ASK_GAP_MIN 50000000ULL
#define SL_UNW_ASK_GAP_MAX 1000000000ULL
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct unw_asked_at);
} unw_asked SEC(".maps");

/* Unwound user stacks by the hash of their frames (the key's uhash); drained with the counts. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1); /* sized by user space */
	__type(key, __u64);
	__type(value, struct sl_unw_stack);
} ustacks SEC(".maps");

struct unw_state {
	__u64 ip, sp, bp;
	__u64 hash;
	__u32 tgid;
	__u32 ask; /* an address in no known mapping: ask user space again */
	__u64 py_frame; /* the next CPython frame to read */
	struct sl_unw_python py;
	struct sl_unw_stack stack;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct unw_state);
} unw_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SL_UNW_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} unw_stats SEC(".maps");

static __always_inline void unw_count(__u32 stat)
{
	__u64 *n = bpf_map_lookup_elem(&unw_stats, &stat);
	if (n)
		*n += 1;
}

#define SL_USER_MAX 0x800000000000ULL /* x86-64 user addresses lie below */

static __always_inline __u64 unw_mix(__u64 h, __u64 v)
{
	h ^= v;
	h *= 0x9E3779B97F4A7C15ULL;
	return h ^ (h >> 29);
}

/* The binary searches are global functions: verified once on their own, whatever the caller's
 * state (in the walk's loop they multiplied the verifier's states past its bound). */

/* The index of the mapping of process `tgid` holding `pc`, or -1. */
__noinline int unw_find_map(__u32 tgid, __u64 pc)
{
	struct sl_unw_proc *p = bpf_map_lookup_elem(&unw_procs, &tgid);
	if (!p)
		return -1;
	__u32 lo = 0, hi = p->n;
	if (hi > SL_UNW_MAX_MAPS)
		hi = SL_UNW_MAX_MAPS;
	for (int k = 0; k < 7 && lo < hi; k++) { /* 2^7 > SL_UNW_MAX_MAPS */
		__u32 mid = ((lo + hi) / 2) & (SL_UNW_MAX_MAPS - 1);
		if (p->maps[mid].start <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return -1;
	__u32 at = (lo - 1) & (SL_UNW_MAX_MAPS - 1);
	return pc < p->maps[at].end ? (int)at : -1;
}

/* The index of the last row in [lo, hi) of unw_rows starting at or below `lpc`, or -1. */
__noinline int unw_find_row(__u32 lo, __u32 hi, __u64 lpc)
{
	__u32 first = lo;
	for (int k = 0; k < 24 && lo < hi; k++) { /* 2^24 rows at most */
		__u32 mid = lo + (hi - lo) / 2;
		struct sl_unw_row *r = bpf_map_lookup_elem(&unw_rows, &mid);
		if (!r)
			return -1;
		if (r->pc <= lpc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > first ? (int)(lo - 1) : -1;
}

/* One frame: from (ip, sp, bp) of st to its caller's. 1 ends the walk. */
static long unw_step(__u32 i, void *unused)
{
	__u32 zero = 0;
	struct unw_state *st = bpf_map_lookup_elem(&unw_scratch, &zero);
	if (!st)
		return 1;
	struct sl_unw_proc *p = bpf_map_lookup_elem(&unw_procs, &st->tgid);
	if (!p)
		return 1;
	/* A return address points after its call (which may end the function): look up the call. */
	__u64 pc = i ? st->ip - 1 : st->ip;
	int mi = unw_find_map(st->tgid, pc);
	struct sl_unw_row row = {.cfa = SL_UNW_CFA_NONE};
	bool mapped = mi >= 0;
	if (mapped) {
		struct sl_unw_map *m = &p->maps[mi & (SL_UNW_MAX_MAPS - 1)];
		int ri = m->rows ? unw_find_row(m->row, m->row + m->rows, pc - m->bias) : -1;
		if (ri >= 0) {
			__u32 at = ri;
			struct sl_unw_row *r = bpf_map_lookup_elem(&unw_rows, &at);
			if (r)
				row = *r;
		}
	}
	if (!mapped && !st->ask)
		st->ask = 1; /* code mapped since the tables were made (dlopen, JIT) */
	__u64 cfa, ra = 0, bp = st->bp;
	switch (row.cfa) {
	case SL_UNW_CFA_END:
		unw_count(SL_UNW_STACKS_END);
		return 1;
	case SL_UNW_CFA_RSP:
		cfa = st->sp + (__s64)row.cfa_off;
		break;
	case SL_UNW_CFA_RBP:
		cfa = st->bp + (__s64)row.cfa_off;
		break;
	case SL_UNW_CFA_PLT:
		cfa = st->sp + 8 + ((st->ip & 15) >= (__u64)row.cfa_off ? 8 : 0);
		break;
	default: /* frame pointers: [bp] the caller's bp, [bp + 8] the return address */
		if (!st->bp || st->bp < st->sp || st->bp >= SL_USER_MAX)
			return 1;
		if (bpf_probe_read_user(&bp, sizeof(bp), (void *)st->bp))
			return 1;
		cfa = st->bp + 16;
		unw_count(SL_UNW_FRAMES_FP);
		goto ret;
	}
	unw_count(SL_UNW_FRAMES_TABLE);
	if (row.rbp == SL_UNW_RBP_LOST) {
		bp = 0;
	} else if (row.rbp) {
		if (bpf_probe_read_user(&bp, sizeof(bp), (void *)(cfa + 8 * (__s64)row.rbp)))
			return 1;
	}
ret:
	if (bpf_probe_read_user(&ra, sizeof(ra), (void *)(cfa - 8)))
		return 1;
	if (!ra || ra >= SL_USER_MAX || cfa <= st->sp)
		return 1; /* the end of a frame-pointer chain, or garbage */
	st->ip = ra;
	st->sp = cfa;
	st->bp = bp;
	__u32 n = st->stack.n;
	if (n >= SL_PROF_STACK_DEPTH) {
		unw_count(SL_UNW_STACKS_TRUNC);
		return 1;
	}
	st->stack.ips[n] = ra;
	st->stack.n = n + 1;
	st->hash = unw_mix(st->hash, ra);
	return 0;
}

/* One CPython frame: its code object and code unit, tagged, after the native frames. */
static long py_step(__u32 i, void *unused)
{
	__u32 zero = 0;
	struct unw_state *st = bpf_map_lookup_elem(&unw_scratch, &zero);
	if (!st || !st->py_frame)
		return 1;
	__u64 f = st->py_frame, code = 0, prev = 0, instr = 0;
	__u8 entry = 0;
	if (bpf_probe_read_user(&code, sizeof(code), (void *)(f + st->py.frame_code)) || !code ||
	    bpf_probe_read_user(&prev, sizeof(prev), (void *)(f + st->py.frame_previous)) ||
	    bpf_probe_read_user(&instr, sizeof(instr), (void *)(f + st->py.frame_prev_instr)) ||
	    bpf_probe_read_user(&entry, sizeof(entry), (void *)(f + st->py.frame_is_entry)))
		return 1;
	__u64 units = code + st->py.code_adaptive;
	__u64 index = instr > units ? (instr - units) / 2 : 0;
	if (index > SL_UNW_PY_INDEX_MAX)
		index = SL_UNW_PY_INDEX_MAX;
	__u64 v = SL_UNW_PY_FRAME | (entry ? SL_UNW_PY_ENTRY : 0) | (index << SL_UNW_PY_INDEX_SHIFT) |
		  (code & SL_UNW_PY_CODE_MASK);
	__u32 n = st->stack.n;
	if (n >= SL_PROF_STACK_DEPTH)
		return 1;
	st->stack.ips[n] = v;
	st->stack.n = n + 1;
	st->hash = unw_mix(st->hash, v);
	st->py_frame = prev;
	return 0;
}

/* The CPython frames of thread `tid`, when it holds the GIL (it is tstate_current). */
static __always_inline void python_frames(struct unw_state *st, struct sl_unw_proc *p, __u32 tid)
{
	st->py = p->py;
	__u64 tstate = 0, ttid = 0, cframe = 0, frame = 0;
	if (bpf_probe_read_user(&tstate, sizeof(tstate), (void *)(st->py.runtime + st->py.tstate_current)) || !tstate ||
	    bpf_probe_read_user(&ttid, sizeof(ttid), (void *)(tstate + st->py.ts_tid)) || ttid != tid ||
	    bpf_probe_read_user(&cframe, sizeof(cframe), (void *)(tstate + st->py.ts_cframe)) || !cframe ||
	    bpf_probe_read_user(&frame, sizeof(frame), (void *)(cframe + st->py.cframe_current)))
		return;
	st->py_frame = frame;
	bpf_loop(SL_UNW_PY_MAX_FRAMES, py_step, NULL, 0);
}

/* Asks user space for the process's tables: at most once per its gap (unw_asked). */
static __always_inline void unw_ask(void *ctx, __u32 tgid)
{
	__u64 now = bpf_ktime_get_ns();
	struct unw_asked_at *last = bpf_map_lookup_elem(&unw_asked, &tgid);
	if (last && now - last->at < last->gap)
		return;
	struct unw_asked_at next = {.at = now, .gap = SL_UNW_ASK_GAP_MIN};
	if (last)
		next.gap = last->gap * 2 < SL_UNW_ASK_GAP_MAX ? last->gap * 2 : SL_UNW_ASK_GAP_MAX;
	bpf_map_update_elem(&unw_asked, &tgid, &next, BPF_ANY);
	struct sl_prof_ask *a = sl_reserve(sizeof(*a));
	if (!a)
		return;
	a->kind = SL_EV_PROFILE;
	a->tgid = tgid;
	a->ask = 1;
	a->pad = 0;
	unw_count(SL_UNW_ASKED);
	if (use_perfbuf) {
		sl_submit(ctx, a, sizeof(*a));
		return;
	}
	bpf_ringbuf_submit(a, BPF_RB_FORCE_WAKEUP); /* its samples go by frame pointers until served */
}

/* The user stack of `task` (the current task) walked with its process's tables into ustacks;
 * false when it has none yet (asked for; the caller walks frame pointers). */
static __always_inline bool unwind_user(void *ctx, struct task_struct *task, __u32 tgid, __u64 *uhash)
{
	if (!kernel_unwind || !task || !task->mm || (task->flags & 0x00200000 /* PF_KTHREAD */))
		return false;
	struct sl_unw_proc *p = bpf_map_lookup_elem(&unw_procs, &tgid);
	if (!p) {
		if (!unw_min_age_ns || bpf_ktime_get_ns() - task->group_leader->start_time >= unw_min_age_ns)
			unw_ask(ctx, tgid);
		return false;
	}
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	__u32 zero = 0;
	struct unw_state *st = bpf_map_lookup_elem(&unw_scratch, &zero);
	if (!regs || !st)
		return false;
	st->ip = regs->ip;
	st->sp = regs->sp;
	st->bp = regs->bp;
	st->tgid = tgid;
	st->ask = 0;
	st->stack.n = 1;
	st->stack.ips[0] = st->ip;
	st->hash = unw_mix(0, st->ip);
	bpf_loop(SL_PROF_STACK_DEPTH, unw_step, NULL, 0);
	if (st->ask)
		unw_ask(ctx, tgid);
	st->py_frame = 0;
	if (p->py.runtime)
		python_frames(st, p, task->pid);
	__u64 h = unw_mix(st->hash, st->stack.n);
	if (!h)
		h = 1;
	/* Already there: the same stack seen before this second's drain. */
	if (!bpf_map_lookup_elem(&ustacks, &h) && bpf_map_update_elem(&ustacks, &h, &st->stack, BPF_NOEXIST) &&
	    !bpf_map_lookup_elem(&ustacks, &h)) {
		sl_count(SL_STAT_PAIR_LOST); /* full: the stack is lost, as a stack-map collision is */
		return false;
	}
	*uhash = h;
	return true;
}

static __always_inline void stack_ids(void *ctx, struct task_struct *task, __u32 tgid, struct sl_prof_key *k)
{
	k->kstack = bpf_get_stackid(ctx, &stacks, 0);
	if (unwind_user(ctx, task, tgid, &k->uhash))
		k->ustack = SL_PROF_USTACK_TABLE;
	else
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
	stack_ids(ctx, t.btf, k.tgid, &k);
	add(&prof_counts, &k, 1);
	__u32 tid = (__u32)t.pid_tgid;
	__u64 start = serving(t.btf, tid, sl_now());
	if (start) {
		struct sl_prof_req_key r = {.tgid = k.tgid, .tid = tid, .start = start, .kstack = k.kstack, .ustack = k.ustack,
					    .uhash = k.uhash};
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
			stack_ids(ctx, prev, prev->tgid, &k);
			s->ts = now;
			s->kstack = k.kstack;
			s->ustack = k.ustack;
			s->uhash = k.uhash;
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
	struct sl_prof_key k = {.tgid = next->tgid, .kstack = s->kstack, .ustack = s->ustack, .offcpu = 1, .uhash = s->uhash};
	__builtin_memcpy(k.comm, next->comm, sizeof(k.comm));
	add(&prof_counts, &k, delta);
	/* Blocked while serving a request that started before the block did. */
	__u64 start = serving(next, next->pid, now);
	if (start && start <= since) {
		struct sl_prof_req_key r = {.tgid = next->tgid, .tid = next->pid, .start = start,
					    .kstack = k.kstack, .ustack = k.ustack, .offcpu = 1, .uhash = k.uhash};
		__builtin_memcpy(r.comm, k.comm, sizeof(r.comm));
		add(&req_counts, &r, delta);
	}
	return 0;
}

/* A process's tables describe the program it ran: an exec or the leader's exit ends them. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(sl_unw_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = p->tgid;
	bpf_map_delete_elem(&unw_procs, &tgid);
	bpf_map_delete_elem(&unw_asked, &tgid);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sl_unw_exit, struct task_struct *p)
{
	if (p->pid != p->tgid)
		return 0;
	__u32 tgid = p->tgid;
	bpf_map_delete_elem(&unw_procs, &tgid);
	bpf_map_delete_elem(&unw_asked, &tgid);
	return 0;
}
