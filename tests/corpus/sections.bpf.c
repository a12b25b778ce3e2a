#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "sections.h"
#include "common.bpf.h"

/* .data, with static (non-exported) variables interleaved; their bytes
 * must be treated as padding by a skeleton generator. */
__u8 d_first = 0xd1;
static volatile int hidden = 5;
__u64 d_after_hidden = 0xd2d2d2d2d2d2d2d2ULL;
struct sec_counters d_counters = { .hits = 0x1111, .misses = 0x2222 };
static volatile __u16 hidden_data2 = 0x4d2;
__u32 d_last = 0xd3d3d3d3;

/* .rodata */
const volatile struct sec_cfg ro_cfg = { .version = 3, .flags = 0x80000001, .name = "rodata-cfg" };
const volatile __u32 ro_u32 = 0xc0ffee;
static const volatile __u64 hidden_ro = 0x5eC7e75eC7e7ULL;
const volatile char ro_msg[10] = "read-only";

/* .bss */
__u64 bss_u64;
struct sec_counters bss_counters;
static volatile __u32 hidden_bss;
__u8 bss_last;

/* custom .data.read_mostly */
__u32 rm_a __attribute__((section(".data.read_mostly"))) = 0xaaaa5555;
struct sec_counters rm_b __attribute__((section(".data.read_mostly"))) = { 0x0123, 0x4567 };
static volatile __u8 rm_hidden __attribute__((section(".data.read_mostly"))) = 0x99;
__u8 rm_c __attribute__((section(".data.read_mostly"))) = 0xcc;

/* custom .rodata.cfg */
const volatile struct sec_cfg cfg_main __attribute__((section(".rodata.cfg"))) = { 7, 0x11, "custom" };
const volatile __u64 cfg_limit __attribute__((section(".rodata.cfg"))) = 0xfffffffffff0ULL;

/* custom section with a dash in its name */
__u16 dash_v __attribute__((section(".data.has-dash"))) = 0xd45;
__u64 dash_w __attribute__((section(".data.has-dash"))) = 0xdddd0000eeee1111ULL;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct sec_key);
	__type(value, struct sec_counters);
} counters SEC(".maps");

SEC("syscall")
int prog(void *ctx)
{
	__u64 acc = 0;

	CORPUS_USE(acc, d_first); CORPUS_USE(acc, hidden); CORPUS_USE(acc, d_after_hidden);
	CORPUS_USE(acc, d_counters); CORPUS_USE(acc, hidden_data2); CORPUS_USE(acc, d_last);
	CORPUS_USE(acc, ro_cfg); CORPUS_USE(acc, ro_u32); CORPUS_USE(acc, hidden_ro);
	CORPUS_USE(acc, ro_msg);
	CORPUS_USE(acc, bss_u64); CORPUS_USE(acc, bss_counters); CORPUS_USE(acc, hidden_bss);
	CORPUS_USE(acc, bss_last);
	CORPUS_USE(acc, rm_a); CORPUS_USE(acc, rm_b); CORPUS_USE(acc, rm_hidden); CORPUS_USE(acc, rm_c);
	CORPUS_USE(acc, cfg_main); CORPUS_USE(acc, cfg_limit);
	CORPUS_USE(acc, dash_v); CORPUS_USE(acc, dash_w);
	hidden_bss = (__u32)acc;
	bss_u64 = acc;
	return 0;
}
