/* net source: TCP connection lifecycle. One record per connection at close: both ends, role,
 * connect latency, duration, bytes each way, retransmits, smoothed RTT, resets, and the error
 * of a failed connect.
 *
 * tp_btf/inet_sock_set_state follows each socket (keyed by its address, bounded): SYN_SENT
 * (connect: the current task owns it), SYN_RECV->ESTABLISHED (accepted), FIN_WAIT1/LAST_ACK
 * (close() in the owner's context names an accepted socket's owner), CLOSE (emit).
 * tp_btf/tcp_receive_reset and tcp_send_reset flag resets. The exits of accept() and accept4()
 * name an accepted socket's owner as it is accepted.
 *
 * Asked for (rodata), the same record goes out as each event happens: `connect` when a
 * connect's handshake ends (ESTABLISHED, or CLOSE from SYN_SENT: tcpconnect and tcpconnlat in
 * one), `accept` when accept() returns a connection (with its wait in the listen queue),
 * `retransmit` for each retransmitted segment (tcpretrans).
 *
 * Socket traffic per process: tp_btf/sock_send_length and sock_recv_length (6.3+) fire after
 * every sendmsg/recvmsg in the caller's context; bytes and calls are summed in a per-CPU hash
 * by (tgid, family, protocol) (sock_traffic.bpf.h). Live TCP bytes, UDP datagrams, unix-socket
 * traffic. Where l7 runs on the same tracepoints its programs count this instead.
 */
#include "common.bpf.h"
#include "sightline/net.h"
#include "sock.bpf.h"
#include "sock_traffic.bpf.h"

SL_BTF_TYPE(sl_tcp_event);

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

/* Which per-event kinds go out (user space sets them from the kinds asked for). */
const volatile bool want_tcp = true;
const volatile bool want_connect = false;
const volatile bool want_accept = false;
const volatile bool want_retransmit = false;

#define SL_CONN_FIN_RECV 0x80 /* in conn.flags: the peer's FIN arrived (counts in bytes_received) */

#define SL_OWNER_FILTERED 0xffffffff /* in owner.kind: filtered out, never emitted */

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
		c->owner.kind = SL_OWNER_FILTERED;
		return;
	}
	sl_fill_hdr(&c->owner, SL_EV_TCP, &t);
}

/* A record of `kind` about `sk` with both ends, owned by `c`'s owner where it has one (else the
 * header stays zero: pid 0, as tcpretrans shows a retransmit from a timer). NULL when the ring
 * is full. */
static __always_inline struct sl_tcp_event *tcp_record(const struct sock *sk, const struct conn *c, __u32 kind)
{
	struct sl_tcp_event *e = sl_reserve(sizeof(*e));
	if (!e)
		return NULL;
	__builtin_memset(e, 0, sizeof(*e));
	if (c && c->owner.kind)
		e->hdr = c->owner;
	e->hdr.kind = kind;
	e->hdr.ts_ns = sl_now();
	/* Probe reads: `sk` is a BTF pointer from the state tracepoints, a plain one from an fd. */
	e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	sl_sock_ends((struct sock *)sk, e->family, e->saddr, e->daddr, &e->sport, &e->dport);
	if (!e->sport) /* a closing socket has released its port (inet_put_port), not inet_sport */
		e->sport = __builtin_bswap16(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	if (!e->sport && c)
		e->sport = c->lport;
	e->fd = -1;
	if (c)
		e->role = c->role;
	return e;
}

static __always_inline void emit(void *ctx, const struct sock *sk, struct conn *c, int oldstate, __u64 now)
{
	if (!want_tcp || c->owner.kind == SL_OWNER_FILTERED)
		return;
	if (targ_failed && oldstate != TCP_SYN_SENT_ && !(c->flags & (SL_TCP_RESET_RECV | SL_TCP_RESET_SENT)))
		return;
	struct sl_tcp_event *e = tcp_record(sk, c, SL_EV_TCP);
	if (!e)
		return;
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

/* A connect's handshake ended: established after `c->syn_ts`, or failed (CLOSE from SYN_SENT). */
static __always_inline void emit_connect(void *ctx, const struct sock *sk, const struct conn *c, bool failed)
{
	if (c->owner.kind == SL_OWNER_FILTERED || (targ_failed && !failed))
		return;
	struct sl_tcp_event *e = tcp_record(sk, c, SL_EV_CONNECT);
	if (!e)
		return;
	if (failed) {
		e->flags = SL_TCP_FAILED | (c->flags & (SL_TCP_RESET_RECV | SL_TCP_RESET_SENT));
		e->error = sk->sk_err;
	} else {
		e->connect_ns = c->est_ts - c->syn_ts;
	}
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
			if (oldstate == TCP_SYN_SENT_ && want_connect)
				emit_connect(ctx, sk, c, false);
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
			if (oldstate == TCP_SYN_SENT_ && want_connect)
				emit_connect(ctx, sk, c, true);
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
	if (!want_retransmit || !sk)
		return 0;
	/* From a timer or softirq: the owner is the connection's, known where its connect or accept
	 * was seen; an unknown owner passes only when no process filter is set. */
	__u64 key = (__u64)sk;
	struct conn *c = bpf_map_lookup_elem(&conns, &key);
	if (c && c->owner.kind == SL_OWNER_FILTERED)
		return 0;
	if ((!c || !c->owner.kind) && (targ_tgid || targ_cgroup_id || targ_comm_set || targ_failed))
		return 0;
	struct sl_tcp_event *e = tcp_record(sk, c, SL_EV_RETRANSMIT);
	if (!e)
		return 0;
	e->state = sk->__sk_common.skc_state;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
	if (tp) {
		e->retransmits = tp->total_retrans + 1; /* counted after the tracepoint */
		e->srtt_us = tp->srtt_us >> 3;
	}
	sl_submit(ctx, e, sizeof(*e));
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(sl_tcp_rst_sent, const struct sock *sk, const struct sk_buff *skb)
{
	flag(sk, SL_TCP_RESET_SENT);
	return 0;
}

/* accept()/accept4() returned `fd`: the acceptor owns the connection from now on (it is named
 * by whoever closes it when this was not seen). An `accept` record if asked for. */
static __always_inline int accepted(void *ctx, long fd)
{
	if (fd < 0)
		return 0;
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0; /* its close names it, as filtered */
	struct sock *sk = sl_file_sock(sl_fd_file(sl_task_ptr(&t), fd));
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != SL_IPPROTO_TCP)
		return 0;
	__u64 key = (__u64)sk;
	struct conn *c = bpf_map_lookup_elem(&conns, &key);
	if (c)
		sl_fill_hdr(&c->owner, SL_EV_TCP, &t);
	if (!want_accept || targ_failed)
		return 0;
	struct sl_tcp_event *e = tcp_record(sk, c, SL_EV_ACCEPT);
	if (!e)
		return 0;
	if (!c)
		sl_fill_hdr(&e->hdr, SL_EV_ACCEPT, &t);
	e->role = SL_TCP_SERVER;
	e->fd = fd;
	__u64 now = bpf_ktime_get_ns();
	if (c && c->est_ts && now > c->est_ts)
		e->duration_ns = now - c->est_ts;
	sl_submit(ctx, e, sizeof(*e));
	return 0;
}

SEC("tp/syscalls/sys_exit_accept4")
int sl_accept4_exit(struct syscall_trace_exit *ctx)
{
	return accepted(ctx, ctx->ret);
}

SEC("tp/syscalls/sys_exit_accept")
int sl_accept_exit(struct syscall_trace_exit *ctx)
{
	return accepted(ctx, ctx->ret);
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
