// The smallest real program: counts getpid() calls of one process.
// Configured through .rodata, counts into .bss, read live from Python.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 target_tgid = 0;   /* 0: every process */
__u64 calls;                            /* bumped by BPF, read by Python */
__u64 last_pid_tgid;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} per_tid SEC(".maps");

SEC("tp/syscalls/sys_enter_getpid")
int count_getpid(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	__u64 one = 1, *n;

	if (target_tgid && (id >> 32) != target_tgid)
		return 0;
	__sync_fetch_and_add(&calls, 1);
	last_pid_tgid = id;
	n = bpf_map_lookup_elem(&per_tid, &tid);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&per_tid, &tid, &one, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
