// exitsnoop: process (or, with --threaded, thread) exits, with lifetime and
// exit code.  The sched_process_exit tracepoint runs in the exiting task, in
// do_exit() after task->exit_code was set.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "filter.bpf.h"

struct exit_event {
	__u64 start_ns;		/* task->start_time: CLOCK_MONOTONIC, ns */
	__u64 exit_ns;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 exit_code;	/* wait status: status << 8 | core << 7 | signal */
	char comm[TASK_COMM_LEN];
};

const volatile __u8 failed_only = 0;	/* -x: nonzero exit codes only */
const volatile __u8 threaded = 0;	/* every thread, not only group leaders */

/* the task_struct fields read, as a CO-RE flavor (see execsnoop.bpf.c) */
struct task_struct___tool {
	struct task_struct___tool *real_parent;
	int tgid;
	int exit_code;
	__u64 start_time;
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

SEC("tp/sched/sched_process_exit")
int sched_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct task_struct___tool *task;
	struct exit_event *e;
	int code;

	if (!threaded && (__u32)id != id >> 32)
		return 0;
	if (!task_wanted())
		return 0;
	task = (struct task_struct___tool *)bpf_get_current_task();
	code = BPF_CORE_READ(task, exit_code);
	if (failed_only && !code)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost_events, 1);
		return 0;
	}
	e->start_ns = BPF_CORE_READ(task, start_time);
	e->exit_ns = bpf_ktime_get_ns();
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->exit_code = code;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
