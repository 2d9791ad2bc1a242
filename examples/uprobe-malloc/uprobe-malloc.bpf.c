// uprobe-malloc: calls to a function of a shared library (libc's malloc by default), by
// process.
//
// User space attaches `count_call` as a uprobe on the function it is told; every call
// adds one to the caller's entry in `calls` (keyed by process id, with its command name).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define TASK_COMM_LEN 16

const volatile __u32 targ_tgid = 0; /* 0: every process */

struct calls {
	__u64 count;
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct calls);
} calls SEC(".maps");

SEC("uprobe")
int count_call(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct calls *c, fresh = {};

	if (targ_tgid && targ_tgid != tgid)
		return 0;
	c = bpf_map_lookup_elem(&calls, &tgid);
	if (!c) {
		bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
		bpf_map_update_elem(&calls, &tgid, &fresh, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&calls, &tgid);
		if (!c)
			return 0;
	}
	__sync_fetch_and_add(&c->count, 1);
	return 0;
}
