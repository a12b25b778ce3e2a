#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "bitfields.h"
#include "common.bpf.h"

struct bf_basic g_basic = { .lead = 5, .mid = 0x55, .trail = 0x2abcde };
struct bf_edges g_edges = { .lead = 0x13, .plain_a = 0xa1, .plain_b = 0xb2b2, .middle = 0x1a5, .big = 0x0bb0bb0bb0bb0bb0ULL, .trail = 6 };
struct bf_cross g_cross = { .a = 0x2aaaaaaa, .b = 0xc, .c = 2 };
struct bf_u8 g_u8 = { .a = 5, .b = 3, .c = 6, .d = 0x5a };
struct bf_u16 g_u16 = { .a = 0x155, .b = 0x0aa, .c = 0xcc, .d = 1 };
struct bf_u64 g_u64 = { .a = 1, .b = 0x2aaaaaaaaaaaaaaaULL, .c = 3, .d = 0x5555555555555555ULL };
struct bf_mixed g_mixed = { .a = 0x1b, .b = 0x6d, .c = 0xabcde, .d = 0xa5a5a5a5a5ULL, .e = 0xee };
struct bf_packed g_packed = { .a = 6, .b = 0x1a5a5, .c = 0x1c3, .d = 0xdd, .e = 0x1f0f0f0f0ULL, .f = 0x5b };
struct bf_signed g_signed = { .x = -3, .y = -16, .z = -2, .w = -549755813887LL, .u = 9, .s = -1000 };
struct bf_zero g_zero = { .a = 0xa, .b = 0xb, .c = 3, .d = 5, .e = 1 };
union bf_union g_union = { .s = { .lo = 0x1234, .hi = 0xfedc } };
struct bf_bools g_bools = { .a = 1, .b = 0, .c = 1, .pad = 0x7f, .d = 1, .e = 1 };
struct bf_enum g_enum = { .m = BFM_C, .n = BFM_B, .s = BFS_NEG, .tail = 0x2aa };
struct bf_lonely g_lonely = { .only = 1 };
struct bf_after_array g_after_array = { .bytes = { 1, 2, 3 }, .x = 0xfe, .y = 0x1ff };

const volatile struct bf_signed ro_signed = { .x = -1, .y = 15, .z = 1, .w = -1, .u = 15, .s = -1024 };
const volatile struct bf_packed ro_packed = { .a = 1, .b = 2, .c = 3, .d = 4, .e = 5, .f = 6 };

struct bf_mixed bss_mixed;
union bf_union bss_union;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct bf_basic);
	__type(value, struct bf_packed);
} bf_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct bf_signed);
} bf_signed_map SEC(".maps");

SEC("syscall")
int prog(void *ctx)
{
	__u64 acc = 0;

	CORPUS_USE(acc, g_basic); CORPUS_USE(acc, g_edges); CORPUS_USE(acc, g_cross);
	CORPUS_USE(acc, g_u8); CORPUS_USE(acc, g_u16); CORPUS_USE(acc, g_u64);
	CORPUS_USE(acc, g_mixed); CORPUS_USE(acc, g_packed); CORPUS_USE(acc, g_signed);
	CORPUS_USE(acc, g_zero); CORPUS_USE(acc, g_union); CORPUS_USE(acc, g_bools);
	CORPUS_USE(acc, g_enum); CORPUS_USE(acc, g_lonely); CORPUS_USE(acc, g_after_array);
	CORPUS_USE(acc, ro_signed); CORPUS_USE(acc, ro_packed);
	CORPUS_USE(acc, bss_mixed); CORPUS_USE(acc, bss_union);
	bss_union.all = (__u32)acc;
	return 0;
}
