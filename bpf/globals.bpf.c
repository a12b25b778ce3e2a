// Globals of every shape, for the runtime tests and bench/bench_globals.py.
// .rodata configures, .data/.bss are live both ways, .kconfig is filled by
// libbpf.  The programs copy out what they saw, so Python can compare.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct point {
	__s32 x;
	__s32 y;
};

struct mode_bits {
	__u32 level : 4;
	__u32 verbose : 1;
	__s32 bias : 11;
	__u32 tail : 16;
};

struct config {
	__u64 threshold;
	struct point origin;
	struct {
		struct point inner;
		__u32 depth;
	} nest;
	struct mode_bits mode;
	__u16 ports[4];
	struct point corners[2];
	char tag[12];
};

/* .rodata: configured before load, frozen by the kernel at load */
const volatile struct config cfg = {
	.threshold = 10,
	.origin = { 1, -1 },
	.nest = { .inner = { 2, 3 }, .depth = 4 },
	.mode = { .level = 3, .verbose = 1, .bias = -5, .tail = 9 },
	.ports = { 22, 80, 443, 8080 },
	.corners = { { 5, 6 }, { 7, 8 } },
	.tag = "default",
};
const volatile __u64 limit = 100;
const volatile __u32 target_tgid = 0;	/* raw_tp filter; 0: nobody */

/* .data */
__u64 data_value = 5;
struct point data_point = { 7, 8 };

/* .bss */
__u64 counter;
__u64 marker;
struct stats {
	__u64 runs;
	struct point last;
	__u32 hist[4];
} stats;

/* what the programs saw */
struct config seen_cfg;
__u64 seen_limit;
__u64 seen_data_value;
struct point seen_data_point;
__u64 seen_counter;
__u64 seen_marker;
__u64 tp_hits;
__u32 seen_kversion;
__s32 seen_hz;
char seen_tag[8];

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern int CONFIG_HZ __kconfig __weak;
extern char CONFIG_BPFSKEL_TAG[8] __kconfig __weak;

/* Byte by byte through volatile pointers: the compiler cannot fold the
 * initial values of a const object into the copy. */
static __always_inline void copy_volatile(void *dst, const volatile void *src, int n)
{
	const volatile __u8 *s = src;
	__u8 *d = dst;

#pragma unroll
	for (int i = 0; i < n; i++)
		d[i] = s[i];
}

SEC("syscall")
int snapshot(void *ctx)
{
	copy_volatile(&seen_cfg, &cfg, sizeof(seen_cfg));
	copy_volatile(seen_tag, CONFIG_BPFSKEL_TAG, sizeof(seen_tag));
	seen_limit = limit;
	seen_data_value = data_value;
	seen_data_point = data_point;
	seen_counter = counter;
	seen_kversion = LINUX_KERNEL_VERSION;
	seen_hz = CONFIG_HZ;

	/* BPF writes, for Python to read */
	counter += 1;
	data_value *= 2;
	stats.runs++;
	stats.last.x = cfg.origin.x + 100;
	stats.last.y = -(__s32)stats.runs;
	stats.hist[3] += 7;
	return 0;
}

SEC("raw_tp/sys_enter")
int on_sys_enter(void *ctx)
{
	if (!target_tgid || bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	seen_marker = marker;
	__sync_fetch_and_add(&tp_hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
