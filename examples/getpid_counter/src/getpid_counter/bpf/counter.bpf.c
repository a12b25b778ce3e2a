// Counts getpid() calls of one process and sends one event per call.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "counter.h"

const volatile __u32 target_tgid = 0;
__u32 calls;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 12);
} events SEC(".maps");

SEC("tp/syscalls/sys_enter_getpid")
int count_getpid(void *ctx)
{
	struct event *e;

	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->tgid = target_tgid;
	e->nth = __sync_add_and_fetch(&calls, 1);
	e->ts_ns = bpf_ktime_get_ns();
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
