/* Socket traffic per process (sightline/net.h sl_sock_key/sl_sock_val): every sendmsg and
 * recvmsg that moved bytes, summed in a per-CPU hash by (tgid, family, protocol). The net source
 * reads it. Counted by net's own programs on tp_btf/sock_send_length and sock_recv_length, or,
 * where l7 runs on those tracepoints too, by l7's programs into net's map (user space hands net's
 * object l7's map: one program per socket I/O instead of two). */
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

static const struct sl_sock_val sl_zero_sock_val = {};

/* `ret` bytes moved by the current process (tgid) on `sk`; the caller has skipped failed calls
 * and MSG_PEEK reads (the same bytes are read again). */
static __always_inline void sl_sock_traffic_add(const struct sock *sk, __u32 tgid, int ret, bool sent)
{
	struct sl_sock_key key = {
		.tgid = tgid,
		.family = sk->__sk_common.skc_family,
		.protocol = sk->sk_protocol,
	};
	struct sl_sock_val *v = sl_lookup_or_init(&sock_traffic, &key, &sl_zero_sock_val);
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
