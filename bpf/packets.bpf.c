/* packets source: TC programs on each interface count packets and bytes by direction and
 * protocol; tp_btf/kfree_skb counts dropped packets by the kernel's drop reason.
 *
 * The TC programs never change a packet's fate: they return TC_ACT_UNSPEC (TCX_NEXT), which lets
 * the next program or the stack decide. Headers are read relative to the network header, so
 * interfaces without a link-layer header (tun, wireguard) work too.
 */
#define SL_NO_EVENTS
#include "common.bpf.h"
#include <bpf/bpf_endian.h>
#include "sightline/packets.h"

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
	return 0;
}
