/* BPF-side helpers shared by every program: filters set before load, the event header, the
 * ring buffer with batched wakeups, and loss counters. Included once per .bpf.c. */
#ifndef SIGHTLINE_COMMON_BPF_H
#define SIGHTLINE_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "sightline/common.h"

char LICENSE[] SEC("license") = "GPL";

/* Puts a record type that the programs only reach through pointers into the object's BTF, so
 * that tests/unit/abi_test.cpp checks user space's layout of it against clang's (libbpf-tools'
 * `const struct event *unused` idiom). Costs 8 bytes of .bss. */
#define SL_BTF_TYPE(type) struct type *__sl_btf_##type __attribute__((unused))

/* Filters, set in rodata before load so the verifier prunes what is off (libbpf-tools style). */
const volatile __u32 targ_tgid = 0;          /* only this process (0: all) */
const volatile __u32 self_tgid = 0;          /* never this process: the agent itself */
const volatile __u64 targ_cgroup_id = 0;     /* only this cgroup v2 id (0: all) */
const volatile bool targ_comm_set = false;
/* Only failures; each source says what a failure is (failed exec/open, non-zero exit). */
const volatile bool targ_failed = false;
const volatile char targ_comm[SL_COMM_LEN] = {};
/* The reader is woken only when about wakeup_bytes wait (sl_submit); below that it polls on
 * its own period. Per-event wakeups are what makes opensnoop-style tools cost 4-5x. */
/* bpf_get_current_task_btf exists (5.11+): task fields are plain loads instead of one
 * bpf_probe_read_kernel call each. Set by user space from the feature probe. */
const volatile bool has_task_btf = false;
/* Records carry CLOCK_BOOTTIME (bpf_ktime_get_boot_ns, 5.8+). Before, the monotonic clock
 * plus what user space measured between the two at load: they differ by the time suspended
 * since boot, which changes only if the machine suspends while the agent runs. */
const volatile bool has_boot_clock = true;
const volatile __u64 boot_minus_mono_ns = 0;
static __always_inline __u64 sl_now(void)
{
	if (has_boot_clock)
		return bpf_ktime_get_boot_ns();
	return bpf_ktime_get_ns() + boot_minus_mono_ns;
}
/* Wakeup threshold of the ring buffer, per CPU (see sl_submit). */
const volatile __u64 wakeup_bytes_per_cpu = 1 << 17;

#ifndef SL_NO_EVENTS
/* One ring buffer per object; user space sets its size before load. Sources that only
 * aggregate define SL_NO_EVENTS and have none. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

/* No ring buffer (before 5.8, or SIGHTLINE_DISABLE_FEATURES=ringbuf): user space makes `events`
 * a perf event array and sets this before load. A record is then built in this CPU's scratch
 * value and copied out with bpf_perf_event_output, which needs the program's context
 * (libbpf-tools' compat.bpf.h pattern). The rodata is constant to the verifier: it never sees
 * the branch not taken, so each path's helpers meet only the map type they need. */
const volatile bool use_perfbuf = false;
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__uint(value_size, SL_MAX_RESERVE); /* 8 when there is a ring buffer (user space) */
} sl_scratch SEC(".maps");
#endif

/* Which file a helper call stands in: each .bpf.h sets its own id for its body (push_macro),
 * and a source's .bpf.c, included after this header, gets SL_FILE_MAIN. */
#define SL_FILE SL_FILE_COMMON

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SL_MAX_ERR_SITES);
	__type(key, struct sl_err_key);
	__type(value, __u64);
} sl_errors SEC(".maps");

/* Counts a failed helper call at its site; returns `ret` unchanged. Only the failure path
 * touches the map. */
static __always_inline long sl_err_at(__u16 file, __u16 line, __u16 helper, long ret)
{
	if (ret >= 0)
		return ret;
	struct sl_err_key k = {.file = file, .line = line, .helper = helper, .err = (__s16)ret};
	__u64 *v = bpf_map_lookup_elem(&sl_errors, &k);
	if (!v) {
		__u64 zero = 0;
		bpf_map_update_elem(&sl_errors, &k, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&sl_errors, &k);
	}
	if (v)
		*v += 1;
	return ret;
}

/* `SL_CHECK(SL_H_PROBE_READ_USER, bpf_probe_read_user(...))`: the call, its failure counted at
 * this file and line. */
#define SL_CHECK(helper, call) sl_err_at(SL_FILE, __LINE__, (helper), (long)(call))
/* The common probe reads, checked. */
#define sl_read_user(dst, n, src) SL_CHECK(SL_H_PROBE_READ_USER, bpf_probe_read_user((dst), (n), (src)))
#define sl_read_user_str(dst, n, src) SL_CHECK(SL_H_PROBE_READ_USER_STR, bpf_probe_read_user_str((dst), (n), (src)))
#define sl_read_kernel(dst, n, src) SL_CHECK(SL_H_PROBE_READ_KERNEL, bpf_probe_read_kernel((dst), (n), (src)))
#define sl_read_kernel_str(dst, n, src) SL_CHECK(SL_H_PROBE_READ_KERNEL_STR, bpf_probe_read_kernel_str((dst), (n), (src)))

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SL_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} sl_stats SEC(".maps");

static __always_inline void sl_count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&sl_stats, &stat);
	if (v)
		*v += 1;
}

/* Lookup, inserting `zero` first if the key is missing; NULL (counted as SL_STAT_MAP_FULL, and
 * at the caller's line) when the map is full. For aggregation maps. */
static __always_inline void *sl_lookup_or_init_at(void *map, const void *key, const void *zero, __u16 file,
						  __u16 line)
{
	void *v = bpf_map_lookup_elem(map, key);
	if (v)
		return v;
	long err = bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	if (err && !bpf_map_lookup_elem(map, key)) {
		sl_count(SL_STAT_MAP_FULL);
		sl_err_at(file, line, SL_H_MAP_UPDATE, err);
		return NULL;
	}
	return bpf_map_lookup_elem(map, key);
}
#define sl_lookup_or_init(map, key, zero) sl_lookup_or_init_at((map), (key), (zero), SL_FILE, __LINE__)

/* Per-thread state between two hooks (sched's stamps, a syscall's start). Task local storage
 * where the kernel has it with task BTF (5.15+): no hash, no lock, freed with the task. Before,
 * user space makes each TASK_STORAGE map an LRU hash keyed by thread id (SL_MAX_THREADS) and
 * clears this; the storage branch is then dead to the verifier, as the hash one is otherwise.
 * A hash entry outlives its thread, and a new thread can reuse the id: callers start a new
 * thread's state afresh, and check that what they stored still fits what they see. */
const volatile bool has_task_storage = true;
static __always_inline void *sl_thread_state(void *map, struct task_struct *task, __u32 tid,
					     const void *zero, bool create)
{
	if (has_task_storage)
		return bpf_task_storage_get(map, task, 0, create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	void *v = bpf_map_lookup_elem(map, &tid);
	if (v || !create)
		return v;
	bpf_map_update_elem(map, &tid, zero, BPF_NOEXIST); /* LRU: makes room, never full */
	return bpf_map_lookup_elem(map, &tid);
}

/* The syscall number in the saved user registers: tp_btf sys_enter/sys_exit's `regs`, or
 * bpf_task_pt_regs' (BTF pointers: plain loads). */
static __always_inline __u32 sl_syscall_nr(const struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	return (__u32)regs->orig_ax;
#elif defined(__TARGET_ARCH_arm64)
	return (__u32)((const struct user_pt_regs *)regs)->regs[8];
#else
#error "syscall number: add this architecture"
#endif
}

/* The switched-out task's state at sched_switch: the tracepoint's own argument where it has one
 * (5.18+: read before the switch, so a wakeup racing it cannot change it), else the task's field
 * (`__state` from 5.14, `state` before), as libbpf-tools do. */
const volatile bool has_switch_state = true;
struct task_struct___pre514 {
	volatile long state;
} __attribute__((preserve_access_index));
static __always_inline unsigned int sl_switch_state(struct task_struct *prev, unsigned long long *ctx)
{
	if (has_switch_state)
		return (unsigned int)ctx[3];
	if (bpf_core_field_exists(prev->__state))
		return BPF_CORE_READ(prev, __state);
	return (unsigned int)BPF_CORE_READ((struct task_struct___pre514 *)prev, state);
}

/* The current task, as every record's header needs it, read once per event. Where the kernel
 * has bpf_get_current_task_btf, identity fields are plain loads from the task: on a syscall
 * fast path each helper call costs tens of ns, and the header needs six of them otherwise. */
struct sl_task {
	__u64 pid_tgid;
	struct task_struct *btf; /* NULL without has_task_btf */
	char comm[SL_COMM_LEN];
	bool have_comm;
};

static __always_inline void sl_task_init(struct sl_task *t)
{
	t->have_comm = false;
	if (has_task_btf) {
		t->btf = bpf_get_current_task_btf();
		t->pid_tgid = ((__u64)t->btf->tgid << 32) | (__u32)t->btf->pid;
	} else {
		t->btf = NULL;
		t->pid_tgid = bpf_get_current_pid_tgid();
	}
}

/* The task, for helpers that walk from it (sl_fd_file): the BTF pointer where there is one, else
 * bpf_get_current_task()'s, which they read through CO-RE probe reads (has_task_btf). */
static __always_inline struct task_struct *sl_task_ptr(struct sl_task *t)
{
	return has_task_btf ? t->btf : (struct task_struct *)bpf_get_current_task();
}

static __always_inline void sl_task_comm(struct sl_task *t)
{
	if (t->have_comm)
		return;
	if (t->btf)
		__builtin_memcpy(t->comm, t->btf->comm, SL_COMM_LEN);
	else
		bpf_get_current_comm(t->comm, sizeof(t->comm));
	t->have_comm = true;
}

static __always_inline __u64 sl_task_cgroup(struct sl_task *t)
{
	if (t->btf)
		return t->btf->cgroups->dfl_cgrp->kn->id;
	return bpf_get_current_cgroup_id();
}

/* True when `comm` is the --comm filter's name (call only with targ_comm_set). */
static __always_inline bool sl_comm_matches(const char *comm)
{
	for (int i = 0; i < SL_COMM_LEN; i++) {
		if (comm[i] != targ_comm[i])
			return false;
		if (comm[i] == 0)
			break;
	}
	return true;
}

/* True when the current task passes the load-time filters. */
static __always_inline bool sl_wanted(struct sl_task *t)
{
	sl_task_init(t);
	__u32 tgid = t->pid_tgid >> 32;

	if (self_tgid && tgid == self_tgid)
		return false;
	if (targ_tgid && tgid != targ_tgid)
		return false;
	if (targ_cgroup_id && sl_task_cgroup(t) != targ_cgroup_id)
		return false;
	if (targ_comm_set) {
		sl_task_comm(t);
		if (!sl_comm_matches(t->comm))
			return false;
	}
	return true;
}

static __always_inline void sl_fill_hdr(struct sl_event_hdr *h, __u32 kind, struct sl_task *t)
{
	h->ts_ns = sl_now();
	h->cgroup_id = sl_task_cgroup(t);
	h->kind = kind;
	h->pid = t->pid_tgid >> 32;
	h->tid = (__u32)t->pid_tgid;
	if (t->btf) {
		const struct cred *cred = t->btf->cred;
		h->ppid = t->btf->real_parent->tgid;
		h->uid = cred->uid.val;
		h->gid = cred->gid.val;
	} else {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		__u64 uid_gid = bpf_get_current_uid_gid();
		h->ppid = BPF_CORE_READ(task, real_parent, tgid);
		h->uid = (__u32)uid_gid;
		h->gid = uid_gid >> 32;
	}
	sl_task_comm(t);
	__builtin_memcpy(h->comm, t->comm, sizeof(h->comm));
}

/* The same for a program that did not filter (the task changed since, e.g. after exec). */
static __always_inline void sl_fill_hdr_now(struct sl_event_hdr *h, __u32 kind)
{
	struct sl_task t;
	sl_task_init(&t);
	sl_fill_hdr(h, kind, &t);
}

#ifndef SL_NO_EVENTS
static __always_inline void *sl_reserve_at(__u64 size, __u16 file, __u16 line)
{
	if (use_perfbuf) {
		__u32 zero = 0;
		return bpf_map_lookup_elem(&sl_scratch, &zero); /* sent (or lost) in sl_submit */
	}
	void *e = bpf_ringbuf_reserve(&events, size, 0);
	if (!e) {
		sl_count(SL_STAT_RB_LOST);
		sl_err_at(file, line, SL_H_RINGBUF_RESERVE, -28 /* ENOSPC */);
	}
	return e;
}
/* A record of `size` bytes (at most SL_MAX_RESERVE) in the ring; NULL when it is full
 * (counted, at the caller's line). */
#define sl_reserve(size) sl_reserve_at((size), SL_FILE, __LINE__)

/* Wakeup policy without asking the ring: each CPU counts the bytes it submitted since it last
 * woke the reader, and wakes it past wakeup_bytes / ncpus. bpf_ringbuf_query would read the
 * consumer position, a cache line the reader's CPU writes: a miss on every event. The data
 * waiting unwoken stays below wakeup_bytes in all. (The perf buffer's own watermark does the
 * same there.) */
struct sl_pending sl_pending[SL_MAX_CPUS] = {};

static __always_inline __u64 sl_wakeup_flag(__u64 size)
{
	__u32 cpu = bpf_get_smp_processor_id();
	if (cpu >= SL_MAX_CPUS)
		return BPF_RB_FORCE_WAKEUP;
	struct sl_pending *p = &sl_pending[cpu];
	p->bytes += size;
	if (p->bytes < wakeup_bytes_per_cpu)
		return BPF_RB_NO_WAKEUP;
	p->bytes = 0;
	return BPF_RB_FORCE_WAKEUP;
}

/* The perf buffer's copy-out; a full buffer is counted as a full ring is. */
static __always_inline void sl_perf_output_at(void *ctx, void *data, __u64 size, __u16 file, __u16 line)
{
	long err = bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, data, size);
	if (err) {
		sl_count(SL_STAT_RB_LOST);
		sl_err_at(file, line, SL_H_PERF_EVENT_OUTPUT, err);
	}
}

/* Where a record is made deep in inlined helpers of a source that needs the ring buffer (l7:
 * its hooks need 5.15+, which has it; its plan refuses to run without one). */
#define SL_NO_CTX ((void *)0)

/* Sends what sl_reserve gave. `ctx` is the program's context (for the perf buffer). */
static __always_inline void sl_submit_at(void *ctx, void *e, __u64 size, __u16 file, __u16 line)
{
	if (use_perfbuf) {
		if (size > SL_MAX_RESERVE)
			size = SL_MAX_RESERVE;
		sl_perf_output_at(ctx, e, size, file, line);
		return;
	}
	bpf_ringbuf_submit(e, sl_wakeup_flag(size));
}
#define sl_submit(ctx, e, size) sl_submit_at((ctx), (e), (size), SL_FILE, __LINE__)

/* Variable-length records (exec argv, L7 payloads) are copied from a map value. */
static __always_inline void sl_output_at(void *ctx, void *data, __u64 size, __u16 file, __u16 line)
{
	if (use_perfbuf) {
		sl_perf_output_at(ctx, data, size, file, line);
		return;
	}
	long err = bpf_ringbuf_output(&events, data, size, sl_wakeup_flag(size));
	if (err) {
		sl_count(SL_STAT_RB_LOST);
		sl_err_at(file, line, SL_H_RINGBUF_OUTPUT, err);
	}
}
#define sl_output(ctx, data, size) sl_output_at((ctx), (data), (size), SL_FILE, __LINE__)
#endif /* SL_NO_EVENTS */

/* What follows this header is the source's own file. */
#undef SL_FILE
#define SL_FILE SL_FILE_MAIN

#endif
