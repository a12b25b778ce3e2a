/* Bitfields: leading/middle/trailing, unit crossing, every base type,
 * packed, signed, zero-width, unnamed, in unions, 1-bit bools, enums. */
#ifndef BPFSKEL_CORPUS_BITFIELDS_H
#define BPFSKEL_CORPUS_BITFIELDS_H

#include <linux/types.h>

/* exactly fills one u32: lead@0:3 mid@3:7 trail@10:22 */
struct bf_basic {
	__u32 lead : 3;
	__u32 mid : 7;
	__u32 trail : 22;
};

/* leading bitfield, plain members, trailing bitfield */
struct bf_edges {
	__u32 lead : 5;
	__u8 plain_a;          /* fits after 5 bits: goes to byte 1 */
	__u16 plain_b;         /* offset 2 */
	__u32 middle : 9;      /* offset 32 bits */
	__u64 big;
	__u16 trail : 3;       /* trailing, then tail padding */
};

/* b does not fit in the remaining 2 bits of a's u32 unit -> b@32 */
struct bf_cross {
	__u32 a : 30;
	__u32 b : 4;
	__u32 c : 2;
};

/* u8 base: c starts byte 1, d starts byte 2; size 3 */
struct bf_u8 {
	__u8 a : 3;
	__u8 b : 3;
	__u8 c : 3;
	__u8 d : 7;
};

/* u16 base */
struct bf_u16 {
	__u16 a : 9;
	__u16 b : 9;
	__u8 c;
	__u16 d : 1;
};

/* u64 base: c moves to bit 64, d to bit 128; size 24 */
struct bf_u64 {
	__u64 a : 1;
	__u64 b : 62;
	__u64 c : 2;
	__u64 d : 63;
};

/* mixed base types: b straddles byte 0/1, c straddles the u16 boundary,
 * d jumps to the next u64 unit */
struct bf_mixed {
	__u8 a : 5;
	__u16 b : 7;
	__u32 c : 20;
	__u64 d : 40;
	__u8 e;
};

/* packed: fields cross byte/unit boundaries at unaligned bit offsets */
struct bf_packed {
	__u8 a : 3;
	__u32 b : 17;          /* bits 3..19 */
	__u16 c : 9;           /* bits 20..28 */
	__u8 d;                /* byte 4 */
	__u64 e : 33;          /* bits 40..72 */
	__u8 f : 7;            /* bits 73..79 */
} __attribute__((packed));

/* signed bitfields (plain int bitfields are signed on gcc and clang) */
struct bf_signed {
	int x : 3;
	int y : 5;
	signed char z : 2;
	long long w : 40;
	unsigned int u : 4;
	short s : 11;
};

/* zero-width and unnamed bitfields: b@32 c@36 d@40 e@64 */
struct bf_zero {
	__u32 a : 4;
	__u32 : 0;
	__u32 b : 4;
	__u8 c : 2;
	__u8 : 0;
	__u8 d : 3;
	__u8 : 2;              /* unnamed padding bits */
	__u64 : 0;
	__u8 e : 1;
};

/* bitfields in a union (all start at bit 0) */
union bf_union {
	__u32 all;
	struct {
		__u32 lo : 16;
		__u32 hi : 16;
	} s;
	__u8 flag : 1;
	__u64 wide : 48;
	int neg : 7;
};

/* 1-bit bools */
struct bf_bools {
	_Bool a : 1;
	_Bool b : 1;
	_Bool c : 1;
	__u8 pad;
	_Bool d : 1;
	__u32 e : 1;
};

enum bf_mode { BFM_A = 0, BFM_B = 1, BFM_C = 7 };
enum bf_smode { BFS_NEG = -2, BFS_ONE = 1 };

/* enum-typed bitfields (unsigned for bf_mode, signed for bf_smode) */
struct bf_enum {
	enum bf_mode m : 3;
	enum bf_mode n : 3;
	enum bf_smode s : 3;
	__u16 tail : 10;
};

/* bitfield that is the only member and short: size 4 (unit u32) */
struct bf_lonely {
	__u32 only : 1;
};

/* bitfield after an odd-sized array: fits in the array's tail bytes */
struct bf_after_array {
	__u8 bytes[3];
	__u32 x : 8;           /* bits 24..31 */
	__u32 y : 9;           /* next unit */
};

#endif
