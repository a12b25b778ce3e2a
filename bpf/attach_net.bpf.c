// Network attach kinds beyond XDP and tc (tests/test_attach_net.py): sk_lookup
// on a network namespace, a netfilter hook, an sk_msg program on a sockmap,
// and freplace of a global function of another loaded program.
// libbpf 1.1 does not know SEC("netfilter"): the test turns its autoload off there.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

__u16 lookup_port;	/* sk_lookup: steer this local UDP port ... */
__u64 lookup_hits;
__u64 nf_hits;
__u16 nf_port;		/* netfilter: count IPv4 UDP datagrams to this port */
__u64 msg_hits, msg_bytes;

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lookup_socks SEC(".maps");	/* ... to the socket in slot 0 */

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} msg_socks SEC(".maps");

SEC("sk_lookup")
int steer(struct bpf_sk_lookup *ctx)
{
	__u32 zero = 0;
	struct bpf_sock *sk;
	long err;

	if (ctx->protocol != IPPROTO_UDP || ctx->local_port != lookup_port)
		return SK_PASS;
	sk = bpf_map_lookup_elem(&lookup_socks, &zero);
	if (!sk)
		return SK_PASS;
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	if (!err)
		__sync_fetch_and_add(&lookup_hits, 1);
	return SK_PASS;
}

SEC("netfilter")
int nf_count(struct bpf_nf_ctx *ctx)
{
	struct sk_buff *skb = ctx->skb;
	struct iphdr iph;
	struct udphdr udp;

	if (bpf_probe_read_kernel(&iph, sizeof(iph), skb->head + skb->network_header))
		return 1;	/* NF_ACCEPT */
	if (iph.version != 4 || iph.protocol != IPPROTO_UDP)
		return 1;
	if (bpf_probe_read_kernel(&udp, sizeof(udp),
				  skb->head + skb->network_header + iph.ihl * 4))
		return 1;
	if (udp.dest == bpf_htons(nf_port))
		__sync_fetch_and_add(&nf_hits, 1);
	return 1;
}

SEC("sk_msg")
int msg_count(struct sk_msg_md *msg)
{
	__sync_fetch_and_add(&msg_hits, 1);
	__sync_fetch_and_add(&msg_bytes, msg->size);
	return SK_PASS;
}

/* freplace: the target program calls a global function ... */
__noinline int verdict(struct __sk_buff *skb)
{
	return skb->len ? 0 : 1;
}

SEC("tc")
int classify(struct __sk_buff *skb)
{
	return verdict(skb);
}

/* ... which this program replaces once attached */
SEC("freplace/verdict")
int new_verdict(struct __sk_buff *skb)
{
	return 42;
}

char LICENSE[] SEC("license") = "GPL";
