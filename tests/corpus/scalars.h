/* Scalar types: every C base type whose size/alignment agrees between
 * gcc x86_64 and clang -target bpf. */
#ifndef BPFSKEL_CORPUS_SCALARS_H
#define BPFSKEL_CORPUS_SCALARS_H

#include <linux/types.h>

struct scalar_mix {
	_Bool flag;
	char c;               /* plain char is signed on x86_64 and on bpf */
	signed char sc;
	unsigned char uc;
	short s;
	unsigned short us;
	int i;
	unsigned int ui;
	long l;
	unsigned long ul;
	long long ll;
	unsigned long long ull;
	float f;
	double d;
	char name[13];        /* odd-sized string, forces tail padding */
};

struct wide_ints {
	__u8 tag;
	__int128 s128;        /* 16-byte aligned on both targets */
	unsigned __int128 u128;
	__u32 tail;
};

struct ptr_holder {
	__u32 id;
	struct ptr_holder *next;   /* self-referential pointer */
	void *opaque;
	const char *label;
	int (*fn)(int, long);      /* function pointer */
	struct undefined_fwd *fwd; /* pointer to a never-defined struct */
	__u16 tail;
};

struct fixed_width {
	__u8 u8;
	__s8 s8;
	__u16 u16;
	__s16 s16;
	__u32 u32;
	__s32 s32;
	__u64 u64;
	__s64 s64;
	__be16 be16;
	__le32 le32;
	__be64 be64;
};

struct float_pair {
	float f;
	double d;
	float g;
};

#endif
