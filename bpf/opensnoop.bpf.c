// opensnoop (examples/opensnoop.py): file opens as events, and a count of
// system calls, with every hook chosen at run time through bpfskel.features:
//   opens:    fentry/do_sys_openat2, else kprobe, else the openat tracepoint;
//   syscalls: tp_btf/sys_enter, else raw_tp/sys_enter;
//   events:   a ring buffer, else a perf buffer (the C tools' fallback: events
//             is declared a perf event array and made a ring buffer before load).
// Python turns autoload off for the programs it does not pick.
/* vmlinux.h is generated from this (x86-64) machine; -D__TARGET_ARCH_xxx overrides */
#if !defined(__TARGET_ARCH_x86) && !defined(__TARGET_ARCH_arm64)
#define __TARGET_ARCH_x86
#endif
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define PATH_LEN 128

struct event {
	__u32 tgid;
	__u32 flags;
	char comm[16];
	char path[PATH_LEN];
};
struct event *event_anchor __attribute__((unused));

const volatile __u32 target_tgid;	/* 0: every process */
const volatile __u32 use_ringbuf;
__u64 syscalls;
__u64 opens;

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

static __always_inline int wanted(void)
{
	return !target_tgid || bpf_get_current_pid_tgid() >> 32 == target_tgid;
}

static __always_inline int emit(void *ctx, const char *path, __u32 flags)
{
	__u32 zero = 0;
	struct event *e;

	if (!wanted())
		return 0;
	__sync_fetch_and_add(&opens, 1);
	if (use_ringbuf)
		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	else
		e = bpf_map_lookup_elem(&heap, &zero);
	if (!e)
		return 0;
	e->tgid = bpf_get_current_pid_tgid() >> 32;
	e->flags = flags;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_user_str(e->path, sizeof(e->path), path);
	if (use_ringbuf)
		bpf_ringbuf_submit(e, 0);
	else
		bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, e, sizeof(*e));
	return 0;
}

SEC("fentry/do_sys_openat2")
int BPF_PROG(open_fentry, int dfd, const char *filename, struct open_how *how)
{
	return emit(ctx, filename, how->flags);
}

SEC("kprobe/do_sys_openat2")
int BPF_KPROBE(open_kprobe, int dfd, const char *filename, struct open_how *how)
{
	return emit(ctx, filename, BPF_CORE_READ(how, flags));
}

SEC("tp/syscalls/sys_enter_openat")
int open_tp(struct trace_event_raw_sys_enter *ctx)
{
	return emit(ctx, (const char *)ctx->args[1], ctx->args[2]);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_tp_btf, struct pt_regs *regs, long id)
{
	if (wanted())
		__sync_fetch_and_add(&syscalls, 1);
	return 0;
}

SEC("raw_tp/sys_enter")
int sys_raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	if (wanted())
		__sync_fetch_and_add(&syscalls, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
