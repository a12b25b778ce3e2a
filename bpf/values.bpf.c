// Python values of generated types (tests/test_values.py): padding in the
// middle of a struct, a nested anonymous union with bitfields, __int128
// arrays, and a .bss view holding them.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct flow {
	__u8 proto;		/* 3 bytes of padding follow */
	__u32 saddr;
	__u16 sport;		/* 2 bytes of padding follow */
	__u32 daddr;
};

struct tagged {
	__u32 kind;
	union {
		struct {
			__u32 lo : 4;
			__u32 hi : 4;
		};
		__u32 word;
	};
};

struct wide {
	__int128 big[2];
	unsigned __int128 ubig;
};

struct outer {
	struct flow f;
	__u32 n[3];
	struct tagged t;
	struct wide w;
};

struct flow *flow_anchor __attribute__((unused));
struct tagged *tagged_anchor __attribute__((unused));

struct outer state;
__u64 counter;

SEC("tc")
int touch(struct __sk_buff *ctx)
{
	__sync_fetch_and_add(&counter, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
