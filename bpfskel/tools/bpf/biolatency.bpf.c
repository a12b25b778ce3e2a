// biolatency: block I/O latency as log2 histograms of microseconds (or ms),
// from issue to completion (-Q: from insertion into the queue), one in
// total or one per disk (-D) and/or per request flags (-F).  Requests are
// keyed by their struct request's address.  The same logic is attached
// through tp_btf or raw_tp (block_rq_insert, block_rq_issue,
// block_rq_complete); user space picks one with bpfskel.features and turns
// the other's autoload off, and loads block_rq_insert only for -Q.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "hist.bpf.h"

#define MAX_SLOTS 27
#define DISK_NAME_LEN 32
#define MINORBITS 20

struct hist_key {
	__u32 dev;		/* major << 20 | first_minor, -D; else 0 */
	__u32 flags;		/* cmd_flags, -F; else 0 */
};

struct hist {
	__u32 slots[MAX_SLOTS];
	char disk[DISK_NAME_LEN];
};

const volatile __u8 per_disk = 0;	/* -D */
const volatile __u8 per_flags = 0;	/* -F */
const volatile __u8 queued = 0;		/* -Q */
const volatile __u8 milliseconds = 0;	/* -m */
const volatile __u32 targ_dev = 0;	/* -d: major << 20 | minor; 0: any */

/* requests the maps had no room for: reported as lost by the tool */
__u64 lost_events = 0;

/* only the fields read, as CO-RE flavors (small BTF, small module) */
struct gendisk___bio {
	int major;
	int first_minor;
	char disk_name[DISK_NAME_LEN];
} __attribute__((preserve_access_index));
struct request_queue___bio {
	struct gendisk___bio *disk;
} __attribute__((preserve_access_index));
struct request___bio {
	struct request_queue___bio *q;
	unsigned int cmd_flags;
} __attribute__((preserve_access_index));
struct request___bio_old {	/* before 5.17: the disk is the request's own */
	struct gendisk___bio *rq_disk;
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u64);
	__type(value, __u64);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct hist_key);
	__type(value, struct hist);
} hists SEC(".maps");

static __always_inline struct gendisk___bio *disk_of(struct request___bio *rq)
{
	if (bpf_core_field_exists(rq->q->disk))
		return BPF_CORE_READ(rq, q, disk);
	return BPF_CORE_READ((struct request___bio_old *)rq, rq_disk);
}

static __always_inline __u32 dev_of(struct gendisk___bio *disk)
{
	if (!disk)
		return 0;
	return (BPF_CORE_READ(disk, major) << MINORBITS) | BPF_CORE_READ(disk, first_minor);
}

static __always_inline int started(struct request___bio *rq, int insert)
{
	__u64 key = (__u64)rq, now;

	if (insert && !queued)
		return 0;
	if (targ_dev && dev_of(disk_of(rq)) != targ_dev)
		return 0;
	/* -Q: the insertion's time stays; a request issued directly has none */
	if (!insert && queued && bpf_map_lookup_elem(&starts, &key))
		return 0;
	now = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&starts, &key, &now, BPF_ANY) == -7 /* E2BIG */)
		__sync_fetch_and_add(&lost_events, 1);
	return 0;
}

static __always_inline int completed(struct request___bio *rq)
{
	__u64 key = (__u64)rq, *start, delta;
	struct hist_key hkey = {};
	struct hist *h, zero = {};
	struct gendisk___bio *disk;

	start = bpf_map_lookup_elem(&starts, &key);
	if (!start)
		return 0;
	delta = bpf_ktime_get_ns() - *start;
	bpf_map_delete_elem(&starts, &key);
	delta /= milliseconds ? 1000000 : 1000;
	if (per_disk) {
		disk = disk_of(rq);
		hkey.dev = dev_of(disk);
		if (disk)
			BPF_CORE_READ_STR_INTO(&zero.disk, disk, disk_name);
	}
	if (per_flags)
		hkey.flags = BPF_CORE_READ(rq, cmd_flags);
	h = bpf_map_lookup_elem(&hists, &hkey);
	if (!h) {
		if (bpf_map_update_elem(&hists, &hkey, &zero, BPF_NOEXIST) == -7 /* E2BIG */) {
			__sync_fetch_and_add(&lost_events, 1);
			return 0;
		}
		h = bpf_map_lookup_elem(&hists, &hkey);
		if (!h)
			return 0;
	}
	__sync_fetch_and_add(&h->slots[log2_slot(delta, MAX_SLOTS)], 1);
	return 0;
}

/* Arguments from the raw context: block_rq_insert(rq), block_rq_issue(rq),
 * block_rq_complete(rq, error, nr_bytes). */
SEC("tp_btf/block_rq_insert")
int insert_btf(__u64 *ctx)
{
	return started((void *)ctx[0], 1);
}

SEC("tp_btf/block_rq_issue")
int issue_btf(__u64 *ctx)
{
	return started((void *)ctx[0], 0);
}

SEC("tp_btf/block_rq_complete")
int complete_btf(__u64 *ctx)
{
	return completed((void *)ctx[0]);
}

SEC("raw_tp/block_rq_insert")
int insert_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return started((void *)ctx->args[0], 1);
}

SEC("raw_tp/block_rq_issue")
int issue_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return started((void *)ctx->args[0], 0);
}

SEC("raw_tp/block_rq_complete")
int complete_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return completed((void *)ctx->args[0]);
}

char LICENSE[] SEC("license") = "GPL";
