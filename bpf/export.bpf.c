// export: map shapes bpfskel.export turns into Prometheus metrics, for
// tests/test_export_maps.py.  Every lseek(2) whose offset carries MARK,
// made by the test process or in the test's cgroup, records
// v = offset - MARK, so the test decides every value.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define MARK (1ULL << 40)
#define LOG2_SLOTS 16
#define LIN_SLOTS 8
#define FIXED_SLOTS 4

/* syscalls/sys_enter_lseek, as its tracefs format file describes it */
struct lseek_args {
	__u64 common;
	long nr;
	__u64 fd;
	__u64 offset;
	__u64 whence;
};

struct cg_slot {                 /* a histogram per cgroup, ebpf_exporter style */
	__u64 cgroup;
	__u32 slot;
	__u32 pad;
};

struct whence_stat {
	__u64 count;
	__u64 total;
};

struct fixed_hist {              /* a whole histogram in one value */
	__u64 slots[FIXED_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct cg_slot);
	__type(value, __u64);
} cg_log2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LIN_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} linear SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct whence_stat);
} by_whence SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u64);
	__type(value, struct fixed_hist);
} cg_fixed SEC(".maps");

const volatile __u32 target_tgid = 0;
const volatile __u64 target_cgroup = 0;

__u64 errors[8];                 /* .bss array indexed by errno */

static __always_inline __u32 log2_slot(__u64 v)
{
	__u32 slot = 0;

	for (int i = 0; i < LOG2_SLOTS - 1; i++) {
		if (v <= 1)
			break;
		v >>= 1;
		slot++;
	}
	return slot;
}

SEC("tp/syscalls/sys_enter_lseek")
int on_lseek(struct lseek_args *ctx)
{
	__u64 v, one = 1, *n;
	__u32 zero = 0, lin, whence, fixed;
	struct cg_slot key = {};
	struct whence_stat *ws, init = {};
	struct fixed_hist *fh, empty = {};

	if (ctx->offset < MARK || ctx->offset >= MARK + (1 << 20))
		return 0;   /* negative offsets (SEEK_END of zip readers) are huge */
	v = ctx->offset - MARK;
	key.cgroup = bpf_get_current_cgroup_id();
	if (bpf_get_current_pid_tgid() >> 32 != target_tgid && key.cgroup != target_cgroup)
		return 0;
	key.slot = log2_slot(v);
	n = bpf_map_lookup_elem(&cg_log2, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&cg_log2, &key, &one, BPF_NOEXIST);

	lin = v / 100 < LIN_SLOTS - 1 ? v / 100 : LIN_SLOTS - 1;
	n = bpf_map_lookup_elem(&linear, &lin);
	if (n)
		__sync_fetch_and_add(n, 1);
	n = bpf_map_lookup_elem(&calls, &zero);
	if (n)
		*n += 1;

	whence = ctx->whence;
	ws = bpf_map_lookup_elem(&by_whence, &whence);
	if (!ws) {
		bpf_map_update_elem(&by_whence, &whence, &init, BPF_NOEXIST);
		ws = bpf_map_lookup_elem(&by_whence, &whence);
		if (!ws)
			return 0;
	}
	__sync_fetch_and_add(&ws->count, 1);
	__sync_fetch_and_add(&ws->total, v);

	fixed = v <= 10 ? 0 : v <= 100 ? 1 : v <= 1000 ? 2 : 3;
	fh = bpf_map_lookup_elem(&cg_fixed, &key.cgroup);
	if (!fh) {
		bpf_map_update_elem(&cg_fixed, &key.cgroup, &empty, BPF_NOEXIST);
		fh = bpf_map_lookup_elem(&cg_fixed, &key.cgroup);
		if (!fh)
			return 0;
	}
	__sync_fetch_and_add(&fh->slots[fixed & (FIXED_SLOTS - 1)], 1);
	__sync_fetch_and_add(&errors[v & 7], 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
