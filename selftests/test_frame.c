// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_frame.c - captured frames of every link type mtaguard-replay reads
 * become the Ethernet frames the XDP program expects; TSO lengths repaired
 * (no privileges needed). Frames are built with the test frame builder and
 * then wrapped in each capture link header by hand.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "mg_addr.h"
#include "mg_frame.h"
#include "pktbuild.h"

static const uint8_t MAC_SRC[6] = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01 };
static const uint8_t MAC_DST[6] = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x02 };

/* An Ethernet frame carrying a TCP segment with an SMTP command. */
static size_t eth_frame(struct pb *p, bool v6)
{
	pb_init(p);
	pb_eth(p, MAC_SRC, MAC_DST);
	if (v6)
		pb_ipv6(p, "2001:db8::2", "2001:db8::25", NULL);
	else
		pb_ipv4(p, "198.18.0.2", "198.19.0.25", NULL);
	pb_tcp(p, 40000, 25, 0x18, NULL);
	pb_payload_str(p, "EHLO pc.example.net\r\n");
	return pb_finish(p);
}

static void wr16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

/* Check out[] is the Ethernet frame `want` with the given MAC source (the destination is synthetic). */
static void expect_eth(const uint8_t *out, int n, const uint8_t *want, size_t want_len, const uint8_t *src_mac)
{
	assert_int_equal(n, (int)want_len);
	if (src_mac)
		assert_memory_equal(out + 6, src_mac, 6);
	assert_memory_equal(out + 12, want + 12, want_len - 12); /* ethertype and everything after */
}

static void test_ethernet_as_is(void **state)
{
	struct pb p;
	uint8_t out[4096];
	bool rep;

	(void)state;
	size_t len = eth_frame(&p, false);
	int n = mg_frame_to_eth(MG_DLT_EN10MB, p.buf, len, len, out, sizeof(out), &rep);
	assert_int_equal(n, (int)len);
	assert_memory_equal(out, p.buf, len);
	assert_false(rep);
	assert_string_equal(mg_link_name(MG_DLT_EN10MB), "EN10MB");
	/* Shorter than an Ethernet header: nothing to run. */
	assert_int_equal(mg_frame_to_eth(MG_DLT_EN10MB, p.buf, 10, 10, out, sizeof(out), &rep), 0);
}

static void test_linux_cooked(void **state)
{
	struct pb p;
	uint8_t in[4096], out[4096];
	bool rep;

	(void)state;
	for (int v6 = 0; v6 <= 1; v6++) {
		size_t len = eth_frame(&p, v6);
		size_t l3 = len - 14;
		/* SLL: pkttype(2) hatype(2) halen(2) addr(8) protocol(2) */
		memset(in, 0, 16);
		wr16(in + 2, 1);
		wr16(in + 4, 6);
		memcpy(in + 6, MAC_SRC, 6);
		memcpy(in + 14, p.buf + 12, 2);
		memcpy(in + 16, p.buf + 14, l3);
		int n = mg_frame_to_eth(MG_DLT_LINUX_SLL, in, 16 + l3, 16 + l3, out, sizeof(out), &rep);
		expect_eth(out, n, p.buf, len, MAC_SRC);

		/* SLL2: protocol(2) reserved(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8) */
		memset(in, 0, 20);
		memcpy(in, p.buf + 12, 2);
		in[11] = 6;
		memcpy(in + 12, MAC_SRC, 6);
		memcpy(in + 20, p.buf + 14, l3);
		n = mg_frame_to_eth(MG_DLT_LINUX_SLL2, in, 20 + l3, 20 + l3, out, sizeof(out), &rep);
		expect_eth(out, n, p.buf, len, MAC_SRC);
	}
	/* A cooked header alone, too short: nothing to run. */
	assert_int_equal(mg_frame_to_eth(MG_DLT_LINUX_SLL2, in, 12, 12, out, sizeof(out), &rep), 0);
}

static void test_raw_ip_and_loopback(void **state)
{
	struct pb p;
	uint8_t in[4096], out[4096];
	bool rep;

	(void)state;
	for (int v6 = 0; v6 <= 1; v6++) {
		size_t len = eth_frame(&p, v6);
		size_t l3 = len - 14;
		int dlts[] = { MG_DLT_RAW, v6 ? MG_DLT_IPV6 : MG_DLT_IPV4 };
		for (int i = 0; i < 2; i++) {
			int n = mg_frame_to_eth(dlts[i], p.buf + 14, l3, l3, out, sizeof(out), &rep);
			expect_eth(out, n, p.buf, len, NULL);
		}
		/* BSD loopback: a 4-byte address family, host order (NULL) or network order (LOOP). */
		uint32_t af = v6 ? 30 : 2;
		memcpy(in, &af, 4);
		memcpy(in + 4, p.buf + 14, l3);
		int n = mg_frame_to_eth(MG_DLT_NULL, in, 4 + l3, 4 + l3, out, sizeof(out), &rep);
		expect_eth(out, n, p.buf, len, NULL);
		in[0] = 0;
		in[1] = 0;
		in[2] = 0;
		in[3] = (uint8_t)af;
		n = mg_frame_to_eth(MG_DLT_LOOP, in, 4 + l3, 4 + l3, out, sizeof(out), &rep);
		expect_eth(out, n, p.buf, len, NULL);
	}
	/* Raw bytes that are not IP: nothing to run. */
	memset(in, 0x55, 64);
	assert_int_equal(mg_frame_to_eth(MG_DLT_RAW, in, 64, 64, out, sizeof(out), &rep), 0);
}

static void test_unknown_link_type(void **state)
{
	uint8_t in[64] = { 0 }, out[128];
	bool rep;

	(void)state;
	assert_int_equal(mg_frame_to_eth(147 /* USER0 */, in, sizeof(in), sizeof(in), out, sizeof(out), &rep),
			 -EPROTONOSUPPORT);
	assert_null(mg_link_name(147));
	assert_string_equal(mg_link_name(MG_DLT_LINUX_SLL2), "LINUX_SLL2");
}

/* TSO super-segments: the capturing host saw IP length 0; the wire carried the real one. */
static void test_tso_length_repaired(void **state)
{
	struct pb p;
	uint8_t out[4096];
	bool rep;

	(void)state;
	size_t len = eth_frame(&p, false);
	uint8_t *ip = p.buf + 14;
	uint16_t want_len = (uint16_t)(ip[2] << 8 | ip[3]);
	ip[2] = ip[3] = 0;
	int n = mg_frame_to_eth(MG_DLT_EN10MB, p.buf, len, len, out, sizeof(out), &rep);
	assert_int_equal(n, (int)len);
	assert_true(rep);
	assert_int_equal(out[14 + 2] << 8 | out[14 + 3], want_len);
	assert_int_equal(pb_csum(out + 14, 20, 0), 0); /* header checksum valid again */

	/* Cut by the snap length: the real length is unknown, leave it. */
	n = mg_frame_to_eth(MG_DLT_EN10MB, p.buf, len, len + 100, out, sizeof(out), &rep);
	assert_false(rep);
	assert_int_equal(out[14 + 2] << 8 | out[14 + 3], 0);

	/* IPv6: payload length 0 without a jumbogram. */
	len = eth_frame(&p, true);
	uint16_t want6 = (uint16_t)(p.buf[14 + 4] << 8 | p.buf[14 + 5]);
	p.buf[14 + 4] = p.buf[14 + 5] = 0;
	n = mg_frame_to_eth(MG_DLT_EN10MB, p.buf, len, len, out, sizeof(out), &rep);
	assert_true(rep);
	assert_int_equal(out[14 + 4] << 8 | out[14 + 5], want6);

	/* A proper length is never touched. */
	len = eth_frame(&p, false);
	n = mg_frame_to_eth(MG_DLT_EN10MB, p.buf, len, len, out, sizeof(out), &rep);
	assert_false(rep);
	assert_memory_equal(out, p.buf, len);
}

static void test_source_address(void **state)
{
	struct pb p;
	uint8_t addr[16], want[16];

	(void)state;
	pb_init(&p);
	pb_eth(&p, MAC_SRC, MAC_DST);
	pb_vlan(&p, 0x88a8, 100);
	pb_vlan(&p, 0x8100, 200);
	pb_ipv4(&p, "198.18.7.9", "198.19.0.25", NULL);
	pb_tcp(&p, 40000, 25, 0x02, NULL);
	size_t len = pb_finish(&p);
	assert_true(mg_frame_src(p.buf, len, addr));
	pb_v4mapped("198.18.7.9", want);
	assert_memory_equal(addr, want, 16);

	len = eth_frame(&p, true);
	assert_true(mg_frame_src(p.buf, len, addr));
	assert_int_equal(mg_addr_parse("2001:db8::2", want), 0);
	assert_memory_equal(addr, want, 16);

	/* ARP has no IP source. */
	pb_init(&p);
	pb_eth(&p, MAC_SRC, MAC_DST);
	pb_ethertype_raw(&p, 0x0806);
	pb_payload(&p, "\0\1\10\0\6\4\0\1", 8);
	len = pb_finish(&p);
	assert_false(mg_frame_src(p.buf, len, addr));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ethernet_as_is),
		cmocka_unit_test(test_linux_cooked),
		cmocka_unit_test(test_raw_ip_and_loopback),
		cmocka_unit_test(test_unknown_link_type),
		cmocka_unit_test(test_tso_length_repaired),
		cmocka_unit_test(test_source_address),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
