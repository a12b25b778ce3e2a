/* Types used by globals spread over .data/.rodata/.bss and custom
 * .data.X / .rodata.X sections. */
#ifndef BPFSKEL_CORPUS_SECTIONS_H
#define BPFSKEL_CORPUS_SECTIONS_H

#include <linux/types.h>

struct sec_cfg {
	__u32 version;
	__u32 flags;
	char name[12];
};

struct sec_counters {
	__u64 hits;
	__u64 misses;
};

struct sec_key {
	__u32 cpu;
	__u32 slot;
};

#endif
