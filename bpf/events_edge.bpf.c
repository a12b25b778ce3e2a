// Edge cases of the ring buffer and perf buffer readers, driven through
// BPF_PROG_TEST_RUN (a tc program run `repeat` times on the calling CPU),
// so the tests decide exactly how many events are produced, of what size and
// on which CPU.  Every run emits one event numbered from `seq`:
//
//   mode 0: a fixed 16-byte struct small_event into a 4 KiB ring buffer with
//           bpf_ringbuf_reserve; every `discard_mod`-th one (seq % discard_mod
//           == discard_rem) is discarded instead of submitted.
//   mode 1: a variable-length record (see below) into the same ring
//           with bpf_ringbuf_output.
//   mode 2: the same variable-length record into the perf event array.
//
// A variable-length record: bytes 0-3 the seq, 4-7 the CPU, then byte i is
// (seq * 31 + i) & 0xff.  Its length is 8 + (seq * 13) % 113 (8..120 bytes).
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#define MAXLEN 120

struct small_event {
	__u32 seq;
	__u32 cpu;
	__u64 check;	/* seq * 0x9E3779B97F4A7C15 */
};

struct small_event *small_event_anchor __attribute__((unused));

__u32 mode;
__u32 seq;
__u32 dropped;		/* reservations/outputs that failed */
__u32 discard_mod;	/* 0: discard nothing */
__u32 discard_rem;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} small_rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf SEC(".maps");

SEC("tc")
int emit(struct __sk_buff *ctx)
{
	__u32 s = seq++;	/* one test run at a time */
	__u32 cpu = bpf_get_smp_processor_id();
	__u8 buf[MAXLEN];
	__u32 len, i;
	long err;

	if (mode == 0) {
		struct small_event *e = bpf_ringbuf_reserve(&small_rb, sizeof(*e), 0);

		if (!e) {
			__sync_fetch_and_add(&dropped, 1);
			return TC_ACT_OK;
		}
		e->seq = s;
		e->cpu = cpu;
		e->check = s * 0x9E3779B97F4A7C15ULL;
		if (discard_mod && s % discard_mod == discard_rem)
			bpf_ringbuf_discard(e, 0);
		else
			bpf_ringbuf_submit(e, 0);
		return TC_ACT_OK;
	}

	for (i = 0; i < MAXLEN; i++)
		buf[i] = (__u8)(s * 31 + i);
	__builtin_memcpy(&buf[0], &s, 4);
	__builtin_memcpy(&buf[4], &cpu, 4);
	len = 8 + (s * 13) % 113;
	barrier_var(len);	/* keep the bound check the verifier needs */
	if (len > MAXLEN)
		return TC_ACT_SHOT;
	if (mode == 1)
		err = bpf_ringbuf_output(&small_rb, buf, len, 0);
	else
		err = bpf_perf_event_output(ctx, &perf, BPF_F_CURRENT_CPU, buf, len);
	if (err)
		__sync_fetch_and_add(&dropped, 1);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
