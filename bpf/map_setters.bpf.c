// Maps configured before load (tests/test_map_setters.py, examples/opensnoop.py
// uses the same pattern): the C tools' ring buffer -> perf buffer fallback
// (events is declared a perf event array; Python makes it a ring buffer where
// the kernel has them, and leaves the per-CPU heap uncreated), a map-in-map
// whose inner map is given at run time, and a map shared through pin_path or
// reuse_fd.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct event { __u32 tgid; __u32 seq; };
struct event *event_anchor __attribute__((unused));

const volatile __u32 use_ringbuf;	/* set by Python from bpfskel.features */
__u32 target_tgid;
__u32 seq;

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event);
} heap SEC(".maps");

/* no inner map in BTF: Python sets one before load (inner_map) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} outer SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} shared SEC(".maps");

SEC("tp/syscalls/sys_enter_getpid")
int on_getpid(void *ctx)
{
	__u32 zero = 0, tgid = bpf_get_current_pid_tgid() >> 32;
	struct event *e;
	__u64 one = 1, *cnt;
	void *inner;

	if (tgid != target_tgid)
		return 0;
	cnt = bpf_map_lookup_elem(&shared, &zero);
	if (cnt)
		__sync_fetch_and_add(cnt, 1);
	else
		bpf_map_update_elem(&shared, &zero, &one, BPF_NOEXIST);
	inner = bpf_map_lookup_elem(&outer, &zero);
	if (inner) {
		cnt = bpf_map_lookup_elem(inner, &zero);
		if (cnt)
			__sync_fetch_and_add(cnt, 1);
	}
	if (use_ringbuf) {
		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (!e)
			return 0;
	} else {
		e = bpf_map_lookup_elem(&heap, &zero);
		if (!e)
			return 0;
	}
	e->tgid = tgid;
	e->seq = seq++;	/* one thread: the test process */
	if (use_ringbuf)
		bpf_ringbuf_submit(e, 0);
	else
		bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, e, sizeof(*e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
