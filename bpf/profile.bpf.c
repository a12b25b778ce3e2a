// On-CPU stack sampling for examples/profile.py and tests/test_sym.py: a
// perf event (the CPU clock at some frequency) runs do_sample, which counts
// (process, user stack, kernel stack) in a hash map.  The stacks are ids in
// a STACK_TRACE map; with build_id_stacks set, the user stack is also kept as
// (build-id, file offset) frames, which resolve after the process exits.
#include <linux/bpf.h>
#include <linux/bpf_perf_event.h>
#include <bpf/bpf_helpers.h>

#define MAX_DEPTH 127

const volatile __u32 target_tgid = 0;	/* 0: every process */
const volatile __u8 build_id_stacks = 0;

struct key {
	__u32 tgid;
	__s32 user_stack;	/* ids in stacks; negative: no stack (-EFAULT, ...) */
	__s32 kernel_stack;
	__s32 build_id_stack;	/* id in build_id_stacks, -1 if not collected */
	char comm[16];
};
struct key *key_anchor __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64[MAX_DEPTH]);
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_STACK_BUILD_ID);
	__type(key, __u32);
	__type(value, struct bpf_stack_build_id[MAX_DEPTH]);
} build_id_stacks_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct key);
	__type(value, __u64);
} counts SEC(".maps");

__u64 samples;

SEC("perf_event")
int do_sample(struct bpf_perf_event_data *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct key k = {};
	__u64 one = 1, *n;

	if (!tgid || (target_tgid && tgid != target_tgid))
		return 0;	/* the idle task, or not the process asked for */
	k.tgid = tgid;
	k.user_stack = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	k.kernel_stack = bpf_get_stackid(ctx, &stacks, 0);
	k.build_id_stack = build_id_stacks ?
		bpf_get_stackid(ctx, &build_id_stacks_map, BPF_F_USER_STACK) : -1;
	bpf_get_current_comm(k.comm, sizeof(k.comm));
	n = bpf_map_lookup_elem(&counts, &k);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&counts, &k, &one, BPF_NOEXIST);
	__sync_fetch_and_add(&samples, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
