/* block source: block I/O latency (issue -> complete) and size histograms per device and
 * operation, time queued before issue, errors, and I/Os and bytes per submitting process; each
 * I/O as a record at completion when asked (want_io: biosnoop), named by its submitter.
 *
 * tp_btf/block_rq_insert and block_rq_issue stamp the request (keyed by its address; the
 * submitter is the current task at the first of the two), tp_btf/block_rq_complete closes it.
 * Bounds in sightline/block.h; a full map is counted (SL_STAT_MAP_FULL).
 *
 * The page cache (cachestat, when asked): a count per CPU of page accesses and buffer dirties
 * (kprobes: no tracepoint sits there), pages added to the cache and pages dirtied (tracepoints).
 * The user-space side picks the functions and tracepoints this kernel has and loads only those.
 */
#include "common.bpf.h"
#include "sightline/block.h"

SL_BTF_TYPE(sl_block_io_event);

const volatile bool want_io = false;

#define SL_REQ_OP_MASK 0xff
#define SL_MINORBITS 20

struct inflight {
	__u64 insert_ts;
	__u64 issue_ts;
	__u32 tgid;
	__u32 tid;        /* want_io: the submitter's thread, cgroup and name */
	__u64 cgroup_id;
	char comm[SL_COMM_LEN];
};

/* LRU: a request whose completion is never seen (in flight when we attached, a device that went
 * away) is evicted by newer ones instead of filling the map for good. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SL_BLOCK_MAX_INFLIGHT);
	__type(key, __u64);
	__type(value, struct inflight);
} block_inflight SEC(".maps");

/* Preallocated: completions run in interrupt context, where an on-demand element allocation
 * can fail (an empty per-CPU cache) and the update would be lost. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SL_BLOCK_MAX_DEVOPS);
	__type(key, struct sl_block_key);
	__type(value, struct sl_block_val);
} block_devops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SL_BLOCK_MAX_PROCS);
	__type(key, struct sl_block_proc_key);
	__type(value, struct sl_block_proc_val);
} block_procs SEC(".maps");

static const struct sl_block_val zero_devop = {};
static const struct sl_block_proc_val zero_proc = {};


static __always_inline void stamp(struct request *rq, bool issue)
{
	__u64 key = (__u64)rq, now = bpf_ktime_get_ns();
	struct inflight *f = bpf_map_lookup_elem(&block_inflight, &key);
	if (!f) {
		__u64 pid_tgid = bpf_get_current_pid_tgid();
		struct inflight fresh = {.tgid = pid_tgid >> 32};
		if (want_io) {
			fresh.tid = (__u32)pid_tgid;
			fresh.cgroup_id = bpf_get_current_cgroup_id();
			bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
		}
		if (SL_CHECK(SL_H_MAP_UPDATE, bpf_map_update_elem(&block_inflight, &key, &fresh, BPF_ANY))) {
			sl_count(SL_STAT_MAP_FULL);
			return;
		}
		f = bpf_map_lookup_elem(&block_inflight, &key);
		if (!f)
			return;
	}
	if (issue)
		f->issue_ts = now;
	else
		f->insert_ts = now;
}

SEC("tp_btf/block_rq_insert")
int BPF_PROG(sl_block_insert, struct request *rq)
{
	stamp(rq, false);
	return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(sl_block_issue, struct request *rq)
{
	stamp(rq, true);
	return 0;
}

/* Filtered by the submitter (it ran at insert/issue; the completion runs in an interrupt). */
static __always_inline void io_event(void *ctx, const struct inflight *f, struct request *rq, __u32 dev, __u32 op,
				     __u32 bytes, int error, __u64 latency, __u64 queued)
{
	if (targ_failed && !error)
		return;
	if ((self_tgid && f->tgid == self_tgid) || (targ_tgid && f->tgid != targ_tgid) ||
	    (targ_cgroup_id && f->cgroup_id != targ_cgroup_id) || (targ_comm_set && !sl_comm_matches(f->comm)))
		return;
	struct sl_block_io_event *e = sl_reserve(sizeof(*e));
	if (!e)
		return;
	__builtin_memset(e, 0, sizeof(*e));
	e->hdr.kind = SL_EV_BLOCK_IO;
	e->hdr.ts_ns = sl_now();
	e->hdr.pid = f->tgid;
	e->hdr.tid = f->tid;
	e->hdr.cgroup_id = f->cgroup_id;
	__builtin_memcpy(e->hdr.comm, f->comm, SL_COMM_LEN);
	e->sector = rq->__sector;
	e->latency_ns = latency;
	e->queue_ns = queued;
	e->dev = dev;
	e->bytes = bytes;
	e->op = op;
	e->error = error;
	sl_submit(ctx, e, sizeof(*e));
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(sl_block_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	__u64 key = (__u64)rq, now = bpf_ktime_get_ns();
	struct inflight *f = bpf_map_lookup_elem(&block_inflight, &key);
	if (!f)
		return 0; /* issued before we attached */
	__u64 issue = f->issue_ts, insert = f->insert_ts;
	__u32 tgid = f->tgid;
	if (!issue) {
		bpf_map_delete_elem(&block_inflight, &key);
		return 0;
	}

	struct gendisk *disk = rq->q->disk;
	__u32 dev = disk ? ((__u32)disk->major << SL_MINORBITS) | (__u32)disk->first_minor : 0;
	__u32 op = rq->cmd_flags & SL_REQ_OP_MASK;

	struct sl_block_key dk = {.dev = dev, .op = op};
	struct sl_block_val *v = sl_lookup_or_init(&block_devops, &dk, &zero_devop);
	if (v) {
		sl_hist_add(&v->latency, now - issue);
		sl_hist_add(&v->size, nr_bytes);
		if (insert && insert < issue)
			v->queue_ns += issue - insert;
		if (error)
			v->errors++;
	}
	struct sl_block_proc_key pk = {.tgid = tgid, .dev = dev, .op = op};
	struct sl_block_proc_val *p = sl_lookup_or_init(&block_procs, &pk, &zero_proc);
	if (p) {
		p->ios++;
		p->bytes += nr_bytes;
	}
	if (want_io)
		io_event(ctx, f, rq, dev, op, nr_bytes, error, now - issue, insert && insert < issue ? issue - insert : 0);
	bpf_map_delete_elem(&block_inflight, &key);
	return 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SL_PC_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} page_cache SEC(".maps");

static __always_inline void pc_count(__u32 counter, __u64 pages)
{
	__u64 *v = bpf_map_lookup_elem(&page_cache, &counter);
	if (v)
		*v += pages;
}

/* A folio's pages (large folios: 2^order; ext4 makes them on 6.x). Where the order is kept
 * changed: _folio_order (5.16-6.5), the low byte of _flags_1 (6.6+); the flags word became a
 * struct (memdesc_flags_t) in 6.17. Only a large folio (PG_head) has an order. */
struct sl_folio_flags {
	unsigned long f;
};
struct folio___memdesc {
	struct sl_folio_flags flags;
} __attribute__((preserve_access_index));
struct folio___word {
	unsigned long flags;
	unsigned char _folio_order;
	unsigned long _flags_1;
} __attribute__((preserve_access_index));

static __always_inline __u64 folio_pages(void *folio)
{
	struct folio___memdesc *fm = folio;
	struct folio___word *fw = folio;
	unsigned long flags = 0, flags_1 = 0;
	unsigned char order = 0;
	if (bpf_core_field_exists(fm->flags))
		bpf_core_read(&flags, sizeof(flags), &fm->flags.f);
	else
		bpf_core_read(&flags, sizeof(flags), &fw->flags);
	if (!(flags & (1UL << bpf_core_enum_value(enum pageflags, PG_head))))
		return 1;
	if (bpf_core_field_exists(fw->_folio_order)) {
		bpf_core_read(&order, sizeof(order), &fw->_folio_order);
	} else if (bpf_core_field_exists(fw->_flags_1)) {
		bpf_core_read(&flags_1, sizeof(flags_1), &fw->_flags_1);
		order = flags_1 & 0xff;
	}
	return order < 20 ? 1ULL << order : 1;
}

SEC("kprobe/folio_mark_accessed")
int BPF_KPROBE(sl_pc_folio_accessed, void *folio)
{
	pc_count(SL_PC_ACCESSED, folio_pages(folio));
	return 0;
}

SEC("kprobe/mark_page_accessed")
int BPF_KPROBE(sl_pc_page_accessed)
{
	pc_count(SL_PC_ACCESSED, 1);
	return 0;
}

SEC("kprobe/mark_buffer_dirty")
int BPF_KPROBE(sl_pc_buffer_dirty)
{
	pc_count(SL_PC_BUFFER_DIRTIED, 1);
	return 0;
}

SEC("tp_btf/mm_filemap_add_to_page_cache")
int BPF_PROG(sl_pc_folio_added, void *folio)
{
	pc_count(SL_PC_ADDED, folio_pages(folio));
	return 0;
}

/* Before folios (5.16): a page an event. */
SEC("tracepoint/filemap/mm_filemap_add_to_page_cache")
int sl_pc_page_added(void *ctx)
{
	pc_count(SL_PC_ADDED, 1);
	return 0;
}

SEC("tp_btf/writeback_dirty_folio")
int BPF_PROG(sl_pc_folio_dirtied, void *folio)
{
	pc_count(SL_PC_DIRTIED, folio_pages(folio));
	return 0;
}

SEC("tracepoint/writeback/writeback_dirty_page")
int sl_pc_page_dirtied(void *ctx)
{
	pc_count(SL_PC_DIRTIED, 1);
	return 0;
}
