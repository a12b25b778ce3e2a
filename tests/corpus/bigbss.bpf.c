#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "bigbss.h"
#include "common.bpf.h"

__u8 big[BIGBSS_SIZE];
struct big_hdr big_hdr_bss;
__u32 small_after;

struct big_hdr big_hdr_data = { .magic = 0xb16b55, .count = 16 };

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, struct big_hdr);
} big_map SEC(".maps");

SEC("syscall")
int prog(void *ctx)
{
	__u64 acc = 0;

	CORPUS_USE(acc, big); CORPUS_USE(acc, big_hdr_bss); CORPUS_USE(acc, small_after);
	CORPUS_USE(acc, big_hdr_data);
	small_after = (__u32)acc;
	return 0;
}
