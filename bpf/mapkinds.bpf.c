// The map kinds with operations of their own: stack traces (plain and
// build-id), a bloom filter, map-in-map, fd-keyed storage, a user ring
// buffer drained by BPF, and a hash and .bss counters read-and-cleared from
// Python.  The getppid() tracepoint is filtered to one process (.rodata).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define BPF_F_USER_STACK (1ULL << 8)
#define BPF_F_STACK_BUILD_ID (1U << 5)
#define BPF_LOCAL_STORAGE_GET_F_CREATE 1

struct urec {
	__u32 seq;
	__u32 weight;
	char tag[8];
};
struct urec *urec_anchor __attribute__((unused));

struct inner_val {
	__u64 hits;
	__u64 tag;
};

struct task_val {
	__u64 calls;
	__u64 set_by_user;
};

const volatile __u32 target_tgid = 0;
__u64 probe_value;           /* Python sets it; BPF asks the bloom filter */
__u64 bloom_hits, bloom_misses;
__s32 last_stackid = -1, last_build_id_stackid = -1;
__u64 calls, insert_failed, drained, drained_weight, drain_seq_sum, last_user_set;
__u32 small_counter;
__s64 signed_counter;
__u64 hist[8];

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 64);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 32 * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_STACK_BUILD_ID);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 16 * sizeof(struct bpf_stack_build_id));
} build_id_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 256);
	__type(value, __u64);
} seen SEC(".maps");

struct inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, struct inner_val);
} inner0 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps") = {
	.values = { [0] = &inner0 },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u64);
	__array(values, struct inner);
} outer_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_val);
} task_vals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} sk_vals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_INODE_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} inode_vals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CGRP_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} cgrp_vals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} lru_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, 4096 * 4);
} requests SEC(".maps");

SEC("tp/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), one = 1, ts;
	__u32 key0 = 0, tgid = id >> 32;
	struct inner_val *iv;
	struct task_val *tv;
	void *inner;

	if (target_tgid && tgid != target_tgid)
		return 0;
	__sync_fetch_and_add(&calls, 1);
	__sync_fetch_and_add(&small_counter, 1);
	__sync_fetch_and_add(&signed_counter, -1);
	__sync_fetch_and_add(&hist[calls & 7], 1);
	last_stackid = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	last_build_id_stackid = bpf_get_stackid(ctx, &build_id_stacks, BPF_F_USER_STACK);
	if (bpf_map_peek_elem(&seen, &probe_value) == 0)
		__sync_fetch_and_add(&bloom_hits, 1);
	else
		__sync_fetch_and_add(&bloom_misses, 1);
	inner = bpf_map_lookup_elem(&outer, &key0);
	if (inner) {
		iv = bpf_map_lookup_elem(inner, &key0);
		if (iv)
			__sync_fetch_and_add(&iv->hits, 1);
	}
	tv = bpf_task_storage_get(&task_vals, bpf_get_current_task_btf(), 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (tv) {
		__sync_fetch_and_add(&tv->calls, 1);
		last_user_set = tv->set_by_user;
	}
	/* one new entry per call; a failed insert (full map, same timestamp) is counted */
	ts = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&counts, &ts, &one, BPF_NOEXIST))
		__sync_fetch_and_add(&insert_failed, 1);
	return 0;
}

static long on_request(struct bpf_dynptr *dynptr, void *ctx)
{
	struct urec rec;

	if (bpf_dynptr_read(&rec, sizeof(rec), dynptr, 0, 0))
		return 1;  /* stop */
	drained++;
	drained_weight += rec.weight;
	drain_seq_sum += rec.seq;
	return 0;
}

SEC("syscall")
int drain(void *ctx)
{
	long n = bpf_user_ringbuf_drain(&requests, on_request, NULL, 0);
	return n < 0 ? 0 : n;
}

char LICENSE[] SEC("license") = "GPL";
