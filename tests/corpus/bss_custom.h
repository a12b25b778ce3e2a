/* Types for the custom .bss.X section case. */
#ifndef BPFSKEL_CORPUS_BSS_CUSTOM_H
#define BPFSKEL_CORPUS_BSS_CUSTOM_H

#include <linux/types.h>

struct extra_state {
	__u64 seq;
	__u32 flags;
	__u8 tag;
};

#endif
