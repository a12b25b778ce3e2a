// kprobe and kretprobe on the getpid() system call (tests/test_kernel_hooks.py).
// Only calls from one process count (target_tgid, set in .rodata before load),
// so that the rest of the system does not disturb the counts.
// The kernel symbol is x86-64's syscall entry, so this object is x86-64 only.
#define __TARGET_ARCH_x86	/* PT_REGS_RC() reads x86-64's pt_regs */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

const volatile __u32 target_tgid = 0;

__u64 kprobe_hits;	/* entries into __x64_sys_getpid */
__u64 kretprobe_hits;	/* returns from it */
__s64 kretprobe_ret;	/* what the last one returned: the caller's pid */

SEC("kprobe/__x64_sys_getpid")
int BPF_KPROBE(getpid_entry)
{
	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	__sync_fetch_and_add(&kprobe_hits, 1);
	return 0;
}

SEC("kretprobe/__x64_sys_getpid")
int BPF_KRETPROBE(getpid_return, long ret)
{
	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	kretprobe_ret = ret;
	__sync_fetch_and_add(&kretprobe_hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
