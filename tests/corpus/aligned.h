/* __attribute__((aligned(N))) on types, typedefs and members. */
#ifndef BPFSKEL_CORPUS_ALIGNED_H
#define BPFSKEL_CORPUS_ALIGNED_H

#include <linux/types.h>

struct al8_type { __u8 a; } __attribute__((aligned(8)));           /* size 8 */
struct al16_type { __u32 a; } __attribute__((aligned(16)));        /* size 16 */
struct al32_type { __u8 a; __u8 b; } __attribute__((aligned(32))); /* size 32 */
struct al64_type { __u64 a; } __attribute__((aligned(64)));        /* size 64 */

/* over-aligned typedef of a scalar (BTF cannot express the alignment) */
typedef __u32 u32_al16 __attribute__((aligned(16)));
typedef __u64 u64_al32 __attribute__((aligned(32)));

/* aligned members: a@0 b@8 c@16 d@32 e@64, size 128, align 64 */
struct member_aligned {
	__u8 a;
	__u32 b __attribute__((aligned(8)));
	__u8 c __attribute__((aligned(16)));
	__u64 d __attribute__((aligned(32)));
	__u8 e __attribute__((aligned(64)));
};

/* members of over-aligned types: y@16 z@32 w@64, size 128 */
struct uses_aligned_types {
	__u8 x;
	struct al16_type y;
	__u8 z;
	struct al64_type w;
};

/* b@16 c@20 d@32, size 64 */
struct al_typedef_user {
	__u8 a;
	u32_al16 b;
	__u8 c;
	u64_al32 d;
};

/* array of an over-aligned struct: stride 8 */
struct arr_of_aligned {
	__u8 pre;
	struct al8_type e[3];
	__u8 post;
};

/* aligned struct whose natural size is not a multiple of the alignment,
 * nested inside a packed struct (packed wins: inner@1) */
struct pk_holds_aligned {
	__u8 x;
	struct al16_type inner;
	__u8 y;
} __attribute__((packed));

/* aligned on the struct lowers nothing: aligned(1) is ignored, align 8 */
struct al1_ignored {
	__u8 a;
	__u64 b;
} __attribute__((aligned(1)));

/* aligned union */
union al_union {
	__u8 b;
	__u32 w;
} __attribute__((aligned(16)));

#endif
