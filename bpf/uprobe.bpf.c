/* uprobe source: one pair of generic programs attached to every probed function; the attach
 * cookie (bpf_get_attach_cookie, 5.15+) says which probe fired.
 *
 * Entry counts the call per (probe, process); with latency it stamps (thread, probe) in a
 * bounded hash; return computes the duration into the probe's histogram (a per-CPU array
 * indexed by probe). With streaming, the return (or the entry, without latency) emits one
 * event with the first six integer arguments (saved at entry), a string argument, the
 * return value and the latency. Recursion into the same function keeps the outer stamp.
 */
#include "common.bpf.h"
#include "sightline/uprobe.h"

SL_BTF_TYPE(sl_uprobe_event);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SL_UPROBE_MAX_PROBES);
	__type(key, __u32);
	__type(value, struct sl_uprobe_conf);
} uprobe_conf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SL_UPROBE_MAX_KEYS);
	__type(key, struct sl_uprobe_key);
	__type(value, __u64);
} uprobe_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SL_UPROBE_MAX_PROBES);
	__type(key, __u32);
	__type(value, struct sl_hist);
} uprobe_latency SEC(".maps");

struct inflight_key {
	__u64 pid_tgid;
	__u32 probe;
	__u32 pad;
};

struct inflight {
	__u64 ts;
	__u64 args[SL_UPROBE_ARGS];
	char str[SL_UPROBE_STR];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SL_UPROBE_MAX_INFLIGHT);
	__type(key, struct inflight_key);
	__type(value, struct inflight);
} uprobe_inflight SEC(".maps");

/* Scratch for a new in-flight entry (too big for the stack with the string). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct inflight);
} scratch SEC(".maps");

static const __u64 zero_u64 = 0;

static __always_inline void read_args(struct pt_regs *ctx, __u64 *args)
{
	args[0] = PT_REGS_PARM1(ctx);
	args[1] = PT_REGS_PARM2(ctx);
	args[2] = PT_REGS_PARM3(ctx);
	args[3] = PT_REGS_PARM4(ctx);
	args[4] = PT_REGS_PARM5(ctx);
#if defined(__TARGET_ARCH_x86)
	args[5] = ctx->r9;
#else
	args[5] = 0;
#endif
}

static __always_inline void read_str(const struct sl_uprobe_conf *c, const __u64 *args, char *out)
{
	out[0] = 0;
	/* 1-based; 0 (none) wraps past the bound. The check is on the index itself: verifiers before
	 * ~6.8 lose the bound of `i - 1` through the 32-bit subtraction (refused on 6.1). */
	__u32 idx = c->str_arg - 1;
	if (idx >= SL_UPROBE_ARGS)
		return;
	sl_read_user_str(out, SL_UPROBE_STR, (const void *)args[idx]);
}

static __always_inline void emit(void *ctx, __u32 probe, struct sl_task *t, const __u64 *args, const char *str,
				 __s64 ret, __u64 latency)
{
	struct sl_uprobe_event *e = sl_reserve(sizeof(*e));
	if (!e)
		return;
	sl_fill_hdr(&e->hdr, SL_EV_UPROBE, t);
	e->probe = probe;
	e->pad = 0;
	for (int i = 0; i < SL_UPROBE_ARGS; i++)
		e->args[i] = args[i];
	e->ret = ret;
	e->latency_ns = latency;
	__builtin_memcpy(e->str, str, SL_UPROBE_STR);
	sl_submit(ctx, e, sizeof(*e));
}

SEC("uprobe")
int BPF_KPROBE(sl_uprobe_entry)
{
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	__u32 probe = (__u32)bpf_get_attach_cookie(ctx);
	struct sl_uprobe_conf *c = bpf_map_lookup_elem(&uprobe_conf, &probe);
	if (!c)
		return 0;
	struct sl_uprobe_key k = {.probe = probe, .tgid = t.pid_tgid >> 32};
	__u64 *n = sl_lookup_or_init(&uprobe_calls, &k, &zero_u64);
	if (n)
		*n += 1;
	if (!c->latency && !c->stream)
		return 0;
	__u32 zero = 0;
	struct inflight *f = bpf_map_lookup_elem(&scratch, &zero);
	if (!f)
		return 0;
	read_args(ctx, f->args);
	read_str(c, f->args, f->str);
	if (!c->latency) { /* stream at entry: no return to wait for */
		emit(ctx, probe, &t, f->args, f->str, 0, 0);
		return 0;
	}
	f->ts = bpf_ktime_get_ns();
	struct inflight_key ik = {.pid_tgid = t.pid_tgid, .probe = probe};
	bpf_map_update_elem(&uprobe_inflight, &ik, f, BPF_NOEXIST); /* recursion: keep the outer */
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(sl_uprobe_return, long ret)
{
	__u32 probe = (__u32)bpf_get_attach_cookie(ctx);
	struct inflight_key ik = {.pid_tgid = bpf_get_current_pid_tgid(), .probe = probe};
	struct inflight *f = bpf_map_lookup_elem(&uprobe_inflight, &ik);
	if (!f)
		return 0; /* entered before we attached, or filtered out */
	__u64 delta = bpf_ktime_get_ns() - f->ts;
	struct sl_hist *h = bpf_map_lookup_elem(&uprobe_latency, &probe);
	if (h)
		sl_hist_add(h, delta);
	struct sl_uprobe_conf *c = bpf_map_lookup_elem(&uprobe_conf, &probe);
	if (c && c->stream) {
		struct sl_task t;
		sl_task_init(&t);
		emit(ctx, probe, &t, f->args, f->str, ret, delta);
	}
	bpf_map_delete_elem(&uprobe_inflight, &ik);
	return 0;
}
