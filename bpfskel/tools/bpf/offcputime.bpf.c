// offcputime: the time tasks spend off-CPU (blocked, sleeping, preempted),
// summed per (process, user stack, kernel stack) in microseconds.  At
// sched_switch the outgoing task is still current, so its stacks are taken
// there and kept with the switch time; when the task is switched back in,
// the time off-CPU is added to that stack's total if it is within
// [min_block_us, max_block_us].  The same logic is attached through tp_btf
// or raw_tp (user space picks one with bpfskel.features).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "filter.bpf.h"

#define PF_KTHREAD 0x00200000

const volatile __u8 user_stacks = 1;	/* -K clears it */
const volatile __u8 kernel_stacks = 1;	/* -U clears it */
const volatile __u8 user_threads_only = 0;	/* -u */
const volatile __u8 kernel_threads_only = 0;	/* -k */
const volatile __u64 min_block_us = 1;	/* -m */
const volatile __u64 max_block_us = -1;	/* -M */

struct offcpu_key {
	__u32 tgid;
	__s32 user_stack;	/* id in stacks; negative: none (see stacks.py) */
	__s32 kernel_stack;
	char comm[TASK_COMM_LEN];
};
struct offcpu_key *key_anchor __attribute__((unused));

struct start {
	__u64 ts;
	struct offcpu_key key;
};

/* only the task_struct fields read, as a CO-RE flavor */
struct task_struct___off {
	int pid;
	int tgid;
	unsigned int flags;
	char comm[TASK_COMM_LEN];
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64[127]);
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);	/* tid */
	__type(value, struct start);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct offcpu_key);
	__type(value, __u64);	/* microseconds off-CPU */
} totals SEC(".maps");

static __always_inline int wanted(struct task_struct___off *t)
{
	__u32 kthread = BPF_CORE_READ(t, flags) & PF_KTHREAD;
	char comm[TASK_COMM_LEN];

	if (!BPF_CORE_READ(t, pid))
		return 0;	/* the idle task */
	if ((user_threads_only && kthread) || (kernel_threads_only && !kthread))
		return 0;
	if (targ_tgid && BPF_CORE_READ(t, tgid) != targ_tgid)
		return 0;
	if (targ_comm[0]) {
		BPF_CORE_READ_STR_INTO(&comm, t, comm);
		return comm_matches(comm);
	}
	return 1;
}

static __always_inline int switched(void *ctx, struct task_struct___off *prev,
				    struct task_struct___off *next)
{
	struct start s = {}, *sp;
	__u64 delta, *total;
	__u32 tid;
	long err;

	/* prev is still current: its stacks are the ones it blocks in */
	if (wanted(prev) && (!targ_cgid || bpf_get_current_cgroup_id() == targ_cgid)) {
		tid = BPF_CORE_READ(prev, pid);
		s.ts = bpf_ktime_get_ns();
		s.key.tgid = BPF_CORE_READ(prev, tgid);
		s.key.user_stack = user_stacks ?
			bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK) : -1;
		s.key.kernel_stack = kernel_stacks ? bpf_get_stackid(ctx, &stacks, 0) : -1;
		BPF_CORE_READ_STR_INTO(&s.key.comm, prev, comm);
		if (bpf_map_update_elem(&starts, &tid, &s, BPF_ANY))
			__sync_fetch_and_add(&lost_events, 1);
	}
	tid = BPF_CORE_READ(next, pid);
	sp = bpf_map_lookup_elem(&starts, &tid);
	if (!sp)
		return 0;
	delta = (bpf_ktime_get_ns() - sp->ts) / 1000;
	if (delta >= min_block_us && delta <= max_block_us) {
		total = bpf_map_lookup_elem(&totals, &sp->key);
		if (total) {
			__sync_fetch_and_add(total, delta);
		} else {
			err = bpf_map_update_elem(&totals, &sp->key, &delta, BPF_NOEXIST);
			if (err == -7 /* E2BIG: map full */)
				__sync_fetch_and_add(&lost_events, 1);
			else if (err == -17 /* EEXIST: raced */ &&
				 (total = bpf_map_lookup_elem(&totals, &sp->key)))
				__sync_fetch_and_add(total, delta);
		}
	}
	bpf_map_delete_elem(&starts, &tid);
	return 0;
}

/* sched_switch(preempt, prev, next), from the raw context (see runqlat.bpf.c) */
SEC("tp_btf/sched_switch")
int switch_btf(__u64 *ctx)
{
	return switched(ctx, (void *)ctx[1], (void *)ctx[2]);
}

SEC("raw_tp/sched_switch")
int switch_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return switched(ctx, (void *)ctx->args[1], (void *)ctx->args[2]);
}

char LICENSE[] SEC("license") = "GPL";
