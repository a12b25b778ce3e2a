/* Shared between the BPF program and Python (through --types-from). */
#ifndef COUNTER_H
#define COUNTER_H
struct event {
	__u32 tgid;
	__u32 nth;
	__u64 ts_ns;
};
#endif
