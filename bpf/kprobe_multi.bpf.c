// kprobe.multi and kretprobe.multi links (fprobe, Linux 5.18+, CONFIG_FPROBE)
// on do_unlinkat(), the kernel function behind unlink()
// (tests/test_kernel_hooks.py). Not on a __x64_sys_* wrapper: 6.12 does not
// list those in available_filter_functions, so libbpf 1.2+ finds no match.
// One process counts: target_tgid, set in .rodata before load.
#define __TARGET_ARCH_x86	/* PT_REGS_RC() reads x86-64's pt_regs */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

const volatile __u32 target_tgid = 0;

__u64 multi_hits;	/* entries into do_unlinkat */
__u64 multi_ret_hits;	/* returns from it */
__s64 multi_ret;	/* what the last one returned: 0 or -errno */

SEC("kprobe.multi/do_unlinkat")
int BPF_KPROBE(unlink_multi_entry)
{
	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	__sync_fetch_and_add(&multi_hits, 1);
	return 0;
}

SEC("kretprobe.multi/do_unlinkat")
int BPF_KRETPROBE(unlink_multi_return, int ret)
{
	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	multi_ret = ret;	/* an int: sign-extended here */
	__sync_fetch_and_add(&multi_ret_hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
