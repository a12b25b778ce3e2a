// Skeleton lifecycle: auto-attach, autoattach, links destroyed and re-made,
// map pins and single-element map operations (tests/test_skeleton_lifecycle.py).
//
// `first` and `second` count this process's getppid() calls (raw tracepoint,
// filtered on target_tgid); `no_target` (xdp) and `bare_uprobe` name no target,
// so auto-attach skips them; `missing_tp` names a tracepoint no kernel has, so
// auto-attaching it fails unless the app turns its autoattach off.
#include <linux/bpf.h>
#include <asm/unistd.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 target_tgid = 0;
__u64 first_hits;
__u64 second_hits;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} table SEC(".maps");

static __always_inline int mine(struct bpf_raw_tracepoint_args *ctx)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid &&
	       ctx->args[1] == __NR_getppid;
}

SEC("raw_tp/sys_enter")
int first(struct bpf_raw_tracepoint_args *ctx)
{
	if (mine(ctx))
		__sync_fetch_and_add(&first_hits, 1);
	return 0;
}

SEC("raw_tp/sys_enter")
int second(struct bpf_raw_tracepoint_args *ctx)
{
	if (mine(ctx))
		__sync_fetch_and_add(&second_hits, 1);
	return 0;
}

SEC("xdp")
int no_target(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("uprobe")
int bare_uprobe(void *ctx)
{
	return 0;
}

SEC("tp/bpfskel_none/nothing")
int missing_tp(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
