// fentry and fexit (BPF trampolines) on do_unlinkat(), the kernel function
// behind unlink() (tests/test_kernel_hooks.py). It is in the kernel's BTF on
// every kernel we test, unlike the __x64_sys_* wrappers, which fentry needs.
// One process counts: target_tgid, set in .rodata before load.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct filename;

const volatile __u32 target_tgid = 0;

__u64 fentry_hits;	/* entries into do_unlinkat */
__s32 fentry_dfd;	/* its first argument, last seen */
__u64 fexit_hits;	/* returns from it */
__s64 fexit_ret;	/* what the last one returned: 0 or -errno */

SEC("fentry/do_unlinkat")
int BPF_PROG(unlink_entry, int dfd, struct filename *name)
{
	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	fentry_dfd = dfd;
	__sync_fetch_and_add(&fentry_hits, 1);
	return 0;
}

SEC("fexit/do_unlinkat")
int BPF_PROG(unlink_exit, int dfd, struct filename *name, int ret)
{
	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	fexit_ret = ret;	/* an int: sign-extended here */
	__sync_fetch_and_add(&fexit_hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
