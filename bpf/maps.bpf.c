// Typed maps and event readers: a getppid() tracepoint, filtered to one
// process through .rodata, fills a struct-keyed hash, bumps an array and a
// per-CPU array, and emits the same event to a ring buffer and a perf buffer.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct key {
	__u32 tgid;
	__u16 slot;
	__u8 kind;
};

struct stat {
	__u64 calls;
	__u64 last_seq;
	char comm[16];
};

struct event {
	__u32 seq;
	__u32 tgid;
	__u64 cookie;
	char comm[16];
};

/* bpf_ringbuf_reserve() leaves no BTF for struct event: this unused global
 * puts it in the object's BTF, so `bpfskel gen` emits types.event. */
struct event *event_anchor __attribute__((unused));

const volatile __u32 target_tgid = 0;
const volatile __u32 slots = 1;   /* distinct hash keys to spread calls over */
__u32 seq;
__u64 cookie;                     /* set from Python, copied into events */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct key);
	__type(value, struct stat);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} pcpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_events SEC(".maps");

/* Only Python uses these: queue semantics and longest-prefix matching. */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 8);
	__type(value, struct key);
} todo SEC(".maps");

struct lpm_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key);
	__type(value, __u32);
} routes SEC(".maps");

SEC("tp/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 zero = 0, s;
	struct key k = {};
	struct stat *st, init = {};
	struct event *e;
	__u64 *n;

	if (target_tgid && tgid != target_tgid)
		return 0;
	s = seq++;  /* one caller at a time in the tests */

	k.tgid = tgid;
	k.slot = slots ? s % slots : 0;
	k.kind = 7;
	st = bpf_map_lookup_elem(&stats, &k);
	if (!st) {
		bpf_map_update_elem(&stats, &k, &init, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&stats, &k);
		if (!st)
			return 0;
	}
	__sync_fetch_and_add(&st->calls, 1);
	st->last_seq = s;
	bpf_get_current_comm(st->comm, sizeof(st->comm));

	n = bpf_map_lookup_elem(&counters, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
	n = bpf_map_lookup_elem(&pcpu, &zero);
	if (n)
		*n += 1;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->seq = s;
	e->tgid = tgid;
	e->cookie = cookie;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_perf_event_output(ctx, &perf_events, BPF_F_CURRENT_CPU, e, sizeof(*e));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
