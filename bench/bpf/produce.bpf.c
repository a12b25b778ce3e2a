// Benchmark producer: every run of the XDP program writes one 32-byte event
// to a ring buffer and one to a perf buffer, so BPF_PROG_TEST_RUN with
// `repeat` fills them at kernel speed before a consumer is timed.
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

SEC("xdp")
int produce(struct xdp_md *ctx)
{
	struct event e = {};

	e.seq = seq++;
	e.a = 1;
	e.b = 2;
	e.c = 3;
	bpf_ringbuf_output(&rb, &e, sizeof(e), BPF_RB_NO_WAKEUP);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
