// tc-drop: drop TCP and UDP packets by destination port, on a tcx hook (ingress or egress).
//
// `ports` holds the ports to drop (host byte order) and, as its value, how many packets
// were dropped for each; user space fills it before attaching and reads it to report.
// Every other packet goes on to the next program on the hook (TCX_NEXT).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16);
	__type(value, __u64);
} ports SEC(".maps");

/* The destination port of a TCP or UDP packet whose L4 header starts at `l4`, or 0. */
static __always_inline __u16 dest_port(__u8 proto, void *l4, void *data_end)
{
	if (proto == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;

		if ((void *)(tcp + 1) <= data_end)
			return bpf_ntohs(tcp->dest);
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *udp = l4;

		if ((void *)(udp + 1) <= data_end)
			return bpf_ntohs(udp->dest);
	}
	return 0;
}

SEC("tc")
int tc_drop(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u16 port = 0;
	__u64 *dropped;

	if ((void *)(eth + 1) > data_end)
		return TCX_NEXT;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end || ip->ihl < 5)
			return TCX_NEXT;
		/* Only the first fragment has the L4 header. */
		if (ip->frag_off & bpf_htons(0x1fff))
			return TCX_NEXT;
		port = dest_port(ip->protocol, (void *)ip + ip->ihl * 4, data_end);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return TCX_NEXT;
		port = dest_port(ip6->nexthdr, ip6 + 1, data_end);
	}
	if (!port)
		return TCX_NEXT;
	dropped = bpf_map_lookup_elem(&ports, &port);
	if (!dropped)
		return TCX_NEXT;
	__sync_fetch_and_add(dropped, 1);
	return TCX_DROP;
}
