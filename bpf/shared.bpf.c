// BPF and Python share the same global data sections at once.
// Used by tests/test_concurrency.py (threads against a tracepoint writer) and
// tests/test_leaks.py (open/load/attach/destroy cycles, use after destroy).
//
// The writer is one thread (writer_tid, set from Python) calling getppid():
// every call bumps `hits`, publishes a pair under a sequence counter, and
// copies `stamp` (written by Python) to `echo`.  A raw tracepoint rather than
// tp/syscalls/sys_enter_getppid: detaching a perf-event tracepoint waits for
// an RCU grace period (~70 ms here), which 1,000 cycles cannot afford.
#include <linux/bpf.h>
#include <asm/unistd.h>         /* the host's __NR_getppid (Makefile: -I$(ARCH_INC)) */
#include <bpf/bpf_helpers.h>

#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))
#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))

/* .rodata: configured before load, read by Python threads after */
const volatile __u32 writer_tgid = 0;
const volatile __u64 magic[2] = { 0, 0 };

/* .bss */
__u32 writer_tid;               /* written by Python: the one thread that counts */
__u64 hits;                     /* BPF: one per getppid() of writer_tid */
__u64 echo;                     /* BPF: the last `stamp` it saw */
struct pair {
	__u64 seq;              /* odd while a and b change */
	__u64 a;
	__u64 b;                /* always ~a when seq is even and unchanged */
} pair;
__u64 slots[4];                 /* Python: one per thread, never touched by BPF */

/* .data */
__u64 stamp = 1;                /* Python: increasing; BPF copies it to echo */
__u64 data_hits = 1;            /* BPF: hits + 1 (non-zero: kept in .data) */
__u64 data_slots[4] = { 1, 2, 3, 4 };  /* Python: one per thread */

SEC("raw_tp/sys_enter")
int on_getppid(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 n;

	if ((__u32)(id >> 32) != writer_tgid || (__u32)id != READ_ONCE(writer_tid)
	    || ctx->args[1] != __NR_getppid)
		return 0;
	n = READ_ONCE(hits) + 1;        /* a single writer: no atomic needed */
	__sync_fetch_and_add(&pair.seq, 1);
	WRITE_ONCE(pair.a, n);
	WRITE_ONCE(pair.b, ~n);
	__sync_fetch_and_add(&pair.seq, 1);
	WRITE_ONCE(echo, READ_ONCE(stamp));
	WRITE_ONCE(hits, n);
	__sync_fetch_and_add(&data_hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
