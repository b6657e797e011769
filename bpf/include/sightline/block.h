/* block source ABI: per (device, op) latency and size histograms, per (process, device, op)
 * I/O and byte counts; each I/O as a record when asked (biosnoop); the page cache's
 * accesses, additions and dirtied pages when asked (cachestat). */
#ifndef SIGHTLINE_BLOCK_H
#define SIGHTLINE_BLOCK_H

#include "sightline/common.h"
#include "sightline/hist.h"

#define SL_BLOCK_MAX_INFLIGHT 16384 /* requests between insert/issue and complete */
#define SL_BLOCK_MAX_DEVOPS 64      /* (device, op) pairs; preallocated per CPU (~2.3 KiB each) */
#define SL_BLOCK_MAX_PROCS 8192     /* (process, device, op) triples */

/* op: the request's REQ_OP (0 read, 1 write, 2 flush, 3 discard, ...). dev: major << 20 | minor */
struct sl_block_key {
	__u32 dev;
	__u32 op;
};

struct sl_block_val {
	struct sl_hist latency; /* issue -> complete, ns */
	struct sl_hist size;    /* bytes completed */
	__u64 queue_ns;         /* insert -> issue, summed */
	__u64 errors;
};

struct sl_block_proc_key {
	__u32 tgid;
	__u32 dev;
	__u32 op;
	__u32 pad;
};

struct sl_block_proc_val {
	__u64 ios;
	__u64 bytes;
};

/* One completed block I/O. The header is the submitter's (the task at insert or issue: pid,
 * comm, cgroup; the rest zero), its time the completion's. */
struct sl_block_io_event {
	struct sl_event_hdr hdr;
	__u64 sector;
	__u64 latency_ns; /* issue -> complete */
	__u64 queue_ns;   /* insert -> issue; 0 when not inserted (issued directly) */
	__u32 dev;        /* major << 20 | minor */
	__u32 bytes;
	__u32 op;         /* REQ_OP */
	__s32 error;      /* blk_status_t; 0 ok */
};

/* Page cache counters (cachestat), node-wide, a per-CPU array indexed by these: hits and misses
 * are derived from them in user space as cachestat does (accesses less buffer dirties, additions
 * less dirtied pages). */
enum sl_page_cache_counter {
	SL_PC_ACCESSED = 0,       /* folio_mark_accessed (mark_page_accessed before 5.16): kprobe */
	SL_PC_BUFFER_DIRTIED = 1, /* mark_buffer_dirty: kprobe */
	SL_PC_ADDED = 2,          /* filemap:mm_filemap_add_to_page_cache */
	SL_PC_DIRTIED = 3,        /* writeback:writeback_dirty_folio (writeback_dirty_page before 5.17) */
	SL_PC_COUNTERS = 4,
};

#endif
