// xdp-counter: packets and bytes arriving on an interface, by IP version and protocol.
//
// The XDP program reads the Ethernet and IP headers of each packet, adds it to one slot
// of a per-CPU array (no atomics: each CPU has its own counters) and lets it pass.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_ICMPV6 58

/* Slot = family * 4 + protocol, and one more for what is not IP (ARP, ...). */
enum proto_slot { SLOT_TCP, SLOT_UDP, SLOT_ICMP, SLOT_OTHER };
#define SLOT_IPV6_BASE 4
#define SLOT_NOT_IP 8
#define SLOTS 9

struct counter {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLOTS);
	__type(key, __u32);
	__type(value, struct counter);
} counts SEC(".maps");

static __always_inline __u32 proto_slot(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return SLOT_TCP;
	case IPPROTO_UDP:
		return SLOT_UDP;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return SLOT_ICMP;
	default:
		return SLOT_OTHER;
	}
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct counter *c;
	__u32 slot = SLOT_NOT_IP;

	if ((void *)(eth + 1) > data_end)
		goto count;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) <= data_end)
			slot = proto_slot(ip->protocol);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		/* The first header only: extension headers count as "other". */
		if ((void *)(ip6 + 1) <= data_end)
			slot = SLOT_IPV6_BASE + proto_slot(ip6->nexthdr);
	}
count:
	c = bpf_map_lookup_elem(&counts, &slot);
	if (c) {
		c->packets++;
		c->bytes += data_end - data;
	}
	return XDP_PASS;
}
