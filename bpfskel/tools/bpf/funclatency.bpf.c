// funclatency: one function's latency, entry to return, as a log2
// histogram of nanoseconds (or us, ms).  Entry and return are caught by a
// uprobe/uretprobe pair (user functions), a kprobe/kretprobe pair, or an
// fentry/fexit pair (kernel functions); user space loads the pair it
// chooses and attaches it to the function named at run time.  Entry times
// are kept per thread, so recursion counts its outermost call only.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "filter.bpf.h"
#include "hist.bpf.h"

#define MAX_SLOTS 64

enum units { NSEC = 0, USEC = 1, MSEC = 2 };

const volatile __u8 units = NSEC;	/* -u, -m */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, __u64);
} starts SEC(".maps");

/* the histogram: key 0 only, so that user space reads and clears it
 * atomically (lookup-and-delete) each interval */
struct hist {
	__u32 slots[MAX_SLOTS];
	__u64 sum;		/* of the latencies, in units */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hist);
} hists SEC(".maps");

static __always_inline int entered(void)
{
	__u32 tid = bpf_get_current_pid_tgid();
	__u64 now;

	if (!task_wanted())
		return 0;
	now = bpf_ktime_get_ns();
	/* a nested call keeps the outer start (EEXIST); a full map loses it */
	if (bpf_map_update_elem(&starts, &tid, &now, BPF_NOEXIST) == -7 /* E2BIG */)
		__sync_fetch_and_add(&lost_events, 1);
	return 0;
}

static __always_inline int returned(void)
{
	__u32 tid = bpf_get_current_pid_tgid(), key = 0;
	__u64 *start, delta;
	struct hist *h, zero = {};

	start = bpf_map_lookup_elem(&starts, &tid);
	if (!start)
		return 0;
	delta = bpf_ktime_get_ns() - *start;
	bpf_map_delete_elem(&starts, &tid);
	if (units == USEC)
		delta /= 1000;
	else if (units == MSEC)
		delta /= 1000000;
	h = bpf_map_lookup_elem(&hists, &key);
	if (!h) {
		bpf_map_update_elem(&hists, &key, &zero, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&hists, &key);
		if (!h)
			return 0;
	}
	__sync_fetch_and_add(&h->slots[log2_slot(delta, MAX_SLOTS)], 1);
	__sync_fetch_and_add(&h->sum, delta);
	return 0;
}

SEC("uprobe")
int uprobe_entry(void *ctx)
{
	return entered();
}

SEC("uretprobe")
int uprobe_return(void *ctx)
{
	return returned();
}

SEC("kprobe")
int kprobe_entry(void *ctx)
{
	return entered();
}

SEC("kretprobe")
int kprobe_return(void *ctx)
{
	return returned();
}

SEC("fentry")
int fentry_entry(void *ctx)
{
	return entered();
}

SEC("fexit")
int fexit_return(void *ctx)
{
	return returned();
}

char LICENSE[] SEC("license") = "GPL";
