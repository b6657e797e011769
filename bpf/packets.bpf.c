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

const volatile bool want_drop = false;

static const struct sl_pkt_val zero_pkt = {};
static const __u64 zero_u64 = 0;

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

#define SL_IPPROTO_ICMP 1
#define SL_IPPROTO_ICMPV6 58

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
	} else if ((first >> 4) == 6) {
		struct ipv6hdr ip6;
		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh))
			return;
		e->family = 10;
		e->l4 = ip6.nexthdr; /* extension headers not walked: their ports stay 0 */
		__builtin_memcpy(e->saddr, &ip6.saddr, 16);
		__builtin_memcpy(e->daddr, &ip6.daddr, 16);
		off = nh + sizeof(ip6);
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
