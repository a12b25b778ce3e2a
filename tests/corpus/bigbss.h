/* A 16 MiB .bss array, kept in its own case so other objects stay small. */
#ifndef BPFSKEL_CORPUS_BIGBSS_H
#define BPFSKEL_CORPUS_BIGBSS_H

#include <linux/types.h>

#define BIGBSS_SIZE (16 << 20)

struct big_hdr {
	__u32 magic;
	__u32 count;
};

#endif
