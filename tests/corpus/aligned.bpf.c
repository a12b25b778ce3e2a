#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "aligned.h"
#include "common.bpf.h"

/* aligned(N) on variables: the gaps between them are padding in .data */
__u8 g_pre = 0x11;
__u32 g_al8 __attribute__((aligned(8))) = 0x88888888;
__u8 g_mid = 0x22;
__u16 g_al16 __attribute__((aligned(16))) = 0x1616;
__u8 g_mid2 = 0x33;
__u64 g_al32 __attribute__((aligned(32))) = 0x3232323232323232ULL;
__u8 g_mid3 = 0x44;
__u8 g_al64 __attribute__((aligned(64))) = 0x64;

struct al8_type g_t8 = { 0x08 };
struct al16_type g_t16 = { 0x16161616 };
struct al32_type g_t32 = { 0x32, 0x23 };
struct al64_type g_t64 = { 0x6464646464646464ULL };
struct member_aligned g_members = { 1, 0x02020202, 3, 0x0404040404040404ULL, 5 };
struct uses_aligned_types g_uses = { 0x10, { 0x20202020 }, 0x30, { 0x4040404040404040ULL } };
struct al_typedef_user g_td_user = { 0xa, 0xbbbbbbbb, 0xc, 0xddddddddddddddddULL };
struct arr_of_aligned g_arr_al = { 0x51, { { 1 }, { 2 }, { 3 } }, 0x52 };
struct pk_holds_aligned g_pk_al = { 0x61, { 0x62626262 }, 0x63 };
struct al1_ignored g_al1 = { 0x71, 0x7272727272727272ULL };
union al_union g_al_union = { .w = 0x81818181 };
u32_al16 g_td_var = 0x9a9a9a9a;

const volatile __u8 ro_a = 0xa0;
const volatile __u64 ro_al64 __attribute__((aligned(64))) = 0xa64a64a64a64a64aULL;
const volatile struct member_aligned ro_members = { 9, 8, 7, 6, 5 };

__u8 bss_a;
__u32 bss_al32 __attribute__((aligned(32)));
struct al64_type bss_t64;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct al16_type);
	__type(value, struct member_aligned);
} aligned_map SEC(".maps");

SEC("syscall")
int prog(void *ctx)
{
	__u64 acc = 0;

	CORPUS_USE(acc, g_pre); CORPUS_USE(acc, g_al8); CORPUS_USE(acc, g_mid);
	CORPUS_USE(acc, g_al16); CORPUS_USE(acc, g_mid2); CORPUS_USE(acc, g_al32);
	CORPUS_USE(acc, g_mid3); CORPUS_USE(acc, g_al64);
	CORPUS_USE(acc, g_t8); CORPUS_USE(acc, g_t16); CORPUS_USE(acc, g_t32); CORPUS_USE(acc, g_t64);
	CORPUS_USE(acc, g_members); CORPUS_USE(acc, g_uses); CORPUS_USE(acc, g_td_user);
	CORPUS_USE(acc, g_arr_al); CORPUS_USE(acc, g_pk_al); CORPUS_USE(acc, g_al1);
	CORPUS_USE(acc, g_al_union); CORPUS_USE(acc, g_td_var);
	CORPUS_USE(acc, ro_a); CORPUS_USE(acc, ro_al64); CORPUS_USE(acc, ro_members);
	CORPUS_USE(acc, bss_a); CORPUS_USE(acc, bss_al32); CORPUS_USE(acc, bss_t64);
	bss_al32 = (__u32)acc;
	return 0;
}
