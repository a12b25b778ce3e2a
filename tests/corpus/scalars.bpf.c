#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "scalars.h"
#include "common.bpf.h"

/* .data */
_Bool g_bool = 1;
char g_char = -7;
signed char g_schar = -100;
unsigned char g_uchar = 0xc3;
short g_short = -12345;
unsigned short g_ushort = 0xbeef;
int g_int = -123456789;
unsigned int g_uint = 0xdeadbeef;
long g_long = -0x123456789abcL;
unsigned long g_ulong = 0xfedcba9876543210UL;
long long g_llong = -0x0102030405060708LL;
unsigned long long g_ullong = 0x8877665544332211ULL;
float g_float = 3.5f;
double g_double = -2.25e10;
char g_str[16] = "hello, bpf!";
__int128 g_s128 = -(((__int128)0x0123456789abcdefLL << 64) | 0x1122334455667788ULL);
unsigned __int128 g_u128 = ((unsigned __int128)0xfedcba9876543210ULL << 64) | 0x0011223344556677ULL;
struct scalar_mix g_mix = {
	.flag = 1, .c = 'Z', .sc = -2, .uc = 250, .s = -300, .us = 60000,
	.i = -70000, .ui = 4000000000u, .l = -5000000000L, .ul = 10000000000UL,
	.ll = -6000000000LL, .ull = 0xa5a5a5a5a5a5a5a5ULL, .f = -1.5f, .d = 6.02214076e23,
	.name = "twelve chars",
};
struct wide_ints g_wide = {
	.tag = 0x7e,
	.s128 = -2,
	.u128 = ((unsigned __int128)0xcafef00dULL << 64) | 0xdeadbeefULL,
	.tail = 0x600df00d,
};
struct ptr_holder g_ptrs = { .id = 0x1d, .tail = 0x7a11 };  /* pointers stay NULL */
struct fixed_width g_fixed = {
	.u8 = 0xf1, .s8 = -15, .u16 = 0xf1f2, .s16 = -3855, .u32 = 0xf1f2f3f4,
	.s32 = -252645136, .u64 = 0xf1f2f3f4f5f6f7f8ULL, .s64 = -1085102592571150096LL,
	.be16 = 0x1234, .le32 = 0x12345678, .be64 = 0x0123456789abcdefULL,
};
struct float_pair g_floats = { .f = 0.1f, .d = -0.0, .g = 1e30f };

/* .rodata */
const volatile __u64 ro_magic = 0x1122334455667788ULL;
const volatile struct scalar_mix ro_mix = { .flag = 1, .c = -1, .i = 42, .d = 1.0, .name = "ro" };
const volatile double ro_pi = 3.14159265358979;

/* .bss */
__u32 bss_u32;
struct wide_ints bss_wide;
struct ptr_holder bss_ptrs;

struct scalar_key { __u32 id; __u16 kind; };

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct scalar_key);
	__type(value, struct scalar_mix);
} scalar_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct wide_ints);
} wide_map SEC(".maps");

SEC("syscall")
int prog(void *ctx)
{
	__u64 acc = 0;
	struct scalar_key k = {};

	CORPUS_USE(acc, g_bool); CORPUS_USE(acc, g_char); CORPUS_USE(acc, g_schar);
	CORPUS_USE(acc, g_uchar); CORPUS_USE(acc, g_short); CORPUS_USE(acc, g_ushort);
	CORPUS_USE(acc, g_int); CORPUS_USE(acc, g_uint); CORPUS_USE(acc, g_long);
	CORPUS_USE(acc, g_ulong); CORPUS_USE(acc, g_llong); CORPUS_USE(acc, g_ullong);
	CORPUS_USE(acc, g_float); CORPUS_USE(acc, g_double); CORPUS_USE(acc, g_str);
	CORPUS_USE(acc, g_s128); CORPUS_USE(acc, g_u128); CORPUS_USE(acc, g_mix);
	CORPUS_USE(acc, g_wide); CORPUS_USE(acc, g_ptrs); CORPUS_USE(acc, g_fixed);
	CORPUS_USE(acc, g_floats);
	CORPUS_USE(acc, ro_magic); CORPUS_USE(acc, ro_mix); CORPUS_USE(acc, ro_pi);
	CORPUS_USE(acc, bss_u32); CORPUS_USE(acc, bss_wide); CORPUS_USE(acc, bss_ptrs);
	if (bpf_map_lookup_elem(&scalar_map, &k))
		acc++;
	bss_u32 = (__u32)acc;
	return 0;
}
