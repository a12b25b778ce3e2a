// Watches two functions of a small shared library that the tests build with
// gcc: bpfskel_add is attached explicitly (uprobe and uretprobe, by symbol
// or by offset), bpfskel_mul by libbpf from the section name, which names the
// library the way ld.so finds it (LD_LIBRARY_PATH).
#include <linux/bpf.h>
#include <asm/ptrace.h>
/* -target bpf defines no host architecture; the host's uapi headers tell it */
#if !defined(__TARGET_ARCH_x86) && !defined(__TARGET_ARCH_arm64)
#if defined(_ASM_X86_PTRACE_H)
#define __TARGET_ARCH_x86
#elif defined(PSR_MODE_EL0t)
#define __TARGET_ARCH_arm64
#endif
#endif
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

const volatile __u32 target_tgid = 0;	/* only calls made by this process */

__u64 add_calls;
__s64 add_a;
__s64 add_b;
__u64 add_returns;
__s64 add_ret;
__u64 mul_calls;
__s64 mul_a;
__s64 mul_b;

static __always_inline int mine(void)
{
	return bpf_get_current_pid_tgid() >> 32 == target_tgid;
}

SEC("uprobe")
int BPF_KPROBE(on_add, int a, int b)
{
	if (!mine())
		return 0;
	add_calls++;
	add_a = a;
	add_b = b;
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(on_add_return, int ret)
{
	if (!mine())
		return 0;
	add_returns++;
	add_ret = ret;
	return 0;
}

SEC("uprobe/libbpfskel_uprobe.so:bpfskel_mul")
int BPF_KPROBE(on_mul, int a, int b)
{
	if (!mine())
		return 0;
	mul_calls++;
	mul_a = a;
	mul_b = b;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
