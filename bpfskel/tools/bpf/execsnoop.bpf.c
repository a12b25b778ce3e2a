// execsnoop: every execve, with pid, ppid, comm, return value and full argv.
// sys_enter_execve copies argv into a per-task record kept in a hash map; the
// matching sys_exit_execve completes it with the return value and emits only
// the used part of it (a variable-length record) through the ring buffer.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "filter.bpf.h"

#define ARGSIZE 128		/* at most this much of one argument */
#define MAX_ARGS 20		/* at most this many arguments (libbpf-tools' default) */
#define ARGS_BUF (ARGSIZE * MAX_ARGS)

struct exec_event {
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	__s32 retval;
	__s32 args_count;	/* arguments copied */
	__u32 args_size;	/* bytes of args used: NUL-separated */
	__u8 truncated;		/* argv had more than MAX_ARGS arguments */
	char comm[TASK_COMM_LEN];
	char args[ARGS_BUF];
};

const volatile __u8 failed_only = 0;	/* -x */

/* The two task_struct fields we read, as a CO-RE flavor: libbpf matches it
 * to the kernel's task_struct by name, and the object's BTF (and so the
 * generated module) carries these two fields instead of all of vmlinux's
 * task_struct closure. */
struct task_struct___tool {
	struct task_struct___tool *real_parent;
	int tgid;
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct exec_event);
} execs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_event);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} events SEC(".maps");

SEC("tp/syscalls/sys_enter_execve")
int exec_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	const char **argv = (const char **)ctx->args[1];
	struct task_struct___tool *task;
	struct exec_event *e;
	__u32 zero = 0;
	const char *arg;
	int i;

	/* -c filters on the new program's comm, at exit */
	if (!owner_wanted())
		return 0;
	e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	task = (struct task_struct___tool *)bpf_get_current_task();
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->retval = 0;
	e->args_count = 0;
	e->args_size = 0;
	e->truncated = 0;
	for (i = 0; i < MAX_ARGS; i++) {
		long n;

		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) || !arg)
			goto done;
		if (e->args_size > ARGS_BUF - ARGSIZE)
			goto done;
		n = bpf_probe_read_user_str(&e->args[e->args_size], ARGSIZE, arg);
		if (n <= 0)
			goto done;
		e->args_count++;
		e->args_size += n;
	}
	/* one more non-NULL pointer: argv was longer than we copied */
	if (!bpf_probe_read_user(&arg, sizeof(arg), &argv[MAX_ARGS]) && arg)
		e->truncated = 1;
done:
	bpf_map_update_elem(&execs, &tid, e, BPF_ANY);
	return 0;
}

SEC("tp/syscalls/sys_exit_execve")
int exec_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct exec_event *e;
	long size;

	e = bpf_map_lookup_elem(&execs, &tid);
	if (!e)
		return 0;
	e->retval = ctx->ret;
	if (failed_only && e->retval >= 0)
		goto cleanup;
	/* comm is the new program's after a successful exec */
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	if (!comm_matches(e->comm))
		goto cleanup;
	size = __builtin_offsetof(struct exec_event, args) + e->args_size;
	if (size > sizeof(*e))
		size = sizeof(*e);
	if (size < __builtin_offsetof(struct exec_event, args))
		size = __builtin_offsetof(struct exec_event, args);
	if (bpf_ringbuf_output(&events, e, size, 0))
		__sync_fetch_and_add(&lost_events, 1);
cleanup:
	bpf_map_delete_elem(&execs, &tid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
