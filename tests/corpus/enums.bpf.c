#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "enums.h"
#include "common.bpf.h"

enum e_u8 g_u8 = EU8_A;
enum e_s8 g_s8 = ES8_MIN;
enum e_u16 g_u16 = EU16_B;
enum e_s16 g_s16 = ES16_MIN;
enum e_u32 g_u32 = EU32_BIG;
enum e_s32 g_s32 = ES32_NEG;
enum e_u64 g_u64 = EU64_MAX;
enum e_s64 g_s64 = ES64_NEG;
enum e_alias g_alias = EA_DEFAULT;
enum e_single g_single = ES_ONLY;
anon_enum_t g_anon = ANON_E_B;
/* values that are not enumerators */
enum e_s32 g_not_enumerator = (enum e_s32)77;
enum e_u8 g_u8_odd = (enum e_u8)0x7e;
enum e_s64 g_s64_odd = (enum e_s64)-123456789012LL;
struct enum_holder g_holder = {
	.a = EU8_MAX, .b = ES16_X, .c = EU64_A, .d = ES8_M1, .e = ES32_POS,
	.f = EU32_A, .g = ES64_POS, .h = ANON_E_A, .i = { EU16_A, EU16_B, (enum e_u16)0x1234 },
};

const volatile enum e_u64 ro_u64 = EU64_A;
const volatile enum e_s8 ro_s8 = ES8_M1;

enum e_s64 bss_s64;
struct enum_holder bss_holder;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, enum e_u8);
	__type(value, struct enum_holder);
} enum_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, enum e_s64);
	__type(value, enum e_s16);
} enum64_map SEC(".maps");

SEC("syscall")
int prog(void *ctx)
{
	__u64 acc = 0;

	CORPUS_USE(acc, g_u8); CORPUS_USE(acc, g_s8); CORPUS_USE(acc, g_u16);
	CORPUS_USE(acc, g_s16); CORPUS_USE(acc, g_u32); CORPUS_USE(acc, g_s32);
	CORPUS_USE(acc, g_u64); CORPUS_USE(acc, g_s64); CORPUS_USE(acc, g_alias);
	CORPUS_USE(acc, g_single); CORPUS_USE(acc, g_anon); CORPUS_USE(acc, g_not_enumerator);
	CORPUS_USE(acc, g_u8_odd); CORPUS_USE(acc, g_s64_odd); CORPUS_USE(acc, g_holder);
	CORPUS_USE(acc, ro_u64); CORPUS_USE(acc, ro_s8);
	CORPUS_USE(acc, bss_s64); CORPUS_USE(acc, bss_holder);
	bss_s64 = (enum e_s64)acc;
	return 0;
}
