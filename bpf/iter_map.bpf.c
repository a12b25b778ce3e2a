// A map element iterator (tests/test_attach_kinds.py): attach_iter(map=...)
// walks the given hash map and prints "key value" per element.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("iter/bpf_map_elem")
int dump_elem(struct bpf_iter__bpf_map_elem *ctx)
{
	__u32 *key = ctx->key;
	__u64 *value = ctx->value;

	if (!key || !value)
		return 0;
	BPF_SEQ_PRINTF(ctx->meta->seq, "%u %llu\n", *key, *value);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
