// Golden case "counter": the shape of a typical small tool.  Configured
// through .rodata before load, counting into .bss, per-process totals in a
// hash map, the last event kept in .data.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define TASK_COMM_LEN 16

struct event {
	__u32 pid;
	__u32 tid;
	__u64 ts_ns;
	char comm[TASK_COMM_LEN];
};

struct totals {
	__u64 calls;
	__u64 bytes;	/* a member named like the annotation of `last_comm` */
	char last_comm[TASK_COMM_LEN];
};

const volatile __u32 target_tgid = 0;	/* 0: every process */
const volatile __u64 min_ns = 1000;

__u64 calls;
__u32 dropped;
struct event last_event = { .pid = 1 };

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct totals);
} per_pid SEC(".maps");

SEC("tp/syscalls/sys_enter_getpid")
int count_getpid(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32;
	struct totals zero = {}, *t;

	if (target_tgid && pid != target_tgid)
		return 0;
	__sync_fetch_and_add(&calls, 1);
	last_event.pid = pid;
	last_event.tid = (__u32)id;
	last_event.ts_ns = bpf_ktime_get_ns();
	if (last_event.ts_ns < min_ns)
		dropped++;
	bpf_get_current_comm(last_event.comm, sizeof(last_event.comm));
	t = bpf_map_lookup_elem(&per_pid, &pid);
	if (!t) {
		bpf_map_update_elem(&per_pid, &pid, &zero, BPF_NOEXIST);
		t = bpf_map_lookup_elem(&per_pid, &pid);
		if (!t)
			return 0;
	}
	__sync_fetch_and_add(&t->calls, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
