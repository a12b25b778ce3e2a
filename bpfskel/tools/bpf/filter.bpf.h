/* The filters every tool shares, configured through .rodata before load:
 * targ_tgid (-p), targ_comm (-c/--name), targ_cgid (--cgroup, the cgroup v2
 * directory's inode number, which is what bpf_get_current_cgroup_id returns).
 * Zero/empty means "no filter". */
#ifndef BPFSKEL_TOOLS_FILTER_H
#define BPFSKEL_TOOLS_FILTER_H

#define TASK_COMM_LEN 16

const volatile __u32 targ_tgid = 0;
const volatile __u64 targ_cgid = 0;
const volatile char targ_comm[TASK_COMM_LEN] = {};

/* events the ring buffer had no room for: reported as lost by the tool */
__u64 lost_events = 0;

static __always_inline int comm_matches(const char *comm)
{
	if (!targ_comm[0])
		return 1;
	for (int i = 0; i < TASK_COMM_LEN; i++) {
		if (comm[i] != targ_comm[i])
			return 0;
		if (!comm[i])
			return 1;
	}
	return 1;
}

/* The current task passes -p and --cgroup. */
static __always_inline int owner_wanted(void)
{
	if (targ_tgid && (bpf_get_current_pid_tgid() >> 32) != targ_tgid)
		return 0;
	if (targ_cgid && bpf_get_current_cgroup_id() != targ_cgid)
		return 0;
	return 1;
}

/* The current task passes -p, -c and --cgroup. */
static __always_inline int task_wanted(void)
{
	char comm[TASK_COMM_LEN];

	if (!owner_wanted())
		return 0;
	if (targ_comm[0]) {
		bpf_get_current_comm(comm, sizeof(comm));
		return comm_matches(comm);
	}
	return 1;
}

#endif
