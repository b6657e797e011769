/* packets source ABI: per-interface packet and byte counters by direction and protocol (TC
 * programs), packet drops by the kernel's drop reason (skb:kfree_skb) and, asked for, each drop
 * as an event (tcpdrop, Hubble's dropped flows). */
#ifndef SIGHTLINE_PACKETS_H
#define SIGHTLINE_PACKETS_H

#include "sightline/common.h"

/* (interface, direction, L3, L4) keys at once: interfaces x 2 x a handful of protocols. */
#define SL_PKT_MAX_KEYS 8192
/* Drop reasons (the kernel has about 100) x L3 protocols. */
#define SL_PKT_MAX_DROP_KEYS 1024

enum sl_pkt_dir {
	SL_PKT_INGRESS = 0,
	SL_PKT_EGRESS = 1,
};

struct sl_pkt_key {
	__u32 ifindex;
	__u16 l3;  /* ethertype, host order: 0x0800 IPv4, 0x86dd IPv6, 0x0806 ARP ... */
	__u8 l4;   /* IP protocol (IPv4 protocol, IPv6 next header); 0 when not IP */
	__u8 dir;  /* enum sl_pkt_dir */
};

struct sl_pkt_val {
	__u64 packets;
	__u64 bytes; /* skb->len: what the interface sees, link-layer header included */
};

struct sl_drop_key {
	__u32 reason; /* enum skb_drop_reason of this kernel: named from its BTF in user space */
	__u16 l3;     /* ethertype of the packet, host order */
	__u16 pad;
};

/* Flows (Hubble's flow log, `trace flow`): one entry per (interface, protocol, both ends),
 * oriented from its initiator: the sender of the first packet seen, or of the SYN. */
#define SL_FLOW_MAX 65536

struct sl_flow_key {
	__u8 src[16];    /* the initiator's address (IPv4 in the first 4 bytes) */
	__u8 dst[16];
	__u16 sport;     /* host order; ICMP echo: the identifier; other ICMP: type */
	__u16 dport;     /* ICMP echo: 0; other ICMP: code */
	__u32 ifindex;
	__u8 family;     /* 2 (IPv4), 10 (IPv6) */
	__u8 l4;         /* IP protocol */
	__u16 pad;
};

/* Updated by every packet of the flow on any CPU (atomic adds); read and deleted by user space. */
struct sl_flow_val {
	__u64 first_ns;
	__u64 last_ns;
	__u64 packets[2];   /* [0] initiator to responder, [1] back */
	__u64 bytes[2];     /* IP bytes, headers included (IPv4 total length, IPv6 payload + 40) */
	__u64 cgroup_id;    /* the local socket's cgroup where one was found at the first packet */
	__u8 tcp_flags[2];  /* TCP: each side's flags, ORed */
	__u8 dir;           /* enum sl_pkt_dir of the first packet */
	__u8 mid;           /* TCP: the first packet seen was no SYN (joined mid-way) */
	__u32 pad;
};

/* Per-CPU counters of the flow table. */
enum sl_flow_stat {
	SL_FLOW_CREATED = 0, /* entries made: user space counts those it never saw (evicted first) */
	SL_FLOW_FAILED = 1,  /* packets whose entry could not be made */
	SL_FLOW_NSTATS = 2,
};

/* One dropped packet. The header names no task (pid 0: a drop in softirq runs in whatever task
 * it interrupted); its cgroup_id is the packet's socket's (its creator's) where it had one. */
struct sl_drop_event {
	struct sl_event_hdr hdr;
	__u64 location;  /* the kernel address that freed it (symbolized in user space) */
	__u32 reason;    /* enum skb_drop_reason of this kernel */
	__u32 ifindex;   /* the device it was on, 0 if none */
	__u32 len;       /* skb->len */
	__u16 l3;        /* ethertype, host order */
	__u8 l4;         /* IP protocol; 0 when not IP */
	__u8 family;     /* 2 (IPv4), 10 (IPv6), 0 */
	__u8 saddr[16];  /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
	__u16 sport;     /* host order; ICMP: type */
	__u16 dport;     /* ICMP: code */
	char ifname[16];
	__u32 ip_len;    /* the IP header's length field (IPv6: payload + 40); 0 if none */
};

#endif
