// Benchmark table: a struct-keyed hash that Python fills and walks.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct flow {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 proto;
};

struct counts {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct flow);
	__type(value, struct counts);
} flows SEC(".maps");

SEC("xdp")
int count_flow(struct xdp_md *ctx)
{
	struct flow f = {};
	struct counts *c = bpf_map_lookup_elem(&flows, &f);

	if (c)
		c->packets++;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

/* single-element operations: u32 -> u64, as a bare ctypes call would use */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} single SEC(".maps");
