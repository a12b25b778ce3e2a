// A TCP congestion control written in BPF (tcp_congestion_ops through
// struct_ops).  Every callback counts its calls in .bss; cong_avoid grows the
// window like Reno, clamped to cwnd_clamp, which Python sets in .rodata.
// The algorithm's name lives in the struct_ops data: tests make it unique.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

const volatile __u32 cwnd_clamp = 1 << 20;
__u64 init_calls, ssthresh_calls, cong_avoid_calls, undo_calls, event_calls;
__u32 max_cwnd_seen;

static inline struct tcp_sock *tp_of(struct sock *sk) { return (struct tcp_sock *)sk; }

SEC("struct_ops/pyca_init")
void BPF_PROG(pyca_init, struct sock *sk)
{
	__sync_fetch_and_add(&init_calls, 1);
}

SEC("struct_ops/pyca_ssthresh")
__u32 BPF_PROG(pyca_ssthresh, struct sock *sk)
{
	struct tcp_sock *tp = tp_of(sk);
	__u32 half = tp->snd_cwnd >> 1;

	__sync_fetch_and_add(&ssthresh_calls, 1);
	return half > 2 ? half : 2;
}

SEC("struct_ops/pyca_cong_avoid")
void BPF_PROG(pyca_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
	struct tcp_sock *tp = tp_of(sk);
	__u32 cwnd = tp->snd_cwnd;

	__sync_fetch_and_add(&cong_avoid_calls, 1);
	if (cwnd < cwnd_clamp)
		cwnd += acked ? acked : 1;
	if (cwnd > cwnd_clamp)
		cwnd = cwnd_clamp;
	tp->snd_cwnd = cwnd;
	if (cwnd > max_cwnd_seen)
		max_cwnd_seen = cwnd;
}

SEC("struct_ops/pyca_undo_cwnd")
__u32 BPF_PROG(pyca_undo_cwnd, struct sock *sk)
{
	__sync_fetch_and_add(&undo_calls, 1);
	return tp_of(sk)->snd_cwnd;
}

/* In no struct: Python plugs it in through skel.struct_ops (libbpf >= 1.3). */
SEC("struct_ops/pyca_cwnd_event")
void BPF_PROG(pyca_cwnd_event, struct sock *sk, enum tcp_ca_event ev)
{
	__sync_fetch_and_add(&event_calls, 1);
}

#ifndef STRUCT_OPS_SEC
#define STRUCT_OPS_SEC ".struct_ops"
#endif

SEC(STRUCT_OPS_SEC)
struct tcp_congestion_ops pyca = {
	.init = (void *)pyca_init,
	.ssthresh = (void *)pyca_ssthresh,
	.cong_avoid = (void *)pyca_cong_avoid,
	.undo_cwnd = (void *)pyca_undo_cwnd,
	.name = "bpfskel_ca_XXXX",
};

char LICENSE[] SEC("license") = "GPL";
