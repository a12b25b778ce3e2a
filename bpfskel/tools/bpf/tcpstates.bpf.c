// tcpstates: every TCP state change (IPv4 and IPv6), with the time spent in
// the old state.  The sock:inet_sock_set_state tracepoint gives both
// addresses and ports (host byte order); the socket's last change time is
// kept by socket address and dropped when it reaches TCP_CLOSE.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "filter.bpf.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define TCP_CLOSE 7

struct state_event {
	__u64 skaddr;
	__u64 ts_ns;
	__u64 delta_us;		/* time in oldstate; 0 if not seen entering it */
	__u32 pid;
	__s32 oldstate;
	__s32 newstate;
	__u16 family;
	__u16 sport;
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[TASK_COMM_LEN];
};

const volatile __u16 targ_family = 0;	/* -4/-6: AF_INET or AF_INET6 */
const volatile __u16 targ_sport = 0;
const volatile __u16 targ_dport = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u64);
	__type(value, __u64);
} since SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

SEC("tp/sock/inet_sock_set_state")
int set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	__u64 sk = (__u64)ctx->skaddr, now = bpf_ktime_get_ns(), *last;
	struct state_event *e;
	__u16 family = ctx->family;

	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	if (targ_family && family != targ_family)
		return 0;
	if (targ_sport && ctx->sport != targ_sport)
		return 0;
	if (targ_dport && ctx->dport != targ_dport)
		return 0;
	/* -p/-c/--cgroup: the task in whose context the change happens */
	if (!task_wanted())
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost_events, 1);
		goto track;
	}
	last = bpf_map_lookup_elem(&since, &sk);
	e->skaddr = sk;
	e->ts_ns = now;
	e->delta_us = last ? (now - *last) / 1000 : 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->oldstate = ctx->oldstate;
	e->newstate = ctx->newstate;
	e->family = family;
	e->sport = ctx->sport;
	e->dport = ctx->dport;
	if (family == AF_INET) {
		__builtin_memset(e->saddr, 0, sizeof(e->saddr));
		__builtin_memset(e->daddr, 0, sizeof(e->daddr));
		bpf_probe_read_kernel(e->saddr, 4, ctx->saddr);
		bpf_probe_read_kernel(e->daddr, 4, ctx->daddr);
	} else {	/* byte copies from ctx: the verifier refuses ctx+off loads */
		bpf_probe_read_kernel(e->saddr, 16, ctx->saddr_v6);
		bpf_probe_read_kernel(e->daddr, 16, ctx->daddr_v6);
	}
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
track:
	if (ctx->newstate == TCP_CLOSE)
		bpf_map_delete_elem(&since, &sk);
	else
		bpf_map_update_elem(&since, &sk, &now, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
