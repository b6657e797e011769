/* tracepoint source: one generic program for any tracepoint (sightline trace tp:CAT:NAME and
 * the agent's `tracepoints:`), no compiler at run time. The attach cookie (5.15+) selects the
 * tracepoint's configuration: stream the raw record (decoded in user space from the
 * tracepoint's tracefs format), count by a field's bytes, or histogram an integer field, the
 * last two in the kernel. */
#include "common.bpf.h"
#include "sightline/tracepoint.h"

SL_BTF_TYPE(sl_tp_event);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SL_TP_MAX_PROBES);
	__type(key, __u32);
	__type(value, struct sl_tp_conf);
} tp_conf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SL_TP_MAX_KEYS);
	__type(key, struct sl_tp_key);
	__type(value, __u64);
} tp_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SL_TP_MAX_PROBES);
	__type(key, __u32);
	__type(value, struct sl_hist);
} tp_hist SEC(".maps");

static const __u64 zero_u64 = 0;

SEC("tracepoint")
int sl_tracepoint(void *ctx)
{
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	__u32 probe = (__u32)bpf_get_attach_cookie(ctx);
	struct sl_tp_conf *c = bpf_map_lookup_elem(&tp_conf, &probe);
	if (!c)
		return 0;
	if (c->mode == SL_TP_STREAM) {
		struct sl_tp_event *e = sl_reserve(sizeof(*e));
		if (!e)
			return 0;
		sl_fill_hdr(&e->hdr, SL_EV_TRACEPOINT, &t);
		e->probe = probe;
		e->pad = 0;
		/* Past the record's end this reads the rest of the per-CPU trace buffer: harmless,
		 * user space only decodes within the format's fields. Near the end of that buffer
		 * the full copy faults: then less, down to the fixed part. */
		if (bpf_probe_read_kernel(e->data, sizeof(e->data), ctx) &&
		    sl_read_kernel(e->data, 256, ctx)) {
			__u32 n = c->fixed;
			if (n > sizeof(e->data))
				n = sizeof(e->data);
			if (!n || sl_read_kernel(e->data, n & (sizeof(e->data) - 1) ? n & (sizeof(e->data) - 1) : 1, ctx))
				__builtin_memset(e->data, 0, sizeof(e->data));
		}
		sl_submit(ctx, e, sizeof(*e));
		return 0;
	}
	__u32 off = c->offset & 0xffff;
	if (c->mode == SL_TP_COUNT) {
		struct sl_tp_key k = {.probe = probe};
		if (c->data_loc) {
			__u32 loc = 0;
			sl_read_kernel(&loc, sizeof(loc), ctx + off);
			sl_read_kernel_str(k.value, sizeof(k.value), ctx + (loc & 0xffff));
		} else {
			__u32 size = c->size;
			if (size > SL_TP_KEY)
				size = SL_TP_KEY;
			sl_read_kernel(k.value, size & (2 * SL_TP_KEY - 1), ctx + off);
		}
		__u64 *n = sl_lookup_or_init(&tp_counts, &k, &zero_u64);
		if (n)
			*n += 1;
		return 0;
	}
	__u64 v = 0;
	switch (c->size) {
	case 1: { __u8 x = 0; sl_read_kernel(&x, 1, ctx + off); v = c->is_signed ? (__u64)(__s64)(__s8)x : x; break; }
	case 2: { __u16 x = 0; sl_read_kernel(&x, 2, ctx + off); v = c->is_signed ? (__u64)(__s64)(__s16)x : x; break; }
	case 4: { __u32 x = 0; sl_read_kernel(&x, 4, ctx + off); v = c->is_signed ? (__u64)(__s64)(__s32)x : x; break; }
	default: sl_read_kernel(&v, 8, ctx + off); break;
	}
	if ((__s64)v < 0)
		v = 0; /* histograms are of non-negative values */
	struct sl_hist *h = bpf_map_lookup_elem(&tp_hist, &probe);
	if (h)
		sl_hist_add(h, v);
	return 0;
}
