// Benchmark programs: XDP programs that, run with BPF_PROG_TEST_RUN and a repeat count,
// fill a ring buffer or a perf buffer with records of a fixed size (consumer-only
// throughput: fill, then drain), plus a hash map and a .bss counter for map operations,
// and a live producer: a tracepoint on getppid() that writes a timestamped record for
// each call of one process (the bench's producer child), for end-to-end rate, latency
// and loss; and the same producer in bursts (LIVE_BURST records a call), whose rate is
// above what a consumer takes, for comparing consumers by what they take.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <ebpf/ringbuf.h>

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

/* The head of each fill record, for decoding by BTF type (ringBuffer({ type })). */
struct fill_head {
	__u64 seq;
	__u32 lo;
	__u32 hi;
};
EBPF_RECORD_TYPE(fill_head);

/* Default flags: the kernel wakes the reader for a fill's first record only (it wakes a
 * ring consumer only once it has caught up), as a production program would. */
#define FILL(size)                                                              \
	SEC("xdp")                                                              \
	int fill_##size(struct xdp_md *ctx)                                     \
	{                                                                       \
		__u64 *r = bpf_ringbuf_reserve(&ring, size, 0);                 \
		if (!r)                                                         \
			return XDP_PASS;                                        \
		r[0] = sequence++;                                              \
		bpf_ringbuf_submit(r, 0);                                       \
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

/* The live producer's ring, and its failed reservations (EBPF_RINGBUF_DROPS). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024);
} live SEC(".maps");
EBPF_RINGBUF_DROPS(live);

struct live_record {
	__u64 ktime; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 seq;
	__u64 pad[6];
};
EBPF_RECORD_TYPE(live_record);

/* The producer process, set after load; alone in its section, so that the C baseline
 * finds it at offset 0 of that map's mmapped memory. */
__u32 live_tgid SEC(".data.live") = 0;
__u64 live_seq = 0;

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	struct live_record *r;

	if (bpf_get_current_pid_tgid() >> 32 != live_tgid)
		return 0;
	r = ebpf_ringbuf_reserve(live, sizeof(*r), 0);
	if (!r)
		return 0;
	r->seq = live_seq++;
	r->ktime = bpf_ktime_get_ns();
	bpf_ringbuf_submit(r, 0);
	return 0;
}

/* The live producer in bursts: LIVE_BURST records for each getppid() of the producer, so
 * that what a consumer receives is bounded by how fast it reads, not by how fast the
 * producer makes syscalls (one record per call is the consumers' limit on machines with
 * slow syscalls). Attached instead of on_getppid, never beside it. */
#define LIVE_BURST 16

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid_burst(void *ctx)
{
	struct live_record *r;

	if (bpf_get_current_pid_tgid() >> 32 != live_tgid)
		return 0;
	for (int i = 0; i < LIVE_BURST; i++) {
		r = ebpf_ringbuf_reserve(live, sizeof(*r), 0);
		if (!r)
			continue;
		r->seq = live_seq++;
		r->ktime = bpf_ktime_get_ns();
		bpf_ringbuf_submit(r, 0);
	}
	return 0;
}
