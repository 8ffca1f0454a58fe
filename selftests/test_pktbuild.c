// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_pktbuild.c - the frame builder builds what it claims: exact bytes and
 * offsets, checksums that verify, lengths and next-header chains that add up.
 * Checksums are verified here with a separate ones'-complement sum, not with
 * the builder's pb_csum(), so one bug cannot hide another. No root needed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "pktbuild.h"

#define SRC4 "198.18.0.1"
#define DST4 "198.18.1.1"
#define SRC6 "2001:db8::1"
#define DST6 "2001:db8:0:2::25"

/* Folded 16-bit ones' complement sum: a header with a correct checksum sums to 0xffff. */
static uint32_t sum16(const uint8_t *b, size_t n, uint32_t acc)
{
	for (size_t i = 0; i < n; i++)
		acc += i & 1 ? b[i] : (uint32_t)b[i] << 8;
	while (acc > 0xffff)
		acc = (acc & 0xffff) + (acc >> 16);
	return acc;
}

static unsigned be16(const uint8_t *b)
{
	return (unsigned)b[0] << 8 | b[1];
}

/* TCP/UDP/ICMPv6 over the pseudo-header: src, dst, protocol, L4 length. */
static uint32_t l4_sum(const struct pb *p, int ver, uint8_t proto, size_t l4_len)
{
	size_t l3 = pb_len_at(p, PB_L3_START), l4 = pb_len_at(p, PB_L4_START);
	uint32_t acc = ver == 4 ? sum16(p->buf + l3 + 12, 8, 0) : sum16(p->buf + l3 + 8, 32, 0);

	acc = sum16(p->buf + l4, l4_len, acc + proto + (uint32_t)l4_len);
	return acc;
}

static void assert_ipv4_csum_ok(const struct pb *p)
{
	const uint8_t *ip = p->buf + pb_len_at(p, PB_L3_START);

	assert_int_equal(sum16(ip, (ip[0] & 0x0f) * 4u, 0), 0xffff);
}

/* ---- layout -------------------------------------------------------------- */

static void test_qinq_ipv4_tcp_layout(void **state)
{
	static const uint8_t want[] = {
		/* 0: dst MAC, src MAC */
		2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1,
		/* 12: 802.1ad tag, VID 100; 16: 802.1Q tag, VID 200 (PCP bits dropped); 20: IPv4 */
		0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0xc8, 0x08, 0x00,
		/* 22: IPv4: IHL 5, total 20+40+8, id 1, DF, TTL 64, TCP, checksum, addresses */
		0x45, 0x00, 0x00, 68, 0x00, 0x01, 0x40, 0x00, 64, 6, 0xee, 0xee,
		198, 18, 0, 1, 198, 18, 1, 1,
		/* 42: TCP 40000 -> 25, seq 1000, ack 0, doff 10, SYN, window 64240, checksum, urg */
		0x9c, 0x40, 0x00, 25, 0, 0, 0x03, 0xe8, 0, 0, 0, 0, 0xa0, 0x02, 0xfa, 0xf0, 0xee, 0xee, 0, 0,
		/* 62: MSS 1460, SACK-perm, TS 1/0, NOP, WS 7 */
		2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
		/* 82: payload */
		'E', 'H', 'L', 'O', ' ', 'x', '\r', '\n',
	};
	struct pb_tcp_opts o;
	struct pb p;

	(void)state;
	pb_init(&p);
	pb_eth(&p, NULL, NULL);
	pb_vlan(&p, 0x88a8, 100);
	pb_vlan(&p, 0x8100, 0xe000 | 200);
	pb_ipv4(&p, SRC4, DST4, NULL);
	pb_tcp_opts_linux_syn(&o);
	pb_tcp(&p, 40000, 25, PB_TCP_SYN, &o);
	pb_payload_str(&p, "EHLO x\r\n");
	assert_int_equal(pb_finish(&p), sizeof(want));

	/* Everything but the two checksums (0xee above), which are checked by value. */
	uint8_t got[sizeof(want)];
	memcpy(got, p.buf, sizeof(got));
	got[32] = got[33] = got[58] = got[59] = 0xee;
	assert_memory_equal(got, want, sizeof(want));
	assert_ipv4_csum_ok(&p);
	assert_int_equal(l4_sum(&p, 4, 6, 48), 0xffff);

	assert_int_equal(pb_len_at(&p, PB_ETH_END), 14);
	assert_int_equal(pb_len_at(&p, PB_VLAN_OUTER_END), 18);
	assert_int_equal(pb_len_at(&p, PB_VLAN_INNER_END), 22);
	assert_int_equal(pb_len_at(&p, PB_L3_START), 22);
	assert_int_equal(pb_len_at(&p, PB_IP_END), 42);
	assert_int_equal(pb_len_at(&p, PB_L3_END), 42);
	assert_int_equal(pb_len_at(&p, PB_L4_START), 42);
	assert_int_equal(pb_len_at(&p, PB_L4_END), 82);
	assert_int_equal(pb_len_at(&p, PB_PAYLOAD_START), 82);
	assert_int_equal(pb_len_at(&p, PB_PAYLOAD_END), 90);
	assert_int_equal(pb_len_at(&p, PB_END), 90);

	size_t cuts[32], want_cuts[] = { 0, 12, 14, 18, 22, 42, 82 };
	assert_int_equal(pb_cuts(&p, cuts, 32), 7);
	assert_memory_equal(cuts, want_cuts, sizeof(want_cuts));
	/* A short out array still gets the count. */
	assert_int_equal(pb_cuts(&p, cuts, 2), 7);
}

static void test_untagged_defaults_and_macs(void **state)
{
	static const uint8_t src[6] = { 0x02, 0xaa, 0, 0, 0, 1 }, dst[6] = { 0x02, 0xbb, 0, 0, 0, 2 };
	struct pb p;

	(void)state;
	pb_init(&p);
	pb_eth(&p, src, dst);
	pb_ipv6(&p, SRC6, DST6, NULL);
	pb_tcp(&p, 1, 2, PB_TCP_ACK, NULL);
	assert_int_equal(pb_finish(&p), 14 + 40 + 20);
	assert_memory_equal(p.buf, dst, 6);
	assert_memory_equal(p.buf + 6, src, 6);
	assert_int_equal(be16(p.buf + 12), 0x86dd);
	assert_int_equal(pb_len_at(&p, PB_VLAN_OUTER_END), 0);
	assert_int_equal(pb_len_at(&p, PB_VLAN_INNER_END), 0);
	const uint8_t *ip6 = p.buf + 14;
	assert_int_equal(ip6[0], 0x60);
	assert_int_equal(be16(ip6 + 4), 20); /* payload length */
	assert_int_equal(ip6[6], 6);         /* next header */
	assert_int_equal(ip6[7], 64);        /* hop limit */
	uint8_t a[16];
	pb_v4mapped(SRC6, a);
	assert_memory_equal(ip6 + 8, a, 16);
	const uint8_t *tcp = ip6 + 40;
	assert_int_equal(be16(tcp + 14), 64240);
	assert_int_equal(tcp[12], 0x50);
	assert_int_equal(tcp[13], PB_TCP_ACK);
}

/* ---- IPv4 ---------------------------------------------------------------- */

static void test_ipv4_checksum_and_ihl(void **state)
{
	static const uint8_t ra[4] = { 0x94, 0x04, 0x00, 0x00 }; /* Router Alert */
	static const uint8_t nop_eol[2] = { 0x01, 0x00 };       /* padded to 4 */
	uint8_t forty[40];
	struct {
		struct pb_ip_opts o;
		unsigned ihl;
	} cases[] = {
		{ { .df = 1 }, 5 },
		{ { .ttl = 128, .tos = 0xb8, .id = 0xbeef, .mf = 1, .frag_off = 185 }, 5 },
		{ { .df = 1, .opts = ra, .opts_len = sizeof(ra) }, 6 },
		{ { .opts = nop_eol, .opts_len = sizeof(nop_eol) }, 6 },
		{ { .opts = forty, .opts_len = sizeof(forty) }, 15 },
	};

	(void)state;
	memset(forty, 1, sizeof(forty)); /* 40 NOPs */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pb_ip_opts *o = &cases[i].o;
		struct pb p;

		pb_init(&p);
		pb_eth(&p, NULL, NULL);
		pb_ipv4(&p, SRC4, DST4, o);
		pb_udp(&p, 5353, 53);
		pb_payload_str(&p, "odd");
		size_t len = pb_finish(&p);
		const uint8_t *ip = p.buf + 14;

		assert_int_equal(ip[0], 0x40 | cases[i].ihl);
		assert_int_equal(pb_len_at(&p, PB_IP_END), 14 + cases[i].ihl * 4);
		assert_int_equal(be16(ip + 2), len - 14);
		assert_int_equal(ip[1], o->tos);
		assert_int_equal(be16(ip + 4), o->id ? o->id : 1);
		assert_int_equal(be16(ip + 6), (o->df ? 0x4000u : 0) | (o->mf ? 0x2000u : 0) | o->frag_off);
		assert_int_equal(ip[8], o->ttl ? o->ttl : 64);
		assert_int_equal(ip[9], 17);
		if (o->opts_len)
			assert_memory_equal(ip + 20, o->opts, o->opts_len);
		for (size_t j = 20 + o->opts_len; j < cases[i].ihl * 4; j++)
			assert_int_equal(ip[j], 0); /* EOL padding */
		assert_ipv4_csum_ok(&p);
		/* The checker itself notices a flipped bit. */
		p.buf[14 + 8] ^= 1;
		assert_int_not_equal(sum16(ip, cases[i].ihl * 4, 0), 0xffff);
	}
}

static void test_ipv4_overrides(void **state)
{
	struct pb_ip_opts o = { .df = 1, .ihl_override = 4, .len_override = 1000 };
	struct pb p;

	(void)state;
	pb_init(&p);
	pb_eth(&p, NULL, NULL);
	pb_ipv4(&p, SRC4, DST4, &o);
	pb_tcp(&p, 40000, 25, PB_TCP_SYN, NULL);
	assert_int_equal(pb_finish(&p), 14 + 20 + 20);
	assert_int_equal(p.buf[14], 0x44);
	assert_int_equal(be16(p.buf + 16), 1000);
	/* The header is still 20 bytes and TCP still follows it. */
	assert_int_equal(pb_len_at(&p, PB_L4_START), 34);
	assert_int_equal(sum16(p.buf + 14, 20, 0), 0xffff);
	assert_int_equal(l4_sum(&p, 4, 6, 20), 0xffff);
}

/* ---- L4 checksums -------------------------------------------------------- */

static void build_l3(struct pb *p, int ver)
{
	pb_init(p);
	pb_eth(p, NULL, NULL);
	if (ver == 4)
		pb_ipv4(p, SRC4, DST4, NULL);
	else
		pb_ipv6(p, SRC6, DST6, NULL);
}

static void test_l4_checksums(void **state)
{
	(void)state;
	for (int ver = 4; ver <= 6; ver += 2) {
		struct pb_tcp_opts o;
		struct pb p;
		size_t len;

		/* TCP with options and an odd-length payload. */
		build_l3(&p, ver);
		pb_tcp_opts_linux_syn(&o);
		o.seq = 0xdeadbeef;
		o.ack = 0x01020304;
		pb_tcp(&p, 40000, 587, PB_TCP_ACK | PB_TCP_PSH, &o);
		pb_payload_str(&p, "MAIL FROM:<a@example.org>\r\n.");
		len = pb_finish(&p);
		size_t l4 = pb_len_at(&p, PB_L4_START);
		assert_int_equal(l4_sum(&p, ver, 6, len - l4), 0xffff);
		assert_int_equal(be16(p.buf + l4 + 4), 0xdead);
		assert_int_equal(be16(p.buf + l4 + 8), 0x0102);
		/* pb_finish() again (after an edit) gives a fresh, correct checksum. */
		p.buf[len - 1] = '!';
		assert_int_equal(pb_finish(&p), len);
		assert_int_equal(l4_sum(&p, ver, 6, len - l4), 0xffff);
		if (ver == 4)
			assert_ipv4_csum_ok(&p);

		/* UDP: length field and checksum. */
		build_l3(&p, ver);
		pb_udp(&p, 40000, 53);
		pb_payload(&p, "\x12\x34\x01", 3);
		len = pb_finish(&p);
		l4 = pb_len_at(&p, PB_L4_START);
		assert_int_equal(be16(p.buf + l4 + 4), 11);
		assert_int_not_equal(be16(p.buf + l4 + 6), 0);
		assert_int_equal(l4_sum(&p, ver, 17, 11), 0xffff);

		/* A UDP sum of zero is sent as 0xffff (0 means "no checksum"): payload
		 * equal to the checksum of a zero payload makes the sum zero. */
		build_l3(&p, ver);
		pb_udp(&p, 40000, 53);
		pb_payload(&p, "\0\0", 2);
		len = pb_finish(&p);
		memcpy(p.buf + len - 2, p.buf + len - 4, 2);
		pb_finish(&p);
		assert_int_equal(be16(p.buf + len - 4), 0xffff);
		assert_int_equal(l4_sum(&p, ver, 17, 10), 0xffff);

		/* ICMP echo: no pseudo-header for IPv4, a pseudo-header for ICMPv6. */
		build_l3(&p, ver);
		pb_icmp_echo(&p, 7, 9);
		pb_payload_str(&p, "ping");
		len = pb_finish(&p);
		l4 = pb_len_at(&p, PB_L4_START);
		assert_int_equal(p.buf[l4], ver == 4 ? 8 : 128);
		assert_int_equal(be16(p.buf + l4 + 4), 7);
		assert_int_equal(be16(p.buf + l4 + 6), 9);
		if (ver == 4)
			assert_int_equal(sum16(p.buf + l4, 12, 0), 0xffff);
		else
			assert_int_equal(l4_sum(&p, 6, 58, 12), 0xffff);
	}
}

/* ---- IPv6 extension headers ---------------------------------------------- */

static void test_ipv6_ext_chain(void **state)
{
	struct pb p;

	(void)state;
	pb_init(&p);
	pb_eth(&p, NULL, NULL);
	pb_vlan(&p, 0x8100, 7);
	pb_ipv6(&p, SRC6, DST6, &(struct pb_ip_opts){ .ttl = 255, .tos = 0x2e, .flow_label = 0x12345 });
	pb_ipv6_ext(&p, 0, 0, 0);    /* hop-by-hop, 8 */
	pb_ipv6_ext(&p, 60, 16, 0);  /* destination options, 16 */
	pb_ipv6_ext(&p, 43, 24, 0);  /* routing, 24 */
	pb_ipv6_ext(&p, 44, 185, 1); /* fragment: offset 185*8, more fragments */
	pb_tcp(&p, 40000, 25, PB_TCP_SYN, NULL);
	pb_payload_str(&p, "x");
	size_t len = pb_finish(&p);

	const size_t ip = 18, hbh = ip + 40, dst = hbh + 8, rt = dst + 16, frag = rt + 24, tcp = frag + 8;
	assert_int_equal(len, tcp + 20 + 1);
	assert_int_equal(be16(p.buf + 16), 0x86dd);
	/* version 6, traffic class 0x2e, flow label 0x12345 */
	assert_int_equal(p.buf[ip], 0x62);
	assert_int_equal(p.buf[ip + 1], 0xe1);
	assert_int_equal(be16(p.buf + ip + 2), 0x2345);
	assert_int_equal(be16(p.buf + ip + 4), len - ip - 40);
	assert_int_equal(p.buf[ip + 7], 255);
	/* The chain: fixed -> 0 -> 60 -> 43 -> 44 -> 6. */
	assert_int_equal(p.buf[ip + 6], 0);
	assert_int_equal(p.buf[hbh], 60);
	assert_int_equal(p.buf[dst], 43);
	assert_int_equal(p.buf[rt], 44);
	assert_int_equal(p.buf[frag], 6);
	/* Lengths in 8-byte units beyond the first 8. */
	assert_int_equal(p.buf[hbh + 1], 0);
	assert_int_equal(p.buf[dst + 1], 1);
	assert_int_equal(p.buf[rt + 1], 2);
	/* Options headers are one PadN to their end. */
	assert_int_equal(p.buf[hbh + 2], 1);
	assert_int_equal(p.buf[hbh + 3], 4);
	assert_int_equal(p.buf[dst + 2], 1);
	assert_int_equal(p.buf[dst + 3], 12);
	/* Routing type 0, segments left 0, its one address the final destination. */
	assert_int_equal(p.buf[rt + 2], 0);
	assert_int_equal(p.buf[rt + 3], 0);
	assert_memory_equal(p.buf + rt + 8, p.buf + ip + 24, 16);
	/* Fragment: offset 185 << 3 | M, identification 1. */
	assert_int_equal(be16(p.buf + frag + 2), 185u << 3 | 1);
	assert_int_equal(be16(p.buf + frag + 6), 1);

	assert_int_equal(pb_len_at(&p, PB_IP_END), hbh);
	assert_int_equal(pb_ext_end(&p, 0), dst);
	assert_int_equal(pb_ext_end(&p, 1), rt);
	assert_int_equal(pb_ext_end(&p, 2), frag);
	assert_int_equal(pb_ext_end(&p, 3), tcp);
	assert_int_equal(pb_ext_end(&p, 4), 0);
	assert_int_equal(pb_len_at(&p, PB_L3_END), tcp);
	assert_int_equal(pb_len_at(&p, PB_L4_END), tcp + 20);
	size_t cuts[32], want[] = { 0, 12, 14, 18, hbh, dst, rt, frag, tcp, tcp + 20 };
	assert_int_equal(pb_cuts(&p, cuts, 32), 10);
	assert_memory_equal(cuts, want, sizeof(want));
	assert_int_equal(l4_sum(&p, 6, 6, 21), 0xffff);
}

static void test_ipv6_no_l4_and_opaque(void **state)
{
	struct pb p;

	(void)state;
	/* Nothing after the last header: next header 59. */
	build_l3(&p, 6);
	pb_ipv6_ext(&p, 60, 0, 0);
	assert_int_equal(pb_finish(&p), 14 + 40 + 8);
	assert_int_equal(p.buf[14 + 6], 60);
	assert_int_equal(p.buf[14 + 40], 59);
	assert_int_equal(be16(p.buf + 14 + 4), 8);

	/* AH counts 4-byte units minus 2: 24 bytes -> 4. */
	build_l3(&p, 6);
	pb_ipv6_ext(&p, 51, 24, 0);
	assert_int_equal(p.buf[14 + 40 + 1], 4);

	/* A non-first fragment: the protocol is named, the bytes are not touched. */
	build_l3(&p, 6);
	pb_ipv6_ext(&p, 44, 100, 0);
	pb_l4_raw(&p, 6);
	pb_payload(&p, "\xaa\xbb\xcc\xdd\xee\xff\x11\x22\x33\x44\x55\x66\x77\x88\x99\x00\x12\x34\x56\x78", 20);
	size_t len = pb_finish(&p);
	assert_int_equal(p.buf[14 + 40], 6);
	assert_int_equal(pb_len_at(&p, PB_L4_START), 14 + 48);
	assert_int_equal(pb_len_at(&p, PB_L4_END), 14 + 48);
	assert_int_equal(be16(p.buf + len - 4), 0x1234); /* where a TCP checksum would go */

	/* Same for IPv4: protocol 6 named, MF clear, offset set. */
	pb_init(&p);
	pb_eth(&p, NULL, NULL);
	pb_ipv4(&p, SRC4, DST4, &(struct pb_ip_opts){ .frag_off = 185 });
	pb_l4_raw(&p, 6);
	pb_payload(&p, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
	pb_finish(&p);
	assert_int_equal(p.buf[14 + 9], 6);
	assert_int_equal(be16(p.buf + 14 + 6), 185);
	assert_int_equal(be16(p.buf + 34 + 16), 0);
	assert_ipv4_csum_ok(&p);
}

/* ---- TCP header ---------------------------------------------------------- */

static void test_tcp_data_offset(void **state)
{
	struct pb_tcp_opts o = { .window = 1024 };
	struct pb p;

	(void)state;
	/* Options appended in call order; 7 bytes pad to 8 with EOL: doff 7. */
	pb_tcp_opt_mss(&o, 1400);
	pb_tcp_opt_ws(&o, 14);
	build_l3(&p, 4);
	pb_tcp(&p, 1, 25, PB_TCP_SYN, &o);
	size_t len = pb_finish(&p);
	const uint8_t *tcp = p.buf + 34;
	assert_int_equal(len, 34 + 28);
	assert_int_equal(tcp[12] >> 4, 7);
	static const uint8_t opts[8] = { 2, 4, 0x05, 0x78, 3, 3, 14, 0 };
	assert_memory_equal(tcp + 20, opts, 8);
	assert_int_equal(be16(tcp + 14), 1024);
	assert_int_equal(pb_len_at(&p, PB_L4_END), len);
	assert_int_equal(l4_sum(&p, 4, 6, 28), 0xffff);

	/* The other helpers, and raw bytes. */
	memset(&o, 0, sizeof(o));
	pb_tcp_opt_nop(&o);
	pb_tcp_opt_sackok(&o);
	pb_tcp_opt_ts(&o, 0x01020304, 0x05060708);
	pb_tcp_opt_raw(&o, "\x1e\x02", 2);
	pb_tcp_opt_eol(&o);
	static const uint8_t more[16] = { 1, 4, 2, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 0x1e, 2, 0 };
	assert_int_equal(o.opts_len, 16);
	assert_memory_equal(o.opts, more, 16);

	/* No options: 5. Linux SYN: 10. */
	build_l3(&p, 6);
	pb_tcp(&p, 1, 25, PB_TCP_SYN, NULL);
	pb_finish(&p);
	assert_int_equal(p.buf[54 + 12], 0x50);
	pb_tcp_opts_linux_syn(&o);
	build_l3(&p, 6);
	pb_tcp(&p, 1, 25, PB_TCP_SYN, &o);
	pb_finish(&p);
	assert_int_equal(p.buf[54 + 12], 0xa0);
	assert_int_equal(pb_len_at(&p, PB_L4_END), 54 + 40);

	/* A forced data offset changes the field only: the bytes are all still there. */
	o.doff_override = 3;
	build_l3(&p, 6);
	pb_tcp(&p, 1, 25, PB_TCP_SYN, &o);
	len = pb_finish(&p);
	assert_int_equal(p.buf[54 + 12], 0x30);
	assert_int_equal(len, 54 + 40);
}

/* ---- other frames and helpers -------------------------------------------- */

static void test_eth_pad(void **state)
{
	struct pb p;

	(void)state;
	build_l3(&p, 4);
	pb_tcp(&p, 40000, 25, PB_TCP_ACK, NULL);
	pb_payload_str(&p, "Q"); /* 14+20+20+1 = 55 */
	pb_eth_pad(&p, 60);
	assert_int_equal(pb_finish(&p), 60);
	assert_int_equal(be16(p.buf + 16), 41); /* total length leaves the trailer out */
	assert_int_equal(pb_len_at(&p, PB_PAYLOAD_END), 55);
	assert_int_equal(pb_len_at(&p, PB_END), 60);
	assert_int_equal(l4_sum(&p, 4, 6, 21), 0xffff);
	for (size_t i = 55; i < 60; i++)
		assert_int_equal(p.buf[i], 0);
	size_t cuts[16];
	size_t n = pb_cuts(&p, cuts, 16);
	assert_int_equal(cuts[n - 1], 55);
}

static void test_raw_ethertype(void **state)
{
	static const uint8_t arp[28] = { 0, 1, 8, 0, 6, 4, 0, 1 };
	struct pb p;

	(void)state;
	pb_init(&p);
	pb_eth(&p, NULL, NULL);
	pb_vlan(&p, 0x8100, 5);
	pb_ethertype_raw(&p, 0x0806);
	pb_payload(&p, arp, sizeof(arp));
	assert_int_equal(pb_finish(&p), 18 + 28);
	assert_int_equal(be16(p.buf + 12), 0x8100);
	assert_int_equal(be16(p.buf + 16), 0x0806);
	assert_int_equal(pb_len_at(&p, PB_L3_START), 18);
	assert_memory_equal(p.buf + 18, arp, sizeof(arp));

	/* An IPv6 header under EtherType 0x0800 (a lie the parser must survive). */
	pb_init(&p);
	pb_eth(&p, NULL, NULL);
	pb_ethertype_raw(&p, 0x0800);
	pb_ipv6(&p, SRC6, DST6, NULL);
	pb_finish(&p);
	assert_int_equal(be16(p.buf + 12), 0x0800);
	assert_int_equal(p.buf[14] >> 4, 6);

	/* A frame with only Ethernet is 14 bytes, EtherType 0. */
	pb_init(&p);
	pb_eth(&p, NULL, NULL);
	assert_int_equal(pb_finish(&p), 14);
	assert_int_equal(be16(p.buf + 12), 0);
}

static void test_v4mapped(void **state)
{
	static const uint8_t v4[16] = { [10] = 0xff, [11] = 0xff, 198, 18, 0, 1 };
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	uint8_t out[16];

	(void)state;
	pb_v4mapped("198.18.0.1", out);
	assert_memory_equal(out, v4, 16);
	pb_v4mapped("2001:db8::1", out);
	assert_memory_equal(out, v6, 16);
	pb_v4mapped("::ffff:198.18.0.1", out);
	assert_memory_equal(out, v4, 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qinq_ipv4_tcp_layout),
		cmocka_unit_test(test_untagged_defaults_and_macs),
		cmocka_unit_test(test_ipv4_checksum_and_ihl),
		cmocka_unit_test(test_ipv4_overrides),
		cmocka_unit_test(test_l4_checksums),
		cmocka_unit_test(test_ipv6_ext_chain),
		cmocka_unit_test(test_ipv6_no_l4_and_opaque),
		cmocka_unit_test(test_tcp_data_offset),
		cmocka_unit_test(test_eth_pad),
		cmocka_unit_test(test_raw_ethertype),
		cmocka_unit_test(test_v4mapped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
