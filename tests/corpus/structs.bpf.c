#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "structs.h"
#include "common.bpf.h"

struct pk_inner g_pk_inner = { .a = 0xa1, .b = 0xb2b2b2b2, .c = 0xc3c3 };
struct pk_in_normal g_pk_in_normal = { .x = 0x11, .in = { 0x22, 0x33333333, 0x4444 }, .y = 0x5555555555555555ULL };
struct normal_in_pk g_normal_in_pk = { .x = 0x66, .n = { 0x77, 0x88888888 }, .y = 0x9999, .z = 0xaaaaaaaaaaaaaaaaULL };
struct pk_aligned4 g_pk_aligned4 = { .a = 0xbb, .b = 0xcccccccccccccccc };
struct pk_member g_pk_member = { .a = 0xdd, .b = 0x0102030405060708ULL, .c = 0xeeeeeeee };
struct pragma_pack2 g_pragma2 = { .a = 1, .b = 0x02020202, .c = 0x0303030303030303ULL };
struct pragma_pack1 g_pragma1 = { .a = 4, .arr = { { 5, 0x06060606 }, { 7, 0x08080808 } }, .b = 0x0909 };
union tail_pad g_tail_pad = { .s = "abcd" };
union mixed g_mixed = { .q = 0x0123456789abcdefULL };
struct with_union g_with_union = { .tag = 0xf0, .u = { .i = -559038737 }, .after = 0xf00d };
union of_structs g_of_structs = { .s1 = { 0x12, 0x34567890 } };
union pk_union g_pk_union = { .b = 0x87654321 };
struct has_pk_union g_has_pk_union = { .x = 0x5a, .u = { .b = 0x11223344 } };
struct pk_sandwich g_sandwich = { .first = { 1, 2, 3 }, .mid = { .d = 2.5 }, .last = { 4, 5, 6 } };
struct has_empty g_has_empty = { .a = 0xaaaa0001, .b = 0xbbbb0002 };
struct lvl1 g_lvl1 = { .id = 0x1d1d1d1d1d1d1d1dULL, .l2 = { { 1, { 0x202, 3 }, 0x4040404 }, { 5, { 0x606, 7 }, 0x8080808 } }, .end = 0xed };

const volatile struct pk_in_normal ro_pk = { .x = 1, .in = { 2, 3, 4 }, .y = 5 };
const volatile union tail_pad ro_tail = { .i = 0x7f7f7f7f };

struct normal_in_pk bss_normal_in_pk;
union mixed bss_mixed;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct pk_inner);
	__type(value, struct normal_in_pk);
} pk_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, union of_structs);
} union_map SEC(".maps");

SEC("syscall")
int prog(void *ctx)
{
	__u64 acc = 0;

	CORPUS_USE(acc, g_pk_inner); CORPUS_USE(acc, g_pk_in_normal);
	CORPUS_USE(acc, g_normal_in_pk); CORPUS_USE(acc, g_pk_aligned4);
	CORPUS_USE(acc, g_pk_member); CORPUS_USE(acc, g_pragma2); CORPUS_USE(acc, g_pragma1);
	CORPUS_USE(acc, g_tail_pad); CORPUS_USE(acc, g_mixed); CORPUS_USE(acc, g_with_union);
	CORPUS_USE(acc, g_of_structs); CORPUS_USE(acc, g_pk_union); CORPUS_USE(acc, g_has_pk_union);
	CORPUS_USE(acc, g_sandwich); CORPUS_USE(acc, g_has_empty); CORPUS_USE(acc, g_lvl1);
	CORPUS_USE(acc, ro_pk); CORPUS_USE(acc, ro_tail);
	CORPUS_USE(acc, bss_normal_in_pk); CORPUS_USE(acc, bss_mixed);
	bss_mixed.q = acc;
	return 0;
}
