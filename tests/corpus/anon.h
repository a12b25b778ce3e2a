/* C11 anonymous struct/union members, nested several levels deep. */
#ifndef BPFSKEL_CORPUS_ANON_H
#define BPFSKEL_CORPUS_ANON_H

#include <linux/types.h>

/* anonymous struct inside anonymous union */
struct reg64 {
	union {
		__u64 v;
		struct {
			__u32 lo32;
			__u32 hi32;
		};
	};
};

/* anonymous union inside anonymous struct, plus named members of
 * anonymous type */
struct anon_deep {
	__u32 kind;
	struct {
		__u16 x;
		union {
			__u32 as_u32;
			struct {
				__u8 b0, b1, b2, b3;
			};
			float as_f;
		};
		__u16 y;
	};
	union {
		__u64 whole;
		struct {
			__u32 lo;
			__u32 hi;
		} parts;              /* named member of anonymous struct type */
	};
	struct {
		int inner_a;
		struct {
			struct {
				int deepest;  /* three anonymous levels down */
			};
		};
	};
	__u8 end;
};

/* union whose first member is an anonymous struct */
union anon_union_top {
	struct {
		__u8 tag;
		__u8 len;
	};
	__u16 raw;
};

/* anonymous bitfield struct overlaid on a word */
struct anon_bits {
	union {
		__u32 word;
		struct {
			__u32 lo : 12;
			__u32 mid : 8;
			__u32 hi : 12;
		};
	};
	__u16 after;
};

/* typedef of an anonymous struct containing an anonymous struct */
typedef struct {
	int a;
	struct {
		int b;
		__u64 c;
	};
} anon_td_nested;

/* anonymous packed struct inside a normal struct */
struct anon_packed_inside {
	__u8 a;
	struct {
		__u8 p;
		__u32 q;
	} __attribute__((packed));
	__u32 r;
};

/* array of a named-member anonymous struct */
struct anon_array {
	struct {
		__u16 k;
		__u8 v;
	} items[3];
	__u8 n;
};

#endif
