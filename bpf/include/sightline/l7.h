/* l7 source ABI: socket payloads for request parsing. One record per read/write-family syscall
 * on a connection whose protocol was recognised (sightline/l7_infer.h): the connection, the
 * direction, the bytes moved and a bounded prefix of them. Records whose data is cut (or
 * absent: sendfile) say so with len > captured; parsers skip what they did not get. */
#ifndef SIGHTLINE_L7_H
#define SIGHTLINE_L7_H

#include "sightline/common.h"
#include "sightline/sched.h"

/* Methods whose exchanges are always sent in detail (l7_always_detail). */
#define SL_L7_MAX_ALWAYS 256
/* Ports with a protocol hint (bpf/l7.bpf.c port_hint_*: sources.l7.ports and the defaults). */
#define SL_L7_MAX_PORTS 64

/* The most of one message that is copied (a power of two, for the verifier's bounds; twice it
 * plus a header is the per-CPU scratch buffer, which must stay under 32 KiB). The
 * configured capture (l7.capture_bytes) is at most this. */
#define SL_L7_MAX_CAPTURE 8192
/* TCP connections whose protocol state is kept at once (LRU: an old idle one is forgotten and
 * re-inferred when it speaks again). As many as the user-side tracker keeps; LRU maps are
 * preallocated, so this is ~2.4 MiB of kernel memory (65536 took 9.4 MiB). */
#define SL_L7_MAX_CONNS 16384
/* Messages of an unrecognised TCP connection before it is ignored for good. */
#define SL_L7_MAX_MISSES 4
/* iovecs of a readv/writev/sendmsg/recvmsg copied (the rest counted as not captured): with
 * bpf_loop (5.17+) up to SL_L7_MAX_IOV_LOOP (gRPC's C core writes a slice per iovec: 20-30 for a
 * call), else SL_L7_MAX_IOV (an unrolled loop the verifier walks whole). */
#define SL_L7_MAX_IOV 8
#define SL_L7_MAX_IOV_LOOP 1024
/* Records one buffer of a stream user space counts (HTTP/2, Memcached, NATS, AMQP) may become,
 * capture_bytes each: those protocols batch many messages into one read or write. */
#define SL_L7_MAX_CHUNKS 8

enum sl_l7_proto {
	SL_L7_UNKNOWN = 0,
	SL_L7_HTTP = 1,
	SL_L7_PGSQL = 2,
	SL_L7_MYSQL = 3,
	SL_L7_REDIS = 4,
	SL_L7_DNS = 5,
	SL_L7_HTTP2 = 6, /* and gRPC on it */
	SL_L7_MEMCACHED = 7,
	SL_L7_NATS = 8,
	SL_L7_AMQP = 9,
	SL_L7_PEER = 254,    /* conn state: a loopback client's end, counted at its server's end */
	SL_L7_IGNORED = 255, /* conn state: not a protocol we parse */
};

enum sl_l7_dir {
	SL_L7_SEND = 1,  /* this process wrote the bytes */
	SL_L7_RECV = 2,  /* this process read them */
	SL_L7_CLOSE = 3, /* the connection closed (no data) */
	SL_L7_EXEC = 4,  /* a process started (no connection): its binary may be Go's (go_tls.h) */
	SL_L7_PEER_END = 5, /* a loopback client's end, counted at its server's (no data): who it is */
};

enum sl_l7_role {
	SL_L7_ROLE_UNKNOWN = 0,
	SL_L7_CLIENT = 1, /* this process sent the requests */
	SL_L7_SERVER = 2, /* this process received them */
};

struct sl_l7_event {
	struct sl_event_hdr hdr; /* kind SL_EV_L7 */
	__u64 conn;              /* the socket's kernel address: the connection while it lives */
	__s32 fd;
	__u32 len;               /* bytes the syscall moved */
	__u32 captured;          /* bytes in data[], from the start of them */
	__u8 dir;                /* enum sl_l7_dir */
	__u8 proto;              /* enum sl_l7_proto */
	__u8 role;               /* enum sl_l7_role */
	__u8 sock_type;          /* SOCK_STREAM (1) or SOCK_DGRAM (2) */
	__u16 family;            /* AF_INET, AF_INET6 */
	__u16 lport;             /* host order */
	__u16 rport;
	__u8 tls;                /* the plaintext of a TLS connection (OpenSSL or Go TLS uprobes) */
	__u8 pad;
	__u8 laddr[16];          /* IPv4 in the first 4 bytes */
	__u8 raddr[16];
	__u32 weight;            /* exchanges this one stands for: N when sent as 1 in N, else 1 */
	/* A client request made while its thread served one: that one's start (the thread's serving
	 * mark; hdr.ts_ns of its first record when it was held), low 32 bits; 0: none. */
	__u32 serve_id;
	char pcomm[16];          /* the process's name (its group leader's comm; hdr.comm: the thread's) */
	/* A server's response (its first record), with tm_flags SL_L7_TM_SET: what the serving
	 * thread did from the request's start (the read of its first bytes) to here, from the sched
	 * source's per-thread accounting (bpf/thread_time.bpf.h). The kernel-paired protocols
	 * (HTTP/1, PostgreSQL, MySQL, Redis). */
	struct sl_thread_time tm;
	__u32 tm_flags;          /* SL_L7_TM_* */
	/* A kernel-paired TCP exchange's response (its first record), with retrans_set: the
	 * segments this socket retransmitted (tcp_sock.total_retrans) from the request's start to
	 * here: a client's request resent; a server's earlier answers still being resent. */
	__u16 retrans;
	__u16 retrans_set;
	/* followed by `captured` bytes */
};

/* sl_l7_event.tm_flags */
#define SL_L7_TM_SET 1          /* tm holds the request's timeline */
#define SL_L7_TM_OTHER_THREAD 2 /* another thread answered than read the request: not attributed */

/* RED in the kernel (bpf/l7.bpf.c): each request and response start on a connection of a protocol
 * below is paired there and counted in l7_red, whatever reaches the ring buffer. Keys: the
 * process, protocol, role, status and method; latency in log2 buckets of ns from
 * 2^SL_L7_RED_MIN_POW (the first also holds what is below, the last what is above). */
#define SL_L7_RED_MAX 4096
#define SL_L7_RED_MIN_POW 10
#define SL_L7_RED_BUCKETS 26
#define SL_L7_METHOD_LEN 8
/* Status of a key: HTTP's class digit (1-5); other protocols SL_L7_ST_OK or SL_L7_ST_ERROR. */
#define SL_L7_ST_OK 0
#define SL_L7_ST_ERROR 9
/* A request held (its first bytes) while its exchange is not sampled, for the record sent when
 * it fails or is slow. */
#define SL_L7_HOLD_BYTES 256
#define SL_L7_MAX_HELD 4096 /* LRU, preallocated: ~1.8 MiB */
/* RESP headers (*N, $L) walked to count the commands of one write (pipelining). */
#define SL_L7_RESP_TOKENS 512

struct sl_l7_red_key {
	__u32 tgid;
	__u8 proto;              /* enum sl_l7_proto */
	__u8 role;               /* enum sl_l7_role */
	__u8 status;             /* see SL_L7_ST_* */
	__u8 pad;
	char method[SL_L7_METHOD_LEN]; /* HTTP method, Redis command, SQL keyword (upper case) */
} __attribute__((aligned(8))); /* read as two words (sl_l7_red_slot) */

struct sl_l7_red_val {
	__u64 requests;
	__u64 errors;
	__u64 sum_ns;
	__u64 buckets[SL_L7_RED_BUCKETS];
};

/* Each CPU's direct-mapped slots in front of l7_red (a memory-mapped array, every possible
 * CPU's in turn): a key counts in its slot on the CPU it is counted on when the slot is free or
 * its own (plain adds, no hashing), else in l7_red (atomic adds). User space sums both
 * (DeltaTotals::read_slots) and frees the slots of exited processes. */
#define SL_L7_RED_SLOTS_BITS 6
#define SL_L7_RED_SLOTS (1u << SL_L7_RED_SLOTS_BITS)

struct sl_l7_red_slot {
	struct sl_l7_red_key key; /* tgid 0: free */
	struct sl_l7_red_val val;
};

/* The slot of a key on a CPU (Fibonacci hashing of its two words). */
static inline __u32 sl_l7_red_slot_of(__u32 cpu, const struct sl_l7_red_key *k)
{
	__u64 w[2];
	__builtin_memcpy(w, k, sizeof(w));
	__u64 h = (w[0] ^ (w[1] * 0x9e3779b97f4a7c15ull)) * 0x9e3779b97f4a7c15ull;
	return cpu * SL_L7_RED_SLOTS + (__u32)(h >> (64 - SL_L7_RED_SLOTS_BITS));
}

/* Counters of the in-kernel pairing (array l7_red_stats, per CPU), SL_L7_RS_*. */
enum sl_l7_red_stat {
	SL_L7_RS_SCAN_CUT = 0,  /* a pipelined write had more RESP headers than were walked */
	SL_L7_RS_FULL = 1,      /* a key could not be added: l7_red is full */
	SL_L7_RS_HELD_LOST = 2, /* a failed or slow request's held bytes were gone (evicted) */
	SL_L7_RS_SAMPLED = 3,   /* exchanges sent in detail by the sample */
	SL_L7_RS_EXEMPLARS = 4, /* exchanges sent in detail because they failed or were slow */
	SL_L7_RS_UNSENT = 5,    /* exchanges counted only */
	SL_L7_RS_AFTER_CLOSE = 6, /* a socket's first message seen after it closed: not tracked */
	SL_L7_RS_N = 8,
};

/* bpf/l7.bpf.c's per-CPU sample state (.bss, one cache line a CPU: see there). */
struct sl_l7_cpu_sample {
	__u64 detail_start;
	__u32 detail_used;
	__u32 ctr[2];
	__u32 pad[11];
};

#endif
