// Names that bpfskel's own bookkeeping uses (tests/test_idents.py).  Names
// that collide once sanitized (`a$b`, `a_b`) are there too, compiled from the
// test itself: the kernel refuses '$' in map and program names, so no object
// with them loads.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define ARRAY(name, n)                                  \
	struct {                                        \
		__uint(type, BPF_MAP_TYPE_ARRAY);       \
		__uint(max_entries, n);                 \
		__type(key, __u32);                     \
		__type(value, __u64);                   \
	} name SEC(".maps")

ARRAY(_kind, 5);

/* A bitfield makes the generated class carry accessors. */
struct acc {
	__u32 _accessors_;
	__u32 flag:3;
	__u32 rest:29;
	__u32 _members_;
};

/* Real members named like bpfskel's storage fields. */
struct storage_like {
	__u8 _pad_x;
	__u32 _size;
	__u16 _bits_y;
	__u64 _int128_z;
	__u8 low:4;
	__int128 wide;
};

struct acc acc = { 1, 5, 7, 9 };
struct storage_like like = { 1, 2, 3, 4, 5, 6 };

/* A section that ends in an __int128, and one that ends in an array. */
__u32 i128_n SEC(".data.i128") = 1;
__int128 i128_tail SEC(".data.i128") = 2;
__u32 flex_n SEC(".data.flex") = 1;
__u64 flex_vals[2] SEC(".data.flex") = { 3, 4 };

SEC("syscall")
int sum(void *ctx)
{
	return acc._accessors_ + like._size + i128_n + flex_n;
}

SEC("syscall")
int flags(void *ctx)
{
	return acc.flag + like._pad_x;
}

SEC("syscall")
int _absent_(void *ctx)
{
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&_kind, &zero);

	if (v)
		*v += 3;
	return 4;
}

char LICENSE[] SEC("license") = "GPL";
