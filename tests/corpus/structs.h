/* Packed structs, #pragma pack, unions (tail padding, nesting), empty struct. */
#ifndef BPFSKEL_CORPUS_STRUCTS_H
#define BPFSKEL_CORPUS_STRUCTS_H

#include <linux/types.h>

/* packed struct: a@0 b@1 c@5, size 7, align 1 */
struct pk_inner {
	__u8 a;
	__u32 b;
	__u16 c;
} __attribute__((packed));

/* packed struct inside a normal struct: in@1, y@8, size 16 */
struct pk_in_normal {
	__u8 x;
	struct pk_inner in;
	__u64 y;
};

/* normal struct (size 8, align 4) */
struct norm_inner {
	__u8 a;
	__u32 b;
};

/* normal struct inside a packed struct: n@1 y@9 z@11, size 19 */
struct normal_in_pk {
	__u8 x;
	struct norm_inner n;
	__u16 y;
	__u64 z;
} __attribute__((packed));

/* packed + aligned(4): b@1, size 12 (9 rounded up to 4) */
struct pk_aligned4 {
	__u8 a;
	__u64 b;
} __attribute__((packed, aligned(4)));

/* packed only on one member: b@1, c@12, size 16, align 4 */
struct pk_member {
	__u8 a;
	__u64 b __attribute__((packed));
	__u32 c;
};

/* #pragma pack(2): b@2, c@6, size 14, align 2 */
#pragma pack(push, 2)
struct pragma_pack2 {
	__u8 a;
	__u32 b;
	__u64 c;
};
#pragma pack(pop)

/* #pragma pack(1) containing an array of a normal struct */
#pragma pack(push, 1)
struct pragma_pack1 {
	__u8 a;
	struct norm_inner arr[2];
	__u16 b;
};
#pragma pack(pop)

/* union with tail padding: size 8 (5 rounded up to align 4) */
union tail_pad {
	char s[5];
	int i;
};

union mixed {
	__u8 b;
	__u16 h;
	__u64 q;
	double d;
	char s[3];
};

/* union inside struct: u@4, after@12, size 16 */
struct with_union {
	__u8 tag;
	union tail_pad u;
	__u16 after;
};

/* union of structs */
union of_structs {
	struct { __u8 a; __u32 b; } s1;
	struct pk_inner s2;
	__u64 raw;
};

/* packed union: size 4, align 1 */
union pk_union {
	__u8 a;
	__u32 b;
} __attribute__((packed));

/* u@1, size 5 */
struct has_pk_union {
	__u8 x;
	union pk_union u;
};

/* struct with a union in the middle of two packed structs, all packed */
struct pk_sandwich {
	struct pk_inner first;
	union mixed mid;
	struct pk_inner last;
} __attribute__((packed));

/* GNU empty struct (size 0 in C on both gcc and clang) */
struct empty_s {
};

/* e@4 (size 0), b@4 */
struct has_empty {
	__u32 a;
	struct empty_s e;
	__u32 b;
};

/* nested structs 3 levels, all named */
struct lvl3 { __u16 v; __u8 w; };
struct lvl2 { __u8 pre; struct lvl3 l3; __u32 post; };
struct lvl1 { __u64 id; struct lvl2 l2[2]; __u8 end; };

#endif
