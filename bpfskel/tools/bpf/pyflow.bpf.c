// pyflow: the call flow of Python interpreters, from CPython's USDT probes
// python:function__entry and python:function__return (arguments: file name,
// function name, line number).  Each thread's call depth is kept here, and
// each call's entry time per (thread, depth), so a return knows its
// nesting and its latency.  A return is matched with its entry by the
// function and file name pointers (the code object's, the same for both
// probes): CPython 3.11 fires returns whose entries it skipped (its trace
// function's), which must not unwind the calls around them.  With latency_only (--latency), calls are summed
// per (file, function) in a hash map and no event is sent.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/usdt.bpf.h>
#include "filter.bpf.h"

#define FILE_LEN 96
#define FUNC_LEN 64

enum py_event_kind { PY_ENTRY = 0, PY_RETURN = 1 };

struct py_event {
	__u64 ts;		/* bpf_ktime_get_ns */
	__u64 duration_ns;	/* returns: since the entry; 0 if the entry was not seen */
	__u32 pid;
	__u32 tid;
	__u32 depth;		/* 0: the outermost call seen in this thread */
	__s32 lineno;
	__u8 kind;		/* enum py_event_kind */
	__u8 entry_seen;	/* returns: 1 if its entry was traced */
	char file[FILE_LEN];
	char func[FUNC_LEN];
};
struct py_event *event_anchor __attribute__((unused));

struct py_func {
	char file[FILE_LEN];
	char func[FUNC_LEN];
};

struct py_stats {
	__u64 count;
	__u64 total_ns;
	__u64 max_ns;
};

struct frame {
	__u64 ts;
	__u64 func;	/* the probe's argument pointers, the call's identity */
	__u64 file;
};

#define MAX_UNWIND 8	/* entries a return may skip (their returns went unseen) */

struct frame_key {
	__u32 tid;
	__u32 depth;
};

const volatile __u8 latency_only = 0;	/* --latency */

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);	/* exited threads age out */
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u32);
} depths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct frame_key);
	__type(value, struct frame);
} entered SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct py_func);
	__type(value, struct py_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} events SEC(".maps");

/* one per CPU: a py_func is too big for the 512-byte stack next to the rest */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct py_func);
} scratch SEC(".maps");

static __always_inline void count(const char *file, const char *func, __u64 ns)
{
	struct py_stats *s, zero = {};
	struct py_func *f;
	__u32 idx = 0;
	long err;

	f = bpf_map_lookup_elem(&scratch, &idx);
	if (!f)
		return;
	__builtin_memset(f, 0, sizeof(*f));
	bpf_probe_read_user_str(f->file, sizeof(f->file), file);
	bpf_probe_read_user_str(f->func, sizeof(f->func), func);
	s = bpf_map_lookup_elem(&stats, f);
	if (!s) {
		err = bpf_map_update_elem(&stats, f, &zero, BPF_NOEXIST);
		if (err == -7 /* E2BIG: map full */) {
			__sync_fetch_and_add(&lost_events, 1);
			return;
		}
		s = bpf_map_lookup_elem(&stats, f);
		if (!s)
			return;
	}
	__sync_fetch_and_add(&s->count, 1);
	__sync_fetch_and_add(&s->total_ns, ns);
	if (ns > s->max_ns)
		s->max_ns = ns;	/* racy across CPUs, as BCC's: a maximum, not a sum */
}

static __always_inline int emit(__u8 kind, __u32 depth, __u64 now, __u64 ns, __u8 seen,
				const char *file, const char *func, int lineno)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct py_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost_events, 1);
		return 0;
	}
	e->ts = now;
	e->duration_ns = ns;
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->depth = depth;
	e->lineno = lineno;
	e->kind = kind;
	e->entry_seen = seen;
	bpf_probe_read_user_str(e->file, sizeof(e->file), file);
	bpf_probe_read_user_str(e->func, sizeof(e->func), func);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("usdt")
int BPF_USDT(py_entry, const char *file, const char *func, int lineno)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid(), depth = 0, next, *d;
	struct frame f = { .ts = bpf_ktime_get_ns(), .func = (__u64)func, .file = (__u64)file };
	struct frame_key fk;

	if (!task_wanted())
		return 0;
	d = bpf_map_lookup_elem(&depths, &tid);
	if (d)
		depth = *d;
	fk.tid = tid;
	fk.depth = depth;
	bpf_map_update_elem(&entered, &fk, &f, BPF_ANY);
	next = depth + 1;
	bpf_map_update_elem(&depths, &tid, &next, BPF_ANY);
	if (latency_only)
		return 0;
	return emit(PY_ENTRY, depth, f.ts, 0, 1, file, func, lineno);
}

SEC("usdt")
int BPF_USDT(py_return, const char *file, const char *func, int lineno)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid(), depth = 0, *d;
	__u64 now = bpf_ktime_get_ns(), ns = 0;
	struct frame_key fk = { .tid = tid };
	struct frame *f;
	__u8 seen = 0;

	if (!task_wanted())
		return 0;
	d = bpf_map_lookup_elem(&depths, &tid);
	if (d)
		depth = *d;
	/* the innermost open call of this function: usually the top one */
	for (__u32 i = 1; i <= MAX_UNWIND; i++) {
		if (i > depth)
			break;
		fk.depth = depth - i;
		f = bpf_map_lookup_elem(&entered, &fk);
		if (f && f->func == (__u64)func && f->file == (__u64)file) {
			ns = now - f->ts;
			seen = 1;
			depth = fk.depth;
			bpf_map_update_elem(&depths, &tid, &depth, BPF_ANY);
			bpf_map_delete_elem(&entered, &fk);
			break;
		}
	}
	/* not seen: a call entered before tracing started, or whose entry
	 * did not fire; printed at the current depth, which stays */
	if (latency_only) {
		if (seen)
			count(file, func, ns);
		return 0;
	}
	return emit(PY_RETURN, depth, now, ns, seen, file, func, lineno);
}

char LICENSE[] SEC("license") = "GPL";
