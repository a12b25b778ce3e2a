/* log2 histograms, as the histogram tools keep them: slot i counts values
 * v with 2^i <= v < 2^(i+1) (slot 0 also holds 0), which is how
 * bpfskel.hist.log2_hist labels them. */
#ifndef BPFSKEL_TOOLS_HIST_H
#define BPFSKEL_TOOLS_HIST_H

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0, shift;

	shift = (v > 0xFFFFFFFF) << 5; v >>= shift; r |= shift;
	shift = (v > 0xFFFF) << 4; v >>= shift; r |= shift;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

/* the slot of v in a histogram of max_slots (the last one takes the rest) */
static __always_inline __u32 log2_slot(__u64 v, __u32 max_slots)
{
	__u32 slot = log2_u64(v);

	return slot < max_slots ? slot : max_slots - 1;
}

#endif
