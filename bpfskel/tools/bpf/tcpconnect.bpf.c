// tcpconnect: outgoing TCP connects (IPv4 and IPv6): the process, its uid,
// both addresses and ports.  Three hooks carry the same logic, user space
// loads one (bpfskel.features) and turns the others' autoload off:
//  - fexit on tcp_v4_connect/tcp_v6_connect (one program a function);
//  - kprobe + kretprobe on the same functions (the socket saved by thread);
//  - sock:inet_sock_set_state, where kprobes and trampolines are missing:
//    the owner is saved when the socket enters SYN_SENT (in the connecting
//    task's context; the source port is not chosen yet) and the event is
//    sent when it leaves SYN_SENT (established or refused), ports known.
// A connect is reported when the kernel accepted it (tcp_v*_connect
// returned 0; with the tracepoint: the socket entered SYN_SENT).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "filter.bpf.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define TCP_SYN_SENT 2

struct connect_event {
	__u64 ts_ns;
	__u32 pid;
	__u32 uid;
	__u16 family;
	__u16 sport;
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[TASK_COMM_LEN];
};

struct owner {
	__u32 pid;
	__u32 uid;
	char comm[TASK_COMM_LEN];
};

/* only the fields read, as CO-RE flavors (the kernel nests them in unions) */
struct sock_common___tc {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));
struct sock___tc {
	struct sock_common___tc __sk_common;
} __attribute__((preserve_access_index));

const volatile __u16 targ_family = 0;	/* -4/-6: AF_INET or AF_INET6 */
const volatile __u16 targ_dport = 0;	/* -P */
const volatile __u32 targ_uid = -1;	/* -u; -1: any */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, __u64);
} sockets SEC(".maps");		/* kprobe: thread -> its connecting socket */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u64);
	__type(value, struct owner);
} owners SEC(".maps");		/* tracepoint: socket in SYN_SENT -> its owner */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

static __always_inline int caller_wanted(void)
{
	if (targ_uid != (__u32)-1 && (__u32)bpf_get_current_uid_gid() != targ_uid)
		return 0;
	return task_wanted();
}

static __always_inline int tuple_wanted(__u16 family, __u16 dport)
{
	if (targ_family && family != targ_family)
		return 0;
	return !targ_dport || dport == targ_dport;
}

static __always_inline struct connect_event *reserve(void)
{
	struct connect_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&lost_events, 1);
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	return e;
}

/* fexit and kretprobe: the socket after a successful tcp_v*_connect */
static __always_inline int connected(struct sock___tc *sk, int ret)
{
	struct connect_event *e;
	__u16 family, dport;

	if (ret)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	dport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (!tuple_wanted(family, dport))
		return 0;
	e = reserve();
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->uid = bpf_get_current_uid_gid();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->family = family;
	e->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->dport = dport;
	__builtin_memset(e->saddr, 0, sizeof(e->saddr));
	__builtin_memset(e->daddr, 0, sizeof(e->daddr));
	/* bpf_core_read with the size: BPF_CORE_READ_INTO would copy
	 * sizeof(*dst), one byte of these arrays */
	if (family == AF_INET) {
		bpf_core_read(e->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(e->daddr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(e->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(e->daddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* fexit: tcp_v{4,6}_connect(sk, uaddr, addr_len) = ret; arguments from the
 * raw context, which keeps struct sock's whole BTF out of the object */
SEC("fexit/tcp_v4_connect")
int fexit_v4(__u64 *ctx)
{
	return caller_wanted() ? connected((void *)ctx[0], (int)ctx[3]) : 0;
}

SEC("fexit/tcp_v6_connect")
int fexit_v6(__u64 *ctx)
{
	return caller_wanted() ? connected((void *)ctx[0], (int)ctx[3]) : 0;
}

static __always_inline int save_socket(void *sk)
{
	__u32 tid = bpf_get_current_pid_tgid();
	__u64 ptr = (__u64)sk;

	if (caller_wanted())
		bpf_map_update_elem(&sockets, &tid, &ptr, BPF_ANY);
	return 0;
}

static __always_inline int saved_socket(int ret)
{
	__u32 tid = bpf_get_current_pid_tgid();
	__u64 *ptr = bpf_map_lookup_elem(&sockets, &tid);

	if (!ptr)
		return 0;
	connected((void *)*ptr, ret);
	bpf_map_delete_elem(&sockets, &tid);
	return 0;
}

SEC("kprobe/tcp_v4_connect")
int BPF_KPROBE(kprobe_v4, void *sk)
{
	return save_socket(sk);
}

SEC("kretprobe/tcp_v4_connect")
int BPF_KRETPROBE(kretprobe_v4, int ret)
{
	return saved_socket(ret);
}

SEC("kprobe/tcp_v6_connect")
int BPF_KPROBE(kprobe_v6, void *sk)
{
	return save_socket(sk);
}

SEC("kretprobe/tcp_v6_connect")
int BPF_KRETPROBE(kretprobe_v6, int ret)
{
	return saved_socket(ret);
}

SEC("tp/sock/inet_sock_set_state")
int syn_sent(struct trace_event_raw_inet_sock_set_state *ctx)
{
	__u64 sk = (__u64)ctx->skaddr;
	struct owner me = {}, *who;
	struct connect_event *e;
	__u16 family = ctx->family;

	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	if (ctx->newstate == TCP_SYN_SENT) {
		if (!caller_wanted() || !tuple_wanted(family, ctx->dport))
			return 0;
		me.pid = bpf_get_current_pid_tgid() >> 32;
		me.uid = bpf_get_current_uid_gid();
		bpf_get_current_comm(me.comm, sizeof(me.comm));
		bpf_map_update_elem(&owners, &sk, &me, BPF_ANY);
		return 0;
	}
	if (ctx->oldstate != TCP_SYN_SENT)
		return 0;
	who = bpf_map_lookup_elem(&owners, &sk);
	if (!who)
		return 0;
	e = reserve();
	if (!e)
		goto forget;
	e->pid = who->pid;
	e->uid = who->uid;
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
	bpf_map_delete_elem(&owners, &sk);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
