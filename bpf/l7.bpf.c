/* l7 source: the payloads of TCP connections that speak a protocol we parse (HTTP/1, Redis,
 * PostgreSQL, MySQL; DNS on port 53 or, on any port, by its header's shape after its length)
 * and of DNS datagrams (port 53, or by the header's shape).
 *
 * Hooks, cheapest first (user space picks by kernel): the socket layer's tracepoints
 * sock_send_length/sock_recv_length (6.3+: only socket I/O runs a program, with the socket in
 * hand; the syscall's number and arguments come from the saved user registers; sendmmsg and
 * recvmmsg by their exit tracepoints); else the raw sys_exit (every syscall runs it, the
 * read/write family goes on, the socket found from the fd); else one sys_exit_* tracepoint per
 * syscall of the family (read, write, readv, writev, recvfrom, sendto, recvmsg, sendmsg,
 * sendmmsg, recvmmsg, sendfile64). The bytes are in the user buffer at either point, whichever
 * the direction.
 *
 * Per TCP socket an LRU map (SL_L7_MAX_CONNS) keeps the inferred protocol, role, ends and the
 * in-kernel RED pairing (red_step: counts in l7_red, exact whatever is sampled or lost). A socket
 * whose first SL_L7_MAX_MISSES messages match no protocol is marked ignored: from then on its
 * syscalls cost a lookup.
 *
 * A record (the exchanges sent in detail: see red_step) carries min(bytes moved, capture_bytes)
 * of the data (<= SL_L7_MAX_CAPTURE; iovecs: the first SL_L7_MAX_IOV) and the true length; built
 * in a per-CPU scratch buffer and copied to the ring with a batched wakeup.
 * tp_btf/inet_sock_set_state -> TCP_CLOSE sends a close record for a connection something of
 * which went out, and forgets it (a reused socket address starts afresh).
 *
 * Timelines (thread_times): at a server's request start the serving thread's time so far (the
 * sched source's accounting, bpf/thread_time.bpf.h) is kept in the connection's state; at its
 * response's start the difference goes out on the response's record (sl_l7_event.tm).
 */
#include "common.bpf.h"
#include "sightline/l7.h"
#include "sightline/l7_infer.h"
#include "sock.bpf.h"
#include "sock_traffic.bpf.h"
#include "thread_time.bpf.h"

SL_BTF_TYPE(sl_l7_event);
SL_BTF_TYPE(sl_l7_red_key);
SL_BTF_TYPE(sl_l7_red_val);

/* Bytes of each message copied; set before load (l7.capture_bytes). */
const volatile __u32 capture_bytes = 4096;
/* OpenSSL uprobes are attached: syscalls inside an SSL call carry ciphertext (not sent; they
 * name the call's socket). */
const volatile bool tls_enabled = false;
/* Exchanges (a request and its response) sent in detail: 1 in detail_sample, and every one that
 * fails or takes slow_ns or more (l7.sample, l7.slow_ms). The counts in l7_red are of all. */
__u32 detail_sample = 1; /* .data: the overhead governor raises it while running */
/* Methods whose exchanges always go out in detail, whatever the sample (l7.always_detail, and
 * the methods rules name: a rule must see every FLUSHALL, not 1 in 64). Keys: sl_l7_word8's
 * words. Looked up only for an exchange the sample would drop; always_detail_n: entries. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SL_L7_MAX_ALWAYS);
	__type(key, __u64);
	__type(value, __u8);
} l7_always_detail SEC(".maps");

/* Ports and the protocol each is known for (sources.l7.ports, with the defaults), set before
 * load: the inference's shapes that are only that protocol's on its port (a Memcached text
 * command is a Redis inline one elsewhere). A scan of these, not a map: a lookup's key would
 * take stack, and the programs' call chains are at their combined-stack bound. */
const volatile __u32 port_hints_n = 0;
const volatile __u16 port_hint_port[SL_L7_MAX_PORTS] = {};
const volatile __u8 port_hint_proto[SL_L7_MAX_PORTS] = {};
__u32 always_detail_n = 0;
/* Exchanges each CPU sends in detail every second before the sample applies (l7.detail_per_s):
 * a quiet service shows every request, a busy one a sample. The governor sets it to 0. */
__u32 detail_per_s = 0;
const volatile __u64 slow_ns = 100000000;
/* The socket programs also count net's per-process socket traffic (sock_traffic.bpf.h), into
 * net's map: set before load when net runs too (one program per socket I/O, not two). */
const volatile bool count_sock_traffic = false;
/* sched_ts is the sched source's (user space handed its fd over): server responses carry their
 * request's timeline. */
const volatile bool thread_times = false;
/* A loopback TCP connection is counted at its server's end only (l7.local_ends: server): both
 * ends are this node's, they move the same bytes, and the server's is the one its service's
 * RED wants. Its client's end infers the protocol and its role from the same first message as
 * the server's end does, then stops (SL_L7_PEER): no per-end race, each end decides alone. Set
 * by user space only where every process is traced (no pid, cgroup or name filter: the server
 * must be traced too), and never for TLS plaintext (a server's TLS library may have no probes)
 * or a connection to self_port (the agent's own listener: it does not trace itself). */
const volatile bool local_server_end = false;
const volatile __u16 self_port = 0;

/* Where the data is: a buffer (arg 2), one with a sockaddr (arg 5: recvfrom, sendto), an iovec
 * array (arg 2, count arg 3), a msghdr (arg 2), or nowhere (sendfile). */
enum { HOW_BUF = 0, HOW_BUF_ADDR = 1, HOW_IOV = 2, HOW_MSG = 3, HOW_NONE = 4, HOW_MMSG = 5 };
/* Or'ed into `how`: the sender's address is not in user memory yet (a receive seen at the
 * socket layer, before recvfrom/recvmsg wrote it): a datagram's peer is unknown. */
#define HOW_NOPEER 0x80
#define SL_L7_MAX_MMSG 2

#define SL_TCP_CLOSE 7

struct conn_state {
	__u8 proto; /* enum sl_l7_proto, SL_L7_IGNORED */
	__u8 role;
	__u8 misses;
	__u8 detail; /* the exchange under way is sent in detail */
	__u16 lport, rport; /* the ends, read once when the protocol is found */
	__u8 laddr[16], raddr[16];
	__u64 req_ts;    /* the oldest unanswered request's start */
	__u32 pending;   /* requests not yet answered */
	__u8 sent;       /* a record of it went out: its close is sent too */
	__u8 split;      /* MySQL: the last read was a packet's header alone (split_hdr); an unknown
			  * connection's last messages: 2, two bytes (a DNS length? tcp_dns); 3, one byte;
			  * HTTP: 4, a request's first letters alone (split_hdr, their count in [3]) */
	__u8 split_hdr[4];
	__u16 family;
	__u32 weight; /* the exchange under way stands for this many (1 in N sampled: N) */
	__u64 method; /* of the oldest unanswered request (sl_l7_word8) */
	/* thread_times: at the request's start, the serving thread's time (tt_tid: its id; 0, not
	 * accounted); at its response's start (tt_ready), the difference, for the response's record */
	struct sl_thread_time tt;
	__u32 tt_tid;
	__u32 tt_ready; /* SL_L7_TM_* for the next record that goes out, 0: none */
	/* The socket's retransmits: at the request's start (rt_ts: which request's), then the
	 * difference at its response's (rt_ready: for the next record that goes out). */
	__u64 rt_ts;
	__u32 rt0;
	__u16 rt;
	__u16 rt_ready;
	__u32 serve_id; /* the request under way was made while its thread served one: that one's
			 * start (sl_sched_thread.serving), its low 32 bits; 0: not */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SL_L7_MAX_CONNS);
	__type(key, __u64);
	__type(value, struct conn_state);
} l7_conns SEC(".maps");

struct scratch {
	struct sl_l7_event e;
	__u8 data[2 * SL_L7_MAX_CAPTURE]; /* an offset < MAX plus a copy <= MAX always fits */
	/* the message's buffer, for sl_l7_send_chunks (kept here: arguments the programs would
	 * keep on their stacks, at the 512-byte bound already) */
	__u64 buf, iov, iovcnt;
	__u32 how;
	struct resp_walk {
		__u32 off;  /* the next header */
		__u32 n;    /* bytes copied */
		__u32 cmds;
		__u32 done; /* the walk reached the copy's end (or bytes that are not RESP) */
	} walk;     /* resp_commands's state (see there why not on its stack) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} l7_scratch SEC(".maps");

static __always_inline __u8 *scratch_data(void)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&l7_scratch, &zero);
	return s ? s->data : NULL;
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SL_L7_RED_MAX);
	__type(key, struct sl_l7_red_key);
	__type(value, struct sl_l7_red_val);
} l7_red SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1); /* every possible CPU's SL_L7_RED_SLOTS: user space sets it */
	__type(key, __u32);
	__type(value, struct sl_l7_red_slot);
} l7_red_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SL_L7_RS_N);
	__type(key, __u32);
	__type(value, __u64);
} l7_red_stats SEC(".maps");

/* The first bytes of a request whose exchange is not sampled, kept until its response says
 * whether it failed or was slow (then it goes out as the record it would have been, len the
 * request's bytes so far). The layout is scratch's prefix. */
struct held {
	struct sl_l7_event e;
	__u8 data[SL_L7_HOLD_BYTES];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SL_L7_MAX_HELD);
	__type(key, __u64);
	__type(value, struct held);
} l7_held SEC(".maps");

static const struct sl_l7_red_val red_zero;
static const struct conn_state zero_conn;
/* A global function: the verifier checks it once, not at each call's every path. */
__noinline __u64 l7_word(__u64 raw) { return sl_l7_word8(raw); }
/* Whether a method's exchanges always go out (l7_always_detail); global for the same reason. */
__noinline int l7_always(__u64 word) { return bpf_map_lookup_elem(&l7_always_detail, &word) != NULL; }
/* The protocol a connection's port is known for: the peer's port (the server's, for a client),
 * else the local one; SL_L7_UNKNOWN if neither. Only for messages of connections whose protocol
 * is not known yet. */
static __always_inline __u8 l7_port_hint(__u16 lport, __u16 rport)
{
	__u8 local = SL_L7_UNKNOWN;
	for (__u32 i = 0; i < SL_L7_MAX_PORTS && i < port_hints_n; i++) {
		if (port_hint_port[i] == rport)
			return port_hint_proto[i];
		if (port_hint_port[i] == lport)
			local = port_hint_proto[i];
	}
	return local;
}

/* A new connection's protocol from a message's first bytes and its ports: the protocol | the
 * kind (request, response) << 8. A global function: its frame holds the peek, off the programs'
 * own (their call chains are at the verifier's combined-stack bound). */
__noinline int l7_infer_message(__u64 buf, __u32 len, __u32 lport, __u32 rport)
{
	__u8 peek[SL_L7_PEEK] = {};
	int kind = 0;
	sl_read_user(peek, sizeof(peek), (void *)buf);
	__u8 proto = sl_l7_infer(peek, len, l7_port_hint(lport, rport), &kind);
	return proto | kind << 8;
}
/* Each CPU's count of exchanges begun, for the 1-in-N sample, one per role (both ends of a local
 * connection begin each exchange on one CPU: a shared count would sample one end only), and its
 * window of detail_per_s. A cache line each: CPUs that wrote neighbours' lines took each other's
 * line on every request (a server and its local client on two CPUs). */
struct sl_l7_cpu_sample cpu_sample[SL_MAX_CPUS] = {};

static __always_inline void red_stat(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&l7_red_stats, &i);
	if (v)
		*v += 1;
}

/* This CPU's slot for `k` when it holds the key or was free and now does; NULL: l7_red. A key
 * is taken last word first (user space reads the first word first, frees it last). Without an
 * atomic compare-and-swap (BPF v3, 5.12+): two keys of one slot taking it at once (a program
 * preempted between the read and the write) can count a few requests under the other's name. */
static __always_inline struct sl_l7_red_val *red_slot(const struct sl_l7_red_key *k)
{
	__u32 i = sl_l7_red_slot_of(bpf_get_smp_processor_id(), k);
	struct sl_l7_red_slot *s = bpf_map_lookup_elem(&l7_red_slots, &i);
	if (!s)
		return NULL;
	const __u64 *want = (const __u64 *)k;
	__u64 *held = (__u64 *)&s->key;
	__u64 have = *(volatile __u64 *)&held[0];
	if (have == want[0])
		return *(volatile __u64 *)&held[1] == want[1] ? &s->val : NULL;
	if (have)
		return NULL;
	*(volatile __u64 *)&held[1] = want[1];
	*(volatile __u64 *)&held[0] = want[0];
	return *(volatile __u64 *)&held[0] == want[0] && *(volatile __u64 *)&held[1] == want[1] ? &s->val : NULL;
}

/* Adds `count` answered requests to a key's value: plain adds in this CPU's slot, atomic ones in
 * the shared hash. */
static __always_inline void red_count(struct sl_l7_red_val *v, bool shared, __u8 proto, __u8 st, __u64 lat,
				      __u32 count)
{
	__u32 b = sl_l7_red_bucket(lat);
	bool error = sl_l7_status_error(proto, st);
	if (!shared) {
		v->requests += count;
		if (error)
			v->errors += count;
		v->sum_ns += lat * count;
		if (b < SL_L7_RED_BUCKETS)
			v->buckets[b] += count;
		return;
	}
	__sync_fetch_and_add(&v->requests, count);
	if (error)
		__sync_fetch_and_add(&v->errors, count);
	__sync_fetch_and_add(&v->sum_ns, lat * count);
	if (b < SL_L7_RED_BUCKETS)
		__sync_fetch_and_add(&v->buckets[b], count);
}

/* Counts `count` answered requests of a connection: in this CPU's slot for its key, else in the
 * shared l7_red. What is computed from the arguments is computed after the lookups: kept across
 * them it would take this frame's stack (the programs' call chains are at the combined bound). */
static __noinline void red_add(__u32 tgid, struct conn_state *cs, __u8 st, __u64 lat, __u32 count)
{
	struct sl_l7_red_key k = {.tgid = tgid, .proto = cs->proto, .role = cs->role, .status = st};
	__builtin_memcpy(k.method, &cs->method, SL_L7_METHOD_LEN);
	struct sl_l7_red_val *v = red_slot(&k);
	if (v) {
		red_count(v, false, cs->proto, st, lat, count);
		return;
	}
	v = bpf_map_lookup_elem(&l7_red, &k);
	if (!v) {
		long err = bpf_map_update_elem(&l7_red, &k, &red_zero, BPF_NOEXIST);
		if (err && err != -17 /* EEXIST: another CPU added it */) {
			red_stat(SL_L7_RS_FULL);
			return;
		}
		v = bpf_map_lookup_elem(&l7_red, &k);
		if (!v)
			return;
	}
	red_count(v, true, cs->proto, st, lat, count);
}

/* Commands in a write of RESP arrays: the write is copied once into the per-CPU scratch (not yet
 * in use for its record) and bpf_loop walks the *N and $L headers there (a loop the verifier
 * checks once, whatever the count; no helper call a header). Without bpf_loop (kernel < 5.17)
 * a write is one request. The walk's state is in the scratch, not on the stack: verifiers
 * before 6.7 simulate a bpf_loop callback once, so they took the stack's count after the loop
 * for at most 1 and wired `count = c` (c > 1) away as dead code: 6.1 counted a pipelined write
 * as one command. A map value's fields are unknown to every verifier. */
const volatile bool has_bpf_loop = false;

struct resp_ref {
	__u8 *data;            /* the copy */
	struct resp_walk *w;   /* in the scratch */
};

/* The number after a RESP header's type byte (bytes 1.. of lo|hi, little-endian): its value in
 * the low half, the index of the byte after its digits in the high (0: none, or too long). */
__noinline __u64 resp_number(__u64 lo, __u64 hi)
{
	__u64 v = 0;
	for (int j = 1; j < 12; j++) {
		__u8 c = j < 8 ? (lo >> (8 * j)) & 0xff : (hi >> (8 * (j - 8))) & 0xff;
		if (c < '0' || c > '9')
			return j == 1 ? 0 : ((__u64)j << 32) | v;
		v = v * 10 + (c - '0');
		if (v > (1u << 30))
			return 0;
	}
	return 0;
}

static long resp_token(__u64 i, struct resp_ref *r)
{
	struct resp_walk *w = r->w;
	if (!w)
		return 1;
	__u32 off = w->off;
	if (off >= w->n) {
		w->done = 1;
		return 1;
	}
	__u8 *h = r->data;
	if (!h)
		return 1;
	h += off & (SL_L7_MAX_CAPTURE - 1); /* < MAX: 16 more bytes stay inside the 2*MAX buffer */
	__u64 lo, hi;
	__builtin_memcpy(&lo, h, 8);
	__builtin_memcpy(&hi, h + 8, 8);
	__u8 t = lo & 0xff;
	if (t != '*' && t != '$') {
		w->done = 1; /* not RESP: what follows is not counted */
		return 1;
	}
	__u64 num = resp_number(lo, hi);
	__u64 v = num & 0xffffffff;
	__u32 end = num >> 32;
	if (!end) {
		w->done = 1;
		return 1;
	}
	if (t == '*') {
		w->cmds++;
		w->off = off + end + 2;
	} else {
		w->off = off + end + 2 + (__u32)v + 2;
	}
	return 0;
}

static __noinline __u32 resp_commands(__u64 buf, __u32 n)
{
	if (!has_bpf_loop)
		return 1;
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&l7_scratch, &zero);
	if (!s)
		return 1;
	__u32 c = n < SL_L7_MAX_CAPTURE ? n : SL_L7_MAX_CAPTURE;
	if (sl_read_user(s->data, c, (void *)buf))
		return 1;
	s->walk.off = 0;
	s->walk.n = c;
	s->walk.cmds = 0;
	s->walk.done = 0;
	struct resp_ref r = {.data = s->data, .w = &s->walk};
	bpf_loop(SL_L7_RESP_TOKENS, resp_token, &r, 0);
	if (!s->walk.done || (s->walk.off >= c && c < n))
		red_stat(SL_L7_RS_SCAN_CUT);
	return s->walk.cmds;
}

/* A 101 Switching Protocols (in `buf`, n bytes) whose Upgrade header names h2c (RFC 7540 3.2):
 * "grade: h2c" in its first 128 bytes, letters compared in lower case. A WebSocket 101 names
 * websocket; its Sec-WebSocket-Accept is base64 and cannot hold the ':' and ' '. A global
 * function: verified once (a static one's loop is walked again at every call site, and 6.1's
 * verifier then passed its limit on the raw sys_exit program). */
#define SL_L7_UPGRADE_SCAN 128
__noinline int upgrade_h2c(__u64 buf, __u32 n)
{
	__u8 *d = scratch_data(); /* not yet in use for the record */
	if (!d)
		return false;
	__u32 c = n < SL_L7_UPGRADE_SCAN ? n : SL_L7_UPGRADE_SCAN;
	if (c < 12 || sl_read_user(d, c, (void *)buf))
		return false;
	for (__u32 i = 12; i + 10 <= c && i < SL_L7_UPGRADE_SCAN; i++) {
		__u8 *w = d + (i & (SL_L7_UPGRADE_SCAN - 1)); /* + 10 stays inside the 2*MAX buffer */
		if ((w[0] | 0x20) == 'g' && (w[1] | 0x20) == 'r' && (w[2] | 0x20) == 'a' && (w[3] | 0x20) == 'd' &&
		    (w[4] | 0x20) == 'e' && w[5] == ':' && w[6] == ' ' && (w[7] | 0x20) == 'h' && w[8] == '2' &&
		    (w[9] | 0x20) == 'c')
			return true;
	}
	return false;
}

/* A thread inside SSL_read/SSL_write (OpenSSL): the plaintext buffer, and the socket its own
 * syscalls used. Bounded: threads in an SSL call at once. */
struct ssl_call {
	__u64 ssl;
	__u64 buf;
	__u64 lenp; /* SSL_*_ex: where the byte count is written (0: the return value is it) */
	__s64 fd;   /* -1 until a syscall of the call names it */
	__u8 dir;
	__u8 pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct ssl_call);
} ssl_calls SEC(".maps");

/* SSL object -> its socket's fd, for calls served from OpenSSL's buffer with no syscall. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SL_L7_MAX_CONNS);
	__type(key, __u64);
	__type(value, __s64);
} ssl_fds SEC(".maps");

struct iov {
	__u64 base;
	__u64 len;
};

/* The first user buffer of the call (*first_len its bytes, for iovecs), and for iovecs the array
 * and its length. */
static __always_inline __u64 first_buf(__u8 how, __u64 arg2, __u64 arg3, __u64 *iov, __u64 *iovcnt, __u64 *first_len)
{
	*iov = 0;
	*iovcnt = 0;
	*first_len = ~0ULL;
	if (how == HOW_BUF || how == HOW_BUF_ADDR)
		return arg2;
	if (how == HOW_MSG) {
		/* msg_iov and msg_iovlen only (not the whole msghdr: stack is short on 6.1) */
		struct user_msghdr *um = (struct user_msghdr *)arg2;
		if (sl_read_user(iov, sizeof(*iov), &um->msg_iov) || sl_read_user(iovcnt, sizeof(*iovcnt), &um->msg_iovlen))
			return 0;
	} else if (how == HOW_IOV) {
		*iov = arg2;
		*iovcnt = arg3;
	} else {
		return 0;
	}
	struct iov v = {};
	if (!*iovcnt || sl_read_user(&v, sizeof(v), (void *)*iov))
		return 0;
	*first_len = v.len;
	return v.base;
}

/* The peer of an unconnected datagram socket: the address the call named (sendto/recvfrom's
 * sockaddr, a msghdr's msg_name). Returns its port (0: none). */
static __always_inline __u16 dgram_peer(__u8 *raddr, __u8 how, __u64 arg2, __u64 arg5)
{
	__u64 a = 0;
	if (how == HOW_BUF_ADDR) {
		a = arg5;
	} else if (how == HOW_MSG) {
		sl_read_user(&a, sizeof(a), &((struct user_msghdr *)arg2)->msg_name);
	}
	if (!a)
		return 0;
	struct {
		__u16 family;
		__u16 port;
		__u32 flow_or_v4;
		__u8 v6[16];
	} sa = {};
	if (sl_read_user(&sa, sizeof(sa), (void *)a))
		return 0;
	if (sa.family == SL_AF_INET)
		__builtin_memcpy(raddr, &sa.flow_or_v4, 4);
	else if (sa.family == SL_AF_INET6)
		__builtin_memcpy(raddr, sa.v6, 16);
	else
		return 0;
	return __builtin_bswap16(sa.port);
}

struct iov_walk { /* small: it lives on the stack of a caller deep in the call chain */
	__u64 iov;
	__u32 iovcnt, cap, off;
	__u32 skip; /* bytes of the iovecs passed over before the copy starts */
};

static long copy_one_iov(__u64 i, struct iov_walk *w)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&l7_scratch, &zero);
	if (!s || i >= w->iovcnt || w->off >= w->cap) /* s checked before any arithmetic on it (6.1) */
		return 1;
	__u8 *data = s->data;
	struct iov v = {};
	if (sl_read_user(&v, sizeof(v), (void *)(w->iov + i * sizeof(struct iov))))
		return 1;
	if (w->skip) {
		if (v.len <= w->skip) {
			w->skip -= v.len;
			return 0;
		}
		v.base += w->skip;
		v.len -= w->skip;
		w->skip = 0;
	}
	__u32 n = w->cap - w->off;
	if (v.len < n)
		n = v.len;
	if (n > SL_L7_MAX_CAPTURE)
		n = SL_L7_MAX_CAPTURE;
	__u32 o = w->off & (SL_L7_MAX_CAPTURE - 1);
	if (n && sl_read_user(data + o, n, (void *)v.base))
		return 1;
	w->off += n;
	return 0;
}

/* The iovecs by bpf_loop: one callback checked once, whatever their number. */
static __noinline __u32 copy_iovs_loop(__u64 iov, __u64 iovcnt, __u32 cap, __u64 skip)
{
	struct iov_walk w = {.iov = iov, .iovcnt = iovcnt > SL_L7_MAX_IOV_LOOP ? SL_L7_MAX_IOV_LOOP : iovcnt, .cap = cap, .skip = skip};
	bpf_loop(SL_L7_MAX_IOV_LOOP, copy_one_iov, &w, 0);
	return w.off;
}

/* many_iov: the iovecs by bpf_loop where the kernel has it; a constant at each call (the
 * sendmmsg/recvmmsg programs, one_message per datagram, keep the unrolled loop: the verifier
 * would walk the callback once per datagram). */
static __always_inline __u32 copy_data(struct scratch *s, __u8 how, __u64 buf, __u64 iov, __u64 iovcnt, __u32 total,
					 __u32 cap, bool many_iov)
{
	if (cap > SL_L7_MAX_CAPTURE)
		cap = SL_L7_MAX_CAPTURE;
	if (total < cap)
		cap = total;
	if (how == HOW_BUF || how == HOW_BUF_ADDR) {
		__u32 n = cap;
		if (n > SL_L7_MAX_CAPTURE)
			n = SL_L7_MAX_CAPTURE;
		if (sl_read_user(s->data, n, (void *)buf))
			return 0;
		return n;
	}
	if (many_iov && has_bpf_loop)
		return copy_iovs_loop(iov, iovcnt, cap, 0);
	__u32 off = 0;
	for (int i = 0; i < SL_L7_MAX_IOV; i++) {
		if (i >= iovcnt || off >= cap)
			break;
		struct iov v = {};
		if (sl_read_user(&v, sizeof(v), (void *)(iov + i * sizeof(struct iov))))
			break;
		__u32 n = cap - off;
		if (v.len < n)
			n = v.len;
		if (n > SL_L7_MAX_CAPTURE)
			n = SL_L7_MAX_CAPTURE;
		__u32 o = off & (SL_L7_MAX_CAPTURE - 1);
		if (n && sl_read_user(&s->data[o], n, (void *)v.base))
			break;
		off += n;
	}
	return off;
}

/* The protocols whose messages user space counts, every one sent (red_step passes them by). */
static __always_inline bool counted_in_user(__u8 proto)
{
	return proto == SL_L7_DNS || proto == SL_L7_HTTP2 || proto == SL_L7_MEMCACHED || proto == SL_L7_NATS ||
	       proto == SL_L7_AMQP;
}

/* One buffer of such a stream past capture_bytes (the first capture_bytes in the scratch's
 * record already) as records of up to capture_bytes each, SL_L7_MAX_CHUNKS in all: a NATS client's batched
 * publications, a broker's read of many AMQP frames would otherwise be cut after the first
 * capture_bytes. The last record's length keeps what is left (a gap to the parser). */
/* Returns 1 if it sent the scratch's record so (0: the caller sends it whole). A global
 * function: the verifier checks it once, not in each caller's state. */
__noinline int sl_l7_send_chunks(void)
{
	__u32 zero = 0, cap = capture_bytes;
	struct scratch *s = bpf_map_lookup_elem(&l7_scratch, &zero);
	if (!s || cap == 0 || cap > SL_L7_MAX_CAPTURE)
		return 0;
	__u32 how = s->how, total = s->e.len;
	__u64 buf = s->buf, iov = s->iov, iovcnt = s->iovcnt;
	if (s->e.sock_type != SL_SOCK_STREAM || s->e.proto == SL_L7_DNS || !counted_in_user(s->e.proto))
		return 0;
	if (total <= cap || s->e.captured != cap)
		return 0;
	if (!(how == HOW_BUF || how == HOW_BUF_ADDR || ((how == HOW_IOV || how == HOW_MSG) && has_bpf_loop)))
		return 0;
	/* the first chunk is in the scratch already (its record whole but for its length) */
	s->e.len = s->e.captured;
	__u64 first = sizeof(s->e) + (s->e.captured & (2 * SL_L7_MAX_CAPTURE - 1));
	if (first > sizeof(*s))
		return 1;
	sl_output(SL_NO_CTX, s, first);
	for (int i = 1; i < SL_L7_MAX_CHUNKS; i++) {
		__u32 off = i * cap;
		if (off >= total)
			break;
		__u32 len = total - off;
		__u32 n = len < cap ? len : cap;
		if (len > cap && i < SL_L7_MAX_CHUNKS - 1)
			len = cap;
		if (n > SL_L7_MAX_CAPTURE)
			n = SL_L7_MAX_CAPTURE;
		if (how == HOW_BUF || how == HOW_BUF_ADDR) {
			if (sl_read_user(s->data, n, (void *)(buf + off)))
				n = 0;
		} else { /* bpf_loop here, not through copy_iovs_loop: one frame less under 512 bytes */
			struct iov_walk w = {
				.iov = iov, .iovcnt = iovcnt > SL_L7_MAX_IOV_LOOP ? SL_L7_MAX_IOV_LOOP : iovcnt, .cap = n, .skip = off};
			bpf_loop(SL_L7_MAX_IOV_LOOP, copy_one_iov, &w, 0);
			n = w.off;
		}
		s->e.len = len;
		s->e.captured = n;
		__u64 size = sizeof(s->e) + (n & (2 * SL_L7_MAX_CAPTURE - 1));
		if (size > sizeof(*s))
			return 1;
		sl_output(SL_NO_CTX, s, size);
	}
	return 1;
}

/* The detail weight of the request the thread serves (sl_sched_thread.serving_weight: 0 held,
 * N sent as 1 in N), or SL_L7_NOT_SERVING; cs->serve_id names the served request (its start)
 * for user space, which links the call to it even when the call's record comes first (the
 * served one held until its answer). Its own frame: red_step's is full. */
#define SL_L7_NOT_SERVING 0xffffffffu
static __noinline __u32 served_weight(struct task_struct *task, __u32 tid, __u64 now, struct conn_state *cs)
{
	struct sl_sched_thread *s = sl_thread_state(&sched_ts, task, tid, NULL, false);
	if (!s || !s->serving || now - s->serving > SL_SERVING_MAX_NS)
		return SL_L7_NOT_SERVING;
	cs->serve_id = (__u32)s->serving;
	return s->serving_weight;
}

/* The serving thread's time since the reading `tt` holds, into it (false: the thread is no longer
 * accounted). Its own frame: red_step's is full. */
static __noinline bool timeline_end(struct task_struct *task, __u32 tid, __u64 now, struct sl_thread_time *tt)
{
	struct sl_sched_thread *s = sl_thread_state(&sched_ts, task, tid, NULL, false);
	if (!s)
		return false;
	s->serving = 0;
	__u64 on = s->on && now > s->on ? now - s->on : 0;
	/* The slice's wall time at the start can exceed the kernel's sum for it (steal time). */
	__u64 cpu = s->t.cpu_ns + on;
	tt->cpu_ns = cpu > tt->cpu_ns ? cpu - tt->cpu_ns : 0;
	tt->runq_ns = s->t.runq_ns - tt->runq_ns;
	for (int i = 0; i < SL_WAIT_N; i++)
		tt->wait_ns[i] = s->t.wait_ns[i] - tt->wait_ns[i];
	return true;
}

/* The socket's own retransmits over an exchange red_step paired (it just started or answered
 * one): read at the request's start and at its response's. Its own frame: one_message's is
 * full. */
static __noinline void retrans_step(struct sock *sk, struct conn_state *cs)
{
	if (!cs)
		return;
	if (cs->pending && cs->rt_ts != cs->req_ts) {
		cs->rt_ts = cs->req_ts;
		cs->rt0 = BPF_CORE_READ((struct tcp_sock *)sk, total_retrans);
		cs->rt_ready = 0;
	} else if (!cs->pending && cs->rt_ts) {
		__u32 d = BPF_CORE_READ((struct tcp_sock *)sk, total_retrans) - cs->rt0;
		cs->rt = d > 0xffff ? 0xffff : d;
		cs->rt_ts = 0;
		cs->rt_ready = 1;
	}
}

/* What one message of a traced TCP connection does, after the in-kernel RED saw it. */
enum { STEP_SEND, STEP_DROP, STEP_HOLD, STEP_EXTEND, STEP_HELD_THEN_SEND };

/* Pairs requests and responses on a connection of a protocol the kernel counts, and decides
 * whether the message goes out: the exchanges of the sample and those that fail or are slow
 * (the request held until the answer says so). A connection's exchanges alternate; pipelined
 * requests wait together and the first answer completes them all (their latency its). */
static __noinline int red_step(struct sl_task *tp, struct conn_state *cs, __u8 dir, __u64 buf, long n)
{
	__u8 p[SL_L7_PEEK] = {};
	if (buf)
		sl_read_user(p, sizeof(p), (void *)buf);
	__u64 now = sl_now(); /* the records' clock: a request held or sent takes its start as its time */
	bool req_dir = (cs->role == SL_L7_CLIENT) == (dir == SL_L7_SEND);
	if (req_dir) {
		__u64 m = 0;
		__u32 count = 0;
		bool force = detail_sample <= 1;
		if (cs->proto == SL_L7_MYSQL && buf && n == 4 && p[3] == 0) {
			/* a server that reads a packet's header alone (MariaDB): the command is in the
			 * next read; this header goes out (its parser needs it) and so does the rest */
			__builtin_memcpy(cs->split_hdr, p, 4);
			cs->split = 1;
			return STEP_SEND;
		}
		if (cs->proto == SL_L7_HTTP && !cs->pending && buf && n < 4 && p[0] >= 'A' && p[0] <= 'Z' &&
		    (n < 2 || (p[1] >= 'A' && p[1] <= 'Z')) && (n < 3 || (p[2] >= 'A' && p[2] <= 'Z'))) {
			/* a server that reads a request's first byte alone (Go's net/http: its read that
			 * watches an idle connection while the handler runs catches the next request's
			 * first byte): the method is in the next read; this part goes out, and so does the
			 * request (in detail) */
			__builtin_memcpy(cs->split_hdr, p, 3);
			cs->split_hdr[3] = n;
			cs->split = 4;
			return STEP_SEND;
		}
		if (cs->split == 1 && buf) { /* the header in front of the peek, in place (stack is short) */
			for (int i = SL_L7_PEEK - 1; i >= 4; i--)
				p[i] = p[i - 4];
			__builtin_memcpy(p, cs->split_hdr, 4);
			count = sl_l7_request_start(cs->proto, p, n + 4, &m);
			force = true;
		} else if (cs->split == 4 && buf) { /* the method's first letters in front */
			__u32 k = cs->split_hdr[3] & 3;
			for (int i = SL_L7_PEEK - 1; i >= 0; i--)
				p[i] = i >= k ? p[(i - k) & (SL_L7_PEEK - 1)] : cs->split_hdr[i & 3];
			count = sl_l7_request_start(cs->proto, p, n + k, &m);
			force = true;
		} else if (buf) {
			count = sl_l7_request_start(cs->proto, p, n, &m);
		}
		cs->split = 0;
		if (count && cs->proto == SL_L7_REDIS) {
			__u32 c = resp_commands(buf, n);
			if (c > 1)
				count = c;
		}
		if (!count) /* the rest of a request (with sample 1, whatever it is) */
			return cs->detail || detail_sample <= 1 ? STEP_SEND : cs->pending ? STEP_EXTEND : STEP_DROP;
		if (cs->pending) {
			if (cs->pending < (1u << 24))
				cs->pending += count;
			return cs->detail ? STEP_SEND : STEP_EXTEND;
		}
		cs->req_ts = now;
		cs->method = l7_word(m);
		cs->pending = count;
		cs->tt_ready = 0;
		cs->tt_tid = 0;
		/* the task's storage, or (before 5.15) an LRU hash by thread id: no task pointer then */
		bool threads = thread_times && (tp->btf || !has_task_storage);
		cs->serve_id = 0;
		__u32 parent = threads && cs->role == SL_L7_CLIENT ? served_weight(tp->btf, (__u32)tp->pid_tgid, now, cs)
								  : SL_L7_NOT_SERVING;
		if (force)
			parent = SL_L7_NOT_SERVING; /* every exchange in detail: no parent to follow */
		bool d = force;
		cs->weight = 1;
		if (parent != SL_L7_NOT_SERVING) {
			/* made while its thread serves a request: sent with it (its weight), held with it */
			d = parent || (always_detail_n && l7_always(cs->method));
			cs->weight = parent ? parent : 1;
		} else if (!d) {
			/* masked, not only compared: 6.1's verifier loses the comparison's bound */
			struct sl_l7_cpu_sample *c = &cpu_sample[bpf_get_smp_processor_id() & (SL_MAX_CPUS - 1)];
			if (now - c->detail_start >= 1000000000ULL) {
				c->detail_start = now;
				c->detail_used = 0;
			}
			if (c->detail_used < detail_per_s) {
				c->detail_used++;
				d = true;
			} else if (always_detail_n && l7_always(cs->method)) {
				d = true;
			} else {
				d = c->ctr[cs->role == SL_L7_SERVER]++ % detail_sample == 0;
				if (d)
					cs->weight = detail_sample;
			}
		}
		cs->detail = d;
		if (threads && cs->role == SL_L7_SERVER &&
		    sl_thread_time_now(tp->btf, (__u32)tp->pid_tgid, now, d ? cs->weight : 0, &cs->tt))
			cs->tt_tid = (__u32)tp->pid_tgid;
		red_stat(cs->detail ? SL_L7_RS_SAMPLED : SL_L7_RS_UNSENT);
		return cs->detail ? STEP_SEND : STEP_HOLD;
	}
	if (cs->proto == SL_L7_HTTP && cs->pending && buf && p[0] == 'H' && p[9] == '1' && p[10] == '0' && p[11] == '1' &&
	    upgrade_h2c(buf, n)) {
		/* An upgrade to h2c: the request is HTTP/2's stream 1, answered there, and the
		 * connection speaks HTTP/2 from here on, which user space counts (every message goes
		 * out, unweighed): this exchange is counted there, with its request (sent now if held) */
		cs->proto = SL_L7_HTTP2;
		cs->pending = 0;
		cs->weight = 1;
		cs->tt_tid = 0;
		if (cs->detail)
			return STEP_SEND;
		cs->detail = 1;
		return STEP_HELD_THEN_SEND;
	}
	__u8 st = 0;
	if (!cs->pending || !buf || !sl_l7_response(cs->proto, p, n, &st)) /* the rest of an answer */
		return cs->detail || detail_sample <= 1 ? STEP_SEND : STEP_DROP;
	__u64 lat = now - cs->req_ts;
	red_add(tp->pid_tgid >> 32, cs, st, lat, cs->pending);
	cs->pending = 0;
	if (cs->tt_tid && (tp->btf || !has_task_storage)) {
		if (cs->tt_tid != (__u32)tp->pid_tgid) {
			cs->tt_ready = SL_L7_TM_OTHER_THREAD;
		} else if (timeline_end(tp->btf, cs->tt_tid, now, &cs->tt)) {
			cs->tt_ready = SL_L7_TM_SET;
		}
	}
	if (!cs->detail && (sl_l7_status_error(cs->proto, st) || lat >= slow_ns)) {
		cs->detail = 1; /* the rest of this answer goes out too */
		cs->weight = 1;
		return STEP_HELD_THEN_SEND;
	}
	return cs->detail ? STEP_SEND : STEP_DROP;
}

/* DNS over TCP whose two-byte length and message come apart, on any port (53 is taken by its
 * port): a writev of the length and the message (dig), or a message read right after a read
 * of its length alone (a server reading the length first, dnsmasq a byte at a time; cs->split 2
 * holds it). Returns
 * SL_L7_REQUEST or SL_L7_RESPONSE, 0 if not DNS. Its own frame: one_message's is full. */
static __noinline int tcp_dns(struct conn_state *cs, __u64 buf, __u64 first_len, __u64 iov, long ret)
{
	__u8 peek[SL_L7_PEEK] = {};
	int kind = 0;
	if (first_len == 2 && iov && ret >= 19) {
		__u8 len[2] = {};
		struct iov v = {};
		if (sl_read_user(len, sizeof(len), (void *)buf) || (((__u32)len[0] << 8) | len[1]) != ret - 2 ||
		    sl_read_user(&v, sizeof(v), (void *)(iov + sizeof(struct iov))) ||
		    sl_read_user(peek, sizeof(peek), (void *)v.base))
			return 0;
		return sl_l7_infer_dns(peek, ret - 2, &kind) == SL_L7_DNS ? kind : 0;
	}
	if (cs && cs->split == 2 && (((__u32)cs->split_hdr[0] << 8) | cs->split_hdr[1]) == ret && buf &&
	    !sl_read_user(peek, sizeof(peek), (void *)buf))
		return sl_l7_infer_dns(peek, ret, &kind) == SL_L7_DNS ? kind : 0;
	return 0;
}

/* One message of `ret` bytes on socket `sk` (fd `fd`; family 0: not read yet): infer, filter,
 * copy, send. */
/* A record of a connection without data (its close, a peer end), reserved, zeroed but for the
 * current task's header and these; NULL when the ring is full (counted). */
static __always_inline struct sl_l7_event *conn_record(__u64 key, __u8 dir, __u8 proto)
{
	struct sl_l7_event *e = sl_reserve(sizeof(*e));
	if (!e)
		return NULL;
	__builtin_memset(e, 0, sizeof(*e));
	sl_fill_hdr_now(&e->hdr, SL_EV_L7);
	e->conn = key;
	e->fd = -1;
	e->dir = dir;
	e->proto = proto;
	return e;
}

/* A loopback client's end, counted at its server's (local_server_end): marked SL_L7_PEER (one
 * lookup a syscall from now on), and one record without data names it (its process, its ends)
 * for the service map; its close is sent too (sent). A global function: its frame is not the
 * caller's (l7's call chains are at the 512-byte combined-stack bound). */
__noinline int sl_l7_peer_end(__u64 key)
{
	struct conn_state *cs = bpf_map_lookup_elem(&l7_conns, &key);
	if (!cs)
		return 0;
	__u8 proto = cs->proto;
	cs->proto = SL_L7_PEER;
	cs->sent = 1;
	struct sl_l7_event *e = conn_record(key, SL_L7_PEER_END, proto);
	if (!e)
		return 0;
	e->role = SL_L7_CLIENT;
	e->sock_type = SL_SOCK_STREAM;
	e->family = cs->family;
	e->lport = cs->lport;
	e->rport = cs->rport;
	__builtin_memcpy(e->laddr, cs->laddr, 16);
	__builtin_memcpy(e->raddr, cs->raddr, 16);
	e->weight = 1;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	if (bpf_core_read_str(e->pcomm, sizeof(e->pcomm), &leader->comm) < 0)
		e->pcomm[0] = 0;
	sl_submit(SL_NO_CTX, e, sizeof(*e));
	return 0;
}

static __always_inline int one_message(struct sl_task *tp, struct sock *sk, __u16 family, __u64 fd, long ret,
				       __u8 dir, __u8 how, __u64 arg2, __u64 arg3, __u64 arg5, bool tls, bool red)
{
	/* The plaintext of a TLS connection is a stream of its own (socket addresses are aligned:
	 * the low bit is free). */
	__u64 key = (__u64)sk | (tls ? 1 : 0);
	bool nopeer = how & HOW_NOPEER;
	how &= ~HOW_NOPEER;
	/* A connection already known (TCP only: datagram sockets are never kept): its family, type
	 * and ends were read when its protocol was found; no read of the socket here. */
	struct conn_state *cs = bpf_map_lookup_elem(&l7_conns, &key);
	if (cs && cs->proto >= SL_L7_PEER)
		return 0;
	__u16 type = SL_SOCK_STREAM, lport = 0, rport = 0;
	if (cs && cs->proto != SL_L7_UNKNOWN) {
		family = cs->family;
	} else {
		if (!family)
			family = BPF_CORE_READ(sk, __sk_common.skc_family);
		if (family != SL_AF_INET && family != SL_AF_INET6)
			return 0;
		type = BPF_CORE_READ(sk, sk_type);
		lport = BPF_CORE_READ(sk, __sk_common.skc_num);
		rport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	}
	__u8 proto = SL_L7_UNKNOWN, role = SL_L7_ROLE_UNKNOWN;
	__u64 iov, iovcnt, first_len;
	__u64 buf = first_buf(how, arg2, arg3, &iov, &iovcnt, &first_len);

	__u8 peer[16] = {};
	if (type == SL_SOCK_DGRAM) {
		if (!rport && !nopeer)
			rport = dgram_peer(peer, how, arg2, arg5);
		if (lport == 53 || rport == 53) {
			role = lport == 53 ? SL_L7_SERVER : SL_L7_CLIENT;
		} else {
			__u8 peek[SL_L7_PEEK] = {};
			int kind = 0;
			if (!buf || sl_read_user(peek, sizeof(peek), (void *)buf) ||
			    sl_l7_infer_dns(peek, ret, &kind) != SL_L7_DNS)
				return 0;
			role = (kind == SL_L7_REQUEST) == (dir == SL_L7_SEND) ? SL_L7_CLIENT : SL_L7_SERVER;
		}
		proto = SL_L7_DNS;
	} else if (type == SL_SOCK_STREAM) {
		if (cs && cs->proto != SL_L7_UNKNOWN) {
			proto = cs->proto;
			role = cs->role;
		} else {
			int kind = 0;
			if (lport == 53 || rport == 53) {
				proto = SL_L7_DNS;
				kind = (dir == SL_L7_SEND) == (rport == 53) ? SL_L7_REQUEST : SL_L7_RESPONSE;
			} else if (buf) {
				int inferred = l7_infer_message(buf, ret, lport, rport);
				proto = inferred & 0xff;
				kind = inferred >> 8;
				if (proto == SL_L7_UNKNOWN && (first_len == 2 || (cs && cs->split == 2))) {
					kind = tcp_dns(cs, buf, first_len, iov, ret);
					if (kind)
						proto = SL_L7_DNS;
				}
			}
			/* the state is written in its map entry (made from zeros), not built on the stack:
			 * the programs' frames stay small enough for 6.1's combined-stack check */
			if (!cs) {
				SL_CHECK(SL_H_MAP_UPDATE, bpf_map_update_elem(&l7_conns, &key, &zero_conn, BPF_NOEXIST));
				cs = bpf_map_lookup_elem(&l7_conns, &key);
				if (!cs)
					return 0;
				/* A socket closed already (its peer reset it inside this very syscall: a
				 * loopback send to a peer that had closed is answered by the RST before the
				 * syscall returns; or data read after a reset): sl_l7_close has run and will
				 * not again, so an entry made now would outlive the socket and name the next
				 * one allocated at its address (its protocol, role and ends, and user space's
				 * connection). Read after the entry exists: a close that runs from here on
				 * deletes it. */
				if (BPF_CORE_READ(sk, __sk_common.skc_state) == SL_TCP_CLOSE) {
					bpf_map_delete_elem(&l7_conns, &key);
					red_stat(SL_L7_RS_AFTER_CLOSE);
					return 0;
				}
			}
			if (proto == SL_L7_UNKNOWN) {
				cs->misses++;
				/* two bytes alone, or one and then one (dnsmasq): perhaps a DNS message's
				 * length, the message next (tcp_dns) */
				if (ret == 2 && buf && !sl_read_user(cs->split_hdr, 2, (void *)buf)) {
					cs->split = 2;
				} else if (ret == 1 && buf && cs->split == 3 && !sl_read_user(&cs->split_hdr[1], 1, (void *)buf)) {
					cs->split = 2;
					cs->misses--; /* the length's two reads are one miss */
				} else if (ret == 1 && buf && !sl_read_user(cs->split_hdr, 1, (void *)buf)) {
					cs->split = 3;
				} else {
					cs->split = 0;
				}
				if (cs->misses >= SL_L7_MAX_MISSES)
					cs->proto = SL_L7_IGNORED;
				return 0;
			}
			role = (kind == SL_L7_REQUEST) == (dir == SL_L7_SEND) ? SL_L7_CLIENT : SL_L7_SERVER;
			cs->split = 0;
			cs->role = role;
			cs->family = family;
			sl_sock_ends(sk, family, cs->laddr, cs->raddr, &cs->lport, &cs->rport);
			cs->proto = proto; /* last: the state is whole once the protocol says it is known */
			if (local_server_end && !tls && role == SL_L7_CLIENT && cs->rport != self_port &&
			    sl_loopback(family, cs->raddr)) {
				/* the key read over itself: from the socket tracepoints it is the socket's
				 * BTF pointer, which a global function may not take; read, it is a number
				 * (no second stack slot: the frames are at their bound) */
				sl_read_kernel(&key, sizeof(key), &key);
				return sl_l7_peer_end(key);
			}
		}
	} else {
		return 0;
	}

	int step = STEP_SEND;
	if (red && cs && !counted_in_user(proto)) { /* user space pairs these: every message goes */
		step = red_step(tp, cs, dir, buf, ret);
		retrans_step(sk, cs);
	}
	if (step == STEP_DROP)
		return 0;
	if (step == STEP_EXTEND) { /* the held request grows: user space skips what it lacks */
		struct held *h = bpf_map_lookup_elem(&l7_held, &key);
		if (h)
			h->e.len += ret;
		return 0;
	}
	/* The record is built in place: in the held entry of the connection (written over, no map
	 * update when it is there), else in the per-CPU scratch. */
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&l7_scratch, &zero);
	if (!s)
		return 0;
	struct held *hv = NULL;
	if (step == STEP_HOLD)
		hv = bpf_map_lookup_elem(&l7_held, &key);
	struct sl_l7_event *e = hv ? &hv->e : &s->e;
	if (step == STEP_HOLD) { /* the rest of the header when it goes out, if ever */
		e->hdr.ts_ns = cs ? cs->req_ts : sl_now(); /* red_step's clock read: this request's start */
		e->hdr.tid = (__u32)tp->pid_tgid;
	} else {
		sl_fill_hdr(&e->hdr, SL_EV_L7, tp);
	}
	e->conn = key;
	e->fd = fd;
	e->len = ret;
	e->dir = dir;
	e->proto = proto;
	e->role = role;
	e->sock_type = type;
	e->family = family;
	e->tls = tls;
	e->pad = 0;
	e->weight = cs ? cs->weight : 1;
	e->serve_id = cs ? cs->serve_id : 0;
	if (cs && cs->tt_ready && step != STEP_HOLD) { /* the response's first record */
		__builtin_memcpy(&e->tm, &cs->tt, sizeof(e->tm));
		e->tm_flags = cs->tt_ready;
		cs->tt_ready = 0;
	} else {
		e->tm_flags = 0;
	}
	if (cs && cs->rt_ready && step != STEP_HOLD) { /* the response's first record */
		e->retrans = cs->rt;
		e->retrans_set = 1;
		cs->rt_ready = 0;
	} else {
		e->retrans = 0;
		e->retrans_set = 0;
	}
	{
		struct task_struct *task = tp->btf ? tp->btf : (struct task_struct *)bpf_get_current_task();
		struct task_struct *leader = BPF_CORE_READ(task, group_leader);
		if (bpf_core_read_str(e->pcomm, sizeof(e->pcomm), &leader->comm) < 0)
			e->pcomm[0] = 0;
	}
	if (cs) { /* a known TCP connection: its ends were kept */
		e->lport = cs->lport;
		e->rport = cs->rport;
		__builtin_memcpy(e->laddr, cs->laddr, 16);
		__builtin_memcpy(e->raddr, cs->raddr, 16);
	} else {
		__builtin_memset(e->laddr, 0, sizeof(e->laddr));
		__builtin_memset(e->raddr, 0, sizeof(e->raddr));
		sl_sock_ends(sk, family, e->laddr, e->raddr, &e->lport, &e->rport);
		if (type == SL_SOCK_DGRAM && !e->rport) {
			e->rport = rport;
			__builtin_memcpy(e->raddr, peer, 16);
		}
	}
	if (step == STEP_HOLD) { /* the first bytes of the first buffer, kept for the answer to decide */
		__u64 h = ret < SL_L7_HOLD_BYTES ? ret : SL_L7_HOLD_BYTES;
		if (first_len < h)
			h = first_len;
		/* clamped where the verifier sees it (clang knows h <= 256 and drops a plain check;
		 * 6.1's verifier then sees a signed value) */
		asm volatile("" : "+r"(h));
		if (h > SL_L7_HOLD_BYTES)
			h = SL_L7_HOLD_BYTES;
		__u8 *dst = hv ? hv->data : s->data;
		if (!buf || how == HOW_NONE || sl_read_user(dst, h, (void *)buf))
			h = 0;
		e->captured = h;
		if (!hv)
			SL_CHECK(SL_H_MAP_UPDATE, bpf_map_update_elem(&l7_held, &key, s, BPF_ANY));
		return 0;
	}
	if (step == STEP_HELD_THEN_SEND) {
		struct held *h = bpf_map_lookup_elem(&l7_held, &key);
		if (h) {
			/* the same process answers (or reads the answer): its header, the request's time */
			__u64 ts = h->e.hdr.ts_ns;
			__u32 tid = h->e.hdr.tid;
			sl_fill_hdr(&h->e.hdr, SL_EV_L7, tp);
			h->e.hdr.ts_ns = ts;
			h->e.hdr.tid = tid;
			__u64 hs = sizeof(h->e) + h->e.captured;
			if (hs > sizeof(*h))
				hs = sizeof(*h);
			sl_output(SL_NO_CTX, h, hs);
			bpf_map_delete_elem(&l7_held, &key);
			red_stat(SL_L7_RS_EXEMPLARS);
		} else {
			red_stat(SL_L7_RS_HELD_LOST);
		}
	}
	if (cs)
		cs->sent = 1;
	if (red) {
		s->how = how;
		s->buf = buf;
		s->iov = iov;
		s->iovcnt = iovcnt;
	}
	__u32 n = how == HOW_NONE ? 0 : copy_data(s, how, buf, iov, iovcnt, ret, capture_bytes, red);
	e->captured = n;
	/* a stream user space counts, one buffer past capture_bytes: in chunks (decided in a global
	 * function: its result is one unknown to this program's verification, not a tree of cases) */
	if (red && sl_l7_send_chunks())
		return 0;
	__u64 size = sizeof(*e) + (n & (2 * SL_L7_MAX_CAPTURE - 1));
	if (size > sizeof(*s))
		return 0;
	sl_output(SL_NO_CTX, s, size);
	return 0;
}

/* A traced TCP connection closed: tell user space (its parsers flush), forget the socket. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(sl_l7_close, struct sock *sk, int oldstate, int newstate)
{
	if (newstate != SL_TCP_CLOSE)
		return 0;
	__u64 base = 0; /* the address as a number: bit operations on a BTF pointer are refused */
	sl_read_kernel(&base, sizeof(base), &ctx[0]);
	for (int tls = 0; tls < 2; tls++) { /* the socket's own stream, and its TLS plaintext */
		__u64 key = base | tls;
		struct conn_state *cs = bpf_map_lookup_elem(&l7_conns, &key);
		if (!cs)
			continue;
		__u8 proto = cs->proto, sent = cs->sent;
		bpf_map_delete_elem(&l7_conns, &key);
		bpf_map_delete_elem(&l7_held, &key);
		/* Nothing of it went out (counted in the kernel only, or DNS's own records): no parser
		 * waits for its close. */
		if (proto == SL_L7_IGNORED || proto == SL_L7_UNKNOWN || (!sent && proto != SL_L7_DNS))
			continue;
		struct sl_l7_event *e = conn_record(key, SL_L7_CLOSE, proto);
		if (!e)
			continue;
		e->tls = tls;
		sl_submit(ctx, e, sizeof(*e));
	}
	return 0;
}

/* OpenSSL: SSL_write(ssl, buf, num), SSL_read(ssl, buf, num) and their _ex forms (whose
 * fourth argument receives the byte count). The entry keeps the buffer per thread; the return
 * sends the plaintext as a record of the TLS stream of the socket the call used. */
static __always_inline int ssl_enter(struct pt_regs *ctx, __u8 dir, bool ex)
{
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	__u32 tid = (__u32)t.pid_tgid;
	struct ssl_call c = {.ssl = PT_REGS_PARM1(ctx), .buf = PT_REGS_PARM2(ctx), .fd = -1, .dir = dir};
	if (ex)
		c.lenp = PT_REGS_PARM4(ctx);
	SL_CHECK(SL_H_MAP_UPDATE, bpf_map_update_elem(&ssl_calls, &tid, &c, BPF_ANY));
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(sl_ssl_write) { return ssl_enter(ctx, SL_L7_SEND, false); }
SEC("uprobe")
int BPF_KPROBE(sl_ssl_write_ex) { return ssl_enter(ctx, SL_L7_SEND, true); }
SEC("uprobe")
int BPF_KPROBE(sl_ssl_read) { return ssl_enter(ctx, SL_L7_RECV, false); }
SEC("uprobe")
int BPF_KPROBE(sl_ssl_read_ex) { return ssl_enter(ctx, SL_L7_RECV, true); }

SEC("uretprobe")
int BPF_KRETPROBE(sl_ssl_return, long rc)
{
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	__u32 tid = (__u32)t.pid_tgid;
	struct ssl_call *sc = bpf_map_lookup_elem(&ssl_calls, &tid);
	if (!sc)
		return 0;
	/* fields, not a copy of the entry: this frame is the first of four (the RESP walk) */
	__u64 ssl = sc->ssl, sbuf = sc->buf, lenp = sc->lenp;
	__s64 fd = sc->fd;
	__u8 dir = sc->dir;
	bpf_map_delete_elem(&ssl_calls, &tid);
	long n = (int)rc; /* the functions return int: the register's upper half is not theirs */
	if (lenp) {
		__u64 done = 0;
		if (n != 1 || sl_read_user(&done, sizeof(done), (void *)lenp))
			return 0;
		n = done;
	}
	if (n <= 0)
		return 0;
	if (fd < 0) { /* served from OpenSSL's buffer: the socket its earlier calls used */
		__s64 *f = bpf_map_lookup_elem(&ssl_fds, &ssl);
		if (!f)
			return 0;
		fd = *f;
	}
	struct sock *sk = sl_file_sock(sl_fd_file(sl_task_ptr(&t), fd));
	if (!sk)
		return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if ((family != SL_AF_INET && family != SL_AF_INET6) || BPF_CORE_READ(sk, sk_type) != SL_SOCK_STREAM)
		return 0;
	return one_message(&t, sk, family, fd, n, dir, HOW_BUF, sbuf, 0, 0, true, true);
}

/* Go's crypto/tls (src/sources/l7/go_tls.h): (*Conn).Write(b) and (*Conn).Read(b) by Go's
 * register ABI (amd64, 1.17+): the receiver in RAX, b's pointer and length in RBX and RCX; Read's
 * byte count in RAX at its RET instructions (no uretprobe: the runtime moves goroutine stacks).
 * A goroutine may return on another thread than it called on: Read's entry is kept by process
 * and goroutine (R14 holds the running g). Bounded: goroutines inside Read at once; an entry
 * whose goroutine never returns (a closed connection's reader) is replaced by its next call. */
struct go_read_key {
	__u32 tgid;
	__u32 pad;
	__u64 g;
};

struct go_read {
	__u64 conn;
	__u64 buf;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_read_key);
	__type(value, struct go_read);
} go_tls_reads SEC(".maps");

/* The socket's fd of a *tls.Conn whose conn is a *net.TCPConn (what tls.Dial and a TLS listener
 * make): Conn.conn is its first field, an interface (itab, data); data points to the TCPConn
 * whose first field is *netFD; netFD begins with poll.FD, whose Sysfd follows the 16-byte
 * fdMutex. The same layout from Go 1.12 to 1.23. Another net.Conn gives a number that names no
 * TCP socket of the process, and nothing is sent. */
static __always_inline __s64 go_conn_fd(__u64 conn)
{
	__u64 data = 0, netfd = 0;
	__s64 fd = -1;
	if (sl_read_user(&data, sizeof(data), (void *)(conn + 8)) || !data ||
	    sl_read_user(&netfd, sizeof(netfd), (void *)data) || !netfd ||
	    sl_read_user(&fd, sizeof(fd), (void *)(netfd + 16)))
		return -1;
	return fd;
}

static __always_inline int go_tls_data(struct sl_task *t, __u64 conn, __u64 buf, long n, __u8 dir)
{
	if (n <= 0)
		return 0;
	__s64 fd = go_conn_fd(conn);
	if (fd < 0 || fd > (1 << 24))
		return 0;
	struct sock *sk = sl_file_sock(sl_fd_file(sl_task_ptr(t), fd));
	if (!sk)
		return 0;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if ((family != SL_AF_INET && family != SL_AF_INET6) || BPF_CORE_READ(sk, sk_type) != SL_SOCK_STREAM)
		return 0;
	return one_message(t, sk, family, fd, n, dir, HOW_BUF, buf, 0, 0, true, true);
}

#if defined(__TARGET_ARCH_x86)
/* Write's bytes at its entry: the plaintext is there, and Write writes all of it or fails. */
SEC("uprobe")
int sl_go_tls_write(struct pt_regs *ctx)
{
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	return go_tls_data(&t, ctx->ax, ctx->bx, (long)ctx->cx, SL_L7_SEND);
}

SEC("uprobe")
int sl_go_tls_read(struct pt_regs *ctx)
{
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	struct go_read_key k = {.tgid = t.pid_tgid >> 32, .g = ctx->r14};
	struct go_read v = {.conn = ctx->ax, .buf = ctx->bx};
	SL_CHECK(SL_H_MAP_UPDATE, bpf_map_update_elem(&go_tls_reads, &k, &v, BPF_ANY));
	return 0;
}

SEC("uprobe")
int sl_go_tls_read_ret(struct pt_regs *ctx)
{
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	struct go_read_key k = {.tgid = t.pid_tgid >> 32, .g = ctx->r14};
	struct go_read *v = bpf_map_lookup_elem(&go_tls_reads, &k);
	if (!v)
		return 0;
	__u64 conn = v->conn, buf = v->buf;
	bpf_map_delete_elem(&go_tls_reads, &k);
	return go_tls_data(&t, conn, buf, (long)ctx->ax, SL_L7_RECV);
}
#endif

/* A process started (go_tls_enabled): user space looks at its binary for Go's crypto/tls. Exec
 * storms cost a record each; user space keeps what it found per file. */
const volatile bool go_tls_enabled = false;

SEC("tp/sched/sched_process_exec")
int sl_l7_exec(void *ctx)
{
	if (!go_tls_enabled)
		return 0;
	struct sl_l7_event *e = sl_reserve(sizeof(*e));
	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	sl_fill_hdr_now(&e->hdr, SL_EV_L7);
	e->fd = -1;
	e->dir = SL_L7_EXEC;
	sl_submit(ctx, e, sizeof(*e));
	return 0;
}

/* mmsghdr: a msghdr and the bytes that message moved. */
struct mmsg {
	struct user_msghdr hdr;
	__u32 len;
	__u32 pad;
};

/* A read/write-family syscall moved `ret` bytes on a socket (sk: NULL, found from the fd); `regs`
 * are the task's saved user registers (a BTF pointer: bpf_task_pt_regs', or raw sys_exit's). */
static __always_inline int data_at(struct sl_task *t, struct sock *sk, long ret, __u8 dir, __u8 how,
				   struct pt_regs *regs)
{
	__u64 fd = PT_REGS_PARM1_SYSCALL(regs);
	__u64 arg2 = PT_REGS_PARM2_SYSCALL(regs);
	__u64 arg3 = PT_REGS_PARM3_SYSCALL(regs);
	__u64 arg5 = (how & ~HOW_NOPEER) == HOW_BUF_ADDR ? PT_REGS_PARM5_SYSCALL(regs) : 0;
	if (!sk)
		sk = sl_file_sock(sl_fd_file(sl_task_ptr(t), fd));
	if (!sk)
		return 0;
	__u16 family = 0; /* read by one_message when the connection is not known yet */
	if (tls_enabled) {
		__u32 tid = (__u32)t->pid_tgid;
		struct ssl_call *sc = bpf_map_lookup_elem(&ssl_calls, &tid);
		if (sc) { /* ciphertext of an SSL call: it names the socket, the uprobe sends the plaintext */
			sc->fd = fd;
			__s64 f = fd;
			SL_CHECK(SL_H_MAP_UPDATE, bpf_map_update_elem(&ssl_fds, &sc->ssl, &f, BPF_ANY));
			return 0;
		}
	}
	if (how != HOW_MMSG)
		return one_message(t, sk, family, fd, ret, dir, how, arg2, arg3, arg5, false, true);
	/* sendmmsg/recvmmsg: the result counts messages; the first SL_L7_MAX_MMSG are read (a
	 * resolver sends its A and AAAA queries together). Not unrolled: one copy of one_message
	 * (two were more stack than 6.1's verifier allows). */
#pragma clang loop unroll(disable)
	for (int i = 0; i < SL_L7_MAX_MMSG; i++) {
		if (i >= ret)
			break;
		struct mmsg *m = (struct mmsg *)(arg2 + i * sizeof(struct mmsg));
		__u32 len = 0;
		if (sl_read_user(&len, sizeof(len), &m->len) || !len)
			continue;
		/* no RED here (red false): sendmmsg/recvmmsg carry datagrams (DNS: its records); a TCP
		 * stream moved by them is sent as it is. Without red_step this program's frames fit
		 * 6.1's combined-stack limit. */
		one_message(t, sk, family, fd, len, dir, HOW_MSG, (__u64)&m->hdr, 0, 0, false, false);
	}
	return 0;
}

static __always_inline int data_exit(long ret, __u8 dir, __u8 how)
{
	if (ret <= 0)
		return 0;
	struct sl_task t;
	if (!sl_wanted(&t) || !t.btf)
		return 0;
	return data_at(&t, NULL, ret, dir, how, (struct pt_regs *)bpf_task_pt_regs(t.btf));
}

SEC("tp/syscalls/sys_exit_read")
int sl_l7_read(struct trace_event_raw_sys_exit *ctx) { return data_exit(ctx->ret, SL_L7_RECV, HOW_BUF); }
SEC("tp/syscalls/sys_exit_write")
int sl_l7_write(struct trace_event_raw_sys_exit *ctx) { return data_exit(ctx->ret, SL_L7_SEND, HOW_BUF); }
SEC("tp/syscalls/sys_exit_recvfrom")
int sl_l7_recvfrom(struct trace_event_raw_sys_exit *ctx) { return data_exit(ctx->ret, SL_L7_RECV, HOW_BUF_ADDR); }
SEC("tp/syscalls/sys_exit_sendto")
int sl_l7_sendto(struct trace_event_raw_sys_exit *ctx) { return data_exit(ctx->ret, SL_L7_SEND, HOW_BUF_ADDR); }
SEC("tp/syscalls/sys_exit_readv")
int sl_l7_readv(struct trace_event_raw_sys_exit *ctx) { return data_exit(ctx->ret, SL_L7_RECV, HOW_IOV); }
SEC("tp/syscalls/sys_exit_writev")
int sl_l7_writev(struct trace_event_raw_sys_exit *ctx) { return data_exit(ctx->ret, SL_L7_SEND, HOW_IOV); }
SEC("tp/syscalls/sys_exit_recvmsg")
int sl_l7_recvmsg(struct trace_event_raw_sys_exit *ctx) { return data_exit(ctx->ret, SL_L7_RECV, HOW_MSG); }
SEC("tp/syscalls/sys_exit_sendmsg")
int sl_l7_sendmsg(struct trace_event_raw_sys_exit *ctx) { return data_exit(ctx->ret, SL_L7_SEND, HOW_MSG); }
SEC("tp/syscalls/sys_exit_sendfile64")
int sl_l7_sendfile(struct trace_event_raw_sys_exit *ctx) { return data_exit(ctx->ret, SL_L7_SEND, HOW_NONE); }
SEC("tp/syscalls/sys_exit_sendmmsg")
int sl_l7_sendmmsg(struct trace_event_raw_sys_exit *ctx) { return data_exit(ctx->ret, SL_L7_SEND, HOW_MMSG); }
SEC("tp/syscalls/sys_exit_recvmmsg")
int sl_l7_recvmmsg(struct trace_event_raw_sys_exit *ctx) { return data_exit(ctx->ret, SL_L7_RECV, HOW_MMSG); }

/* The same through the raw sys_exit tracepoint (tp_btf), where the kernel has it: one program for
 * every syscall, which returns unless the number is one of the family's. It skips the per-syscall
 * tracepoints' machinery (a perf record built for each call), the larger part of their cost. The
 * numbers are this machine's, set by user space from the kernel's table (-1: absent). */
const volatile int nr_read = -1, nr_write = -1, nr_recvfrom = -1, nr_sendto = -1, nr_readv = -1,
		   nr_writev = -1, nr_recvmsg = -1, nr_sendmsg = -1, nr_recvmmsg = -1, nr_sendmmsg = -1,
		   nr_sendfile = -1;

/* The family member a syscall number is, and where its data is; false for any other. */
static __always_inline bool syscall_how(int nr, __u8 *dir, __u8 *how)
{
	if (nr == nr_read) *dir = SL_L7_RECV, *how = HOW_BUF;
	else if (nr == nr_write) *dir = SL_L7_SEND, *how = HOW_BUF;
	else if (nr == nr_recvfrom) *dir = SL_L7_RECV, *how = HOW_BUF_ADDR;
	else if (nr == nr_sendto) *dir = SL_L7_SEND, *how = HOW_BUF_ADDR;
	else if (nr == nr_readv) *dir = SL_L7_RECV, *how = HOW_IOV;
	else if (nr == nr_writev) *dir = SL_L7_SEND, *how = HOW_IOV;
	else if (nr == nr_recvmsg) *dir = SL_L7_RECV, *how = HOW_MSG;
	else if (nr == nr_sendmsg) *dir = SL_L7_SEND, *how = HOW_MSG;
	else if (nr == nr_recvmmsg) *dir = SL_L7_RECV, *how = HOW_MMSG;
	else if (nr == nr_sendmmsg) *dir = SL_L7_SEND, *how = HOW_MMSG;
	else if (nr == nr_sendfile) *dir = SL_L7_SEND, *how = HOW_NONE;
	else return false;
	return true;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sl_l7_sys_exit, struct pt_regs *regs, long ret)
{
	if (ret <= 0)
		return 0;
	__u8 dir, how;
	if (!syscall_how((int)sl_syscall_nr(regs), &dir, &how) || how == HOW_MMSG) /* those by their own tracepoints */
		return 0;
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	return data_at(&t, NULL, ret, dir, how, regs);
}

/* sendmmsg/recvmmsg before 5.15, where their own tracepoints cannot read the registers: a second
 * program, as the one above with the mmsg walk would be more stack than the verifier allows (each
 * program is compiled for its own kind, the other's code gone). */
SEC("tp_btf/sys_exit")
int BPF_PROG(sl_l7_sys_exit_mmsg, struct pt_regs *regs, long ret)
{
	if (ret <= 0)
		return 0;
	__u8 dir, how;
	if (!syscall_how((int)sl_syscall_nr(regs), &dir, &how) || how != HOW_MMSG)
		return 0;
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	return data_at(&t, NULL, ret, dir, HOW_MMSG, regs);
}

/* Where the kernel has them (6.3+), the socket layer's own tracepoints: they fire when a socket
 * moved bytes, with the socket, so no program runs on any other syscall (the raw sys_exit above
 * costs every syscall of the node) and the walk from the fd to the socket is skipped. The
 * syscall (its number in the saved registers) says where the data is; socket I/O that is not a
 * read/write-family syscall's (the kernel's own, io_uring, splice) is not ours. sendmmsg and
 * recvmmsg come by their exit tracepoints (the result says how many messages). */
static __always_inline int sock_io(struct sock *sk, int ret, int flags, __u8 dir)
{
	if (ret <= 0 || (dir == SL_L7_RECV && (flags & 2 /* MSG_PEEK: read again later */)))
		return 0;
	struct sl_task t;
	if (!sl_wanted(&t))
		return 0;
	if (count_sock_traffic && sk)
		sl_sock_traffic_add(sk, t.pid_tgid >> 32, ret, dir == SL_L7_SEND);
	if (!t.btf)
		return 0;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(t.btf);
	__u8 d, how;
	if (!syscall_how((int)sl_syscall_nr(regs), &d, &how) || d != dir || how == HOW_MMSG)
		return 0;
	return data_at(&t, sk, ret, dir, dir == SL_L7_RECV ? how | HOW_NOPEER : how, regs);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(sl_l7_sock_send, struct sock *sk, int ret, int flags) { return sock_io(sk, ret, flags, SL_L7_SEND); }

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sl_l7_sock_recv, struct sock *sk, int ret, int flags) { return sock_io(sk, ret, flags, SL_L7_RECV); }
