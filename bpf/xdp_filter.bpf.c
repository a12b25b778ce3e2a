// An XDP classifier for BPF_PROG_TEST_RUN: Ethernet/IPv4/UDP to the
// configured port is dropped, a UDP "PING" is bounced back (XDP_TX, MAC
// addresses swapped), truncated headers are dropped, the rest passes.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

const volatile __u16 drop_port = 9;

__u64 verdicts[5];	/* packets per XDP action: ABORTED, DROP, PASS, TX, REDIRECT */
__u32 last_saddr;	/* network order, as in the header */

static __always_inline int classify(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct udphdr *udp;
	unsigned char *payload, tmp[ETH_ALEN];

	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end)
		return XDP_DROP;
	last_saddr = ip->saddr;
	if (ip->protocol != IPPROTO_UDP || ip->ihl != 5)
		return XDP_PASS;
	udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > end)
		return XDP_DROP;
	if (udp->dest == bpf_htons(drop_port))
		return XDP_DROP;
	payload = (void *)(udp + 1);
	if ((void *)(payload + 4) > end || payload[0] != 'P' || payload[1] != 'I' ||
	    payload[2] != 'N' || payload[3] != 'G')
		return XDP_PASS;
	__builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
	return XDP_TX;
}

SEC("xdp")
int xdp_classify(struct xdp_md *ctx)
{
	int verdict = classify(ctx);

	if (verdict >= 0 && verdict < 5)
		__sync_fetch_and_add(&verdicts[verdict], 1);
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";
