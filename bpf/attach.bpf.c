// Programs for real hooks (tests/test_attach_traffic.py): XDP, classic tc, tcx,
// cgroup_skb and perf_event.  The packet programs count the IPv4 UDP
// datagrams to one port, set live in .bss (0 counts nothing), so that other
// traffic on the interface does not disturb the counts; they never change a
// verdict.
// The tcx sections need libbpf >= 1.3: on 1.1 the test turns their autoload off.
#include <linux/bpf.h>
#include <linux/bpf_perf_event.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

__u16 port;	/* UDP destination port to count, host order */

__u64 xdp_hits;
__u64 tc_ingress_hits, tc_egress_hits;
__u64 tcx_ingress_hits, tcx_egress_hits;
__u64 cg_egress_hits, cg_ingress_hits;
__u64 perf_hits, perf_period;

/* Is the packet at offset l3 of skb an IPv4 UDP datagram to `port`? */
static __always_inline int udp_to_port(struct __sk_buff *skb, __u32 l3)
{
	struct iphdr ip;
	struct udphdr udp;

	if (bpf_skb_load_bytes(skb, l3, &ip, sizeof(ip)))
		return 0;
	if (ip.version != 4 || ip.protocol != IPPROTO_UDP)
		return 0;
	if (bpf_skb_load_bytes(skb, l3 + ip.ihl * 4, &udp, sizeof(udp)))
		return 0;
	return udp.dest == bpf_htons(port);
}

/* tc sees the Ethernet header (lo has one, all zeros) */
static __always_inline int tc_udp_to_port(struct __sk_buff *skb)
{
	return skb->protocol == bpf_htons(ETH_P_IP) && udp_to_port(skb, ETH_HLEN);
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->protocol != IPPROTO_UDP || ip->ihl != 5)
		return XDP_PASS;
	udp = (void *)(ip + 1);
	if ((void *)(udp + 1) <= end && udp->dest == bpf_htons(port))
		__sync_fetch_and_add(&xdp_hits, 1);
	return XDP_PASS;
}

SEC("tc")
int tc_ingress(struct __sk_buff *skb)
{
	if (tc_udp_to_port(skb))
		__sync_fetch_and_add(&tc_ingress_hits, 1);
	return TC_ACT_UNSPEC;	/* let later filters run */
}

SEC("tc")
int tc_egress(struct __sk_buff *skb)
{
	if (tc_udp_to_port(skb))
		__sync_fetch_and_add(&tc_egress_hits, 1);
	return TC_ACT_UNSPEC;
}

SEC("tcx/ingress")
int tcx_ingress(struct __sk_buff *skb)
{
	if (tc_udp_to_port(skb))
		__sync_fetch_and_add(&tcx_ingress_hits, 1);
	return TC_ACT_UNSPEC;	/* TCX_NEXT */
}

SEC("tcx/egress")
int tcx_egress(struct __sk_buff *skb)
{
	if (tc_udp_to_port(skb))
		__sync_fetch_and_add(&tcx_egress_hits, 1);
	return TC_ACT_UNSPEC;
}

/* cgroup_skb sees the packet from its IP header; 1 lets it through */
SEC("cgroup_skb/egress")
int cg_egress(struct __sk_buff *skb)
{
	if (udp_to_port(skb, 0))
		__sync_fetch_and_add(&cg_egress_hits, 1);
	return 1;
}

SEC("cgroup_skb/ingress")
int cg_ingress(struct __sk_buff *skb)
{
	if (udp_to_port(skb, 0))
		__sync_fetch_and_add(&cg_ingress_hits, 1);
	return 1;
}

SEC("perf_event")
int on_sample(struct bpf_perf_event_data *ctx)
{
	__sync_fetch_and_add(&perf_hits, 1);
	perf_period = ctx->sample_period;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
