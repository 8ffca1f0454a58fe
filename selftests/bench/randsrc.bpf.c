// SPDX-License-Identifier: GPL-2.0-only
/*
 * randsrc.bpf.c - benchmark wrapper: gives every run a new random IPv4 source
 * address, then tail-calls the program under test.
 *
 * BPF_PROG_TEST_RUN (without live frames) runs the same buffer again and
 * again and keeps what the program wrote into it, so rewriting the source here
 * makes each repetition a packet from a new host. Every program measured goes
 * through this same wrapper, so its cost is in every column.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} bench_target SEC(".maps");

SEC("xdp")
int bench_randsrc(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);

	if ((void *)(ip + 1) > data_end)
		return XDP_ABORTED;
	/* 198.18.0.0/15 plus 17 random bits: the benchmark range, never a real host. */
	__u32 r = bpf_get_prandom_u32() & 0x1ffff;
	ip->saddr = __builtin_bswap32(0xc6120000u | r);
	bpf_tail_call(ctx, &bench_target, 0);
	return XDP_ABORTED; /* the tail call failed: make it visible */
}
