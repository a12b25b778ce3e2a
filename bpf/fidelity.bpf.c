// Fidelity: every byte of a char[N], short event records, scalar map values,
// and a typedef of an array of a struct.  One tc program, run through
// BPF_PROG_TEST_RUN, copies what BPF sees and emits events whose length the
// test sets (bpf_ringbuf_output/bpf_perf_event_output of only the used part).
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#define ARGS 32
#define HUGE (1 << 20)

struct event {
	__u32 seq;
	__u32 args_size;
	char args[ARGS];
};
struct event *event_anchor __attribute__((unused));

struct named {
	__u32 id;
	char name[8];
	__u64 tail;
};

/* the kernel's cpumask_var_t pattern: a typedef of an array of a struct */
struct cm { unsigned long bits[1]; };
typedef struct cm cm_var_t[1];
struct holder { int x; cm_var_t mask; } holder;

enum color { RED = 1, GREEN = 2 };

char buf[8];
char seen_buf[8];
char huge[HUGE];
struct named member;
struct named seen_member;
__u32 seq;
__u32 rec_len;		/* bytes of struct event sent */
__u32 u32_value;
_Bool flag;
float ratio;
enum color color;
enum color palette[3];		/* elements read as the enum, as `color` does */
_Bool flags[3];			/* elements take ints, as `flag` does */
enum color seen_palette[3];
_Bool seen_flags[3];
__u32 seen_u32;
const volatile __u32 target_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct named);
} named_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, double);
} doubles SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, unsigned __int128);
	__type(value, __u32);
} wide SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, enum color);
} colors SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} pb SEC(".maps");

SEC("tc")
int emit(struct __sk_buff *ctx)
{
	struct event e = {};
	struct named *n;
	__u32 zero = 0, len = rec_len;
	int i;

	__builtin_memcpy(seen_buf, buf, sizeof(buf));
	__builtin_memcpy(&seen_member, &member, sizeof(member));
	seen_u32 = u32_value;
	__builtin_memcpy(seen_palette, palette, sizeof(palette));
	__builtin_memcpy(seen_flags, flags, sizeof(flags));
	palette[2] = GREEN;
	huge[HUGE - 1] = 'Z';

	n = bpf_map_lookup_elem(&named_map, &zero);
	if (n) {
		n->id = 8;
		__builtin_memcpy(n->name, "A\0B\0\0\0\0Z", 8);
		n->tail = 7;
	}

	e.seq = seq++;
	e.args_size = len > 8 ? len - 8 : 0;
	for (i = 0; i < ARGS; i++)
		e.args[i] = i & 1 ? 0 : 'a' + i;
	len &= 63;
	barrier_var(len);
	if (len > sizeof(e))
		return TC_ACT_OK;
	bpf_ringbuf_output(&rb, &e, len, 0);
	bpf_perf_event_output(ctx, &pb, BPF_F_CURRENT_CPU, &e, len);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
