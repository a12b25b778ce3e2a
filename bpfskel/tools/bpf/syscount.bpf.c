// syscount: system calls counted per syscall or per process, optionally with
// their total latency, in a hash map user space reads and clears each interval
// (pop_items: lookup-and-delete, so no update is lost between read and clear).
// raw_tp/sys_enter remembers the syscall number and start time by thread;
// raw_tp/sys_exit counts it with the return value known (for -x/-e).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "filter.bpf.h"

struct start {
	__u64 ts_ns;
	__u32 nr;
};

struct counts {
	__u64 count;
	__u64 total_ns;
	__u64 max_ns;
	char comm[TASK_COMM_LEN];	/* by process: its comm */
};

const volatile __u8 failed_only = 0;	/* -x */
const volatile __s32 filter_errno = 0;	/* -e: only calls failing with this errno */
const volatile __u8 by_process = 0;	/* -P: key by tgid, not by syscall */
const volatile __u8 latency = 0;	/* -L: time each call */
const volatile __s32 filter_nr = -1;	/* --syscall: this syscall only */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct start);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct counts);
} data SEC(".maps");

SEC("raw_tp/sys_enter")
int sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct start s = {};

	s.nr = ctx->args[1];
	if (filter_nr >= 0 && s.nr != (__u32)filter_nr)
		return 0;
	if (!task_wanted())
		return 0;
	if (latency)
		s.ts_ns = bpf_ktime_get_ns();
	bpf_map_update_elem(&starts, &tid, &s, BPF_ANY);
	return 0;
}

SEC("raw_tp/sys_exit")
int sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	long ret = ctx->args[1];
	struct counts *c, zero = {};
	struct start *s;
	__u64 delta = 0;
	__u32 key;

	s = bpf_map_lookup_elem(&starts, &tid);
	if (!s)
		return 0;
	if (latency)
		delta = bpf_ktime_get_ns() - s->ts_ns;
	key = by_process ? id >> 32 : s->nr;
	bpf_map_delete_elem(&starts, &tid);
	if (failed_only && ret >= 0)
		return 0;
	if (filter_errno && ret != -filter_errno)
		return 0;
	c = bpf_map_lookup_elem(&data, &key);
	if (!c) {
		if (by_process)
			bpf_get_current_comm(zero.comm, sizeof(zero.comm));
		if (bpf_map_update_elem(&data, &key, &zero, BPF_NOEXIST) == -7 /* E2BIG: full */) {
			__sync_fetch_and_add(&lost_events, 1);
			return 0;
		}
		c = bpf_map_lookup_elem(&data, &key);
		if (!c)
			return 0;
	}
	__sync_fetch_and_add(&c->count, 1);
	if (latency) {
		__sync_fetch_and_add(&c->total_ns, delta);
		if (delta > c->max_ns)
			c->max_ns = delta;	/* racy by design: a max, not a sum */
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
