// Rejected by the verifier after a long stretch of valid code, so that its
// log runs to many lines: tests check that a failed load keeps all of them.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} values SEC(".maps");

__u64 total;

SEC("syscall")
int long_then_bad(void *ctx)
{
	__u32 key = 0;
	__u64 *v;

#pragma unroll
	for (int i = 0; i < 64; i++)
		__sync_fetch_and_add(&total, i + 1);
	v = bpf_map_lookup_elem(&values, &key);
	return *v; /* R0 invalid mem access 'map_value_or_null' */
}

char LICENSE[] SEC("license") = "GPL";
