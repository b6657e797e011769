/* process source: exec (with argv and the result of failed execs), fork, exit.
 *
 * exec: syscalls/sys_enter_execve(at) saves the user pointers per thread in `execs` (bounded,
 *   overflow counted); sched/sched_process_exec emits a success with the filename from the
 *   tracepoint and argv from the new image (whole, up to SL_ARGS_SIZE); sys_exit_execve(at)
 *   emits a failure with -errno, reading argv from the old image. Reading user memory at
 *   sys_enter would fail on pages not yet faulted in (argv in .rodata right after fork).
 *   Records are variable-length: header + used argv bytes.
 * fork: tp_btf/sched_process_fork, or raw_tp on kernels without tp_btf; threads are skipped.
 * exit: sched/sched_process_exit, emitted once per process when its last thread exits.
 * signal: signal/signal_generate, for the signals in signal_mask (user space sets it: all but
 *   those every child exit, out-of-band data and terminal resizes send, by default).
 * oom_kill: oom/mark_victim, every victim the OOM killer chose.
 */
#include "common.bpf.h"
#include "sightline/process.h"

SL_BTF_TYPE(sl_exec_event);
SL_BTF_TYPE(sl_fork_event);
SL_BTF_TYPE(sl_exit_event);
SL_BTF_TYPE(sl_signal_event);
SL_BTF_TYPE(sl_oom_event);

/* Bit n: signal n is sent up. */
const volatile __u64 signal_mask = ~0ULL;

/* In-flight execs: the user pointers saved at sys_enter, one per thread inside execve.
 * 10240 is far above any real concurrency; a full map is counted (SL_STAT_PAIR_LOST). */
#define SL_MAX_INFLIGHT_EXECS 10240

struct exec_args {
	__u64 filename;
	__u64 argv;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SL_MAX_INFLIGHT_EXECS);
	__type(key, __u32);
	__type(value, struct exec_args);
} execs SEC(".maps");

/* The exec record is too large for the BPF stack: build it here. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_exec_event);
} exec_scratch SEC(".maps");


static __always_inline struct sl_exec_event *exec_record(void)
{
	__u32 zero = 0;
	struct sl_exec_event *e = bpf_map_lookup_elem(&exec_scratch, &zero);
	if (!e)
		return NULL;
	e->args_size = 0;
	e->args_count = 0;
	e->args_truncated = 0;
	e->filename_truncated = 0;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	return e;
}

static __always_inline void exec_submit(void *ctx, struct sl_exec_event *e, int ret)
{
	sl_fill_hdr_now(&e->hdr, SL_EV_EXEC);
	e->ret = ret;
	if (has_task_btf)
		e->euid = bpf_get_current_task_btf()->cred->euid.val;
	else
		e->euid = BPF_CORE_READ((struct task_struct *)bpf_get_current_task(), cred, euid.val);
	__u64 used = e->args_size;
	if (used > SL_ARGS_SIZE)
		used = SL_ARGS_SIZE;
	sl_output(ctx, e, sizeof(*e) - SL_ARGS_SIZE + used);
}

static __always_inline int exec_enter(const char *filename, const char *const *argv)
{
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	__u32 tid = (__u32)t.pid_tgid;
	struct exec_args a = {.filename = (__u64)filename, .argv = (__u64)argv};
	if (SL_CHECK(SL_H_MAP_UPDATE, bpf_map_update_elem(&execs, &tid, &a, BPF_ANY)))
		sl_count(SL_STAT_PAIR_LOST);
	return 0;
}

SEC("tp/syscalls/sys_enter_execve")
int sl_enter_execve(struct trace_event_raw_sys_enter *ctx)
{
	return exec_enter((const char *)ctx->args[0], (const char *const *)ctx->args[1]);
}

SEC("tp/syscalls/sys_enter_execveat")
int sl_enter_execveat(struct trace_event_raw_sys_enter *ctx)
{
	return exec_enter((const char *)ctx->args[1], (const char *const *)ctx->args[2]);
}

/* Success: the new image's argument area (mm->arg_start..arg_end) was just written by the
 * kernel, so it is present and whole; the old user memory is gone. Keyed by old_pid, so an exec
 * from a non-leader thread still pairs. */
SEC("tp/sched/sched_process_exec")
int sl_sched_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	__u32 old = ctx->old_pid;
	if (!bpf_map_lookup_elem(&execs, &old))
		return 0; /* filtered at enter, or attached mid-exec */
	bpf_map_delete_elem(&execs, &old);
	if (targ_failed)
		return 0;
	struct sl_exec_event *e = exec_record();
	if (!e)
		return 0;
	unsigned int off = ctx->__data_loc_filename & 0xFFFF;
	long n = sl_read_kernel_str(e->filename, sizeof(e->filename), (void *)ctx + off);
	if (n == sizeof(e->filename))
		e->filename_truncated = 1;

	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 start = BPF_CORE_READ(task, mm, arg_start);
	__u64 end = BPF_CORE_READ(task, mm, arg_end);
	__u64 len = end > start ? end - start : 0;
	if (len > SL_ARGS_SIZE) {
		len = SL_ARGS_SIZE;
		e->args_truncated = 1;
	}
	if (len && sl_read_user(e->args, len, (void *)start) == 0)
		e->args_size = len;
	exec_submit(ctx, e, 0);
	return 0;
}

/* Failure: the process keeps its image, and execve has just copied the strings from it, so
 * they are paged in. At most SL_ARGS_MAX_COUNT arguments of SL_ARG_MAX bytes. */
static __always_inline int exec_exit(void *ctx, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct exec_args *a = bpf_map_lookup_elem(&execs, &tid);
	if (!a)
		return 0;
	const char *filename = (const char *)a->filename;
	const char *const *argv = (const char *const *)a->argv;
	bpf_map_delete_elem(&execs, &tid);
	if (ret == 0)
		return 0; /* success is reported by sched_process_exec */
	struct sl_exec_event *e = exec_record();
	if (!e)
		return 0;
	long n = sl_read_user_str(e->filename, sizeof(e->filename), filename);
	if (n < 0)
		e->filename[0] = 0;
	else if (n == sizeof(e->filename))
		e->filename_truncated = 1;
	/* args_size lives in the map value, as in execsnoop: re-read each round, it is a bounded
	 * unknown to the verifier, so the rounds' states prune instead of multiplying. */
	for (int i = 0; i < SL_ARGS_MAX_COUNT; i++) {
		const char *argp = NULL;
		if (sl_read_user(&argp, sizeof(argp), &argv[i]) || !argp)
			goto out;
		__u32 size = e->args_size;
		if (size > SL_ARGS_SIZE - SL_ARG_MAX) {
			e->args_truncated = 1;
			goto out;
		}
		n = sl_read_user_str(&e->args[size], SL_ARG_MAX, argp);
		if (n <= 0) {
			e->args_truncated = 1;
			goto out;
		}
		if (n == SL_ARG_MAX)
			e->args_truncated = 1; /* cut at SL_ARG_MAX - 1 bytes */
		e->args_size = size + n;
	}
	{
		const char *argp = NULL;
		sl_read_user(&argp, sizeof(argp), &argv[SL_ARGS_MAX_COUNT]);
		if (argp)
			e->args_truncated = 1;
	}
out:
	exec_submit(ctx, e, (int)ret);
	return 0;
}

SEC("tp/syscalls/sys_exit_execve")
int sl_exit_execve(struct trace_event_raw_sys_exit *ctx)
{
	return exec_exit(ctx, ctx->ret);
}

SEC("tp/syscalls/sys_exit_execveat")
int sl_exit_execveat(struct trace_event_raw_sys_exit *ctx)
{
	return exec_exit(ctx, ctx->ret);
}

static __always_inline int fork_emit(void *ctx, struct task_struct *child)
{
	__u32 pid = BPF_CORE_READ(child, pid);
	if (targ_failed || pid != BPF_CORE_READ(child, tgid))
		return 0; /* a new thread, not a process */
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	struct sl_fork_event *e = sl_reserve(sizeof(*e));
	if (!e)
		return 0;
	sl_fill_hdr(&e->hdr, SL_EV_FORK, &t);
	e->child_pid = pid;
	e->pad = 0;
	sl_submit(ctx, e, sizeof(*e));
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(sl_fork_btf, struct task_struct *parent, struct task_struct *child)
{
	return fork_emit(ctx, child);
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(sl_fork_raw, struct task_struct *parent, struct task_struct *child)
{
	return fork_emit(ctx, child);
}

SEC("tp/sched/sched_process_exit")
int sl_sched_exit(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0; /* other threads live on: not the process's exit */
	if (targ_failed && BPF_CORE_READ(task, exit_code) == 0)
		return 0;
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	struct sl_exit_event *e = sl_reserve(sizeof(*e));
	if (!e)
		return 0;
	sl_fill_hdr(&e->hdr, SL_EV_EXIT, &t);
	int code = BPF_CORE_READ(task, exit_code);
	e->exit_code = (code >> 8) & 0xff;
	e->signal = code & 0x7f;
	e->core_dumped = (code & 0x80) ? 1 : 0;
	e->pad = 0;
	__u64 start = BPF_CORE_READ(task, group_leader, start_boottime);
	__u64 now = e->hdr.ts_ns;
	e->lifetime_ns = now > start ? now - start : 0;
	sl_submit(ctx, e, sizeof(*e));
	return 0;
}

SEC("tp/signal/signal_generate")
int sl_signal_generate(struct trace_event_raw_signal_generate *ctx)
{
	int sig = ctx->sig;
	if (sig < 1 || sig > 63 || !(signal_mask & (1ULL << sig)))
		return 0;
	if (targ_failed && ctx->result == 0)
		return 0; /* failed only: the signals not delivered */
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	struct sl_signal_event *e = sl_reserve(sizeof(*e));
	if (!e)
		return 0;
	sl_fill_hdr(&e->hdr, SL_EV_SIGNAL, &t);
	e->sig = sig;
	e->code = ctx->code;
	e->target_pid = ctx->pid;
	e->result = ctx->result;
	e->group = ctx->group;
	e->pad = 0;
	if (sl_read_kernel(e->target_comm, SL_COMM_LEN, ctx->comm))
		e->target_comm[0] = 0;
	sl_submit(ctx, e, sizeof(*e));
	return 0;
}

/* Not filtered by the sender: whoever allocated, the victim is what matters. */
SEC("tp/oom/mark_victim")
int sl_oom_mark_victim(struct trace_event_raw_mark_victim *ctx)
{
	struct sl_oom_event *e = sl_reserve(sizeof(*e));
	if (!e)
		return 0;
	sl_fill_hdr_now(&e->hdr, SL_EV_OOM_KILL);
	e->victim_pid = ctx->pid;
	e->victim_uid = 0;
	e->total_vm_kb = e->anon_rss_kb = e->file_rss_kb = e->shmem_rss_kb = 0;
	e->score_adj = 0;
	__builtin_memset(e->pad, 0, sizeof(e->pad));
	e->victim_comm[0] = 0;
	if (bpf_core_field_exists(ctx->total_vm)) {
		e->total_vm_kb = BPF_CORE_READ(ctx, total_vm);
		e->anon_rss_kb = BPF_CORE_READ(ctx, anon_rss);
		e->file_rss_kb = BPF_CORE_READ(ctx, file_rss);
		e->shmem_rss_kb = BPF_CORE_READ(ctx, shmem_rss);
		e->victim_uid = BPF_CORE_READ(ctx, uid);
		e->score_adj = BPF_CORE_READ(ctx, oom_score_adj);
	}
	if (bpf_core_field_exists(ctx->__data_loc_comm)) {
		unsigned int off = BPF_CORE_READ(ctx, __data_loc_comm) & 0xFFFF;
		sl_read_kernel_str(e->victim_comm, sizeof(e->victim_comm), (void *)ctx + off);
	}
	sl_submit(ctx, e, sizeof(*e));
	return 0;
}
