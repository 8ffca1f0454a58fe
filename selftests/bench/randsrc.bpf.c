// SPDX-License-Identifier: GPL-2.0-only
/*
 * randsrc.bpf.c - benchmark wrappers: bench_randsrc gives every run a new
 * random IPv4 source address, bench_randname a new random HELO name; then
 * each tail-calls the program under test.
 *
 * BPF_PROG_TEST_RUN (without live frames) runs the same buffer again and
 * again and keeps what the program wrote into it, so rewriting the source here
 * makes each repetition a packet from a new host. Every program measured goes
 * through this same wrapper, so its cost is in every column.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
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

/*
 * The same for an IPv4 TCP segment whose payload is "EHLO name...": the
 * name's first four bytes become four random letters a-p, so each run is a
 * HELO with a name its source did not send last (but for one in 65 536 and
 * the 2^-15 chance of an equal mark, mtaguard.bpf.c mg_helo_mark): the first
 * HELO of a name, which sends its event.
 */
SEC("xdp")
int bench_randname(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);

	if ((void *)(ip + 1) > data_end || ip->ihl != 5)
		return XDP_ABORTED;
	struct tcphdr *tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > data_end || tcp->doff != 5)
		return XDP_ABORTED;
	__u8 *name = (__u8 *)(tcp + 1) + 5; /* after "EHLO " */
	if ((void *)(name + 4) > data_end)
		return XDP_ABORTED;
	__u32 r = bpf_get_prandom_u32();
	for (int i = 0; i < 4; i++)
		name[i] = 'a' + ((r >> (4 * i)) & 15);
	bpf_tail_call(ctx, &bench_target, 0);
	return XDP_ABORTED;
}
