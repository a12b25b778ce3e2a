// A 16 MiB .bss array: BPF writes its last element, and reads back the one
// Python wrote there.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define SLOTS ((16 << 20) / sizeof(__u64))

__u64 slots[SLOTS];
__u64 seen_last;	/* what BPF read from slots[SLOTS - 1] before writing it */

SEC("syscall")
int touch_last(void *ctx)
{
	seen_last = slots[SLOTS - 1];
	slots[SLOTS - 1] = seen_last ^ 0xfeedfacecafebeefULL;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
