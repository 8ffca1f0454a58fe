/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * fingerprint.h - the TCP/IP fingerprint of a SYN (after p0f's idea): initial
 * TTL, window, MSS, window scale, DF, and the TCP option kinds in order.
 * Bots built on one stack or one raw-socket tool share it; the outbreak logic
 * groups new senders by its hash.
 */
#ifndef MG_BPF_FINGERPRINT_H
#define MG_BPF_FINGERPRINT_H

#include "mtaguard.h"
#include "parse.h"

#define MG_TCP_MAX_OPT_BYTES 40

static __always_inline __u8 mg_initial_ttl(__u8 ttl)
{
	if (ttl <= 32)
		return 32;
	if (ttl <= 64)
		return 64;
	if (ttl <= 128)
		return 128;
	return 255;
}

/*
 * Fill *fp from the SYN whose TCP header starts at tcp_off. The IP fields
 * come from the caller's parse. A global subprogram: the option walk is
 * verified once.
 */
__attribute__((noinline)) int mg_syn_fingerprint(struct xdp_md *ctx, __u32 tcp_off, struct mg_syn_fp *fp,
						 __u32 *cursor)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (!fp || !cursor || tcp_off > MG_OFF_MASK)
		return -1;
	struct tcphdr *tcp = data + tcp_off;
	if ((void *)(tcp + 1) > data_end)
		return -1;
	__u8 *opts = (__u8 *)(tcp + 1);
	__u32 opt_len = tcp->doff * 4;
	opt_len = opt_len > sizeof(*tcp) ? opt_len - sizeof(*tcp) : 0;

	fp->window = bpf_ntohs(tcp->window);
	fp->wscale = 0xff;
	fp->mss = 0;
	fp->n_opts = 0;

	/*
	 * The position and the option count go through memory the verifier
	 * does not track (*cursor, fp->n_opts) on every step, so each step
	 * starts from one imprecise state and is verified once, rather than
	 * once per mix of NOPs and sized options that could lead there.
	 */
	__u32 off = 0;
	for (int i = 0; i < MG_TCP_MAX_OPT_BYTES; i++) {
		*(volatile __u32 *)cursor = off;
		off = *(volatile __u32 *)cursor & 0x3f;
		if (off >= opt_len || off >= MG_TCP_MAX_OPT_BYTES)
			break;
		__u8 *o = opts + off;
		if ((void *)(o + 1) > data_end)
			break;
		__u8 kind = o[0];
		if (kind == 0) /* end of option list */
			break;
		__u8 n = *(volatile __u8 *)&fp->n_opts;
		if (n < MG_FP_MAX_OPTS) {
			fp->opt_kinds[n] = kind;
			fp->n_opts = n + 1;
		}
		if (kind == 1) { /* NOP */
			off++;
			continue;
		}
		if (off + 2 > opt_len || (void *)(o + 2) > data_end)
			break;
		__u8 len = o[1];
		if (len < 2)
			break; /* malformed: stop rather than loop */
		if (kind == 2 && len == 4 && off + 4 <= opt_len && (void *)(o + 4) <= data_end)
			fp->mss = (__u16)o[2] << 8 | o[3];
		else if (kind == 3 && len == 3 && off + 3 <= opt_len && (void *)(o + 3) <= data_end)
			fp->wscale = o[2];
		off += len;
	}
	return 0;
}

#endif
