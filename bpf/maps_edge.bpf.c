// Typed-map edge cases, driven through BPF_PROG_TEST_RUN (a tc program run on
// the calling CPU): per-CPU values of a 12-byte struct (the kernel's
// per-CPU stride is 16), LRU maps, queue and stack order, an LPM trie, and a
// map type the kernel has no batch operations for (DEVMAP_HASH).
//
// Every run of `touch`, for key `key`, on CPU c:
//   pch[key] and pca[key % 4] (this CPU's slot): a += 1, b = c, c = TAG | key
//   lru[key] += 1 (inserted as 1), lpch[key] like pch
//   pushes seq to the queue and the stack, then seq += 1
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#define TAG 0xC0DE0000u

struct triple {
	__u32 a;
	__u32 b;
	__u32 c;
};

__u32 key;
__u32 seq;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 512);
	__type(key, __u32);
	__type(value, struct triple);
} pch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct triple);
} pca SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct triple);
} lpch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} lru SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 16);
	__type(value, __u32);
} q SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 16);
	__type(value, __u32);
} st SEC(".maps");

/* Python only: LPM tries have batch operations but no lookup-and-delete. */
struct lpm_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key);
	__type(value, __u32);
} lpm SEC(".maps");

/* No BPF_MAP_*_BATCH for device maps: the key-by-key fallback. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u32);
} devs SEC(".maps");

static __always_inline void bump(void *map, __u32 *k, __u32 cpu)
{
	struct triple *t, init = {};

	t = bpf_map_lookup_elem(map, k);
	if (!t) {
		bpf_map_update_elem(map, k, &init, BPF_NOEXIST);
		t = bpf_map_lookup_elem(map, k);
		if (!t)
			return;
	}
	t->a += 1;
	t->b = cpu;
	t->c = TAG | *k;
}

SEC("tc")
int touch(struct __sk_buff *ctx)
{
	__u32 cpu = bpf_get_smp_processor_id();
	__u32 k = key, slot = key % 4, s;
	__u64 one = 1, *v;

	bump(&pch, &k, cpu);
	bump(&lpch, &k, cpu);
	bump(&pca, &slot, cpu);
	v = bpf_map_lookup_elem(&lru, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&lru, &k, &one, BPF_NOEXIST);
	s = seq++;
	bpf_map_push_elem(&q, &s, 0);
	bpf_map_push_elem(&st, &s, 0);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
