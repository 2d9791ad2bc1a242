// Benchmark programs: XDP programs that, run with BPF_PROG_TEST_RUN and a repeat count,
// fill a ring buffer or a perf buffer with records of a fixed size (consumer-only
// throughput: fill, then drain), plus a hash map and a .bss counter for map operations.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024 * 1024);
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 200000);
	__type(key, __u32);
	__type(value, __u64);
} table SEC(".maps");

__u64 sequence = 0;

#define FILL(size)                                                              \
	SEC("xdp")                                                              \
	int fill_##size(struct xdp_md *ctx)                                     \
	{                                                                       \
		__u64 *r = bpf_ringbuf_reserve(&ring, size, 0);                 \
		if (!r)                                                         \
			return XDP_PASS;                                        \
		r[0] = sequence++;                                              \
		bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);                        \
		return XDP_PASS;                                                \
	}

FILL(8)
FILL(64)
FILL(256)
FILL(1024)

SEC("xdp")
int perf_64(struct xdp_md *ctx)
{
	__u64 r[8] = {};

	r[0] = sequence++;
	bpf_perf_event_output(ctx, &perf, BPF_F_CURRENT_CPU, r, sizeof(r));
	return XDP_PASS;
}
