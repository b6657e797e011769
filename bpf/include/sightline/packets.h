/* packets source ABI: per-interface packet and byte counters by direction and protocol (TC
 * programs), and packet drops by the kernel's drop reason (skb:kfree_skb). */
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

#endif
