/* packets source: TC programs on each interface count packets and bytes by direction and
 * protocol; tp_btf/kfree_skb counts dropped packets by the kernel's drop reason and, asked for
 * (want_drop), sends each as a record: reason, where, the device, both ends from the headers.
 *
 * The TC programs never change a packet's fate: they return TC_ACT_UNSPEC (TCX_NEXT), which lets
 * the next program or the stack decide. Headers are read relative to the network header, so
 * interfaces without a link-layer header (tun, wireguard) work too.
 */
#include "common.bpf.h"
#include <bpf/bpf_endian.h>
#include "sightline/packets.h"

SL_BTF_TYPE(sl_drop_event);

#define SL_ETH_P_IP 0x0800
#define SL_ETH_P_IPV6 0x86DD
#define SL_TC_ACT_UNSPEC (-1)

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SL_PKT_MAX_KEYS);
	__type(key, struct sl_pkt_key);
	__type(value, struct sl_pkt_val);
} pkt_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SL_PKT_MAX_DROP_KEYS);
	__type(key, struct sl_drop_key);
	__type(value, __u64);
} pkt_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SL_FLOW_MAX);
	__type(key, struct sl_flow_key);
	__type(value, struct sl_flow_val);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SL_FLOW_NSTATS);
	__type(key, __u32);
	__type(value, __u64);
} flow_stats SEC(".maps");

const volatile bool want_drop = false;
const volatile bool want_flows = false;
/* The loopback device: a local packet crosses its egress and then its ingress; a flow counts it
 * once, at ingress. */
const volatile __u32 lo_ifindex = 1;

static const struct sl_pkt_val zero_pkt = {};
static const __u64 zero_u64 = 0;

#define SL_IPPROTO_ICMP 1
#define SL_IPPROTO_ICMPV6 58
#define SL_IPPROTO_TCP 6
#define SL_IPPROTO_UDP 17
#define SL_IPPROTO_SCTP 132
#define SL_TCP_FIN 0x01
#define SL_TCP_SYN 0x02
#define SL_TCP_ACK 0x10

static __always_inline void flow_stat(__u32 i)
{
	__u64 *n = bpf_map_lookup_elem(&flow_stats, &i);
	if (n)
		*n += 1;
}

/* The cgroup of the flow's local socket at its first packet: the sender's on egress; on ingress
 * the socket the stack will deliver it to (a listener for a SYN), 0 if none. */
static __always_inline __u64 flow_cgroup(struct __sk_buff *skb, __u8 dir, const struct sl_flow_key *k)
{
	if (dir == SL_PKT_EGRESS)
		return bpf_skb_cgroup_id(skb);
	/* TC cannot ask a socket's cgroup (bpf_sk_cgroup_id is not its helper): read through the
	 * TCP socket's BTF; a UDP receiver is named by user space only (its owner's cgroup). */
	if (k->l4 != SL_IPPROTO_TCP || !bpf_core_field_exists(((struct sock *)0)->sk_cgrp_data.cgroup))
		return 0;
	struct bpf_sock_tuple t = {};
	__u32 size;
	if (k->family == 2) {
		__builtin_memcpy(&t.ipv4.saddr, k->src, 4);
		__builtin_memcpy(&t.ipv4.daddr, k->dst, 4);
		t.ipv4.sport = bpf_htons(k->sport);
		t.ipv4.dport = bpf_htons(k->dport);
		size = sizeof(t.ipv4);
	} else {
		__builtin_memcpy(t.ipv6.saddr, k->src, 16);
		__builtin_memcpy(t.ipv6.daddr, k->dst, 16);
		t.ipv6.sport = bpf_htons(k->sport);
		t.ipv6.dport = bpf_htons(k->dport);
		size = sizeof(t.ipv6);
	}
	struct bpf_sock *sk = bpf_sk_lookup_tcp(skb, &t, size, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return 0;
	__u64 id = 0;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	if (tp) {
		struct cgroup *cg = tp->inet_conn.icsk_inet.sk.sk_cgrp_data.cgroup;
		if (cg)
			id = cg->kn->id;
	}
	bpf_sk_release(sk);
	return id;
}

/* Counts the packet in its flow, made at its first packet. */
static __always_inline void flow(struct __sk_buff *skb, __u8 dir, __u16 l3)
{
	struct sl_flow_key k = {};
	__u32 off = 0, bytes = 0;
	if (l3 == SL_ETH_P_IP) {
		struct iphdr ip;
		if (bpf_skb_load_bytes_relative(skb, 0, &ip, sizeof(ip), BPF_HDR_START_NET))
			return;
		k.family = 2;
		k.l4 = ip.protocol;
		__builtin_memcpy(k.src, &ip.saddr, 4);
		__builtin_memcpy(k.dst, &ip.daddr, 4);
		bytes = bpf_ntohs(ip.tot_len);
		/* A fragment after the first has no transport header: its ports stay 0. */
		if (!(ip.frag_off & bpf_htons(0x1fff)))
			off = (ip.ihl & 0xf) * 4;
	} else if (l3 == SL_ETH_P_IPV6) {
		struct ipv6hdr ip6;
		if (bpf_skb_load_bytes_relative(skb, 0, &ip6, sizeof(ip6), BPF_HDR_START_NET))
			return;
		k.family = 10;
		k.l4 = ip6.nexthdr; /* extension headers not walked: their ports stay 0 */
		__builtin_memcpy(k.src, &ip6.saddr, 16);
		__builtin_memcpy(k.dst, &ip6.daddr, 16);
		bytes = bpf_ntohs(ip6.payload_len) + 40;
		off = 40;
	} else {
		return;
	}
	k.ifindex = skb->ifindex;
	__u8 flags = 0;
	__u32 l4hdr = 0;
	if (off) {
		__u8 h[14] = {};
		if (k.l4 == SL_IPPROTO_TCP) {
			if (bpf_skb_load_bytes_relative(skb, off, h, 14, BPF_HDR_START_NET))
				return;
			flags = h[13];
			l4hdr = (h[12] >> 4) * 4;
		} else if (k.l4 == SL_IPPROTO_UDP || k.l4 == SL_IPPROTO_SCTP || k.l4 == SL_IPPROTO_ICMP ||
			   k.l4 == SL_IPPROTO_ICMPV6) {
			if (bpf_skb_load_bytes_relative(skb, off, h, 6, BPF_HDR_START_NET))
				return;
			if (k.l4 == SL_IPPROTO_UDP)
				l4hdr = 8;
		}
		if (k.l4 == SL_IPPROTO_ICMP || k.l4 == SL_IPPROTO_ICMPV6) {
			bool echo = k.l4 == SL_IPPROTO_ICMP ? (h[0] == 8 || h[0] == 0) : (h[0] == 128 || h[0] == 129);
			/* An echo and its reply are one flow, by identifier; other messages by type and code. */
			k.sport = echo ? ((__u16)h[4] << 8) | h[5] : h[0];
			k.dport = echo ? 0 : h[1];
		} else if (k.l4 == SL_IPPROTO_TCP || k.l4 == SL_IPPROTO_UDP || k.l4 == SL_IPPROTO_SCTP) {
			k.sport = ((__u16)h[0] << 8) | h[1];
			k.dport = ((__u16)h[2] << 8) | h[3];
		}
	}
	/* A GSO packet (TSO, GRO) stands for several on the wire: each has its own headers. */
	__u32 segs = skb->gso_segs;
	__u64 npkts = 1;
	if (segs > 1) {
		npkts = segs;
		if (bytes)
			bytes += (segs - 1) * (off + l4hdr);
		else /* BIG TCP: no length in the header */
			bytes = skb->len;
	}
	__u64 now = sl_now();
	int side = 0;
	struct sl_flow_val *v = bpf_map_lookup_elem(&flows, &k);
	if (!v) {
		struct sl_flow_key r = k;
		__builtin_memcpy(r.src, k.dst, 16);
		__builtin_memcpy(r.dst, k.src, 16);
		r.sport = k.dport;
		r.dport = k.sport;
		v = bpf_map_lookup_elem(&flows, &r);
		side = 1;
		if (!v) {
			/* New. A SYN-ACK's flow was initiated by its receiver. */
			bool tcp = k.l4 == SL_IPPROTO_TCP;
			bool synack = tcp && (flags & (SL_TCP_SYN | SL_TCP_ACK)) == (SL_TCP_SYN | SL_TCP_ACK);
			struct sl_flow_val nv = {.first_ns = now, .last_ns = now, .dir = dir};
			nv.mid = tcp && !(flags & SL_TCP_SYN);
			nv.cgroup_id = flow_cgroup(skb, dir, &k);
			struct sl_flow_key *at = synack ? &r : &k;
			side = synack;
			if (!bpf_map_update_elem(&flows, at, &nv, BPF_NOEXIST))
				flow_stat(SL_FLOW_CREATED);
			v = bpf_map_lookup_elem(&flows, at);
			if (!v) {
				flow_stat(SL_FLOW_FAILED);
				return;
			}
		}
	}
	if (side) {
		__sync_fetch_and_add(&v->packets[1], npkts);
		__sync_fetch_and_add(&v->bytes[1], bytes);
		if ((v->tcp_flags[1] & flags) != flags)
			v->tcp_flags[1] |= flags; /* racy only against the same side's flags at once */
	} else {
		__sync_fetch_and_add(&v->packets[0], npkts);
		__sync_fetch_and_add(&v->bytes[0], bytes);
		if ((v->tcp_flags[0] & flags) != flags)
			v->tcp_flags[0] |= flags;
	}
	if (v->last_ns < now)
		v->last_ns = now;
}

static __always_inline int count(struct __sk_buff *skb, __u8 dir)
{
	struct sl_pkt_key k = {.ifindex = skb->ifindex, .dir = dir};
	k.l3 = bpf_ntohs(skb->protocol);
	__u8 l4 = 0;
	if (k.l3 == SL_ETH_P_IP)
		bpf_skb_load_bytes_relative(skb, 9, &l4, 1, BPF_HDR_START_NET);
	else if (k.l3 == SL_ETH_P_IPV6)
		bpf_skb_load_bytes_relative(skb, 6, &l4, 1, BPF_HDR_START_NET);
	k.l4 = l4;
	struct sl_pkt_val *v = sl_lookup_or_init(&pkt_counts, &k, &zero_pkt);
	if (v) {
		v->packets++;
		v->bytes += skb->len;
	}
	if (want_flows && !(dir == SL_PKT_EGRESS && skb->ifindex == lo_ifindex))
		flow(skb, dir, k.l3);
	return SL_TC_ACT_UNSPEC;
}

SEC("tc")
int sl_tc_ingress(struct __sk_buff *skb)
{
	return count(skb, SL_PKT_INGRESS);
}

SEC("tc")
int sl_tc_egress(struct __sk_buff *skb)
{
	return count(skb, SL_PKT_EGRESS);
}

/* Both ends of the packet from its IP header and the ports (ICMP: type and code) after it.
 * Reads go through probe reads of the skb's buffer: no header is guaranteed to be set. */
static __always_inline void drop_ends(struct sl_drop_event *e, const struct sk_buff *skb)
{
	unsigned char *head = skb->head;
	__u16 nh = skb->network_header;
	if (nh == (__u16)~0U || !head)
		return;
	__u8 first = 0;
	if (bpf_probe_read_kernel(&first, 1, head + nh))
		return;
	__u32 off;
	if ((first >> 4) == 4) {
		struct iphdr ip;
		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh))
			return;
		e->family = 2;
		e->l4 = ip.protocol;
		__builtin_memcpy(e->saddr, &ip.saddr, 4);
		__builtin_memcpy(e->daddr, &ip.daddr, 4);
		off = nh + (ip.ihl & 0xf) * 4;
		e->ip_len = bpf_ntohs(ip.tot_len);
	} else if ((first >> 4) == 6) {
		struct ipv6hdr ip6;
		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh))
			return;
		e->family = 10;
		e->l4 = ip6.nexthdr; /* extension headers not walked: their ports stay 0 */
		__builtin_memcpy(e->saddr, &ip6.saddr, 16);
		__builtin_memcpy(e->daddr, &ip6.daddr, 16);
		off = nh + sizeof(ip6);
		e->ip_len = bpf_ntohs(ip6.payload_len) + 40;
	} else {
		return;
	}
	__u8 l4[4] = {};
	if (bpf_probe_read_kernel(l4, sizeof(l4), head + off))
		return;
	if (e->l4 == SL_IPPROTO_ICMP || e->l4 == SL_IPPROTO_ICMPV6) {
		e->sport = l4[0];
		e->dport = l4[1];
	} else if (e->l4 == 6 || e->l4 == 17 || e->l4 == 136 || e->l4 == 132) {
		e->sport = ((__u16)l4[0] << 8) | l4[1];
		e->dport = ((__u16)l4[2] << 8) | l4[3];
	}
}

/* The cgroup of the packet's socket (its creator's), 0 without one: no task is asked, a drop in
 * softirq runs in whatever task it interrupted. */
static __always_inline __u64 sock_cgroup(const struct sock *sk)
{
	if (!sk)
		return 0;
	__u8 state = sk->__sk_common.skc_state;
	if (state == 6 /* TIME_WAIT */ || state == 12 /* NEW_SYN_RECV */)
		return 0; /* not a full socket */
	if (!bpf_core_field_exists(sk->sk_cgrp_data.cgroup))
		return 0;
	struct cgroup *cg = sk->sk_cgrp_data.cgroup;
	return cg ? cg->kn->id : 0;
}

static __always_inline void drop_event(void *ctx, struct sk_buff *skb, void *location, __u32 reason, __u16 l3)
{
	if (targ_tgid || targ_comm_set || targ_failed)
		return; /* a drop has no process to filter by */
	__u64 cgroup = sock_cgroup(skb->sk);
	if (targ_cgroup_id && cgroup != targ_cgroup_id)
		return;
	struct sl_drop_event *e = sl_reserve(sizeof(*e));
	if (!e)
		return;
	__builtin_memset(e, 0, sizeof(*e));
	e->hdr.kind = SL_EV_DROP;
	e->hdr.ts_ns = sl_now();
	e->hdr.cgroup_id = cgroup;
	e->location = (__u64)location;
	e->reason = reason;
	e->len = skb->len;
	e->l3 = l3;
	struct net_device *dev = skb->dev;
	if (dev) {
		e->ifindex = dev->ifindex;
		bpf_probe_read_kernel_str(e->ifname, sizeof(e->ifname), dev->name);
	}
	drop_ends(e, skb);
	sl_submit(ctx, e, sizeof(*e));
}

/* 5.17+: kfree_skb carries the reason; consumed packets (SKB_CONSUMED) go to consume_skb on
 * current kernels and are skipped here on the ones where they did not. */
SEC("tp_btf/kfree_skb")
int BPF_PROG(sl_kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	/* 5.17-5.19 had no SKB_CONSUMED: every reason there is a drop. */
	if (bpf_core_enum_value_exists(enum skb_drop_reason, SKB_CONSUMED) &&
	    reason <= bpf_core_enum_value(enum skb_drop_reason, SKB_CONSUMED))
		return 0;
	struct sl_drop_key k = {.reason = reason, .l3 = bpf_ntohs(skb->protocol)};
	__u64 *n = sl_lookup_or_init(&pkt_drops, &k, &zero_u64);
	if (n)
		*n += 1;
	if (want_drop)
		drop_event(ctx, skb, location, reason, k.l3);
	return 0;
}
