// Golden case "layout": one of each layout construct the generator must
// express, in a single object (packed, aligned, bitfields, anonymous
// members, enums of several widths, __int128, char and multi-dimensional
// arrays, a flexible array, floats, pointers, typedefs).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum __attribute__((packed)) state { ST_IDLE, ST_BUSY = 3, ST_DONE = 3 /* an alias */ };
enum big { BIG_NEG = -1, BIG_HUGE = 0x7fffffffffffffffLL };	/* 8-byte, signed */
typedef enum { ANON_A = 1, ANON_B } anon_e;

struct flags {
	__u32 lead:3;
	__u32 mid:14;
	__u32 cross:20;		/* crosses a 32-bit storage unit */
	__s32 neg:5;		/* signed */
	__u8 tail;
};

struct __attribute__((packed)) packed_hdr {
	__u8 kind;
	__u32 len;
	__u16 port;
};

struct point { __s16 x, y; };

struct record {
	__u8 tag;
	union {				/* anonymous: members reached directly */
		__u32 word;
		struct { __u16 lo16, hi16; };
	};
	enum state state;
	struct point grid[2][3];
	char name[12];
	char names[2][4];
	_Bool valid;
	float ratio;
	double mean;
	struct packed_hdr *next;	/* a pointer: 8 bytes */
	__int128 wide;
	unsigned __int128 uwide;
	struct flags fl;
	__u64 aligned16 __attribute__((aligned(16)));
	__u32 count;
	__u32 items[];			/* flexible array member */
};

typedef struct { __u32 a, b; } pair_t;

struct record rec;
struct packed_hdr hdr = { .kind = 7, .len = 0x11223344, .port = 80 };
pair_t pair = { 1, 2 };
enum big big_value = BIG_HUGE;
anon_e anon_value = ANON_B;
const volatile struct flags ro_flags = { .lead = 5, .mid = 1000, .cross = 0xabcde, .neg = -3 };

SEC("syscall")
int touch(void *ctx)
{
	rec.count += hdr.len + pair.a + (__u32)big_value + anon_value + ro_flags.mid;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
