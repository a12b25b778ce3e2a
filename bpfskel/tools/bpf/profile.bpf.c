// profile: on-CPU stack sampling.  A CPU-clock perf event on every online
// CPU runs do_sample at -F Hz; it counts each (process, user stack, kernel
// stack) it sees in a hash map.  Filters (-p, -c, --cgroup) are
// checked here, not by opening per-task events, so every thread of a process
// is sampled.  User space symbolises the stack ids at the end.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "filter.bpf.h"

#define MAX_DEPTH 127

const volatile __u8 user_stacks = 1;	/* -K clears it */
const volatile __u8 kernel_stacks = 1;	/* -U clears it */
const volatile __u8 include_idle = 0;	/* -I: the idle task (pid 0) too */

struct sample_key {
	__u32 tgid;
	__s32 user_stack;	/* id in stacks; negative: none (-EFAULT, -EEXIST, not asked) */
	__s32 kernel_stack;
	char comm[TASK_COMM_LEN];
};
struct sample_key *key_anchor __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64[MAX_DEPTH]);
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct sample_key);
	__type(value, __u64);
} counts SEC(".maps");

__u64 samples = 0;

SEC("perf_event")
int do_sample(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), one = 1, *n;
	struct sample_key k = {};
	long err;

	if (!(__u32)id && !include_idle)
		return 0;
	if (!owner_wanted())
		return 0;
	bpf_get_current_comm(k.comm, sizeof(k.comm));
	if (!comm_matches(k.comm))
		return 0;
	k.tgid = id >> 32;
	k.user_stack = user_stacks ? bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK) : -1;
	k.kernel_stack = kernel_stacks ? bpf_get_stackid(ctx, &stacks, 0) : -1;
	__sync_fetch_and_add(&samples, 1);
	n = bpf_map_lookup_elem(&counts, &k);
	if (n) {
		__sync_fetch_and_add(n, 1);
		return 0;
	}
	err = bpf_map_update_elem(&counts, &k, &one, BPF_NOEXIST);
	if (err == -7 /* E2BIG: map full */)
		__sync_fetch_and_add(&lost_events, 1);
	else if (err == -17 /* EEXIST: another CPU added it first */ &&
		 (n = bpf_map_lookup_elem(&counts, &k)))
		__sync_fetch_and_add(n, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
