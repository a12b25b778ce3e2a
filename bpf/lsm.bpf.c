// A BPF LSM program on the file_open hook (tests/test_kernel_hooks.py): it
// counts the opens of one process (target_tgid, set in .rodata before load),
// and refuses them with EPERM while Python sets `deny` in .bss.
// Needs CONFIG_BPF_LSM and "bpf" in the lsm= boot parameter.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define EPERM 1

struct file;

const volatile __u32 target_tgid = 0;

__u32 deny;		/* set from Python: refuse the target's opens */
__u64 opens;		/* the target's opens seen */
__u64 denied;		/* of them, refused */

SEC("lsm/file_open")
int BPF_PROG(check_open, struct file *file, int ret)
{
	if (ret)		/* an earlier LSM refused already */
		return ret;
	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	__sync_fetch_and_add(&opens, 1);
	if (deny) {
		__sync_fetch_and_add(&denied, 1);
		return -EPERM;
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
