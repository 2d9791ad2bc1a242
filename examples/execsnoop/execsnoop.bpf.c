// execsnoop: every execve() on the system, with its arguments and result.
//
// sys_enter_execve records the caller and the arguments in `pending` (keyed by thread id);
// sys_exit_execve adds the return value and the new command name and sends the event
// through the `events` ring buffer, trimmed to the argument bytes actually used.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "execsnoop.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
} settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct event);
} pending SEC(".maps");

/* A zeroed event to start from: too large for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event);
} blank SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} events SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_execve")
int execve_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u32 zero = 0, tid = (__u32)bpf_get_current_pid_tgid();
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	const char *const *argv = (const char *const *)ctx->args[1];
	struct task_struct *task;
	struct config *cfg;
	struct event *e;
	const char *arg;
	__u32 max_args = 20;
	long n;
	int i;

	cfg = bpf_map_lookup_elem(&settings, &zero);
	if (cfg) {
		if (cfg->filter_uid && cfg->uid != uid)
			return 0;
		if (cfg->max_args)
			max_args = cfg->max_args;
	}
	e = bpf_map_lookup_elem(&blank, &zero);
	if (!e)
		return 0;
	if (bpf_map_update_elem(&pending, &tid, e, BPF_ANY))
		return 0;
	e = bpf_map_lookup_elem(&pending, &tid);
	if (!e)
		return 0;

	task = (struct task_struct *)bpf_get_current_task();
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = uid;

	/* The file name first, as bcc's execsnoop shows it, then argv[1...]. */
	n = bpf_probe_read_user_str(e->args, ARG_SIZE, (const char *)ctx->args[0]);
	if (n < 0)
		return 0;
	e->args_size = n;
	e->args_count = 1;
	for (i = 1; i < ARGS_LIMIT; i++) {
		if (i >= max_args)
			break;
		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) || !arg)
			return 0;
		if (e->args_size > ARGS_LAST_START)
			return 0;
		n = bpf_probe_read_user_str(&e->args[e->args_size], ARG_SIZE, arg);
		if (n <= 0)
			return 0;
		e->args_size += n;
		e->args_count++;
	}
	/* Stopped at max_args: count one more if argv goes on, so user space prints "...". */
	if (!bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) && arg)
		e->args_count++;
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execve")
int execve_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct event *e = bpf_map_lookup_elem(&pending, &tid);
	__u64 size;

	if (!e)
		return 0;
	e->retval = ctx->ret;
	e->time_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	size = __builtin_offsetof(struct event, args) + e->args_size;
	if (size <= sizeof(*e))
		bpf_ringbuf_output(&events, e, size, 0);
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}
