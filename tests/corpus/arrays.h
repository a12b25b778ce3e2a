/* Arrays: of structs, multi-dimensional, flexible, zero-length, typedef'd. */
#ifndef BPFSKEL_CORPUS_ARRAYS_H
#define BPFSKEL_CORPUS_ARRAYS_H

#include <linux/types.h>

struct pt {
	__s16 x;
	__s16 y;
};

/* array of structs: pts@2, tail@20, size 24 */
struct arr_structs {
	__u8 count;
	struct pt pts[4];
	__u32 tail;
};

/* multi-dimensional arrays */
struct grid {
	__u16 grid[3][5];
	__u8 cube[2][3][4];
	__u32 after;
};

/* flexible array member: size 4, data@4 */
struct flex {
	__u32 n;
	__u8 data[];
};

/* flexible array with stronger alignment: data@8, size 8 */
struct flex_aligned {
	__u8 n;
	__u64 data[];
};

/* zero-length array in the middle does not shift what follows: b@4 */
struct zero_mid {
	__u32 a;
	__u8 zl[0];
	__u32 b;
};

/* ... but its alignment does: zl@8, b@8, size 16 */
struct zero_mid_al {
	__u8 a;
	__u64 zl[0];
	__u8 b;
};

/* trailing zero-length array (old-style flexible array) */
struct zero_tail {
	__u16 len;
	__u32 items[0];
};

/* 2-D array of structs */
struct arr2d_structs {
	struct pt m[2][3];
	__u8 flag;
};

/* typedef'd array types */
typedef __u32 vec4_t[4];
typedef vec4_t mat4_t[4];
struct uses_arr_td {
	vec4_t v;
	vec4_t vv[2];
	mat4_t m;
};

/* array of strings */
struct strings {
	char names[3][8];
	char one;
};

/* array of unions and array of enums */
union arr_u { __u32 w; __u8 b[3]; };
enum arr_e { ARR_E0, ARR_E1, ARR_E2 };
struct arr_misc {
	union arr_u us[2];
	enum arr_e es[3];
	_Bool flags[5];
	double ds[2];
};

#endif
