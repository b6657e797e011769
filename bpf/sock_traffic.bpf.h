/* Socket traffic per process (sightline/net.h sl_sock_key/sl_sock_val): every sendmsg and
 * recvmsg that moved bytes, summed by (tgid, family, protocol) in per-CPU slots, or where its
 * slot is another key's in a per-CPU hash. The net source reads both. Counted by net's own
 * programs on tp_btf/sock_send_length and sock_recv_length, or, where l7 runs on those
 * tracepoints too, by l7's programs into l7's maps, which user space hands net's object (one
 * program per socket I/O instead of two). */
#ifndef SIGHTLINE_SOCK_TRAFFIC_BPF_H
#define SIGHTLINE_SOCK_TRAFFIC_BPF_H
#pragma push_macro("SL_FILE")
#undef SL_FILE
#define SL_FILE SL_FILE_SOCK_TRAFFIC

#include "sightline/net.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SL_NET_MAX_SOCK_KEYS);
	__type(key, struct sl_sock_key);
	__type(value, struct sl_sock_val);
} sock_traffic SEC(".maps");

/* The slots in front of it (sightline/net.h sl_sock_slot): an array lookup where the hash's
 * costs about 100 ns more each socket I/O on this machine. User space sizes it (every possible
 * CPU's slots) and maps it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, SL_NET_SOCK_SLOTS);
	__type(key, __u32);
	__type(value, struct sl_sock_slot);
} sock_slots SEC(".maps");

static const struct sl_sock_val sl_zero_sock_val = {};

/* This CPU's slot for `key` when it holds the key or was free and now does; NULL: the hash.
 * Without an atomic compare-and-swap (BPF v3, 5.12+): two keys of one slot taking it at once
 * (a program preempted between the read and the write) can count a few calls under the
 * other's name. A freed slot's value is zero already (user space zeroes it before the key). */
static __always_inline struct sl_sock_val *sl_sock_slot_val(const struct sl_sock_key *key)
{
	__u32 i = sl_sock_slot_of(bpf_get_smp_processor_id(), key);
	struct sl_sock_slot *s = bpf_map_lookup_elem(&sock_slots, &i);
	if (!s || !key->tgid)
		return NULL;
	__u64 want = *(const __u64 *)key, *held = (__u64 *)&s->key;
	__u64 have = *(volatile __u64 *)held;
	if (have == want)
		return &s->val;
	if (have)
		return NULL;
	*(volatile __u64 *)held = want;
	return *(volatile __u64 *)held == want ? &s->val : NULL;
}

/* `ret` bytes moved by the current process (tgid) on `sk`; the caller has skipped failed calls
 * and MSG_PEEK reads (the same bytes are read again). */
static __always_inline void sl_sock_traffic_add(const struct sock *sk, __u32 tgid, int ret, bool sent)
{
	struct sl_sock_key key = {
		.tgid = tgid,
		.family = sk->__sk_common.skc_family,
		.protocol = sk->sk_protocol,
	};
	struct sl_sock_val *v = sl_sock_slot_val(&key);
	if (!v)
		v = sl_lookup_or_init(&sock_traffic, &key, &sl_zero_sock_val);
	if (!v)
		return;
	if (sent) {
		v->sent_bytes += ret;
		v->sent_calls++;
	} else {
		v->recv_bytes += ret;
		v->recv_calls++;
	}
}

#pragma pop_macro("SL_FILE")
#endif
