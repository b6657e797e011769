/* net source ABI: one record per TCP connection when it closes (tcplife's shape), and, asked
 * for, one as each handshake ends (connect), each accept() returns (accept) and each segment is
 * retransmitted (retransmit): the same record, its kind in the header. */
#ifndef SIGHTLINE_NET_H
#define SIGHTLINE_NET_H

#include "sightline/common.h"

#define SL_NET_MAX_CONNS 16384 /* connections tracked at once; a full map is counted */

enum sl_tcp_role {
	SL_TCP_CLIENT = 1, /* connect() */
	SL_TCP_SERVER = 2, /* accepted */
};

enum sl_tcp_flags {
	SL_TCP_FAILED = 1,     /* the connect never reached ESTABLISHED */
	SL_TCP_RESET_RECV = 2, /* a RST was received */
	SL_TCP_RESET_SENT = 4, /* a RST was sent */
};

/* The owning process in hdr: the connector, the acceptor, or the closer of an accepted one whose
 * accept was not seen; hdr.kind: SL_EV_TCP, _CONNECT, _ACCEPT or _RETRANSMIT. */
struct sl_tcp_event {
	struct sl_event_hdr hdr;
	__u8 saddr[16];          /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
	__u16 sport;             /* host order */
	__u16 dport;
	__u16 family;            /* AF_INET (2) or AF_INET6 (10) */
	__u8 role;
	__u8 flags;
	__u64 duration_ns;       /* ESTABLISHED (or SYN_SENT) -> CLOSE; accept: -> accept() */
	__u64 connect_ns;        /* SYN_SENT -> ESTABLISHED, clients */
	__u64 bytes_sent;        /* payload, retransmissions not counted twice */
	__u64 bytes_received;    /* payload */
	__u32 retransmits;
	__u32 srtt_us;
	__s32 error;             /* sk_err at close: ECONNREFUSED, ETIMEDOUT ... */
	__s32 fd;                /* accept: the new fd; -1 otherwise */
	__u8 state;              /* retransmit: the socket's TCP state (SYN_SENT for a SYN) */
	__u8 pad[7];
};

/* TCP state transitions, node-wide: a per-CPU array indexed from * SL_TCP_NSTATES + to. */
#define SL_TCP_NSTATES 16

/* Socket traffic per process (tp_btf sock_send_length / sock_recv_length): every sendmsg and
 * recvmsg that moved bytes, keyed by process and socket kind. For UDP a call is a datagram. */
#define SL_NET_MAX_SOCK_KEYS 16384

struct sl_sock_key {
	__u32 tgid;
	__u16 family;   /* AF_INET, AF_INET6, AF_UNIX ... */
	__u16 protocol; /* sk_protocol: IPPROTO_TCP, IPPROTO_UDP ...; 0 for AF_UNIX */
};

struct sl_sock_val {
	__u64 sent_bytes;
	__u64 sent_calls;
	__u64 recv_bytes;
	__u64 recv_calls;
};

/* A direct-mapped cache in front of that hash: SL_NET_SOCK_SLOTS slots a CPU (slot
 * cpu * SL_NET_SOCK_SLOTS + the key's hash), each a key and what it moved since it took the
 * slot; a key finds its slot taken by another and counts in the hash. tgid 0: free. User space
 * reads them where the kernel writes (a memory-mapped array) and frees a slot whose process
 * exited (its value zeroed, then its key). */
#define SL_NET_SOCK_SLOTS_BITS 7
#define SL_NET_SOCK_SLOTS (1u << SL_NET_SOCK_SLOTS_BITS)

struct sl_sock_slot {
	struct sl_sock_key key;
	struct sl_sock_val val;
};

/* The slot of a key on a CPU (Fibonacci hashing of its fields). */
static inline __u32 sl_sock_slot_of(__u32 cpu, const struct sl_sock_key *k)
{
	__u32 h = (k->tgid ^ ((__u32)k->family << 16) ^ ((__u32)k->protocol << 24)) * 2654435761u;
	return cpu * SL_NET_SOCK_SLOTS + (h >> (32 - SL_NET_SOCK_SLOTS_BITS));
}

#endif
