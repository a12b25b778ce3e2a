// kprobe.multi and kretprobe.multi links (fprobe, Linux 5.18+, CONFIG_FPROBE)
// on the getpid() system call (tests/test_kernel_hooks.py). One process
// counts: target_tgid, set in .rodata before load. x86-64 only (the symbol).
#define __TARGET_ARCH_x86	/* PT_REGS_RC() reads x86-64's pt_regs */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

const volatile __u32 target_tgid = 0;

__u64 multi_hits;	/* entries into __x64_sys_getpid */
__u64 multi_ret_hits;	/* returns from it */
__s64 multi_ret;	/* what the last one returned: the caller's pid */

SEC("kprobe.multi/__x64_sys_getpid")
int BPF_KPROBE(getpid_multi_entry)
{
	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	__sync_fetch_and_add(&multi_hits, 1);
	return 0;
}

SEC("kretprobe.multi/__x64_sys_getpid")
int BPF_KRETPROBE(getpid_multi_return, long ret)
{
	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	multi_ret = ret;
	__sync_fetch_and_add(&multi_ret_hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
