/* security source: one program attached to the sys_exit_* tracepoint of each security-relevant
 * syscall (only those fire it: no cost on other syscalls). The attach cookie says which one and
 * which arguments are paths; the arguments come from the task's saved user registers
 * (bpf_task_pt_regs, 5.15+), the result from the tracepoint. */
#include "common.bpf.h"
#include "sightline/security.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SL_SEC_MAX_SYSCALLS);
	__type(key, __u32);
	__type(value, struct sl_sec_conf);
} sec_conf SEC(".maps");

static __always_inline void read_path(char *dst, __u8 idx, const __u64 *args)
{
	dst[0] = 0;
	__u64 p;
	switch (idx) { /* no computed index: the verifier bounds each case */
	case 1: p = args[0]; break;
	case 2: p = args[1]; break;
	case 3: p = args[2]; break;
	case 4: p = args[3]; break;
	default: return;
	}
	bpf_probe_read_user_str(dst, SL_PATH_MAX, (const void *)p);
}

SEC("tracepoint")
int sl_sec_exit(struct syscall_trace_exit *ctx)
{
	struct sl_task t;
	if (!sl_wanted(&t) || !t.btf)
		return 0;
	__u32 id = (__u32)bpf_get_attach_cookie(ctx);
	struct sl_sec_conf *c = bpf_map_lookup_elem(&sec_conf, &id);
	if (!c)
		return 0;
	long ret = ctx->ret;
	if (targ_failed && ret >= 0)
		return 0;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(t.btf);
	if (!regs)
		return 0;
	struct sl_sec_event *e = sl_reserve(sizeof(*e));
	if (!e)
		return 0;
	sl_fill_hdr(&e->hdr, SL_EV_SYSCALL, &t);
	e->syscall = id;
	e->pad = 0;
	e->ret = ret;
	e->args[0] = BPF_CORE_READ(regs, di);
	e->args[1] = BPF_CORE_READ(regs, si);
	e->args[2] = BPF_CORE_READ(regs, dx);
	e->args[3] = BPF_CORE_READ(regs, r10);
	e->args[4] = BPF_CORE_READ(regs, r8);
	e->args[5] = BPF_CORE_READ(regs, r9);
	read_path(e->path, c->str1, e->args);
	read_path(e->path2, c->str2, e->args);
	sl_submit(e, sizeof(*e));
	return 0;
}
