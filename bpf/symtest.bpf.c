// A kernel stack from a tracepoint, for tests/test_sym.py: the stack of
// the process target_tgid at its getppid() system call entry.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 target_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64[127]);
} kstacks SEC(".maps");

__s64 kernel_stack = -1;

SEC("tp/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	kernel_stack = bpf_get_stackid(ctx, &kstacks, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
