// runqlat: run-queue latency, the time from a task's wakeup (or its
// preemption while runnable) to when it runs, as log2 histograms of
// microseconds (or ms), one in total or one per process, thread or pid
// namespace.  The same logic is attached through tp_btf (BTF-typed
// tracepoint arguments) or raw_tp (for kernels without tp_btf); user space
// picks one with bpfskel.features and turns the other's autoload off.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "filter.bpf.h"
#include "hist.bpf.h"

#define MAX_SLOTS 27
#define TASK_RUNNING 0

enum hist_key_kind { KEY_TOTAL = 0, KEY_TGID = 1, KEY_TID = 2, KEY_PIDNS = 3 };

struct hist {
	__u32 slots[MAX_SLOTS];
	char comm[TASK_COMM_LEN];
};

const volatile __u8 key_kind = KEY_TOTAL;	/* -P, -L, --pidnss */
const volatile __u8 milliseconds = 0;	/* -m */

/* only the task_struct fields read, as CO-RE flavors (small BTF, small module) */
struct ns_common___rq {
	unsigned int inum;
} __attribute__((preserve_access_index));
struct pid_namespace___rq {
	struct ns_common___rq ns;
} __attribute__((preserve_access_index));
struct upid___rq {	/* both fields: numbers[] is indexed, so the size must be the kernel's */
	int nr;
	struct pid_namespace___rq *ns;
} __attribute__((preserve_access_index));
struct pid___rq {
	unsigned int level;
	struct upid___rq numbers[1];
} __attribute__((preserve_access_index));
struct task_struct___rq {
	int pid;
	int tgid;
	unsigned int __state;
	char comm[TASK_COMM_LEN];
	struct pid___rq *thread_pid;
} __attribute__((preserve_access_index));
struct task_struct___rq_old {	/* before 5.14: state, not __state */
	long state;
} __attribute__((preserve_access_index));

/* The pid namespace of the task's own pid, as /proc/PID/ns/pid names it.  Read
 * through thread_pid, which stays until the task is reaped: nsproxy is gone from
 * exit_task_namespaces() on, and a dying task is still switched in after that. */
static __always_inline __u32 task_pidns(struct task_struct___rq *t)
{
	struct pid___rq *pid = BPF_CORE_READ(t, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct pid_namespace___rq *ns = NULL;

	bpf_core_read(&ns, sizeof(ns), &pid->numbers[level].ns);
	return BPF_CORE_READ(ns, ns.inum);
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, __u64);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct hist);
} hists SEC(".maps");

static __always_inline int wanted(struct task_struct___rq *t)
{
	char comm[TASK_COMM_LEN];

	if (targ_tgid && BPF_CORE_READ(t, tgid) != targ_tgid)
		return 0;
	if (targ_comm[0]) {
		BPF_CORE_READ_STR_INTO(&comm, t, comm);
		return comm_matches(comm);
	}
	return 1;
}

static __always_inline int enqueued(struct task_struct___rq *t)
{
	__u32 tid = BPF_CORE_READ(t, pid);
	__u64 now;

	if (!tid || !wanted(t))
		return 0;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&starts, &tid, &now, BPF_ANY);
	return 0;
}

static __always_inline long task_state(void *t)
{
	struct task_struct___rq_old *old = t;

	if (bpf_core_field_exists(((struct task_struct___rq *)t)->__state))
		return BPF_CORE_READ((struct task_struct___rq *)t, __state);
	return BPF_CORE_READ(old, state);
}

static __always_inline int switched(struct task_struct___rq *prev, struct task_struct___rq *next)
{
	struct hist *h, zero = {};
	__u32 tid, key, slot;
	__u64 *start, delta;

	/* preempted while runnable: it waits on the run queue from now */
	if (task_state(prev) == TASK_RUNNING)
		enqueued(prev);
	tid = BPF_CORE_READ(next, pid);
	start = bpf_map_lookup_elem(&starts, &tid);
	if (!start)
		return 0;
	delta = bpf_ktime_get_ns() - *start;
	bpf_map_delete_elem(&starts, &tid);
	delta /= milliseconds ? 1000000 : 1000;
	slot = log2_slot(delta, MAX_SLOTS);
	switch (key_kind) {
	case KEY_TGID: key = BPF_CORE_READ(next, tgid); break;
	case KEY_TID: key = tid; break;
	case KEY_PIDNS: key = task_pidns(next); break;
	default: key = 0;
	}
	h = bpf_map_lookup_elem(&hists, &key);
	if (!h) {
		if (key_kind == KEY_TGID || key_kind == KEY_TID)
			BPF_CORE_READ_STR_INTO(&zero.comm, next, comm);
		if (bpf_map_update_elem(&hists, &key, &zero, BPF_NOEXIST) == -7 /* E2BIG */) {
			__sync_fetch_and_add(&lost_events, 1);
			return 0;
		}
		h = bpf_map_lookup_elem(&hists, &key);
		if (!h)
			return 0;
	}
	__sync_fetch_and_add(&h->slots[slot], 1);
	return 0;
}

/* Arguments are taken from the raw context (ctx[i]) rather than through
 * BPF_PROG's typed prototype, which would pull all of task_struct's BTF into
 * the object: sched_wakeup(p), sched_switch(preempt, prev, next). */
SEC("tp_btf/sched_wakeup")
int wakeup_btf(__u64 *ctx)
{
	return enqueued((void *)ctx[0]);
}

SEC("tp_btf/sched_wakeup_new")
int wakeup_new_btf(__u64 *ctx)
{
	return enqueued((void *)ctx[0]);
}

SEC("tp_btf/sched_switch")
int switch_btf(__u64 *ctx)
{
	return switched((void *)ctx[1], (void *)ctx[2]);
}

SEC("raw_tp/sched_wakeup")
int wakeup_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return enqueued((void *)ctx->args[0]);
}

SEC("raw_tp/sched_wakeup_new")
int wakeup_new_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return enqueued((void *)ctx->args[0]);
}

SEC("raw_tp/sched_switch")
int switch_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return switched((void *)ctx->args[1], (void *)ctx->args[2]);
}

char LICENSE[] SEC("license") = "GPL";
