// Benchmark producer: every run of the XDP program writes one 32-byte event,
// to the ring buffer `rb` (use_ringbuf, the default) or to the perf buffer
// `pb` (of the CPU it runs on), so BPF_PROG_TEST_RUN with `repeat` fills
// them at kernel speed before a consumer is timed.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct event {
	__u64 seq;
	__u64 a;
	__u64 b;
	__u64 c;
};

struct event *event_anchor __attribute__((unused));

__u64 seq;
const volatile __u32 use_ringbuf = 1;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 20);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} pb SEC(".maps");

SEC("xdp")
int produce(struct xdp_md *ctx)
{
	struct event e = {};

	e.seq = seq++;
	e.a = 1;
	e.b = 2;
	e.c = 3;
	if (use_ringbuf)
		bpf_ringbuf_output(&rb, &e, sizeof(e), BPF_RB_NO_WAKEUP);
	else
		bpf_perf_event_output(ctx, &pb, BPF_F_CURRENT_CPU, &e, sizeof(e));
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
