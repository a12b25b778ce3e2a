// Programs for the kernel-side attach kinds (tests/test_attach_kernel.py): kprobes,
// kprobe_multi, ksyscall, fentry/fexit (by section and by set_attach_target),
// tp_btf, raw_tp and LSM.  The host kernel refuses several of them (no kprobes,
// EPERM for trampolines), so tests turn autoload off for all but the one they use.
// Each counts what the test's own process (target_tgid, set live) does.
/* vmlinux.h is generated from this (x86-64) machine; -D__TARGET_ARCH_xxx overrides */
#if !defined(__TARGET_ARCH_x86) && !defined(__TARGET_ARCH_arm64)
#define __TARGET_ARCH_x86
#endif
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

__u32 target_tgid;
__u64 kprobe_hits, kretprobe_hits, kmulti_hits, kmulti_cookies, ksyscall_hits;
__u64 fentry_hits, fexit_hits, fentry_target_hits, tp_btf_hits, raw_tp_hits, lsm_hits;
__s64 fexit_ret;

static __always_inline int mine(void)
{
	return bpf_get_current_pid_tgid() >> 32 == target_tgid;
}

SEC("kprobe")
int kp(struct pt_regs *ctx)
{
	if (mine())
		__sync_fetch_and_add(&kprobe_hits, 1);
	return 0;
}

SEC("kretprobe")
int krp(struct pt_regs *ctx)
{
	if (mine())
		__sync_fetch_and_add(&kretprobe_hits, 1);
	return 0;
}

SEC("kprobe.multi")
int kmulti(struct pt_regs *ctx)
{
	if (mine()) {
		__sync_fetch_and_add(&kmulti_hits, 1);
		__sync_fetch_and_add(&kmulti_cookies, bpf_get_attach_cookie(ctx));
	}
	return 0;
}

SEC("ksyscall")
int BPF_KSYSCALL(ksys)
{
	if (mine())
		__sync_fetch_and_add(&ksyscall_hits, 1);
	return 0;
}

/* do_nanosleep(struct hrtimer_sleeper *t, enum hrtimer_mode mode): every
 * time.sleep() of the test goes through it */
SEC("fentry/do_nanosleep")
int BPF_PROG(fent, void *t, int mode)
{
	if (mine())
		__sync_fetch_and_add(&fentry_hits, 1);
	return 0;
}

SEC("fexit/do_nanosleep")
int BPF_PROG(fext, void *t, int mode, int ret)
{
	if (mine()) {
		__sync_fetch_and_add(&fexit_hits, 1);
		fexit_ret = ret;
	}
	return 0;
}

/* no target in the section: the test names one with set_attach_target() */
SEC("fentry")
int BPF_PROG(fent_target)
{
	if (mine())
		__sync_fetch_and_add(&fentry_target_hits, 1);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(tpbtf, struct pt_regs *regs, long id)
{
	if (mine())
		__sync_fetch_and_add(&tp_btf_hits, 1);
	return 0;
}

SEC("raw_tp/sys_enter")
int rawtp(struct bpf_raw_tracepoint_args *ctx)
{
	if (mine())
		__sync_fetch_and_add(&raw_tp_hits, 1);
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(lsm_open, struct file *file)
{
	if (mine())
		__sync_fetch_and_add(&lsm_hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
