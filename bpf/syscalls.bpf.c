/* syscalls source: per (process, syscall) counts, errors and time, per (process, syscall,
 * errno) error counts, per syscall latency histograms. Aggregated in the kernel, nothing is
 * streamed; user space reads the maps on its interval.
 *
 * tp_btf/sys_enter stores the start time and number in task local storage (no hash, no lock;
 * an LRU hash by thread id before 5.15, see sl_thread_state);
 * tp_btf/sys_exit computes the latency and updates per-CPU maps. Bounds: see sightline/syscalls.h.
 * Without measure_latency only sys_exit runs: counts and errors, the number from the saved
 * registers, half the cost on a syscall-bound process.
 */
#define SL_NO_EVENTS
#include "common.bpf.h"
#include "sightline/syscalls.h"

struct sys_start {
	__u64 ts;
	__u64 nr;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sys_start);
} sys_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SL_SYS_MAX_KEYS);
	__type(key, struct sl_sys_key);
	__type(value, struct sl_sys_val);
} sys_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SL_SYS_MAX_ERR_KEYS);
	__type(key, struct sl_sys_err_key);
	__type(value, __u64);
} sys_errors SEC(".maps");

/* Preallocated: an on-demand allocation in a tracing program can fail when the per-CPU cache
 * is empty, and that call's latency would be lost. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SL_SYS_MAX_NR);
	__type(key, __u32);
	__type(value, struct sl_hist);
} sys_latency SEC(".maps");

/* Set before load; sl_sys_enter is not loaded without it. */
const volatile bool measure_latency = true;
/* The overhead governor sheds latency at run time (SyscallsSource::shed): sl_sys_enter returns at
 * once, sl_sys_exit counts as without latency. An exit whose enter was not timed (shed then, or the
 * agent attached mid-call) is counted all the same: the counts stay exact across the switch. */
bool latency_shed = false;

static const struct sl_sys_val zero_val = {};
static const struct sys_start zero_start = {};
static const struct sl_hist zero_hist = {};
static const __u64 zero_u64 = 0;


SEC("tp_btf/sys_enter")
int BPF_PROG(sl_sys_enter, struct pt_regs *regs, long id)
{
	struct sl_task t;
	if (latency_shed || !sl_wanted(&t))
		return 0;
	struct sys_start *s = sl_thread_state(&sys_start, t.btf, (__u32)t.pid_tgid, &zero_start, true);
	if (!s)
		return 0;
	s->nr = id;
	s->ts = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sl_sys_exit, struct pt_regs *regs, long ret)
{
	__u64 delta = 0;
	__u32 nr = 0, tgid;
	bool timed = false;
	struct sl_task t;
	sl_task_init(&t);
	if (measure_latency) {
		struct sys_start *s = sl_thread_state(&sys_start, t.btf, (__u32)t.pid_tgid, NULL, false);
		if (s && s->ts) {
			nr = (__u32)s->nr;
			__u64 ts = s->ts;
			s->ts = 0;
			/* A hash entry a thread left when it died inside a syscall (exit_group), found by
			 * the new thread given its id: its first exit is from clone, not the dead one's
			 * call (then counted below, untimed). */
			if (has_task_storage || nr == sl_syscall_nr(regs)) {
				delta = bpf_ktime_get_ns() - ts;
				timed = true;
			}
		}
	}
	/* Counts and errors alone (latency off or shed, a call entered while it was shed or before the
	 * agent attached, a process not wanted): the filter here, the number from the registers. */
	if (!timed) {
		if (!sl_wanted(&t))
			return 0;
		nr = sl_syscall_nr(regs);
	}
	tgid = t.pid_tgid >> 32;

	struct sl_sys_key key = {.tgid = tgid, .nr = nr};
	struct sl_sys_val *v = sl_lookup_or_init(&sys_counts, &key, &zero_val);
	if (v) {
		v->count++;
		v->time_ns += delta;
		if (ret < 0)
			v->errors++;
	}
	if (ret < 0 && ret >= -4095) {
		struct sl_sys_err_key ek = {.tgid = key.tgid, .nr = nr, .err = (__u32)-ret};
		__u64 *n = sl_lookup_or_init(&sys_errors, &ek, &zero_u64);
		if (n)
			*n += 1;
	}
	if (timed && nr < SL_SYS_MAX_NR) {
		struct sl_hist *h = sl_lookup_or_init(&sys_latency, &nr, &zero_hist);
		if (h)
			sl_hist_add(h, delta);
	}
	return 0;
}
