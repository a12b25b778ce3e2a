// One do-nothing program per hook kind, for tests/test_features.py: each
// bpfskel.features probe must agree with loading and attaching its program
// here. Each is loaded alone (the others' autoload is off).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct file;

SEC("kprobe/__x64_sys_getpid")
int probe_kprobe(void *ctx) { return 0; }

SEC("kprobe.multi/do_unlinkat")	/* ftrace-able, unlike 6.12's __x64_sys_* */
int probe_kprobe_multi(void *ctx) { return 0; }

SEC("fentry/do_unlinkat")	/* in BTF, unlike the __x64_sys_* wrappers */
int BPF_PROG(probe_fentry) { return 0; }

SEC("lsm/file_open")
int BPF_PROG(probe_lsm, struct file *file, int ret) { return ret; }

char LICENSE[] SEC("license") = "GPL";
