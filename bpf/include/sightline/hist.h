/* Log-linear histogram shared by BPF and C++: log2 buckets, each split in SL_HIST_SUB linear
 * sub-buckets (relative error <= 1/SL_HIST_SUB). Values are ns (or bytes). One definition of
 * the bucket math for the kernel side that fills it and the user side that reads it. */
#ifndef SIGHTLINE_HIST_H
#define SIGHTLINE_HIST_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define SL_HIST_SUB_BITS 2
#define SL_HIST_SUB (1 << SL_HIST_SUB_BITS)
/* Values of 2^SL_HIST_MAX_POW and more (68.7 s in ns) share the last bucket. */
#define SL_HIST_MAX_POW 36
#define SL_HIST_SLOTS (SL_HIST_SUB + (SL_HIST_MAX_POW - SL_HIST_SUB_BITS) * SL_HIST_SUB + 1)

struct sl_hist {
	__u64 slots[SL_HIST_SLOTS];
	__u64 sum; /* of the values, for averages and Prometheus _sum */
};

static inline __u32 sl_log2_u64(__u64 v)
{
	__u32 r = 0, s;
	s = (v > 0xFFFFFFFFULL) << 5; v >>= s; r |= s;
	s = (v > 0xFFFF) << 4; v >>= s; r |= s;
	s = (v > 0xFF) << 3; v >>= s; r |= s;
	s = (v > 0xF) << 2; v >>= s; r |= s;
	s = (v > 0x3) << 1; v >>= s; r |= s;
	r |= (v >> 1);
	return r;
}

static inline __u32 sl_hist_slot(__u64 v)
{
	if (v < SL_HIST_SUB)
		return (__u32)v;
	__u32 msb = sl_log2_u64(v);
	if (msb >= SL_HIST_MAX_POW)
		return SL_HIST_SLOTS - 1;
	return SL_HIST_SUB + (msb - SL_HIST_SUB_BITS) * SL_HIST_SUB +
	       (__u32)((v >> (msb - SL_HIST_SUB_BITS)) & (SL_HIST_SUB - 1));
}

/* Counts one value. clang proves the slot in range and drops the check, which verifiers before
 * ~6.8 cannot follow through the arithmetic ("unbounded memory access" on 6.1): the empty asm
 * hides the value from the compiler so the check stays for the verifier (libbpf's barrier_var). */
static inline void sl_hist_add(struct sl_hist *h, __u64 v)
{
	__u32 slot = sl_hist_slot(v);
#ifdef __bpf__
	asm volatile("" : "+r"(slot));
#endif
	if (slot < SL_HIST_SLOTS)
		h->slots[slot]++;
	h->sum += v;
}

/* Smallest value that lands in `slot` (the last slot's is 2^SL_HIST_MAX_POW). */
static inline __u64 sl_hist_lower(__u32 slot)
{
	if (slot < SL_HIST_SUB)
		return slot;
	if (slot >= SL_HIST_SLOTS - 1)
		return 1ULL << SL_HIST_MAX_POW;
	__u32 msb = (slot - SL_HIST_SUB) / SL_HIST_SUB + SL_HIST_SUB_BITS;
	__u64 sub = (slot - SL_HIST_SUB) % SL_HIST_SUB;
	return (SL_HIST_SUB + sub) << (msb - SL_HIST_SUB_BITS);
}

#endif
