// Golden case "names": names a generator must not pass through as they
// are.  Python keywords, ctypes' reserved names, '$', dunders, members
// named like the types their class's annotations use (bytes, types, _c),
// a struct named like a section view, custom sections (a dash, .bss.X)
// and static variables that must stay padding.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct data { __u32 data; __u8 bss; };

struct awkward {
	int in;
	int class;
	int None;
	__u32 _fields_;
	__u32 from_buffer;
	int a$b;
	__u32 __init__;
	__u64 __pad;
	__u64 bytes;
	char label[8];		/* annotated `bytes`, which the member above shadows */
	__u32 types;
	struct data nested;	/* annotated `types.data`, shadowed by `types` */
	__u8 _c;
	__u8 _bytes;		/* so the alias for `bytes` must go one further */
	__u8 raw[2][2];		/* annotated with `_c`, shadowed by `_c` */
};

typedef __u32 __be_id;

struct awkward awk;
int lambda = 1;
__be_id __id = 2;
struct data data = { 3, 4 };
__u64 types;			/* a global named `types` ... */
struct data nested;		/* ... and one annotated through it */
static volatile __u32 hidden = 5;	/* static: padding in the view */
__u32 after_hidden = 6;

__u16 dash_v __attribute__((section(".data.has-dash"))) = 7;
const volatile __u32 cfg_limit __attribute__((section(".rodata.cfg"))) = 8;
__u32 extra_a __attribute__((section(".bss.extra")));

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct awkward);
} in SEC(".maps");

SEC("syscall")
int pass(void *ctx)
{
	__u32 zero = 0;
	struct awkward *v = bpf_map_lookup_elem(&in, &zero);

	if (v)
		v->in = awk.in + lambda + __id + data.data + types + nested.bss + hidden +
			after_hidden + dash_v + cfg_limit + extra_a;
	hidden++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
