// Programs for the attach kinds the host kernel has (tests/test_attach_kinds.py):
// USDT, a task iterator, a sampling perf event, uprobe_multi.
// Each counts only what the test's own process does (target_tgid, set live).
/* vmlinux.h is generated from this (x86-64) machine; -D__TARGET_ARCH_xxx overrides */
#if !defined(__TARGET_ARCH_x86) && !defined(__TARGET_ARCH_arm64)
#define __TARGET_ARCH_x86
#endif
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

__u32 target_tgid;

/* USDT python:function__entry(const char *file, const char *func, int line) */
__u64 usdt_hits;
__u64 usdt_cookie;
__s32 want_line;	/* line of the function whose name to record */
char seen_func[64];
__s32 seen_line;

SEC("usdt")
int BPF_USDT(py_entry, void *file, void *func, int line)
{
	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	__sync_fetch_and_add(&usdt_hits, 1);
	usdt_cookie = bpf_usdt_cookie(ctx);
	if (want_line && line == want_line) {
		bpf_probe_read_user_str(seen_func, sizeof(seen_func), func);
		seen_line = line;
	}
	return 0;
}

/* iter/task: one line per task, "tgid pid comm" */
SEC("iter/task")
int dump_task(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;

	if (!task)
		return 0;
	BPF_SEQ_PRINTF(seq, "%d %d %s\n", task->tgid, task->pid, task->comm);
	return 0;
}

/* perf_event: CPU clock samples, counted per CPU and for the target process */
__u64 cpu_samples[64];
__u64 target_samples;

SEC("perf_event")
int on_clock(struct bpf_perf_event_data *ctx)
{
	__u32 cpu = bpf_get_smp_processor_id();

	if (cpu < 64)
		__sync_fetch_and_add(&cpu_samples[cpu], 1);
	if (bpf_get_current_pid_tgid() >> 32 == target_tgid)
		__sync_fetch_and_add(&target_samples, 1);
	return 0;
}

/* uprobe_multi (libbpf 1.3, Linux 6.6): SEC("uprobe") here so that libbpf 1.1
 * opens the object; the test sets expected_attach_type before load. */
__u64 umulti_hits;
__u64 umulti_cookies;

SEC("uprobe")
int on_umulti(struct pt_regs *ctx)
{
	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	__sync_fetch_and_add(&umulti_hits, 1);
	__sync_fetch_and_add(&umulti_cookies, bpf_get_attach_cookie(ctx));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
