// An arena with no __arena globals, created with BPF_F_SEGV_ON_FAULT: a page
// BPF did not allocate faults instead of being allocated on first touch.
// The program allocates one page and leaves its address in .bss.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define ARENA_MAP_TYPE 33               /* BPF_MAP_TYPE_ARENA (linux 6.9) */
#define ARENA_SEGV_ON_FAULT (1U << 17)  /* BPF_F_SEGV_ON_FAULT */

void __attribute__((address_space(1))) *
bpf_arena_alloc_pages(void *map, void __attribute__((address_space(1))) *addr,
		      __u32 page_cnt, int node_id, __u64 flags) __ksym;

struct {
	__uint(type, ARENA_MAP_TYPE);
	__uint(map_flags, BPF_F_MMAPABLE | ARENA_SEGV_ON_FAULT);
	__uint(max_entries, 16); /* pages */
} arena SEC(".maps");

__u64 page;  /* the page arena_alloc allocated (an arena pointer) */

SEC("syscall")
int arena_alloc(void *ctx)
{
	__u64 __attribute__((address_space(1))) *p;

	p = bpf_arena_alloc_pages(&arena, NULL, 1, -1 /* NUMA_NO_NODE */, 0);
	if (!p)
		return 1;
	p[0] = 0x5e6f;
	page = (__u64)p;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
