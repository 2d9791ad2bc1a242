// prometheus: system calls by command name, for a metrics exporter.
//
// raw_syscalls/sys_enter adds one to the caller's command name in `syscalls`, an LRU hash:
// when more than max_entries names have been seen, the least recently used goes.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define TASK_COMM_LEN 16

struct comm_key {
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct comm_key);
	__type(value, __u64);
} syscalls SEC(".maps");

SEC("tracepoint/raw_syscalls/sys_enter")
int count_syscall(void *ctx)
{
	struct comm_key key = {};
	__u64 one = 1, *n;

	bpf_get_current_comm(key.comm, sizeof(key.comm));
	n = bpf_map_lookup_elem(&syscalls, &key);
	if (!n) {
		if (!bpf_map_update_elem(&syscalls, &key, &one, BPF_NOEXIST))
			return 0;
		/* Another CPU made the entry first: count in it. */
		n = bpf_map_lookup_elem(&syscalls, &key);
		if (!n)
			return 0;
	}
	__sync_fetch_and_add(n, 1);
	return 0;
}
