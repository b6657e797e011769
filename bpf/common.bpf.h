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

/* Filters, set in rodata before load so the verifier prunes what is off (libbpf-tools style). */
const volatile __u32 targ_tgid = 0;          /* only this process (0: all) */
const volatile __u32 self_tgid = 0;          /* never this process: the agent itself */
const volatile __u64 targ_cgroup_id = 0;     /* only this cgroup v2 id (0: all) */
const volatile bool targ_comm_set = false;
const volatile char targ_comm[SL_COMM_LEN] = {};
/* Wake the reader only when this much data waits; below it the reader polls on its own period.
 * Per-event wakeups are what makes opensnoop-style tools cost 4-5x. */
const volatile __u64 wakeup_bytes = 1 << 20;

/* One ring buffer per object; user space sets its size before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

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

/* True when the current task passes the load-time filters. */
static __always_inline bool sl_wanted(void)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;

	if (self_tgid && tgid == self_tgid)
		return false;
	if (targ_tgid && tgid != targ_tgid)
		return false;
	if (targ_cgroup_id && bpf_get_current_cgroup_id() != targ_cgroup_id)
		return false;
	if (targ_comm_set) {
		char comm[SL_COMM_LEN];
		bpf_get_current_comm(comm, sizeof(comm));
		for (int i = 0; i < SL_COMM_LEN; i++) {
			if (comm[i] != targ_comm[i])
				return false;
			if (comm[i] == 0)
				break;
		}
	}
	return true;
}

static __always_inline void sl_fill_hdr(struct sl_event_hdr *h, __u32 kind)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 uid_gid = bpf_get_current_uid_gid();

	h->ts_ns = bpf_ktime_get_boot_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->kind = kind;
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->ppid = BPF_CORE_READ(task, real_parent, tgid);
	h->uid = (__u32)uid_gid;
	h->gid = uid_gid >> 32;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

static __always_inline void *sl_reserve(__u64 size)
{
	void *e = bpf_ringbuf_reserve(&events, size, 0);
	if (!e)
		sl_count(SL_STAT_RB_LOST);
	return e;
}

static __always_inline void sl_submit(void *e)
{
	__u64 waiting = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	bpf_ringbuf_submit(e, waiting >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
}

/* Variable-length records (exec argv) are copied from a map value. */
static __always_inline void sl_output(void *data, __u64 size)
{
	__u64 waiting = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
	if (bpf_ringbuf_output(&events, data, size,
			       waiting >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP))
		sl_count(SL_STAT_RB_LOST);
}

#endif
