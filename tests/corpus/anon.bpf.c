#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "anon.h"
#include "common.bpf.h"

struct reg64 g_reg = { .lo32 = 0x11111111, .hi32 = 0x22222222 };
struct anon_deep g_deep = {
	.kind = 0xabcd0001,
	.x = 0x1234,
	.as_u32 = 0xa1b2c3d4,
	.y = 0x5678,
	.parts = { .lo = 0x0000cafe, .hi = 0xbabe0000 },
	.inner_a = -42,
	.deepest = 0x7ead,
	.end = 0xee,
};
union anon_union_top g_top = { .tag = 0x5a, .len = 0xa5 };
struct anon_bits g_bits = { .lo = 0xabc, .mid = 0xde, .hi = 0xf01, .after = 0x2345 };
anon_td_nested g_td = { .a = -1, .b = 0x0b0b0b0b, .c = 0x0c0c0c0c0c0c0c0cULL };
struct anon_packed_inside g_pk = { .a = 0x1a, .p = 0x2b, .q = 0x3c3c3c3c, .r = 0x4d4d4d4d };
struct anon_array g_arr = { .items = { { 0x101, 1 }, { 0x202, 2 }, { 0x303, 3 } }, .n = 3 };

const volatile struct reg64 ro_reg = { .v = 0x0123456789abcdefULL };

struct anon_deep bss_deep;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct reg64);
	__type(value, struct anon_deep);
} anon_map SEC(".maps");

SEC("syscall")
int prog(void *ctx)
{
	__u64 acc = 0;

	CORPUS_USE(acc, g_reg); CORPUS_USE(acc, g_deep); CORPUS_USE(acc, g_top);
	CORPUS_USE(acc, g_bits); CORPUS_USE(acc, g_td); CORPUS_USE(acc, g_pk);
	CORPUS_USE(acc, g_arr); CORPUS_USE(acc, ro_reg); CORPUS_USE(acc, bss_deep);
	bss_deep.whole = acc;
	return 0;
}
