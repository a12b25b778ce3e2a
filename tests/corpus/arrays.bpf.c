#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "arrays.h"
#include "common.bpf.h"

struct arr_structs g_arr_structs = { .count = 4, .pts = { { 1, -1 }, { 2, -2 }, { 3, -3 }, { 4, -4 } }, .tail = 0x7a117a11 };
struct grid g_grid = {
	.grid = { { 0, 1, 2, 3, 4 }, { 10, 11, 12, 13, 14 }, { 20, 21, 22, 23, 24 } },
	.cube = { { { 1, 2, 3, 4 }, { 5, 6, 7, 8 }, { 9, 10, 11, 12 } },
		  { { 13, 14, 15, 16 }, { 17, 18, 19, 20 }, { 21, 22, 23, 24 } } },
	.after = 0xaf7e4aaa,
};
__u16 g_grid2[3][5] = { { 0x100, 0x101, 0x102, 0x103, 0x104 }, { 0x200 }, { [4] = 0x304 } };
struct pt g_pts[3] = { { -7, 7 }, { -8, 8 }, { -9, 9 } };
struct flex g_flex = { .n = 0xf1e7 };      /* no flexible elements */
struct zero_mid g_zero_mid = { .a = 0xaaaaaaaa, .b = 0xbbbbbbbb };
struct zero_mid_al g_zero_mid_al = { .a = 0xa1, .b = 0xb1 };
struct zero_tail g_zero_tail = { .len = 0x1e11 };
struct arr2d_structs g_arr2d = { .m = { { { 1, 2 }, { 3, 4 }, { 5, 6 } }, { { 7, 8 }, { 9, 10 }, { 11, 12 } } }, .flag = 0xf1 };
struct uses_arr_td g_arr_td = { .v = { 1, 2, 3, 4 }, .vv = { { 5, 6, 7, 8 }, { 9, 10, 11, 12 } }, .m = { { 13 }, { 14 }, { 15 }, { 16, 17, 18, 19 } } };
vec4_t g_vec = { 0xa, 0xb, 0xc, 0xd };
struct strings g_strings = { .names = { "one", "two", "three" }, .one = '!' };
char g_str_arr[3][6] = { "ab", "cdef", "ghijk" };
struct arr_misc g_misc = { .us = { { .w = 0x11223344 }, { .b = { 5, 6, 7 } } }, .es = { ARR_E2, ARR_E0, ARR_E1 }, .flags = { 1, 0, 1, 1, 0 }, .ds = { 1.25, -8.5 } };

const volatile __u8 ro_matrix[2][2][2] = { { { 1, 2 }, { 3, 4 } }, { { 5, 6 }, { 7, 8 } } };
const volatile struct pt ro_pts[2] = { { 100, -100 }, { 200, -200 } };

__u64 bss_arr[7];
struct grid bss_grid;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct pt);
	__type(value, struct arr_structs);
} pt_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct grid);
} grid_map SEC(".maps");

SEC("syscall")
int prog(void *ctx)
{
	__u64 acc = 0;

	CORPUS_USE(acc, g_arr_structs); CORPUS_USE(acc, g_grid); CORPUS_USE(acc, g_grid2);
	CORPUS_USE(acc, g_pts); CORPUS_USE(acc, g_flex); CORPUS_USE(acc, g_zero_mid);
	CORPUS_USE(acc, g_zero_mid_al); CORPUS_USE(acc, g_zero_tail); CORPUS_USE(acc, g_arr2d);
	CORPUS_USE(acc, g_arr_td); CORPUS_USE(acc, g_vec); CORPUS_USE(acc, g_strings);
	CORPUS_USE(acc, g_str_arr); CORPUS_USE(acc, g_misc);
	CORPUS_USE(acc, ro_matrix); CORPUS_USE(acc, ro_pts);
	CORPUS_USE(acc, bss_arr); CORPUS_USE(acc, bss_grid);
	bss_arr[1] = acc;
	return 0;
}
