// tcplife: one record per TCP session when it closes: its lifetime, the
// bytes it sent and received, both ends (IPv4 and IPv6), and the process
// that opened or closed it.  Everything comes from sock:inet_sock_set_state:
// a socket is born when it first enters a state before FIN_WAIT1 (SYN_SENT,
// SYN_RECV, ESTABLISHED), its owner is the task in whose context it enters
// SYN_SENT (connect) or LAST_ACK (close after the peer), and it dies at
// TCP_CLOSE, where the byte counts are read from its tcp_sock.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "filter.bpf.h"

#define AF_INET 2
#define IPPROTO_TCP 6
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_FIN_WAIT1 4
#define TCP_CLOSE 7
#define TCP_LAST_ACK 9

struct life_event {
	__u64 ts_ns;
	__u64 span_us;
	__u64 tx_bytes;		/* tcp_sock.bytes_acked */
	__u64 rx_bytes;		/* tcp_sock.bytes_received */
	__u32 pid;
	__u16 family;
	__u16 sport;
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[TASK_COMM_LEN];
};

struct owner {
	__u32 pid;
	char comm[TASK_COMM_LEN];
};

/* only the fields read, as a CO-RE flavor */
struct tcp_sock___life {
	__u64 bytes_received;
	__u64 bytes_acked;
} __attribute__((preserve_access_index));

const volatile __u16 targ_family = 0;	/* -4/-6: AF_INET or AF_INET6 */
const volatile __u16 targ_sport = 0;	/* -L */
const volatile __u16 targ_dport = 0;	/* -D */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u64);
	__type(value, __u64);
} births SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u64);
	__type(value, struct owner);
} owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

SEC("tp/sock/inet_sock_set_state")
int set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	__u64 sk = (__u64)ctx->skaddr, now, *birth;
	struct tcp_sock___life *tp = (void *)ctx->skaddr;
	struct owner me = {}, *who;
	struct life_event *e;
	int newstate = ctx->newstate;
	__u16 family = ctx->family;

	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	if (targ_family && family != targ_family)
		return 0;
	if (targ_sport && ctx->sport != targ_sport)
		return 0;
	if (targ_dport && ctx->dport != targ_dport)
		return 0;

	if (newstate < TCP_FIN_WAIT1) {
		birth = bpf_map_lookup_elem(&births, &sk);
		if (!birth) {
			now = bpf_ktime_get_ns();
			bpf_map_update_elem(&births, &sk, &now, BPF_ANY);
		}
	}
	if (newstate == TCP_SYN_SENT || newstate == TCP_LAST_ACK) {
		me.pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(me.comm, sizeof(me.comm));
		bpf_map_update_elem(&owners, &sk, &me, BPF_ANY);
	}
	if (newstate != TCP_CLOSE)
		return 0;

	birth = bpf_map_lookup_elem(&births, &sk);
	if (!birth)		/* born before tracing started (or never connected) */
		goto forget;
	who = bpf_map_lookup_elem(&owners, &sk);
	if (!who) {		/* neither connect nor close-after-peer: this task */
		me.pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(me.comm, sizeof(me.comm));
		who = &me;
	}
	/* -p/-c filter on the owner; --cgroup on the task closing it */
	if ((targ_tgid && who->pid != targ_tgid) || !comm_matches(who->comm))
		goto forget;
	if (targ_cgid && bpf_get_current_cgroup_id() != targ_cgid)
		goto forget;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost_events, 1);
		goto forget;
	}
	now = bpf_ktime_get_ns();
	e->ts_ns = now;
	e->span_us = (now - *birth) / 1000;
	e->tx_bytes = BPF_CORE_READ(tp, bytes_acked);
	e->rx_bytes = BPF_CORE_READ(tp, bytes_received);
	e->pid = who->pid;
	__builtin_memcpy(e->comm, who->comm, sizeof(e->comm));
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
	bpf_ringbuf_submit(e, 0);
forget:
	bpf_map_delete_elem(&births, &sk);
	bpf_map_delete_elem(&owners, &sk);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
