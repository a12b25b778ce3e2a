// Arrays that end their own sections, so they can be resized before load
// (libbpf >= 1.3): Python sets the length, BPF sums values[i] * weights[i]
// over it and stores the sum in the last element of values.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define MAX_LEN 4096	/* bounds the loop for the verifier */

const volatile __u32 len = 1;
__u64 values[1] SEC(".data.values");
const volatile __u32 weights[1] SEC(".rodata.weights") = { 1 };
__u64 sum;

SEC("syscall")
int weigh(void *ctx)
{
	/* Declared with one element, indexed past it: hide the bound from the
	 * compiler, which would otherwise read element 0 every time. */
	const volatile __u32 *w = weights;
	__u64 *v = values;
	__u64 s = 0;

	barrier_var(w);
	barrier_var(v);
	for (__u32 i = 0; i < len && i < MAX_LEN; i++)
		s += v[i] * w[i];
	sum = s;
	if (len >= 1 && len <= MAX_LEN)
		v[len - 1] = s;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
