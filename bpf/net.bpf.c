/* net source: TCP connection lifecycle. One record per connection at close: both ends, role,
 * connect latency, duration, bytes each way, retransmits, smoothed RTT, resets, and the error
 * of a failed connect.
 *
 * tp_btf/inet_sock_set_state follows each socket (keyed by its address, bounded): SYN_SENT
 * (connect: the current task owns it), SYN_RECV->ESTABLISHED (accepted), FIN_WAIT1/LAST_ACK
 * (close() in the owner's context names an accepted socket's owner), CLOSE (emit).
 * tp_btf/tcp_receive_reset and tcp_send_reset flag resets.
 *
 * Socket traffic per process: tp_btf/sock_send_length and sock_recv_length (6.3+) fire after
 * every sendmsg/recvmsg in the caller's context; bytes and calls are summed in a per-CPU hash
 * by (tgid, family, protocol) (sock_traffic.bpf.h). Live TCP bytes, UDP datagrams, unix-socket
 * traffic. Where l7 runs on the same tracepoints its programs count this instead.
 */
#include "common.bpf.h"
#include "sightline/net.h"
#include "sock_traffic.bpf.h"

SL_BTF_TYPE(sl_tcp_event);

#define SL_AF_INET 2
#define SL_AF_INET6 10
#define SL_IPPROTO_TCP 6

enum {
	TCP_ESTABLISHED_ = 1,
	TCP_SYN_SENT_ = 2,
	TCP_SYN_RECV_ = 3,
	TCP_FIN_WAIT1_ = 4,
	TCP_FIN_WAIT2_ = 5,
	TCP_TIME_WAIT_ = 6,
	TCP_CLOSE_ = 7,
	TCP_CLOSE_WAIT_ = 8,
	TCP_LAST_ACK_ = 9,
	TCP_CLOSING_ = 11,
};

#define SL_CONN_FIN_RECV 0x80 /* in conn.flags: the peer's FIN arrived (counts in bytes_received) */

struct conn {
	__u64 syn_ts;
	__u64 est_ts;
	__u16 lport; /* kept from ESTABLISHED: a closing socket may have released its port */
	__u16 pad0[3];
	struct sl_event_hdr owner; /* kind 0 until known */
	__u8 role;
	__u8 flags;
	__u8 pad[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SL_NET_MAX_CONNS);
	__type(key, __u64);
	__type(value, struct conn);
} conns SEC(".maps");

static __always_inline struct conn *conn_new(__u64 key, __u8 role)
{
	struct conn c = {.role = role};
	if (SL_CHECK(SL_H_MAP_UPDATE, bpf_map_update_elem(&conns, &key, &c, BPF_ANY))) {
		sl_count(SL_STAT_PAIR_LOST);
		return NULL;
	}
	return bpf_map_lookup_elem(&conns, &key);
}

/* The current task owns the socket (called in its syscall context only). */
static __always_inline void set_owner(struct conn *c)
{
	struct sl_task t;
	if (!sl_wanted(&t)) {
		c->owner.kind = 0xffffffff; /* filtered out: never emitted */
		return;
	}
	sl_fill_hdr(&c->owner, SL_EV_TCP, &t);
}

static __always_inline void emit(void *ctx, const struct sock *sk, struct conn *c, int oldstate, __u64 now)
{
	if (c->owner.kind == 0xffffffff)
		return;
	if (targ_failed && oldstate != TCP_SYN_SENT_ && !(c->flags & (SL_TCP_RESET_RECV | SL_TCP_RESET_SENT)))
		return;
	struct sl_tcp_event *e = sl_reserve(sizeof(*e));
	if (!e)
		return;
	__builtin_memset(e, 0, sizeof(*e));
	if (c->owner.kind)
		e->hdr = c->owner;
	e->hdr.kind = SL_EV_TCP;
	e->hdr.ts_ns = sl_now();
	__u16 family = sk->__sk_common.skc_family;
	e->family = family;
	if (family == SL_AF_INET) {
		__builtin_memcpy(e->saddr, &sk->__sk_common.skc_rcv_saddr, 4);
		__builtin_memcpy(e->daddr, &sk->__sk_common.skc_daddr, 4);
	} else {
		__builtin_memcpy(e->saddr, &sk->__sk_common.skc_v6_rcv_saddr, 16);
		__builtin_memcpy(e->daddr, &sk->__sk_common.skc_v6_daddr, 16);
	}
	__u16 num = sk->__sk_common.skc_num, kept = c->lport;
	asm volatile("" : "+r"(num)); /* two loads, not one load from either pointer */
	e->sport = num ? num : kept;
	e->dport = __builtin_bswap16(sk->__sk_common.skc_dport);
	e->role = c->role;
	e->flags = (c->flags & ~SL_CONN_FIN_RECV) | (oldstate == TCP_SYN_SENT_ ? SL_TCP_FAILED : 0);
	__u64 start = c->est_ts ? c->est_ts : c->syn_ts;
	e->duration_ns = start && now > start ? now - start : 0;
	e->connect_ns = c->est_ts && c->syn_ts ? c->est_ts - c->syn_ts : 0;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
	if (tp) {
		/* Payload only: bytes_sent counts data segments (retransmissions too), bytes_received
		 * counts the peer's FIN as one. */
		__u64 sent = tp->bytes_sent, retrans = tp->bytes_retrans, rcvd = tp->bytes_received;
		e->bytes_sent = sent > retrans ? sent - retrans : 0;
		e->bytes_received = (c->flags & SL_CONN_FIN_RECV) && rcvd ? rcvd - 1 : rcvd;
		e->retransmits = tp->total_retrans;
		e->srtt_us = tp->srtt_us >> 3;
	}
	e->error = sk->sk_err;
	sl_submit(ctx, e, sizeof(*e));
}

/* Live, node-wide: every TCP state change, and every retransmitted segment. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SL_TCP_NSTATES * SL_TCP_NSTATES);
	__type(key, __u32);
	__type(value, __u64);
} tcp_transitions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} tcp_retransmits SEC(".maps");

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(sl_tcp_state, const struct sock *sk, const int oldstate, const int newstate)
{
	if (sk->sk_protocol != SL_IPPROTO_TCP)
		return 0;
	if (oldstate >= 0 && oldstate < SL_TCP_NSTATES && newstate >= 0 && newstate < SL_TCP_NSTATES) {
		__u32 idx = oldstate * SL_TCP_NSTATES + newstate;
		__u64 *n = bpf_map_lookup_elem(&tcp_transitions, &idx);
		if (n)
			*n += 1;
	}
	__u64 key = (__u64)sk, now = bpf_ktime_get_ns();
	struct conn *c;
	switch (newstate) {
	case TCP_SYN_SENT_:
		c = conn_new(key, SL_TCP_CLIENT);
		if (c) {
			c->syn_ts = now;
			set_owner(c);
		}
		return 0;
	case TCP_ESTABLISHED_:
		if (oldstate == TCP_SYN_SENT_) {
			c = bpf_map_lookup_elem(&conns, &key);
		} else if (oldstate == TCP_SYN_RECV_) {
			c = conn_new(key, SL_TCP_SERVER);
		} else {
			return 0;
		}
		if (c) {
			c->est_ts = now;
			c->lport = sk->__sk_common.skc_num;
		}
		return 0;
	case TCP_CLOSE_WAIT_:
	case TCP_TIME_WAIT_:
	case TCP_CLOSING_:
		c = bpf_map_lookup_elem(&conns, &key);
		if (c)
			c->flags |= SL_CONN_FIN_RECV;
		return 0;
	case TCP_FIN_WAIT1_:
	case TCP_LAST_ACK_:
		c = bpf_map_lookup_elem(&conns, &key);
		if (c && !c->owner.kind)
			set_owner(c); /* close() of the owner */
		return 0;
	case TCP_CLOSE_:
		c = bpf_map_lookup_elem(&conns, &key);
		if (c) {
			/* FIN_WAIT2 ends when the peer's FIN arrives (tcp_time_wait hands the rest to a
			 * timewait socket), or on the rare FIN_WAIT2 timeout. */
			if (oldstate == TCP_FIN_WAIT2_)
				c->flags |= SL_CONN_FIN_RECV;
			emit(ctx, sk, c, oldstate, now);
			bpf_map_delete_elem(&conns, &key);
		}
		return 0;
	}
	return 0;
}

static __always_inline void flag(const struct sock *sk, __u8 f)
{
	if (!sk)
		return;
	__u64 key = (__u64)sk;
	struct conn *c = bpf_map_lookup_elem(&conns, &key);
	if (c)
		c->flags |= f;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(sl_tcp_rst_recv, struct sock *sk)
{
	flag(sk, SL_TCP_RESET_RECV);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(sl_tcp_retransmit, const struct sock *sk)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&tcp_retransmits, &zero);
	if (n)
		*n += 1;
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(sl_tcp_rst_sent, const struct sock *sk, const struct sk_buff *skb)
{
	flag(sk, SL_TCP_RESET_SENT);
	return 0;
}

#define SL_MSG_PEEK 2

static __always_inline void sock_account(const struct sock *sk, int ret, int flags, bool sent)
{
	if (ret <= 0 || !sk || (!sent && (flags & SL_MSG_PEEK)))
		return;
	struct sl_task t;
	if (!sl_wanted(&t))
		return;
	sl_sock_traffic_add(sk, t.pid_tgid >> 32, ret, sent);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(sl_sock_send, struct sock *sk, int ret, int flags)
{
	sock_account(sk, ret, flags, true);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sl_sock_recv, struct sock *sk, int ret, int flags)
{
	sock_account(sk, ret, flags, false);
	return 0;
}
