#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "bss_custom.h"
#include "common.bpf.h"

/* custom zero-initialised section: SHT_NOBITS named .bss.extra */
__u32 extra_a __attribute__((section(".bss.extra")));
struct extra_state extra_b __attribute__((section(".bss.extra")));

/* regular sections alongside */
__u32 plain_bss;
__u32 plain_data = 0x0da7a;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct extra_state);
} extra_map SEC(".maps");

SEC("syscall")
int prog(void *ctx)
{
	__u64 acc = 0;

	CORPUS_USE(acc, extra_a); CORPUS_USE(acc, extra_b);
	CORPUS_USE(acc, plain_bss); CORPUS_USE(acc, plain_data);
	extra_a = (__u32)acc;
	return 0;
}
