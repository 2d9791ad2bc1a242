// opensnoop: every openat() on the system, with its caller, result and path.
//
// sys_enter_openat keeps the path pointer of the call in `pending` (keyed by thread id);
// sys_exit_openat reads the path and sends the whole event through the `events` ring
// buffer. Filters set before load: targ_tgid (one process), targ_failed (failures only).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <ebpf/ringbuf.h>

char LICENSE[] SEC("license") = "GPL";

#define TASK_COMM_LEN 16
#define PATH_LEN 256

const volatile __u32 targ_tgid = 0;    /* 0: every process */
const volatile bool targ_failed = false;

struct start {
	const char *path;
	__s32 flags;
};

/* One openat(), as user space receives it. */
struct event {
	__u64 time_ns;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__s32 ret;   /* the fd, or -errno */
	__s32 flags;
	char comm[TASK_COMM_LEN];
	char path[PATH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct start);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} events SEC(".maps");
EBPF_RINGBUF_DROPS(events);
EBPF_RECORD_TYPE(event);

SEC("tracepoint/syscalls/sys_enter_openat")
int openat_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct start s = {};

	if (targ_tgid && targ_tgid != id >> 32)
		return 0;
	s.path = (const char *)ctx->args[1];
	s.flags = (__s32)ctx->args[2];
	bpf_map_update_elem(&pending, &tid, &s, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int openat_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct start *s = bpf_map_lookup_elem(&pending, &tid);
	struct event *e;

	if (!s)
		return 0;
	if (targ_failed && ctx->ret >= 0)
		goto out;
	e = ebpf_ringbuf_reserve(events, sizeof(*e), 0);
	if (!e)
		goto out;
	e->time_ns = bpf_ktime_get_ns();
	e->pid = id >> 32;
	e->tid = tid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->ret = ctx->ret;
	e->flags = s->flags;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	if (bpf_probe_read_user_str(e->path, sizeof(e->path), s->path) < 0)
		e->path[0] = 0;
	bpf_ringbuf_submit(e, 0);
out:
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}

