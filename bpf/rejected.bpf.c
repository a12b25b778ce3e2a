// A program the verifier must reject: it dereferences a map value without
// the NULL check (a hash map: since Linux 6.14 an array lookup with a constant
// in-range key is known non-NULL).  Used to test that load errors carry the verifier log.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} values SEC(".maps");

SEC("raw_tp/sys_enter")
int missing_null_check(void *ctx)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&values, &key);

	return *v; /* R0 invalid mem access 'map_value_or_null' */
}

char LICENSE[] SEC("license") = "GPL";
