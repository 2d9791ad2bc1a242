// biolatency: block I/O latency, from the request's issue to the driver to its completion,
// as a histogram of log2 buckets.
//
// tp_btf/block_rq_issue records when each request (by its address) went to the device;
// tp_btf/block_rq_complete adds its latency to `hist`, a per-CPU array of bucket counts:
// bucket k counts latencies in [2^k, 2^(k+1)) microseconds (or milliseconds with
// targ_ms), bucket 0 also those under 1.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

#define BUCKETS 32

const volatile bool targ_ms = false;
const volatile __u32 targ_dev = 0; /* 0: every disk, else its dev_t as the kernel has it */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct request *);
	__type(value, __u64);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} hist SEC(".maps");

static __always_inline __u32 log2_bucket(__u64 v)
{
	__u32 k = 0;

	/* Bounded for the verifier: 64-bit values have at most 63 halvings. */
	for (int i = 0; i < 63 && v > 1; i++) {
		v >>= 1;
		k++;
	}
	return k < BUCKETS ? k : BUCKETS - 1;
}

static __always_inline bool wanted(struct request *rq)
{
	struct gendisk *disk;

	if (!targ_dev)
		return true;
	disk = rq->q->disk;
	return disk && ((__u32)disk->major << 20 | disk->first_minor) == targ_dev;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(block_rq_issue, struct request *rq)
{
	__u64 ts;

	if (!wanted(rq))
		return 0;
	ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&start, &rq, &ts, BPF_ANY);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(block_rq_complete, struct request *rq, int error, unsigned int nr_bytes)
{
	__u64 *tsp = bpf_map_lookup_elem(&start, &rq);
	__u64 delta;
	__u32 bucket;
	__u64 *slot;

	if (!tsp)
		return 0;
	delta = (bpf_ktime_get_ns() - *tsp) / (targ_ms ? 1000000 : 1000);
	bucket = log2_bucket(delta);
	slot = bpf_map_lookup_elem(&hist, &bucket);
	if (slot)
		*slot += 1;
	bpf_map_delete_elem(&start, &rq);
	return 0;
}
