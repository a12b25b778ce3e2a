// A BPF arena shared with Python: __arena globals, an arena array of structs,
// and a linked list BPF builds in pages it allocates.  Run with
// BPF_PROG_TEST_RUN; Python reads and writes it all through skel.arena and
// follows the list with skel.arena_ptr.  Needs libbpf >= 1.4 and linux >= 6.9.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Debian 12's linux/bpf.h and libbpf 1.1 headers predate arenas. */
#ifndef __arena
#define __arena __attribute__((address_space(1)))
#endif
#define ARENA_MAP_TYPE 33 /* BPF_MAP_TYPE_ARENA */
#define NUMA_NO_NODE (-1)
#define PAGE_SIZE 4096
#define NSLOTS 4
#define LIST_LEN 5
#define EDGE_MAGIC 0x4544474520454e44ULL /* "DNE EGDE": the last 8 bytes of a page */

void __arena *bpf_arena_alloc_pages(void *map, void __arena *addr, __u32 page_cnt,
				    int node_id, __u64 flags) __ksym;

struct {
	__uint(type, ARENA_MAP_TYPE);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 64); /* pages */
} arena SEC(".maps");

struct slot {
	__u64 hits;  /* += index + 1 per run */
	__u32 id;
	__u32 seen;  /* the run that last touched it */
};

struct node {
	struct node __arena *next;
	__u64 value;
	__u32 index;
	__u32 visits; /* +1 per run that walks the list */
};

__u64 __arena runs;                /* +1 per run */
__u64 __arena from_user;           /* written by Python ... */
__u64 __arena echo;                /* ... and copied here by the next run */
struct slot __arena slots[NSLOTS];
struct node __arena *__arena head; /* built by the first run, one page per node */
__u64 __arena runs_addr;           /* &runs as BPF sees it */
__u64 __arena edge_addr;           /* set by Python: a page for arena_edge to allocate */
__u64 __arena edge_got;            /* what bpf_arena_alloc_pages returned for it */

__u64 alloc_failures;              /* plain .bss next to the arena */

SEC("syscall")
int arena_run(void *ctx)
{
	struct node __arena *n;
	int i;

	runs++;
	echo = from_user;
	runs_addr = (__u64)&runs;
	for (i = 0; i < NSLOTS; i++) {
		slots[i].hits += i + 1;
		slots[i].id = i;
		slots[i].seen = runs;
	}
	if (!head) {
		for (i = LIST_LEN - 1; i >= 0; i--) {
			n = bpf_arena_alloc_pages(&arena, NULL, 1, NUMA_NO_NODE, 0);
			if (!n) {
				alloc_failures++;
				return 1;
			}
			n->index = i;
			n->value = 1000 + i;
			n->next = head;
			head = n;
		}
	}
	n = head;
	for (i = 0; i < LIST_LEN && n; i++) {
		n->visits++;
		n = n->next;
	}
	return 0;
}

SEC("syscall")
int arena_edge(void *ctx)
{
	__u64 __arena *page;

	page = bpf_arena_alloc_pages(&arena, (void __arena *)edge_addr, 1, NUMA_NO_NODE, 0);
	if (!page)
		return 1;
	edge_got = (__u64)page;
	page[PAGE_SIZE / 8 - 1] = EDGE_MAGIC;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
