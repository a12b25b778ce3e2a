/* Enums of 1, 2, 4 and 8 bytes, signed/unsigned, aliases. */
#ifndef BPFSKEL_CORPUS_ENUMS_H
#define BPFSKEL_CORPUS_ENUMS_H

#include <linux/types.h>

/* 1 byte */
enum __attribute__((packed)) e_u8 { EU8_ZERO = 0, EU8_A = 0x12, EU8_MAX = 0xff };
enum __attribute__((packed)) e_s8 { ES8_MIN = -128, ES8_M1 = -1, ES8_MAX = 127 };

/* 2 bytes */
enum __attribute__((packed)) e_u16 { EU16_A = 0x100, EU16_B = 0xfffe };
enum __attribute__((packed)) e_s16 { ES16_MIN = -32768, ES16_X = 1000 };

/* 4 bytes */
enum e_u32 { EU32_A = 1, EU32_BIG = 0xfffffff0u };   /* unsigned int */
enum e_s32 { ES32_NEG = -5, ES32_ZERO = 0, ES32_POS = 5, ES32_ALIAS = 5 };

/* 8 bytes (BTF_KIND_ENUM64) */
enum e_u64 { EU64_SMALL = 3, EU64_A = 0x100000000ULL, EU64_MAX = 0xffffffffffffffffULL };
enum e_s64 { ES64_NEG = -0x100000000LL, ES64_M1 = -1, ES64_POS = 0x7fffffffffffffffLL };

/* aliases and enumerators defined in terms of others */
enum e_alias {
	EA_FIRST = 1,
	EA_ONE = 1,
	EA_TWO = 2,
	EA_DEFAULT = EA_TWO,
	EA_LAST = EA_TWO,
	EA_AFTER,              /* implicit: 3 */
};

/* single enumerator */
enum e_single { ES_ONLY = 42 };

/* typedef of an anonymous enum */
typedef enum { ANON_E_A = 10, ANON_E_B = 20 } anon_enum_t;

/* enums as struct members; mixed sizes force padding */
struct enum_holder {
	enum e_u8 a;
	enum e_s16 b;
	enum e_u64 c;
	enum e_s8 d;
	enum e_s32 e;
	enum e_u32 f;
	enum e_s64 g;
	anon_enum_t h;
	enum e_u16 i[3];
};

#endif
