// Reads Kconfig externs into .bss when run with BPF_PROG_TEST_RUN.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern int CONFIG_HZ __kconfig __weak;

__u64 seen_version;
__s64 seen_hz;

SEC("syscall")
int read_kconfig(void *ctx)
{
	seen_version = LINUX_KERNEL_VERSION;
	seen_hz = CONFIG_HZ;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
