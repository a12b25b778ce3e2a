#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "names.h"
#include "common.bpf.h"

struct kw g_kw = {
	.in = 1, .class = 2, .from = 3, .None = 4, .True = 5, .False = 6, .def = 7, .is = 8,
	.pass = 9, .lambda = 10, .import = 11, .yield = 12, .not = 13, .and = 14, .or = 15,
	.with = 16, .del = 17, .global = 18, .nonlocal = 19, .assert = 20, .async = 21,
	.await = 22, .except = 23, .finally = 24, .raise = 25, .try = 26, .elif = 27,
	.as = 28, .match = 29, .type = 30, .self = 31, .class_ = 32, .in_ = 33,
};
struct ctypes_names g_ctypes = { 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115 };
struct dollar g_dollar = { .a$b = -1, .$lead = -2, .trail$ = -3 };
struct data data = { .data = 0xda7a, .bss = 0xb5 };
struct bss bss = { .data = { 0x1234, 0x56 }, .rodata = 0x7777 };
struct rodata rodata = { 0x0d0d0d0d0d0d0d0dULL };
struct maps maps_v = { 0x3a95 };
struct dup g_dup_struct = { 0xd0d0, 0xd1 };
dup g_dup_td = 0xd2d2;
foo_t g_foo = { 0xf00, 0xf00f00f00ULL };
struct uses_typedefs g_typedefs = {
	.f = { 1, 2 }, .f2 = { 3, 4 }, .u = 5, .u2 = 6, .a = { 7 }, .au = { .x = 8 },
	.cv = 9, .c = 10, .v = 11, .d = 12, .sd = { 13, 14 },
};
struct long_names g_long = { 0x10e6, 0x1e };

/* globals named with Python keywords / ctypes names */
int in = 0x11;
int class = 0x22;
int lambda = 0x33;
__u32 _fields_ = 0x44;
int a$b = 0x55;
my_u32 None = 0x66;

const volatile anon_td ro_anon_td = { .a = 0x77 };
const volatile int from = 0x88;

int pass;
anon_union_td bss_au;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, foo_t);
	__type(value, struct kw);
} kw_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, my_u32);
	__type(value, struct ctypes_names);
} ctypes_map SEC(".maps");

SEC("syscall")
int prog(void *ctx)
{
	__u64 acc = 0;

	CORPUS_USE(acc, g_kw); CORPUS_USE(acc, g_ctypes); CORPUS_USE(acc, g_dollar);
	CORPUS_USE(acc, data); CORPUS_USE(acc, bss); CORPUS_USE(acc, rodata);
	CORPUS_USE(acc, maps_v); CORPUS_USE(acc, g_dup_struct); CORPUS_USE(acc, g_dup_td);
	CORPUS_USE(acc, g_foo); CORPUS_USE(acc, g_typedefs); CORPUS_USE(acc, g_long);
	CORPUS_USE(acc, in); CORPUS_USE(acc, class); CORPUS_USE(acc, lambda);
	CORPUS_USE(acc, _fields_); CORPUS_USE(acc, a$b); CORPUS_USE(acc, None);
	CORPUS_USE(acc, ro_anon_td); CORPUS_USE(acc, from);
	CORPUS_USE(acc, pass); CORPUS_USE(acc, bss_au);
	pass = (int)acc;
	return 0;
}
