// syslat: system call latency and counts, for examples/syslat.py.
//
// raw_syscalls/sys_enter stores a start time per thread; sys_exit computes
// the latency, adds it to a log2 histogram kept in .bss (read by Python
// straight from the mapping, no syscalls), counts calls per process in a
// hash map, and sends calls slower than a threshold to a ring buffer.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define TASK_COMM_LEN 16
#define HIST_SLOTS 32

/* The tracepoints' context, as /sys/kernel/tracing/events/raw_syscalls/
 * sys_{enter,exit}/format describes it (8 bytes of common fields first). */
struct sys_enter_args {
	__u64 common;
	long id;
	unsigned long args[6];
};

struct sys_exit_args {
	__u64 common;
	long id;
	long ret;
};

struct start {
	__u64 ts;
	long id;
};

struct proc_stat {
	__u64 calls;
	__u64 total_ns;
	char comm[TASK_COMM_LEN];
};

struct slow_call {
	__u32 tgid;
	__u32 tid;
	long id;
	long ret;
	__u64 latency_ns;
	char comm[TASK_COMM_LEN];
};

/* Puts struct slow_call into BTF (bpf_ringbuf_reserve leaves none). */
struct slow_call *slow_call_anchor __attribute__((unused));

/* Configuration, set from the command line before load. */
const volatile __u32 target_tgid = 0;            /* 0: every process */
const volatile char target_comm[TASK_COMM_LEN] = {}; /* "": every command */
const volatile __u32 sample_every = 1;           /* trace 1 call in N */

/* Live controls in .data: Python writes these while the program runs.
 * (A zero-initialised global would land in .bss; the section attribute
 * keeps both controls together in .data.) */
__u32 paused SEC(".data") = 0;
__u64 slow_ns = 10 * 1000 * 1000;

/* Results read by Python through the mapping. */
__u64 hist[HIST_SLOTS];                          /* log2 buckets of microseconds */
__u64 traced;
__u64 slow_dropped;                              /* ring buffer was full */
__u64 lat_total_ns;                              /* sum of the latencies in hist */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct start);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct proc_stat);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} slow_calls SEC(".maps");

static __always_inline int comm_matches(const char *comm)
{
	if (!target_comm[0])
		return 1;
	for (int i = 0; i < TASK_COMM_LEN; i++) {
		if (comm[i] != target_comm[i])
			return 0;
		if (!comm[i])
			return 1;
	}
	return 1;
}

static __always_inline __u32 log2_slot(__u64 v)
{
	__u32 slot = 0;

	for (int i = 0; i < HIST_SLOTS - 1; i++) {
		if (v <= 1)
			break;
		v >>= 1;
		slot++;
	}
	return slot;
}

SEC("tp/raw_syscalls/sys_enter")
int on_enter(struct sys_enter_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	char comm[TASK_COMM_LEN];
	struct start s;

	if (paused)
		return 0;
	if (target_tgid && (id >> 32) != target_tgid)
		return 0;
	if (sample_every > 1 && bpf_get_prandom_u32() % sample_every)
		return 0;
	if (target_comm[0]) {
		bpf_get_current_comm(comm, sizeof(comm));
		if (!comm_matches(comm))
			return 0;
	}
	s.ts = bpf_ktime_get_ns();
	s.id = ctx->id;
	bpf_map_update_elem(&starts, &tid, &s, BPF_ANY);
	return 0;
}

SEC("tp/raw_syscalls/sys_exit")
int on_exit(struct sys_exit_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, tgid = id >> 32;
	struct proc_stat *st, init = {};
	struct slow_call *e;
	struct start *s;
	__u64 lat;

	s = bpf_map_lookup_elem(&starts, &tid);
	if (!s)
		return 0;
	lat = bpf_ktime_get_ns() - s->ts;
	bpf_map_delete_elem(&starts, &tid);

	__sync_fetch_and_add(&hist[log2_slot(lat / 1000) & (HIST_SLOTS - 1)], 1);
	__sync_fetch_and_add(&traced, 1);
	__sync_fetch_and_add(&lat_total_ns, lat);

	st = bpf_map_lookup_elem(&procs, &tgid);
	if (!st) {
		bpf_get_current_comm(init.comm, sizeof(init.comm));
		bpf_map_update_elem(&procs, &tgid, &init, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&procs, &tgid);
		if (!st)
			return 0;
	}
	/* refresh the name now and then: a process may rename itself (prctl) */
	if ((__sync_fetch_and_add(&st->calls, 1) & 1023) == 0)
		bpf_get_current_comm(st->comm, sizeof(st->comm));
	__sync_fetch_and_add(&st->total_ns, lat);

	if (lat < slow_ns)
		return 0;
	e = bpf_ringbuf_reserve(&slow_calls, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&slow_dropped, 1);
		return 0;
	}
	e->tgid = tgid;
	e->tid = tid;
	e->id = ctx->id;
	e->ret = ctx->ret;
	e->latency_ns = lat;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
