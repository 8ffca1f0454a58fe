// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_xdp_packets.c - packet tests of the XDP program through
 * BPF_PROG_TEST_RUN. Frames are built here; every test asserts the verdict
 * and the exact counters the program kept.
 */
#define _GNU_SOURCE /* unshare, setns: the uplink tests run in a network namespace of their own */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <cmocka.h>
#include <linux/bpf.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "mg_activity.h"
#include "mg_addr.h"
#include "mg_clock.h"
#include "mg_loader.h"
#include "mg_stats.h"
#include "pktbuild.h"
#include "mg_xdp.skel.h"
#include "xdp_harness.h"

static struct xh H; /* one load for the group; maps emptied before each test */

#define CLIENT4 "198.18.0.2"
#define OTHER4  "198.18.0.3"
#define SERVER4 "198.18.1.1"
#define CLIENT6 "2001:db8:0:1::2"
#define SERVER6 "2001:db8:0:2::1"

/* ---- frame recipes ---------------------------------------------------- */

struct l2 {
	int ntags;
	uint16_t tpid[2], vid[2];
};

static void put_l2(struct pb *p, const struct l2 *l2)
{
	static const uint8_t mac[6] = { 0x02, 0, 0, 0, 0xaa, 0x01 };

	pb_eth(p, mac, NULL);
	for (int i = 0; l2 && i < l2->ntags; i++)
		pb_vlan(p, l2->tpid[i], l2->vid[i]);
}

static void put_ip(struct pb *p, const char *src, const char *dst)
{
	if (strchr(src, ':'))
		pb_ipv6(p, src, dst, NULL);
	else
		pb_ipv4(p, src, dst, NULL);
}

/* A typical Linux SYN: MSS 1460, SACK-permitted, timestamps, NOP, window scale 7. */
static size_t syn(struct pb *p, const char *src, const char *dst, uint16_t dport, const struct l2 *l2)
{
	struct pb_tcp_opts o;

	pb_init(p);
	put_l2(p, l2);
	put_ip(p, src, dst);
	pb_tcp_opts_linux_syn(&o);
	pb_tcp(p, 40000, dport, PB_TCP_SYN, &o);
	return pb_finish(p);
}

/* A client segment (ACK|PSH) carrying `payload` to dport. */
static size_t seg(struct pb *p, const char *src, const char *dst, uint16_t sport, uint16_t dport,
		  const char *payload)
{
	pb_init(p);
	put_l2(p, NULL);
	put_ip(p, src, dst);
	pb_tcp(p, sport, dport, PB_TCP_ACK | PB_TCP_PSH, NULL);
	if (payload)
		pb_payload_str(p, payload);
	return pb_finish(p);
}

static int run(struct pb *p, size_t len)
{
	return xh_run(&H, p->buf, len);
}

static struct mg_global_stats stats(void)
{
	struct mg_global_stats s;

	xh_stats(&H, &s);
	return s;
}

static struct mg_src_stats profile(const char *addr)
{
	struct mg_src_stats s;

	assert_int_equal(xh_source(&H, addr, &s), 0);
	return s;
}

static void assert_no_profile(const char *addr)
{
	struct mg_src_stats s;

	assert_int_equal(xh_source(&H, addr, &s), -ENOENT);
}

/* Send `payload` from CLIENT4 to port 25 and return the client's profile. */
static struct mg_src_stats client_says(const char *payload)
{
	struct pb p;

	assert_int_equal(run(&p, seg(&p, CLIENT4, SERVER4, 40000, 25, payload)), XDP_PASS);
	return profile(CLIENT4);
}

static int reset(void **state)
{
	(void)state;
	xh_reset(&H);
	return 0;
}

/* ---- parsing ------------------------------------------------------------ */

static void syn_to_25(const char *src, const char *dst, const struct l2 *l2)
{
	struct pb p;
	struct mg_global_stats s;
	struct mg_src_stats e;

	assert_int_equal(run(&p, syn(&p, src, dst, 25, l2)), XDP_PASS);
	s = stats();
	assert_int_equal(s.packets, 1);
	assert_int_equal(s.passed, 1);
	assert_int_equal(s.dropped, 0);
	assert_int_equal(s.parse_errors, 0);
	assert_int_equal(s.syn_smtp, 1);
	assert_int_equal(s.src_created, 1);
	e = profile(src);
	assert_int_equal(e.syn_mx, 1);
	assert_int_equal(e.syn_submission, 0);
	assert_int_equal(e.syn_other, 0);
	assert_int_equal(e.vlan_outer, l2 && l2->ntags > 0 ? l2->vid[0] : 0);
	assert_int_equal(e.vlan_inner, l2 && l2->ntags > 1 ? l2->vid[1] : 0);
	assert_int_equal(e.mac[5], 0x01);
	assert_int_equal(e.mac[4], 0xaa);
}

static void test_ipv4_syn(void **state)
{
	(void)state;
	syn_to_25(CLIENT4, SERVER4, NULL);
}

static void test_ipv6_syn(void **state)
{
	(void)state;
	syn_to_25(CLIENT6, SERVER6, NULL);
	/* Profiles aggregate per /64: another host of the same /64 is the same profile. */
	struct pb p;
	assert_int_equal(run(&p, syn(&p, "2001:db8:0:1::99", SERVER6, 25, NULL)), XDP_PASS);
	assert_int_equal(profile(CLIENT6).syn_mx, 2);
	assert_true(profile(CLIENT6).flags & MG_SRC_F_IPV6);
}

static void test_vlan_syn(void **state)
{
	struct l2 l2 = { .ntags = 1, .tpid = { 0x8100 }, .vid = { 42 } };

	(void)state;
	syn_to_25(CLIENT4, SERVER4, &l2);
}

/*
 * The source MAC is stored as one word with the field after it (the outer
 * VLAN in a profile, the source port in an event): six distinct bytes, so
 * that a byte out of place shows, and neighbours that must survive the store.
 */
static void test_mac_stored_whole(void **state)
{
	static const uint8_t mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
	struct pb p;
	struct pb_tcp_opts o;

	(void)state;
	pb_init(&p);
	pb_eth(&p, mac, NULL);
	pb_vlan(&p, 0x88a8, 0xabc);
	pb_vlan(&p, 0x8100, 0x123);
	put_ip(&p, CLIENT4, SERVER4);
	pb_tcp_opts_linux_syn(&o);
	pb_tcp(&p, 40001, 25, PB_TCP_SYN, &o);
	assert_int_equal(run(&p, pb_finish(&p)), XDP_PASS);
	struct mg_src_stats e = profile(CLIENT4);
	assert_memory_equal(e.mac, mac, 6);
	assert_int_equal(e.vlan_outer, 0xabc);
	assert_int_equal(e.vlan_inner, 0x123);
	assert_int_equal(e.flags & ~MG_SRC_F_IPV6, 0);
	assert_int_equal(xh_events(&H), 1);
	struct mg_event *ev = &H.events[0];
	assert_memory_equal(ev->mac, mac, 6);
	assert_int_equal(ev->sport, 40001);
	assert_int_equal(ev->vlan_outer, 0xabc);
	assert_int_equal(ev->vlan_inner, 0x123);
}

static void test_qinq_syn(void **state)
{
	struct l2 l2 = { .ntags = 2, .tpid = { 0x88a8, 0x8100 }, .vid = { 100, 2049 } };

	(void)state;
	syn_to_25(CLIENT6, SERVER6, &l2);
}

static void test_three_tags_not_walked(void **state)
{
	struct pb p;

	(void)state;
	pb_init(&p);
	pb_eth(&p, NULL, NULL);
	pb_vlan(&p, 0x88a8, 1);
	pb_vlan(&p, 0x8100, 2);
	pb_vlan(&p, 0x8100, 3);
	pb_ipv4(&p, CLIENT4, SERVER4, NULL);
	pb_tcp(&p, 40000, 25, PB_TCP_SYN, NULL);
	size_t len = pb_finish(&p);
	assert_int_equal(run(&p, len), XDP_PASS);
	assert_int_equal(stats().non_ip, 1);
	assert_int_equal(stats().syn_smtp, 0);
}

static void test_ipv4_options(void **state)
{
	static const uint8_t ra[4] = { 0x94, 0x04, 0x00, 0x00 }; /* Router Alert */
	struct pb_ip_opts io = { .ttl = 64, .df = 1, .opts = ra, .opts_len = sizeof(ra) };
	struct pb_tcp_opts to;
	struct pb p;

	(void)state;
	pb_init(&p);
	pb_eth(&p, NULL, NULL);
	pb_ipv4(&p, CLIENT4, SERVER4, &io);
	pb_tcp_opts_linux_syn(&to);
	pb_tcp(&p, 40000, 25, PB_TCP_SYN, &to);
	assert_int_equal(run(&p, pb_finish(&p)), XDP_PASS);
	assert_int_equal(stats().parse_errors, 0);
	assert_int_equal(profile(CLIENT4).syn_mx, 1);
}

static void test_ipv6_extension_headers(void **state)
{
	struct pb p;

	(void)state;
	pb_init(&p);
	pb_eth(&p, NULL, NULL);
	pb_ipv6(&p, CLIENT6, SERVER6, NULL);
	pb_ipv6_ext(&p, 0, 0, 0);  /* hop-by-hop */
	pb_ipv6_ext(&p, 60, 0, 0); /* destination options */
	pb_ipv6_ext(&p, 43, 0, 0); /* routing */
	pb_ipv6_ext(&p, 44, 0, 0); /* fragment, offset 0: the TCP header is here */
	pb_tcp(&p, 40000, 25, PB_TCP_SYN, NULL);
	assert_int_equal(run(&p, pb_finish(&p)), XDP_PASS);
	assert_int_equal(stats().parse_errors, 0);
	assert_int_equal(stats().fragments, 0);
	assert_int_equal(profile(CLIENT6).syn_mx, 1);
}

static void test_ipv6_too_many_extension_headers(void **state)
{
	struct pb p;

	(void)state;
	pb_init(&p);
	pb_eth(&p, NULL, NULL);
	pb_ipv6(&p, CLIENT6, SERVER6, NULL);
	for (int i = 0; i < 7; i++)
		pb_ipv6_ext(&p, 60, 0, 0);
	pb_tcp(&p, 40000, 25, PB_TCP_SYN, NULL);
	assert_int_equal(run(&p, pb_finish(&p)), XDP_PASS);
	/* Addresses are known, L4 is not reached: no per-source counting. */
	assert_int_equal(stats().syn_smtp, 0);
	assert_int_equal(stats().passed, 1);
	assert_no_profile(CLIENT6);
}

static void test_fragments(void **state)
{
	struct pb_ip_opts first = { .ttl = 64, .mf = 1, .frag_off = 0 };
	struct pb_ip_opts later = { .ttl = 64, .mf = 0, .frag_off = 185 };
	struct pb p;

	(void)state;
	/* IPv4 first fragment: the TCP header is there and is read. */
	pb_init(&p);
	pb_eth(&p, NULL, NULL);
	pb_ipv4(&p, CLIENT4, SERVER4, &first);
	pb_tcp(&p, 40000, 25, PB_TCP_SYN, NULL);
	assert_int_equal(run(&p, pb_finish(&p)), XDP_PASS);
	assert_int_equal(profile(CLIENT4).syn_mx, 1);

	/* A non-first fragment: no L4; bytes that look like TCP are not read as such. */
	pb_init(&p);
	pb_eth(&p, NULL, NULL);
	pb_ipv4(&p, OTHER4, SERVER4, &later);
	pb_tcp(&p, 40000, 25, PB_TCP_SYN, NULL);
	assert_int_equal(run(&p, pb_finish(&p)), XDP_PASS);
	assert_int_equal(stats().fragments, 1);
	assert_no_profile(OTHER4);

	/* IPv6 fragment header with a nonzero offset. */
	pb_init(&p);
	pb_eth(&p, NULL, NULL);
	pb_ipv6(&p, CLIENT6, SERVER6, NULL);
	pb_ipv6_ext(&p, 44, 185, 0);
	pb_tcp(&p, 40000, 25, PB_TCP_SYN, NULL);
	assert_int_equal(run(&p, pb_finish(&p)), XDP_PASS);
	assert_int_equal(stats().fragments, 2);
	assert_int_equal(stats().parse_errors, 0);
	assert_no_profile(CLIENT6);
}

/*
 * An IPv6 non-first fragment whose fragment header names a destination
 * options header next: that header (if any) was in the first fragment;
 * what follows here is data, not a header to walk. Data that would read as
 * an options header running past the frame is still a fragment, no parse
 * error.
 */
static void test_ipv6_later_fragment_not_walked(void **state)
{
	static const uint8_t data[16] = { 60, 0xff, 1, 2, 3, 4, 5, 6 };
	struct pb p;

	(void)state;
	pb_init(&p);
	pb_eth(&p, NULL, NULL);
	pb_ipv6(&p, CLIENT6, SERVER6, NULL);
	pb_ipv6_ext(&p, 44, 185, 0);
	pb_l4_raw(&p, 60);
	pb_payload(&p, data, sizeof(data));
	assert_int_equal(run(&p, pb_finish(&p)), XDP_PASS);
	struct mg_global_stats s = stats();
	assert_int_equal(s.fragments, 1);
	assert_int_equal(s.parse_errors, 0);
	assert_int_equal(s.passed, 1);
	assert_no_profile(CLIENT6);
}

/*
 * Cut a frame at every header boundary and in the middle of every header:
 * every cut must pass, and count as a parse error exactly when a header the
 * program needed was cut. BPF_PROG_TEST_RUN refuses frames shorter than an
 * Ethernet header, so cuts start there.
 */
static void truncate_everywhere(struct pb *full, size_t len, size_t l4_end)
{
	uint8_t frame[sizeof(full->buf)];
	uint64_t expect_errors = 0;

	memcpy(frame, full->buf, len);
	xh_reset(&H);
	for (size_t cut = 14; cut < len; cut++) {
		xh_reset_traffic(&H); /* no rule changes between cuts */
		int v = xh_run(&H, frame, cut);
		assert_int_equal(v, XDP_PASS);
		struct mg_global_stats s = stats();
		assert_int_equal(s.packets, 1);
		assert_int_equal(s.passed, 1);
		/* Every cut before the end of the TCP header leaves a header incomplete. */
		expect_errors = cut < l4_end ? 1 : 0;
		if (s.parse_errors != expect_errors)
			fail_msg("cut at %zu of %zu: parse_errors %llu, expected %llu", cut, len,
				 (unsigned long long)s.parse_errors, (unsigned long long)expect_errors);
	}
}

static void test_truncated_qinq_ipv4_options(void **state)
{
	static const uint8_t nops[4] = { 1, 1, 1, 0 };
	struct pb_ip_opts io = { .ttl = 64, .df = 1, .opts = nops, .opts_len = 4 };
	struct pb_tcp_opts to;
	struct pb p;

	(void)state;
	pb_init(&p);
	pb_eth(&p, NULL, NULL);
	pb_vlan(&p, 0x88a8, 10);
	pb_vlan(&p, 0x8100, 20);
	pb_ipv4(&p, CLIENT4, SERVER4, &io);
	pb_tcp_opts_linux_syn(&to);
	pb_tcp(&p, 40000, 25, PB_TCP_SYN, &to);
	size_t len = pb_finish(&p);
	truncate_everywhere(&p, len, pb_len_at(&p, PB_L4_END));
}

static void test_truncated_ipv6_ext(void **state)
{
	struct pb p;

	(void)state;
	pb_init(&p);
	pb_eth(&p, NULL, NULL);
	pb_vlan(&p, 0x8100, 7);
	pb_ipv6(&p, CLIENT6, SERVER6, NULL);
	pb_ipv6_ext(&p, 0, 0, 0);
	pb_ipv6_ext(&p, 44, 0, 0);
	pb_tcp(&p, 40000, 25, PB_TCP_ACK | PB_TCP_PSH, NULL);
	pb_payload_str(&p, "EHLO x\r\n");
	size_t len = pb_finish(&p);
	truncate_everywhere(&p, len, pb_len_at(&p, PB_L4_END));
}

static void test_malformed_headers_pass(void **state)
{
	struct pb p;
	size_t len;

	(void)state;
	/* IPv4 IHL below 5. */
	pb_init(&p);
	pb_eth(&p, NULL, NULL);
	pb_ipv4(&p, CLIENT4, SERVER4, NULL);
	pb_tcp(&p, 40000, 25, PB_TCP_SYN, NULL);
	len = pb_finish(&p);
	p.buf[pb_len_at(&p, PB_L3_START)] = 0x44;
	assert_int_equal(run(&p, len), XDP_PASS);
	assert_int_equal(stats().parse_errors, 1);

	/* TCP data offset below 5. */
	struct pb_tcp_opts to = { .doff_override = 4 };
	pb_init(&p);
	pb_eth(&p, NULL, NULL);
	pb_ipv4(&p, CLIENT4, SERVER4, NULL);
	pb_tcp(&p, 40000, 25, PB_TCP_SYN, &to);
	assert_int_equal(run(&p, pb_finish(&p)), XDP_PASS);
	assert_int_equal(stats().parse_errors, 2);
	assert_no_profile(CLIENT4);
	assert_int_equal(stats().passed, 2);
}

/*
 * The fast path (mg_fast_pass4, mg_fast_pass6) passes an ordinary data
 * segment before its packet record is filled. Each frame here is one
 * condition away from it (or on it): whichever path takes it, the verdict and the
 * counters are what the full path always gave, and the frames the fast
 * path must leave alone still reach the handlers (a command to port 25
 * still makes a profile).
 */
struct fast_case {
	const char *name;
	const char *src;           /* NULL: CLIENT4; an IPv6 one goes to SERVER6 */
	bool dstopts;              /* IPv6: a destination options header before TCP */
	int ntags;                 /* 0, 1 (802.1Q), 2 (802.1ad over 802.1Q) */
	struct pb_ip_opts ip;
	struct pb_tcp_opts tcp;
	uint16_t sport, dport;
	uint8_t flags;             /* 0: ACK|PSH */
	const char *payload;       /* NULL: "x" */
	const char *block;         /* a drop-all block in force, or NULL */
	size_t cut;                /* bytes cut off the frame's end */
	uint8_t ver_ihl;           /* nonzero: the network header's first byte, as written */
	int verdict;
	uint64_t parse_errors, fragments, sketched;
	bool profile;              /* the full path's handlers saw it */
};

static const struct fast_case fast_cases[] = {
	{ .name = "data to 443", .verdict = XDP_PASS },
	{ .name = "under one tag", .ntags = 1, .verdict = XDP_PASS },
	{ .name = "under two tags", .ntags = 2, .verdict = XDP_PASS },
	{ .name = "IPv4 options", .ip = { .opts = (const uint8_t[]){ 1, 1, 1, 1 }, .opts_len = 4 }, .verdict = XDP_PASS },
	/* Its ACK number's first byte, read 4 bytes early, would be a valid data offset (5). */
	{ .name = "IPv4 options, command to 25", .ip = { .opts = (const uint8_t[]){ 1, 1, 1, 1 }, .opts_len = 4 },
	  .tcp = { .ack = 0x50000000 }, .dport = 25, .payload = "HELO a.example\r\n", .verdict = XDP_PASS, .profile = true },
	{ .name = "data offset below 5", .tcp = { .doff_override = 4 }, .verdict = XDP_PASS, .parse_errors = 1 },
	{ .name = "data offset past the frame", .tcp = { .doff_override = 15 }, .verdict = XDP_PASS, .parse_errors = 1 },
	{ .name = "data offset past the datagram", .ip = { .len_override = 39 }, .verdict = XDP_PASS, .parse_errors = 1 },
	{ .name = "TCP header cut short", .cut = 12, .verdict = XDP_PASS, .parse_errors = 1 },
	{ .name = "later fragment", .ip = { .frag_off = 1 }, .verdict = XDP_PASS, .fragments = 1 },
	{ .name = "first fragment, more to come", .ip = { .mf = 1 }, .verdict = XDP_PASS },
	{ .name = "SYN to 443", .flags = PB_TCP_SYN, .verdict = XDP_PASS, .sketched = 1 },
	{ .name = "SYN to 25", .dport = 25, .flags = PB_TCP_SYN, .verdict = XDP_PASS, .profile = true },
	{ .name = "command to 25", .dport = 25, .payload = "HELO a.example\r\n", .verdict = XDP_PASS, .profile = true },
	{ .name = "command to 25 under a tag", .ntags = 1, .dport = 25, .payload = "HELO a.example\r\n",
	  .verdict = XDP_PASS, .profile = true },
	{ .name = "from port 25", .sport = 25, .dport = 40000, .verdict = XDP_PASS },
	{ .name = "blocked source", .block = "198.18.0.2/32", .verdict = XDP_DROP },
	{ .name = "blocked source under a tag", .ntags = 1, .block = "198.18.0.0/24", .verdict = XDP_DROP },
	{ .name = "blocked by ::/0", .block = "::/0", .verdict = XDP_DROP },
	{ .name = "blocked neighbour only", .block = "198.18.0.3/32", .verdict = XDP_PASS },
	{ .name = "IPv6 data to 443", .src = CLIENT6, .verdict = XDP_PASS },
	{ .name = "IPv6 under one tag", .src = CLIENT6, .ntags = 1, .verdict = XDP_PASS },
	{ .name = "IPv6 extension header", .src = CLIENT6, .dstopts = true, .verdict = XDP_PASS },
	/* Its sequence number's first byte, read 8 bytes early, would be a valid data offset (5). */
	{ .name = "IPv6 extension header, command to 25", .src = CLIENT6, .dstopts = true, .tcp = { .seq = 0x50000000 }, .dport = 25,
	  .payload = "HELO a.example\r\n", .verdict = XDP_PASS, .profile = true },
	{ .name = "IPv6 data offset past the datagram", .src = CLIENT6, .ip = { .len_override = 19 }, .verdict = XDP_PASS,
	  .parse_errors = 1 },
	{ .name = "IPv6 EtherType, version 4 header", .src = CLIENT6, .ver_ihl = 0x45, .verdict = XDP_PASS,
	  .parse_errors = 1 },
	{ .name = "IPv4 EtherType, version 6 header", .ver_ihl = 0x65, .verdict = XDP_PASS, .parse_errors = 1 },
	{ .name = "IPv6 SYN to 443", .src = CLIENT6, .flags = PB_TCP_SYN, .verdict = XDP_PASS, .sketched = 1 },
	{ .name = "IPv6 command to 25", .src = CLIENT6, .dport = 25, .payload = "HELO a.example\r\n", .verdict = XDP_PASS,
	  .profile = true },
	{ .name = "IPv6 from port 25", .src = CLIENT6, .sport = 25, .dport = 40000, .verdict = XDP_PASS },
	{ .name = "IPv6 blocked source", .src = CLIENT6, .block = "2001:db8:0:1::/64", .verdict = XDP_DROP },
	{ .name = "IPv6 blocked by ::/0", .src = CLIENT6, .block = "::/0", .verdict = XDP_DROP },
	{ .name = "IPv6 blocked neighbour only", .src = CLIENT6, .block = "2001:db8:0:2::/64", .verdict = XDP_PASS },
	/* A v4-mapped IPv6 source answers to the IPv4 rules, on either path. */
	{ .name = "v4-mapped source, IPv4 block", .src = "::ffff:198.18.0.2", .block = "198.18.0.2/32", .verdict = XDP_DROP },
	{ .name = "v4-mapped source, no rule", .src = "::ffff:198.18.0.2", .verdict = XDP_PASS },
};

static void test_fast_path_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(fast_cases) / sizeof(fast_cases[0]); i++) {
		const struct fast_case *c = &fast_cases[i];
		const struct l2 l2 = { .ntags = c->ntags, .tpid = { c->ntags > 1 ? 0x88a8 : 0x8100, 0x8100 },
				       .vid = { 10, 20 } };
		struct pb p;

		const char *src = c->src ? c->src : CLIENT4;
		bool v6 = strchr(src, ':') != NULL;

		xh_reset(&H);
		if (c->block)
			xh_block(&H, c->block, MG_ACT_DROP_ALL, 0);
		pb_init(&p);
		put_l2(&p, &l2);
		if (v6)
			pb_ipv6(&p, src, SERVER6, &c->ip);
		else
			pb_ipv4(&p, src, SERVER4, &c->ip);
		if (c->dstopts)
			pb_ipv6_ext(&p, IPPROTO_DSTOPTS, 8, 0);
		pb_tcp(&p, c->sport ? c->sport : 40000, c->dport ? c->dport : 443,
		       c->flags ? c->flags : PB_TCP_ACK | PB_TCP_PSH, &c->tcp);
		if (!(c->flags & PB_TCP_SYN))
			pb_payload_str(&p, c->payload ? c->payload : "x");
		size_t len = pb_finish(&p) - c->cut;
		if (c->ver_ihl)
			p.buf[pb_len_at(&p, PB_L3_START)] = c->ver_ihl;

		int v = run(&p, len);
		struct mg_global_stats s = stats();
		struct mg_src_stats e;
		bool profile = xh_source(&H, src, &e) == 0;
		if (v != c->verdict || s.packets != 1 || s.passed != (v == XDP_PASS) || s.dropped != (v == XDP_DROP) ||
		    s.parse_errors != c->parse_errors || s.fragments != c->fragments || s.l4_unknown != 0 ||
		    s.syn_sketched != c->sketched || profile != c->profile)
			fail_msg("%s: verdict %d (want %d), passed %llu, dropped %llu, parse errors %llu, fragments %llu, "
				 "sketched %llu, profile %d (want %d)", c->name, v, c->verdict, (unsigned long long)s.passed,
				 (unsigned long long)s.dropped, (unsigned long long)s.parse_errors,
				 (unsigned long long)s.fragments, (unsigned long long)s.syn_sketched, profile, c->profile);
		if (c->profile && c->ntags)
			assert_int_equal(e.vlan_outer, 10);
	}
}

static void test_non_ip_passes(void **state)
{
	static const uint8_t arp[28] = { 0, 1, 8, 0, 6, 4, 0, 1 };
	struct pb p;

	(void)state;
	pb_init(&p);
	pb_eth(&p, NULL, NULL);
	pb_ethertype_raw(&p, 0x0806);
	pb_payload(&p, arp, sizeof(arp));
	assert_int_equal(run(&p, pb_finish(&p)), XDP_PASS);
	assert_int_equal(stats().non_ip, 1);
	assert_int_equal(stats().parse_errors, 0);
	assert_int_equal(stats().passed, 1);
	/*
	 * Counted in the slot of the interface it came in on: a test run's frame
	 * arrives on the loopback device (ifindex 1), and no other slot moves.
	 */
	struct mg_global_stats lo, other;
	assert_int_equal(mg_stats_read_slot(H.stats_fd, 1, &lo), 0);
	assert_int_equal(lo.packets, 1);
	assert_int_equal(lo.passed, 1);
	assert_int_equal(mg_stats_read_slot(H.stats_fd, 1 + MG_IFACE_SLOTS, &other), 0); /* the same slot, modulo */
	assert_int_equal(other.packets, 1);
	assert_int_equal(mg_stats_read_slot(H.stats_fd, 2, &other), 0);
	assert_int_equal(other.packets, 0);
}

static void test_syn_fingerprint(void **state)
{
	struct pb p;
	struct mg_syn_fp fp = {
		.ip_version = 4, .ttl_initial = 64, .df = 1, .wscale = 7,
		.window = 0, .mss = 1460, .n_opts = 5, .opt_kinds = { 2, 4, 8, 1, 3 },
	};

	(void)state;
	size_t len = syn(&p, CLIENT4, SERVER4, 25, NULL);
	/* The window the builder wrote, read back from the frame. */
	size_t tcp = pb_len_at(&p, PB_L4_START);
	fp.window = (uint16_t)(p.buf[tcp + 14] << 8 | p.buf[tcp + 15]);
	assert_int_equal(run(&p, len), XDP_PASS);
	assert_int_equal(profile(CLIENT4).syn_fp_hash, mg_fp_hash(&fp));

	/* The SYN event carries the fingerprint itself. */
	assert_int_equal(xh_events(&H), 1);
	struct mg_event *ev = &H.events[0];
	assert_int_equal(ev->type, MG_EV_SYN_MX);
	assert_int_equal(ev->dport, 25);
	assert_int_equal(ev->sport, 40000);
	assert_int_equal(ev->fp_hash, mg_fp_hash(&fp));
	assert_memory_equal(&ev->u.fp, &fp, sizeof(fp));
	uint8_t src[16], dst[16];
	mg_addr_parse(CLIENT4, src);
	mg_addr_parse(SERVER4, dst);
	assert_memory_equal(ev->src, src, 16);
	assert_memory_equal(ev->dst, dst, 16);
}

/*
 * A SYN to a submission port fingerprints the host too, and must leave the
 * MX destination bits and the MAC alone: the analyzer reads those bits as
 * direct-to-MX fan-out.
 */
static void test_submission_syn_fingerprint_only(void **state)
{
	struct pb p;
	struct mg_syn_fp fp = {
		.ip_version = 4, .ttl_initial = 64, .df = 1, .wscale = 7,
		.window = 0, .mss = 1460, .n_opts = 5, .opt_kinds = { 2, 4, 8, 1, 3 },
	};

	(void)state;
	size_t len = syn(&p, CLIENT4, SERVER4, 587, NULL);
	size_t tcp = pb_len_at(&p, PB_L4_START);
	fp.window = (uint16_t)(p.buf[tcp + 14] << 8 | p.buf[tcp + 15]);
	uint8_t mac[6];
	memcpy(mac, p.buf + 6, 6); /* the frame's source MAC */
	assert_int_equal(run(&p, len), XDP_PASS);
	struct mg_src_stats e = profile(CLIENT4);
	assert_int_equal(e.syn_submission, 1);
	assert_int_equal(e.syn_mx, 0);
	assert_int_equal(e.mx_dst_bits, 0);
	assert_int_equal(e.syn_fp_hash, mg_fp_hash(&fp));
	assert_memory_equal(e.mac, mac, 6);
	assert_int_equal(e.flags & ~MG_SRC_F_IPV6, 0);
}

/* A mail client talking to its relay on 587: SYN counted, commands and replies not (they are no evidence). */
static void test_submission_commands_not_counted(void **state)
{
	struct pb p;

	(void)state;
	assert_int_equal(run(&p, syn(&p, CLIENT4, SERVER4, 587, NULL)), XDP_PASS);
	uint64_t events = stats().events_sent;
	assert_int_equal(run(&p, seg(&p, CLIENT4, SERVER4, 40000, 587, "EHLO DESKTOP-4F3K\r\n")), XDP_PASS);
	assert_int_equal(run(&p, seg(&p, SERVER4, CLIENT4, 587, 40000, "250 ok\r\n")), XDP_PASS);
	struct mg_src_stats e = profile(CLIENT4);
	assert_int_equal(e.syn_submission, 1);
	for (int i = 0; i < MG_CMD_MAX; i++)
		assert_int_equal(e.cmd[i], 0);
	assert_int_equal(e.reply[MG_REPLY_2XX], 0);
	assert_int_equal(e.helo_hash, 0);
	assert_int_equal(stats().events_sent, events); /* no HELO event */
	/* The same on port 25 counts. */
	e = client_says("EHLO DESKTOP-4F3K\r\n");
	assert_int_equal(e.cmd[MG_CMD_EHLO], 1);
}

/*
 * Containment at the first SYN: an active outbreak fingerprint drops a SYN
 * to port 25 from anyone but allowlisted sources and mail servers, unless it
 * goes to one of our mail servers; SYNs to other ports, other fingerprints
 * and everything while no outbreak is announced pass.
 */
static void test_outbreak_containment(void **state)
{
	struct pb p;

	(void)state;
	/* The fingerprint of the builder's SYN, as the kernel reports it. */
	assert_int_equal(run(&p, syn(&p, "198.18.9.1", SERVER4, 25, NULL)), XDP_PASS);
	uint32_t fp = profile("198.18.9.1").syn_fp_hash;
	assert_int_not_equal(fp, 0);

	/* In the map but not announced: the gate spares the lookup, nothing dropped. */
	xh_outbreak(&H, fp, true, false);
	assert_int_equal(run(&p, syn(&p, CLIENT4, SERVER4, 25, NULL)), XDP_PASS);
	xh_outbreak(&H, fp, false, false);

	xh_outbreak(&H, fp, true, true);
	assert_int_equal(run(&p, syn(&p, CLIENT4, SERVER4, 25, NULL)), XDP_DROP);
	assert_int_equal(run(&p, syn(&p, "198.18.9.2", "198.19.7.7", 25, NULL)), XDP_DROP);
	assert_int_equal(xh_outbreak_drops(&H, fp), 2);
	assert_int_equal(stats().drop_reason[MG_DROP_OUTBREAK], 2);
	assert_int_equal(stats().dropped, 2);
	/* Dropped before any profile: the source never got to send a command. */
	struct mg_src_stats e;
	assert_int_equal(xh_source(&H, "198.18.9.2", &e), -ENOENT);
	/* Submission, and a different fingerprint, pass. */
	assert_int_equal(run(&p, syn(&p, CLIENT4, SERVER4, 587, NULL)), XDP_PASS);
	pb_init(&p);
	put_l2(&p, NULL);
	put_ip(&p, "198.18.9.3", SERVER4);
	pb_tcp(&p, 40000, 25, PB_TCP_SYN, NULL); /* no options: another stack */
	assert_int_equal(run(&p, pb_finish(&p)), XDP_PASS);
	/* A mail server with the same OS keeps sending; so does an allowlisted host. */
	assert_int_equal(run(&p, syn(&p, "198.18.9.1", SERVER4, 587, NULL)), XDP_PASS);
	xh_make_server(&H, "198.18.9.1");
	assert_int_equal(run(&p, syn(&p, "198.18.9.1", SERVER4, 25, NULL)), XDP_PASS);
	xh_allow(&H, "198.18.9.4");
	assert_int_equal(run(&p, syn(&p, "198.18.9.4", SERVER4, 25, NULL)), XDP_PASS);
	assert_int_equal(xh_outbreak_drops(&H, fp), 2);
	/*
	 * Mail to one of our mail servers is inbound mail, for the relay to
	 * judge: an outside MTA with the same stock fingerprint delivering to
	 * 198.18.9.1 passes; the same SYN to an outside MX is dropped.
	 */
	assert_int_equal(run(&p, syn(&p, "198.19.30.1", "198.18.9.1", 25, NULL)), XDP_PASS);
	assert_int_equal(run(&p, syn(&p, "198.19.30.1", "198.19.7.7", 25, NULL)), XDP_DROP);
	assert_int_equal(xh_outbreak_drops(&H, fp), 3);
	/* Monitor mode: counted, not dropped. */
	xh_monitor(&H, true);
	assert_int_equal(run(&p, syn(&p, "198.18.9.5", SERVER4, 25, NULL)), XDP_PASS);
	assert_int_equal(xh_outbreak_drops(&H, fp), 4);
	assert_int_equal(stats().monitor_would_drop, 1);
	assert_int_equal(stats().dropped, 3);
	/* The outbreak ends: SYNs pass again. */
	xh_monitor(&H, false);
	xh_outbreak(&H, fp, false, true);
	assert_int_equal(run(&p, syn(&p, "198.18.9.6", SERVER4, 25, NULL)), XDP_PASS);
}

static void test_syn_classes_and_destinations(void **state)
{
	struct pb p;

	(void)state;
	assert_int_equal(run(&p, syn(&p, CLIENT4, SERVER4, 25, NULL)), XDP_PASS);
	assert_int_equal(run(&p, syn(&p, CLIENT4, SERVER4, 587, NULL)), XDP_PASS);
	assert_int_equal(run(&p, syn(&p, CLIENT4, SERVER4, 465, NULL)), XDP_PASS);
	assert_int_equal(run(&p, syn(&p, CLIENT4, SERVER4, 443, NULL)), XDP_PASS);
	char dst[32];
	for (int i = 0; i < 20; i++) {
		snprintf(dst, sizeof(dst), "198.19.%d.25", i);
		assert_int_equal(run(&p, syn(&p, CLIENT4, dst, 25, NULL)), XDP_PASS);
	}
	struct mg_src_stats e = profile(CLIENT4);
	assert_int_equal(e.syn_mx, 21);
	assert_int_equal(e.syn_submission, 2);
	assert_int_equal(e.syn_other, 1);
	/* 21 distinct MX destinations; linear counting over 64 bits is rough but close. */
	unsigned est = mg_distinct_estimate(e.mx_dst_bits);
	assert_in_range(est, 15, 28);
	assert_int_equal(stats().syn_smtp, 23);
}

/* ---- SMTP commands -------------------------------------------------------- */

static void test_commands_any_case(void **state)
{
	(void)state;
	client_says("EHLO mail.example.org\r\n");
	client_says("ehlo mail.example.org\r\n");
	client_says("HeLo mail.example.org\r\n");
	client_says("mail from:<a@example.org>\r\n");
	client_says("Rcpt To:<b@example.org>\r\n");
	client_says("data\r\n");
	client_says("RSET\r\n");
	client_says("QuIt\r\n");
	client_says("NOOP\r\n");
	struct mg_src_stats e = client_says("VRFY postmaster\r\n");
	assert_int_equal(e.cmd[MG_CMD_EHLO], 2);
	assert_int_equal(e.cmd[MG_CMD_HELO], 1);
	assert_int_equal(e.cmd[MG_CMD_MAIL], 1);
	assert_int_equal(e.cmd[MG_CMD_RCPT], 1);
	assert_int_equal(e.cmd[MG_CMD_DATA], 1);
	assert_int_equal(e.cmd[MG_CMD_RSET], 1);
	assert_int_equal(e.cmd[MG_CMD_QUIT], 1);
	assert_int_equal(e.cmd[MG_CMD_OTHER], 2);
	assert_true(e.flags & MG_SRC_F_PAYLOAD);
	assert_int_equal(stats().smtp_cmds, 10);
	/* Case-folded HELO hash: all three spellings hash alike. */
	assert_int_equal(e.helo_hash, mg_helo_hash("MAIL.example.ORG", 16));
}

static void test_pipelined(void **state)
{
	(void)state;
	struct mg_src_stats e = client_says("MAIL FROM:<a@example.org> SIZE=1000\r\n"
					    "RCPT TO:<b@example.org>\r\n"
					    "RCPT TO:<c@example.org>\r\n"
					    "RCPT TO:<d@example.org>\r\n"
					    "DATA\r\n");
	assert_int_equal(e.cmd[MG_CMD_MAIL], 1);
	assert_int_equal(e.cmd[MG_CMD_RCPT], 3);
	assert_int_equal(e.cmd[MG_CMD_DATA], 1);
	assert_int_equal(stats().smtp_cmds, 5);
}

/* Line ends in a segment's last eight bytes (read as one word from the segment's end), with every line length. */
static void test_pipelined_short_tails(void **state)
{
	static const struct { const char *seg; unsigned rset, quit, other; } t[] = {
		{ "RSET\r\nQUIT\r\n", 1, 1, 0 },
		{ "RSET\nQUIT\n", 1, 1, 0 },
		{ "NOOP\r\nNOOP\r\nNOOP\r\nQUIT\r\n", 0, 1, 3 },
		{ "RSET\r\n\x0bQUIT\r\n", 1, 0, 0 },     /* a vertical tab just after the line end: no command */
		{ "RSET\r\nQUIT\r\nRSET", 1, 1, 0 },       /* the last line has no end: not looked for past it */
		{ "RSET xxxxxxxxxx\r\nQUIT\r\n", 1, 1, 0 },
		{ "RSET xxxxxxxxxxx\r\nQUIT\n", 1, 1, 0 },
		{ "RSET xxxxxxxxxxxx\nQUIT\n", 1, 1, 0 },
		{ "RSET\r", 1, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		xh_reset(&H);
		struct mg_src_stats e = client_says(t[i].seg);
		if (e.cmd[MG_CMD_RSET] != t[i].rset || e.cmd[MG_CMD_QUIT] != t[i].quit || e.cmd[MG_CMD_OTHER] != t[i].other)
			fail_msg("segment %zu: RSET %u QUIT %u other %u", i, e.cmd[MG_CMD_RSET], e.cmd[MG_CMD_QUIT],
				 e.cmd[MG_CMD_OTHER]);
	}
}

/* A line's end right where the classification stopped reading (the search starts there), for each verb length. */
static void test_line_end_right_after_verb(void **state)
{
	static const struct { const char *seg; int kind; } t[] = {
		{ "QUIT\nRSET\n", MG_CMD_QUIT },
		{ "STARTTLS\nRSET\n", MG_CMD_STARTTLS },
		{ "RCPT TO:\nRSET\n", MG_CMD_RCPT },
		{ "MAIL FROM:\nRSET\n", MG_CMD_MAIL },
		{ "MAIL FROM:\r\nRSET\r\n", MG_CMD_MAIL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		xh_reset(&H);
		struct mg_src_stats e = client_says(t[i].seg);
		if (e.cmd[t[i].kind] != 1 || e.cmd[MG_CMD_RSET] != 1)
			fail_msg("segment %zu: its command %u, RSET %u", i, e.cmd[t[i].kind], e.cmd[MG_CMD_RSET]);
	}
}

/* Eight kinds in one segment, some twice: each kind's counter gets its own count, the others none. */
static void test_many_kinds_in_one_segment(void **state)
{
	(void)state;
	/* Eight kinds in the eight lines read; the ninth is not read. */
	struct mg_src_stats e = client_says("NOOP\r\nRSET\r\nHELO a.example.org\r\nEHLO a.example.org\r\n"
					    "AUTH PLAIN x\r\nMAIL FROM:<>\r\nRCPT TO:<b@example.org>\r\nQUIT\r\nRSET\r\n");
	for (int k = 0; k < MG_CMD_MAX; k++) {
		unsigned want = k == MG_CMD_DATA || k == MG_CMD_STARTTLS ? 0 : 1;
		if (e.cmd[k] != want)
			fail_msg("kind %d: %u, not %u", k, e.cmd[k], want);
	}
	assert_int_equal(stats().smtp_cmds, 8);
	/* Repeated kinds add their counts; kinds the segment lacks are not touched. */
	e = client_says("RSET\r\nRCPT TO:<c@example.org>\r\nRSET\r\nRCPT TO:<d@example.org>\r\nDATA\r\n");
	assert_int_equal(e.cmd[MG_CMD_RSET], 3);
	assert_int_equal(e.cmd[MG_CMD_RCPT], 3);
	assert_int_equal(e.cmd[MG_CMD_DATA], 1);
	assert_int_equal(e.cmd[MG_CMD_QUIT], 1);
	assert_int_equal(e.cmd[MG_CMD_MAIL], 1);
	assert_int_equal(stats().smtp_cmds, 13);
}

static void test_pipelined_bounded(void **state)
{
	char buf[1024] = "";

	(void)state;
	/* Ten commands in one segment: the program reads the first eight. */
	for (int i = 0; i < 10; i++)
		strcat(buf, "RCPT TO:<someone@example.org>\r\n");
	struct mg_src_stats e = client_says(buf);
	assert_int_equal(e.cmd[MG_CMD_RCPT], 8);
}

static void test_split_commands(void **state)
{
	(void)state;
	/* Split after the verb: counted once, from the first segment. */
	client_says("MAIL FROM:<a@exa");
	struct mg_src_stats e = client_says("mple.org>\r\n");
	assert_int_equal(e.cmd[MG_CMD_MAIL], 1);
	/* Split inside the verb: missed (no reassembly), and nothing else is counted. */
	struct pb p;
	assert_int_equal(run(&p, seg(&p, CLIENT4, SERVER4, 40000, 25, "RC")), XDP_PASS);
	e = client_says("PT TO:<b@example.org>\r\n");
	assert_int_equal(e.cmd[MG_CMD_RCPT], 0);
	assert_int_equal(stats().smtp_cmds, 1);
}

static void test_starttls_and_auth(void **state)
{
	static const char tls_hello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";

	(void)state;
	client_says("EHLO pc.example.org\r\n");
	client_says("STARTTLS\r\n");
	client_says(tls_hello); /* encrypted from here on: not commands */
	client_says("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
	struct mg_src_stats e = client_says("AGFsaWNlAHNlY3JldA==\r\n");
	assert_int_equal(e.cmd[MG_CMD_STARTTLS], 1);
	assert_int_equal(e.cmd[MG_CMD_AUTH], 1);
	assert_int_equal(e.cmd[MG_CMD_EHLO], 1);
	assert_int_equal(stats().smtp_cmds, 3);
}

static void test_body_text_not_commands(void **state)
{
	(void)state;
	client_says("EHLO pc.example.org\r\n");
	/* Message data that begins like a command must not count as one. */
	client_says("Data shows that the quarterly numbers are up.\r\nMAIL FROM:<x@y>\r\n");
	client_says("Mail from the office follows.\r\n");
	client_says("Rcpt tomorrow\r\n");
	client_says("quitting time\r\n");
	struct mg_src_stats e = client_says("From: a@example.org\r\nSubject: hi\r\n\r\n");
	assert_int_equal(e.cmd[MG_CMD_DATA], 0);
	assert_int_equal(e.cmd[MG_CMD_MAIL], 0);
	assert_int_equal(e.cmd[MG_CMD_RCPT], 0);
	assert_int_equal(e.cmd[MG_CMD_QUIT], 0);
	assert_int_equal(stats().smtp_cmds, 1);
}

static void test_helo_event(void **state)
{
	(void)state;
	struct mg_src_stats e = client_says("EHLO  [198.18.0.2]\r\n");
	assert_int_equal(e.helo_hash, mg_helo_hash("[198.18.0.2]", 12));
	assert_int_equal(xh_events(&H), 1);
	struct mg_event *ev = &H.events[0];
	assert_int_equal(ev->type, MG_EV_HELO);
	assert_int_equal(ev->detail, MG_CMD_EHLO);
	assert_int_equal(ev->arg_len, 12);
	assert_memory_equal(ev->u.arg, "[198.18.0.2]", 12);
	assert_int_equal(ev->helo_hash, e.helo_hash);
	assert_int_equal(ev->dport, 25);

	/* A long argument is cut at 64 bytes in the event and in the hash. */
	char line[200], arg[101];
	memset(arg, 'a', 100);
	arg[100] = '\0';
	snprintf(line, sizeof(line), "HELO %s\r\n", arg);
	e = client_says(line);
	assert_int_equal(e.helo_hash, mg_helo_hash(arg, MG_HELO_ARG_MAX));
	assert_int_equal(xh_events(&H), 2);
	assert_int_equal(H.events[1].arg_len, MG_HELO_ARG_MAX);
}

/*
 * A HELO whose line ends right after the verb (a bare LF, as some bots and
 * scripts send) has no argument: the next pipelined line is not its name.
 */
static void test_helo_bare_lf_no_argument(void **state)
{
	(void)state;
	struct mg_src_stats e = client_says("EHLO\nMAIL FROM:<a@example.org>\r\n");
	assert_int_equal(e.cmd[MG_CMD_EHLO], 1);
	assert_int_equal(e.cmd[MG_CMD_MAIL], 1);
	assert_int_equal(xh_events(&H), 2);
	assert_int_equal(H.events[0].type, MG_EV_HELO);
	assert_int_equal(H.events[0].arg_len, 0);
	assert_int_equal(H.events[0].helo_hash, mg_helo_hash("", 0));
	assert_int_equal(e.helo_hash, mg_helo_hash("", 0));
	/* A CR LF after the verb, and a space then a bare LF: no argument either. */
	e = client_says("HELO\r\nQUIT\r\n");
	assert_int_equal(H.events[xh_events(&H) - 1].arg_len, 0);
	e = client_says("HELO \nQUIT\r\n");
	assert_int_equal(H.events[xh_events(&H) - 1].arg_len, 0);
	/* And the ordinary shapes keep their names. */
	e = client_says("HELO  pc.example.org\nQUIT\n");
	assert_int_equal(H.events[xh_events(&H) - 1].arg_len, 14);
	assert_int_equal(e.helo_hash, mg_helo_hash("pc.example.org", 14));
}

/*
 * A source repeating the same HELO sends one event a second; its commands
 * count every time. A new name, or another host of an IPv6 profile's /64,
 * is reported at once.
 */
static void test_helo_event_repeats(void **state)
{
	struct pb p;

	(void)state;
	client_says("EHLO pc.example.org\r\n");
	client_says("EHLO pc.example.org\r\n");
	struct mg_src_stats e = client_says("EHLO pc.example.org\r\n");
	assert_int_equal(e.cmd[MG_CMD_EHLO], 3);
	assert_int_equal(xh_events(&H), 1);
	e = client_says("EHLO other.example.org\r\n");
	assert_int_equal(xh_events(&H), 2);
	assert_memory_equal(H.events[1].u.arg, "other.example.org", 17);
	client_says("EHLO pc.example.org\r\n");
	assert_int_equal(xh_events(&H), 3);
	/* Names that differ in their last byte only (one of 60 bytes, near the 64 kept), and in length. */
	static const char *const names[] = {
		"EHLO a123456789b123456789c123456789d123456789e123456789f123456789\r\n",
		"EHLO a123456789b123456789c123456789d123456789e123456789f12345678X\r\n",
		"EHLO a123456789b123456789c123456789d123456789e12\r\n",
		"EHLO a123456789b123456789c123456789d123456789e1X\r\n",
		"EHLO a123456789b123456789c123456789d123456789e1\r\n",
		"EHLO ab\r\n", "EHLO aX\r\n", "EHLO a\r\n",
		/*
		 * No line end: the search reads to the segment's end, by its last
		 * word shifted (15 bytes) or byte by byte (under 8), and its hash
		 * still tells the names apart.
		 */
		"EHLO abcdefghij", "EHLO abcdefghiX", "EHLO abcdefghi", "EHLO x", "EHLO y", "EHLO\r\n", "EHLO x\r",
	};
	const int n_names = (int)(sizeof(names) / sizeof(names[0]));
	for (int i = 0; i < n_names; i++) {
		e = client_says(names[i]);
		assert_int_equal(xh_events(&H), 4 + i);
		assert_int_equal(H.events[3 + i].helo_hash, e.helo_hash);
		/* And said again: a repeat, no event. */
		client_says(names[i]);
		assert_int_equal(xh_events(&H), 4 + i);
	}
	/* Gone back to the first name: reported, the stored mark being the last name's. */
	client_says("EHLO pc.example.org\r\n");
	assert_int_equal(xh_events(&H), 4 + n_names);
	/* Two hosts of one /64 with one name: both reported, each once (the mark is the last event's: alternating hosts each send). */
	static const char *const hosts[] = { "2001:db8:0:1::2", "2001:db8:0:1::2", "2001:db8:0:1::3", "2001:db8:0:1::3" };
	for (int i = 0; i < 4; i++)
		assert_int_equal(run(&p, seg(&p, hosts[i], SERVER6, 40000, 25, "EHLO pc.example.org\r\n")), XDP_PASS);
	assert_int_equal(xh_events(&H), 6 + n_names);
	assert_int_equal(profile("2001:db8:0:1::9").cmd[MG_CMD_EHLO], 4);
	/* A second later the repeat is reported again (the mark's clock is 2^30 ns). */
	usleep(1200 * 1000);
	client_says("EHLO pc.example.org\r\n");
	assert_int_equal(xh_events(&H), 7 + n_names);
}

/* The envelope sender: what follows "MAIL FROM:", copied once per segment that has a MAIL command, nothing else. */
static void test_mail_event(void **state)
{
	(void)state;
	client_says("RCPT TO:<a@example.org>\r\n");
	assert_int_equal(xh_events(&H), 0);
	client_says("MAIL FROM:<jo@dhl.example> SIZE=10\r\n");
	assert_int_equal(xh_events(&H), 1);
	struct mg_event *ev = &H.events[0];
	assert_int_equal(ev->type, MG_EV_MAIL);
	assert_int_equal(ev->proof, MG_PROOF_PAYLOAD);
	assert_int_equal(ev->arg_len, strlen("<jo@dhl.example> SIZE=10\r\n"));
	assert_memory_equal(ev->u.arg, "<jo@dhl.example> SIZE=10", 24);
	/* Pipelined after an EHLO in one segment: both events, HELO first. */
	client_says("EHLO pc.example.org\r\nMAIL FROM:<>\r\n");
	assert_int_equal(xh_events(&H), 3);
	assert_int_equal(H.events[1].type, MG_EV_HELO);
	assert_int_equal(H.events[2].type, MG_EV_MAIL);
	assert_memory_equal(H.events[2].u.arg, "<>", 2);
	/* A long sender is cut at 64 bytes. */
	char line[200], addr[120];
	memset(addr, 'a', 100);
	memcpy(addr + 100, "@dhl.example", 13);
	snprintf(line, sizeof(line), "MAIL FROM:<%s>\r\n", addr);
	client_says(line);
	assert_int_equal(xh_events(&H), 4);
	assert_int_equal(H.events[3].arg_len, MG_HELO_ARG_MAX);
}

/* The HELO event a segment sent: its argument's length and hash (the harness's event list starts empty). */
static void helo_sent(const uint8_t *frame, size_t len, unsigned want_len, const char *name, const char *what)
{
	H.nevents = 0;
	assert_int_equal(xh_run(&H, frame, len), XDP_PASS);
	if (xh_events(&H) != 1 || H.events[0].type != MG_EV_HELO)
		fail_msg("%s: %d events, no HELO", what, H.nevents);
	if (H.events[0].arg_len != want_len || H.events[0].helo_hash != mg_helo_hash(name, want_len))
		fail_msg("%s: %u bytes, hash %08x; want %u, %08x", what, H.events[0].arg_len, H.events[0].helo_hash,
			 want_len, mg_helo_hash(name, want_len));
}

/*
 * The name's hash is read from the frame a word at a time, and userspace
 * hashes the text byte by byte into the same words: every length up to
 * past MG_HELO_ARG_MAX, each line end (or none), leading spaces, letters
 * at the edges of the fold ('@', 'Z', '[', '`', 'z', '{') and bytes over
 * 0x7f whose low seven bits are letters (0xc1 is no 'A'), and frames cut
 * short of their IP length at every byte of the name.
 */
static void test_helo_hash_every_shape(void **state)
{
	static const char alphabet[] = "Mail-@Z[`z{.9\xc1\xda\x80";
	static const char *const ends[] = { "\r\n", "\n", "\r", "" };
	char name[80], line[120];
	struct pb p;

	(void)state;
	for (unsigned n = 0; n <= MG_HELO_ARG_MAX + 6; n++) {
		for (unsigned e = 0; e < 4; e++) {
			/* A name of its own each time: an equal one within the second sends no event. */
			for (unsigned i = 0; i < n; i++)
				name[i] = alphabet[(i * 7 + n * 3 + e) % (sizeof(alphabet) - 1)];
			if (n >= 2) {
				name[0] = (char)('a' + e);
				name[1] = (char)('a' + n % 26);
			}
			name[n] = '\0';
			unsigned want = n < MG_HELO_ARG_MAX ? n : MG_HELO_ARG_MAX;
			/* A name that ends at the frame's end: an empty one sends nothing to hash. */
			if (n == 0 && !*ends[e])
				continue;
			snprintf(line, sizeof(line), "%s%s%s", e % 2 ? "EHLO " : "HELO   ", name, ends[e]);
			size_t len = seg(&p, CLIENT4, SERVER4, 40000, 25, line);
			char what[64];
			snprintf(what, sizeof(what), "name of %u bytes, end %u", n, e);
			helo_sent(p.buf, len, want, name, what);
		}
	}
	/* The frame cut inside the name (its IP length says more): the bytes the frame holds. */
	for (unsigned n = 1; n <= 20; n++) {
		for (unsigned i = 0; i < n; i++)
			name[i] = alphabet[(i * 5 + n) % (sizeof(alphabet) - 1)];
		name[0] = 'c';
		name[1 % n] = (char)('a' + n);
		name[n] = '\0';
		snprintf(line, sizeof(line), "EHLO %s\r\n", name);
		size_t len = seg(&p, CLIENT4, SERVER4, 40000, 25, line);
		for (unsigned cut = 1; cut < n; cut++) {
			char what[64];
			snprintf(what, sizeof(what), "name of %u bytes cut at %u", n, cut);
			/* A new source each time, so that the name's line (its mark) is never a repeat of the last. */
			xh_reset_traffic(&H);
			helo_sent(p.buf, len - 2 - (n - cut), cut, name, what);
		}
	}
}

/*
 * An event's argument is copied a word at a time while the frame holds
 * whole words, else by the helper: arguments ending at the frame's very end
 * (no line end after them) at every remainder, and one of the full 64 bytes.
 */
static void test_event_argument_at_frame_end(void **state)
{
	char name[80], line[100];

	(void)state;
	for (unsigned len = 1; len <= MG_HELO_ARG_MAX; len++) {
		for (unsigned i = 0; i < len; i++)
			name[i] = (char)('a' + (i + len) % 26);
		name[len] = '\0';
		/* Odd lengths end at the frame's end, even ones before a line end. */
		snprintf(line, sizeof(line), "EHLO %s%s", name, len % 2 ? "" : "\r\n");
		client_says(line);
		int n = xh_events(&H);
		assert_true(n > 0);
		const struct mg_event *ev = &H.events[n - 1];
		assert_int_equal(ev->type, MG_EV_HELO);
		if (ev->arg_len != len || memcmp(ev->u.arg, name, len))
			fail_msg("name of %u bytes: event has %u bytes", len, ev->arg_len);
		assert_int_equal(ev->helo_hash, mg_helo_hash(name, len));
	}
	/* A sender at the frame's end, shorter than a word and longer (the harness keeps 64 events: a fresh start). */
	xh_reset(&H);
	client_says("MAIL FROM:<a@b>");
	int n = xh_events(&H);
	assert_int_equal(H.events[n - 1].type, MG_EV_MAIL);
	assert_int_equal(H.events[n - 1].arg_len, 5);
	assert_memory_equal(H.events[n - 1].u.arg, "<a@b>", 5);
	client_says("MAIL FROM:<someone@example.org>");
	n = xh_events(&H);
	assert_int_equal(H.events[n - 1].arg_len, 21);
	assert_memory_equal(H.events[n - 1].u.arg, "<someone@example.org>", 21);
}

static void test_ethernet_padding_is_not_payload(void **state)
{
	struct pb p;

	(void)state;
	/* A bare ACK (54 bytes) padded to the 60-byte minimum with bytes that read "QUIT\r\n". */
	size_t len = seg(&p, CLIENT4, SERVER4, 40000, 25, NULL);
	assert_int_equal(len, 54);
	memcpy(p.buf + len, "QUIT\r\n", 6);
	assert_int_equal(run(&p, 60), XDP_PASS);
	assert_int_equal(stats().smtp_cmds, 0);
	assert_no_profile(CLIENT4);
}

/* ---- replies ---------------------------------------------------------------- */

static void test_replies(void **state)
{
	struct pb p;

	(void)state;
	/* A reply toward an unknown client creates nothing. */
	assert_int_equal(run(&p, seg(&p, SERVER4, CLIENT4, 25, 40000, "220 mx ESMTP\r\n")), XDP_PASS);
	assert_no_profile(CLIENT4);
	assert_no_profile(SERVER4);

	client_says("EHLO pc.example.org\r\n");
	assert_int_equal(run(&p, seg(&p, SERVER4, CLIENT4, 25, 40000, "250-mx.example.org\r\n250 PIPELINING\r\n")), XDP_PASS);
	assert_int_equal(run(&p, seg(&p, SERVER4, CLIENT4, 25, 40000, "421 4.7.0 try later\r\n")), XDP_PASS);
	assert_int_equal(run(&p, seg(&p, SERVER4, CLIENT4, 25, 40000, "550 5.7.1 rejected\r\n")), XDP_PASS);
	assert_int_equal(run(&p, seg(&p, SERVER4, CLIENT4, 25, 40000, "550-5.7.1 multi\r\n550 5.7.1 line\r\n")), XDP_PASS);
	assert_int_equal(run(&p, seg(&p, SERVER4, CLIENT4, 25, 40000, "354 go ahead\r\n")), XDP_PASS);
	assert_int_equal(run(&p, seg(&p, SERVER4, CLIENT4, 25, 40000, "garbage\r\n")), XDP_PASS);
	struct mg_src_stats e = profile(CLIENT4);
	assert_int_equal(e.reply[MG_REPLY_2XX], 1);
	assert_int_equal(e.reply[MG_REPLY_4XX], 1);
	assert_int_equal(e.reply[MG_REPLY_5XX], 2);
	assert_int_equal(stats().smtp_replies, 4);
	assert_no_profile(SERVER4);
}

static void test_synack_marks_server(void **state)
{
	struct pb p;

	(void)state;
	pb_init(&p);
	pb_eth(&p, NULL, NULL);
	pb_ipv4(&p, SERVER4, CLIENT4, NULL);
	pb_tcp(&p, 25, 40000, PB_TCP_SYN | PB_TCP_ACK, NULL);
	assert_int_equal(run(&p, pb_finish(&p)), XDP_PASS);
	struct mg_src_stats e = profile(SERVER4);
	assert_int_equal(e.synack_smtp, 1);
	assert_true(e.flags & MG_SRC_F_SERVES_SMTP);
	assert_int_equal(e.syn_mx, 0);
}

/* ---- per-source state: who may create it ------------------------------------ */

static void test_bulk_does_not_touch_profiles(void **state)
{
	struct pb p;

	(void)state;
	assert_int_equal(run(&p, syn(&p, CLIENT4, SERVER4, 25, NULL)), XDP_PASS);
	struct mg_src_stats before = profile(CLIENT4);
	assert_int_equal(run(&p, seg(&p, CLIENT4, SERVER4, 40000, 443, "GET / HTTP/1.1\r\n")), XDP_PASS);
	assert_int_equal(run(&p, seg(&p, CLIENT4, SERVER4, 40000, 25, NULL)), XDP_PASS);
	struct mg_src_stats after = profile(CLIENT4);
	assert_memory_equal(&before, &after, sizeof(before));
	/* And bulk from an unknown source creates nothing. */
	assert_int_equal(run(&p, seg(&p, OTHER4, SERVER4, 40000, 443, "GET / HTTP/1.1\r\n")), XDP_PASS);
	assert_no_profile(OTHER4);
	assert_int_equal(stats().src_created, 1);
}

static void test_syn_other_port_goes_to_sketch(void **state)
{
	struct pb p;
	uint8_t key[16];

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(run(&p, syn(&p, OTHER4, SERVER4, 443, NULL)), XDP_PASS);
	assert_no_profile(OTHER4);
	struct mg_global_stats s = stats();
	assert_int_equal(s.syn_sketched, 3);
	assert_int_equal(s.src_created, 0);
	mg_addr_parse(OTHER4, key);
	assert_int_equal(mg_sketch_estimate(H.sketch_fd, key, 0), 3);
	assert_int_equal(mg_sketch_estimate(H.sketch_fd, key, 1), 0);
	/* Once the source has a profile, its SYNs to other ports are counted there. */
	assert_int_equal(run(&p, syn(&p, OTHER4, SERVER4, 25, NULL)), XDP_PASS);
	assert_int_equal(run(&p, syn(&p, OTHER4, SERVER4, 443, NULL)), XDP_PASS);
	assert_int_equal(profile(OTHER4).syn_other, 1);
	assert_int_equal(stats().syn_sketched, 3);
}

static void test_servers_updated_in_place(void **state)
{
	struct pb p;

	(void)state;
	client_says("EHLO mx1.example.org\r\n");
	xh_make_server(&H, CLIENT4);
	client_says("MAIL FROM:<a@example.org>\r\n");
	assert_int_equal(run(&p, syn(&p, CLIENT4, SERVER4, 25, NULL)), XDP_PASS);
	struct mg_src_stats e;
	/* Only in mg_servers, with all counts. */
	uint8_t key[16];
	mg_addr_parse(CLIENT4, key);
	const char *table = NULL;
	assert_int_equal(mg_source_read(H.servers_fd, -1, key, &e, &table), 0);
	assert_string_equal(table, "servers");
	assert_int_equal(e.cmd[MG_CMD_EHLO], 1);
	assert_int_equal(e.cmd[MG_CMD_MAIL], 1);
	assert_int_equal(e.syn_mx, 1);
	assert_int_equal(mg_source_read(-1, H.sources_fd, key, &e, &table), -ENOENT);
}

/* ---- enforcement -------------------------------------------------------------- */

static void expect_syn(const char *src, int verdict)
{
	struct pb p;

	assert_int_equal(run(&p, syn(&p, src, SERVER4, 25, NULL)), verdict);
}

static void test_block_prefixes_v4(void **state)
{
	(void)state;
	xh_block(&H, "198.18.0.2/32", MG_ACT_DROP_SMTP, 0);
	expect_syn(CLIENT4, XDP_DROP);
	expect_syn(OTHER4, XDP_PASS);
	assert_int_equal(xh_rule_hits(&H, "198.18.0.2/32"), 1);

	xh_reset(&H);
	xh_block(&H, "198.18.0.0/24", MG_ACT_DROP_SMTP, 0);
	expect_syn(CLIENT4, XDP_DROP);
	expect_syn(OTHER4, XDP_DROP);
	expect_syn("198.18.1.2", XDP_PASS);
	assert_int_equal(xh_rule_hits(&H, "198.18.0.0/24"), 2);
	struct mg_global_stats s = stats();
	assert_int_equal(s.dropped, 2);
	assert_int_equal(s.drop_reason[MG_DROP_BLOCK_SMTP], 2);
	assert_int_equal(s.passed, 1);
	/* Dropped packets do not feed profiles. */
	assert_no_profile(CLIENT4);
}

static void test_block_prefixes_v6(void **state)
{
	struct pb p;

	(void)state;
	xh_block(&H, "2001:db8:0:1::2/128", MG_ACT_DROP_SMTP, 0);
	assert_int_equal(run(&p, syn(&p, CLIENT6, SERVER6, 25, NULL)), XDP_DROP);
	assert_int_equal(run(&p, syn(&p, "2001:db8:0:1::3", SERVER6, 25, NULL)), XDP_PASS);

	xh_reset(&H);
	xh_block(&H, "2001:db8:0:1::/64", MG_ACT_DROP_SMTP, 0);
	assert_int_equal(run(&p, syn(&p, CLIENT6, SERVER6, 25, NULL)), XDP_DROP);
	assert_int_equal(run(&p, syn(&p, "2001:db8:0:1:ffff::1", SERVER6, 25, NULL)), XDP_DROP);
	assert_int_equal(run(&p, syn(&p, "2001:db8:0:2::2", SERVER6, 25, NULL)), XDP_PASS);
	/* An IPv4 rule never matches IPv6 and the reverse. */
	xh_block(&H, "0.0.0.0/0", MG_ACT_DROP_ALL, 0);
	assert_int_equal(run(&p, syn(&p, "2001:db8:0:2::2", SERVER6, 25, NULL)), XDP_PASS);
	assert_int_equal(stats().dropped, 2);
}

static void test_allow_beats_block(void **state)
{
	(void)state;
	/* A longer block inside an allow: the allow wins. */
	xh_allow(&H, "198.18.0.0/24");
	xh_block(&H, "198.18.0.2/32", MG_ACT_DROP_ALL, 0);
	expect_syn(CLIENT4, XDP_PASS);
	assert_int_equal(xh_rule_hits(&H, "198.18.0.2/32"), 0);
	assert_int_equal(xh_allow_hits(&H, "198.18.0.0/24"), 1);
	assert_int_equal(stats().allowlisted, 1);
	/* An allowlisted source no rule blocks costs no allowlist lookup and is not counted. */
	expect_syn(OTHER4, XDP_PASS);
	assert_int_equal(stats().allowlisted, 1);

	/* An allow inside a block: that host passes, its neighbours are dropped. */
	xh_reset(&H);
	xh_block(&H, "198.18.0.0/16", MG_ACT_DROP_ALL, 0);
	xh_allow(&H, "198.18.0.2/32");
	expect_syn(CLIENT4, XDP_PASS);
	expect_syn(OTHER4, XDP_DROP);

	/* Allow above two nested blocks still wins. */
	xh_reset(&H);
	xh_allow(&H, "198.18.0.0/15");
	xh_block(&H, "198.18.0.0/24", MG_ACT_DROP_ALL, 0);
	xh_block(&H, "198.18.0.2/32", MG_ACT_DROP_ALL, 0);
	expect_syn(CLIENT4, XDP_PASS);
	expect_syn(OTHER4, XDP_PASS);
	assert_int_equal(stats().allowlisted, 2);
	assert_int_equal(stats().dropped, 0);
}

static void test_expiry(void **state)
{
	(void)state;
	xh_block_expired(&H, "198.18.0.2/32", MG_ACT_DROP_ALL);
	expect_syn(CLIENT4, XDP_PASS);
	assert_int_equal(stats().expired_rules, 1);
	assert_int_equal(xh_rule_hits(&H, "198.18.0.2/32"), 0);

	/* An expired /32 under an active /24: the /24 applies. */
	xh_block(&H, "198.18.0.0/24", MG_ACT_DROP_SMTP, 3600);
	expect_syn(CLIENT4, XDP_DROP);
	assert_int_equal(xh_rule_hits(&H, "198.18.0.0/24"), 1);
	assert_int_equal(stats().drop_reason[MG_DROP_BLOCK_SMTP], 1);
}

/* ---- the rule index: every length pair, expiry, both families -------------- */

/* S masked to len (16-byte bits). */
static struct mg_prefix prefix_of(const char *addr, unsigned len)
{
	struct mg_prefix p = { .prefixlen = (uint8_t)len };

	assert_int_equal(mg_addr_parse(addr, p.addr), 0);
	mg_addr_mask(p.addr, len);
	return p;
}

/* A data segment to 443: no profile, no event, so thousands of runs only test the rules. */
static int verdict_of(const char *src)
{
	struct pb p;

	return run(&p, seg(&p, src, strchr(src, ':') ? SERVER6 : SERVER4, 40000, 443, "x"));
}

/*
 * An allow rule wins over a block rule whatever the two lengths: every pair
 * of 16-byte lengths 0..128 over one IPv4 and one IPv6 source (for the IPv4
 * one, lengths up to /96 are the v6-shaped prefixes that cover v4-mapped
 * space, ::/0 included). Each pair goes in and out through the writer, so
 * deleting a rule is tested with every neighbour length too.
 */
static void test_allow_wins_every_length_pair(void **state)
{
	static const char *const srcs[] = { CLIENT4, CLIENT6 };

	(void)state;
	for (size_t s = 0; s < 2; s++)
		for (unsigned b = 0; b <= 128; b++)
			for (unsigned a = 0; a <= 128; a++) {
				struct mg_prefix bp = prefix_of(srcs[s], b), ap = prefix_of(srcs[s], a);
				assert_int_equal(mg_rulemap_block(&H.rules, &bp, MG_ACT_DROP_ALL, 0), 0);
				assert_int_equal(mg_rulemap_allow(&H.rules, &ap), 0);
				if (verdict_of(srcs[s]) != XDP_PASS)
					fail_msg("%s: block /%u, allow /%u: dropped", srcs[s], b, a);
				assert_int_equal(mg_rulemap_unallow(&H.rules, &ap), 0);
				if (verdict_of(srcs[s]) != XDP_DROP)
					fail_msg("%s: block /%u alone: passed", srcs[s], b);
				assert_int_equal(mg_rulemap_unblock(&H.rules, &bp), 0);
				if (verdict_of(srcs[s]) != XDP_PASS)
					fail_msg("%s: no rules after block /%u: dropped", srcs[s], b);
			}
	struct mg_global_stats st = stats();
	assert_int_equal(st.allowlisted, 2 * 129 * 129);
	assert_int_equal(st.dropped, 2 * 129 * 129);
}

/* The text of a 16-byte address. */
static const char *addr_text(const uint8_t a[16])
{
	static char buf[2][64];
	static int k;

	k ^= 1;
	return mg_addr_str(a, buf[k], sizeof(buf[k]));
}

/* a + d (d = 1 or -1), as a 128-bit number. */
static void addr_step(uint8_t a[16], int d)
{
	for (int i = 15; i >= 0; i--) {
		a[i] = (uint8_t)(a[i] + d);
		if (a[i] != (d > 0 ? 0 : 0xff))
			return;
	}
}

/*
 * A block covers the whole of its prefix and nothing beside it, at every
 * length, whatever bucket or sub-bucket of the index each address falls in:
 * the rule is the prefix of the test range's last address, checked at its
 * first and last addresses (those inside the test range: 198.18.0.0/15,
 * 2001:db8::/32) and at the addresses just outside, where they are in range.
 */
static void test_block_covers_whole_prefix_every_length(void **state)
{
	static const struct { const char *lo, *hi; unsigned min_len; } fam[] = {
		{ "198.18.0.0", "198.19.255.255", 96 + 15 },
		{ "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 32 },
	};

	(void)state;
	for (size_t f = 0; f < 2; f++) {
		uint8_t lo[16], hi[16];
		assert_int_equal(mg_addr_parse(fam[f].lo, lo), 0);
		assert_int_equal(mg_addr_parse(fam[f].hi, hi), 0);
		for (unsigned len = f ? 1 : 97; len <= 128; len++) {
			struct mg_prefix bp = prefix_of(fam[f].hi, len);
			uint8_t first[16], last[16], before[16];
			memcpy(first, len >= fam[f].min_len ? bp.addr : lo, 16);
			memcpy(last, hi, 16);
			memcpy(before, first, 16);
			addr_step(before, -1);
			assert_int_equal(mg_rulemap_block(&H.rules, &bp, MG_ACT_DROP_ALL, 0), 0);
			if (verdict_of(addr_text(first)) != XDP_DROP || verdict_of(addr_text(last)) != XDP_DROP)
				fail_msg("/%u: %s or %s passed", len, addr_text(first), addr_text(last));
			if (len > fam[f].min_len && verdict_of(addr_text(before)) != XDP_PASS)
				fail_msg("/%u: %s, outside, dropped", len, addr_text(before));
			/* Beside a rule of the next length up in the other half: both halves still right. */
			if (len < 128) {
				struct mg_prefix lower = prefix_of(fam[f].lo, len + 1);
				if (len >= fam[f].min_len)
					lower = prefix_of(addr_text(bp.addr), len + 1);
				assert_int_equal(mg_rulemap_block(&H.rules, &lower, MG_ACT_DROP_ALL, 0), 0);
				if (verdict_of(addr_text(first)) != XDP_DROP || verdict_of(addr_text(last)) != XDP_DROP)
					fail_msg("/%u beside /%u: %s or %s passed", len, len + 1, addr_text(first), addr_text(last));
				assert_int_equal(mg_rulemap_unblock(&H.rules, &lower), 0);
			}
			assert_int_equal(mg_rulemap_unblock(&H.rules, &bp), 0);
			if (verdict_of(addr_text(first)) != XDP_PASS || verdict_of(addr_text(last)) != XDP_PASS)
				fail_msg("/%u removed: %s or %s dropped", len, addr_text(first), addr_text(last));
		}
	}
}

/*
 * A longer expired block never hides a shorter one in force: every pair of
 * lengths, for both sources. Two expired blocks let the packet through.
 */
static void test_expired_longer_block_every_length_pair(void **state)
{
	static const char *const srcs[] = { CLIENT4, CLIENT6 };
	uint64_t expired = 0;

	(void)state;
	for (size_t s = 0; s < 2; s++)
		for (unsigned lx = 1; lx <= 128; lx++)
			for (unsigned ls = 0; ls < lx; ls++) {
				struct mg_prefix xp = prefix_of(srcs[s], lx), sp = prefix_of(srcs[s], ls);
				assert_int_equal(mg_rulemap_block_until(&H.rules, &xp, MG_ACT_DROP_ALL, mg_mono_ns() - 1), 0);
				assert_int_equal(mg_rulemap_block(&H.rules, &sp, MG_ACT_DROP_ALL, 3600), 0);
				if (verdict_of(srcs[s]) != XDP_DROP)
					fail_msg("%s: /%u expired over /%u in force: passed", srcs[s], lx, ls);
				expired++;
				assert_int_equal(mg_rulemap_block_until(&H.rules, &sp, MG_ACT_DROP_ALL, mg_mono_ns() - 1), 0);
				if (verdict_of(srcs[s]) != XDP_PASS)
					fail_msg("%s: /%u and /%u both expired: dropped", srcs[s], lx, ls);
				expired += 2;
				assert_int_equal(mg_rulemap_unblock(&H.rules, &xp), 0);
				assert_int_equal(mg_rulemap_unblock(&H.rules, &sp), 0);
			}
	assert_int_equal(stats().expired_rules, expired);
}

static struct xh H_big_index;

/*
 * The same tests on a small index: 2^12 IPv4 buckets (/12s) and 2^8 IPv6
 * ones, so that short IPv4 rules set thousands of bits, not millions, for
 * every pair of lengths, and IPv6 networks share buckets far more often.
 */
static int load_small_index(void **state)
{
	struct mg_tunables t = MG_TUNABLES_DEFAULT;

	(void)state;
	t.rule_v4_bits = 12;
	t.rule_v6_bits = 8;
	H_big_index = H;
	return xh_load(&H, &t);
}

static int unload_small_index(void **state)
{
	(void)state;
	xh_unload(&H);
	H = H_big_index;
	return 0;
}

/* Is there an entry for v4 masked to the 16-byte length len in the 8-byte map fd4? in the 20-byte map fd? */
static bool in_map4(int fd4, const char *v4, unsigned len)
{
	struct mg_rule_key4 k = { .prefixlen = len };
	struct mg_rule r;

	assert_int_equal(inet_pton(AF_INET, v4, &k.addr), 1);
	k.addr &= htonl(mg_rule_mask4(len));
	return bpf_map_lookup_elem(fd4, &k, &r) == 0;
}

static bool in_map(int fd, const struct mg_prefix *p)
{
	struct mg_lpm_key k;
	struct mg_rule r;

	mg_lpm_key_from_prefix(&k, p);
	return bpf_map_lookup_elem(fd, &k, &r) == 0;
}

static int count_rule(const struct mg_prefix *p, const struct mg_rule *r, void *arg)
{
	(void)p;
	(void)r;
	++*(int *)arg;
	return 0;
}

/*
 * IPv4 rules (v4-mapped, /96../128) live in the 8-byte-keyed maps and the
 * program finds them there, blocks and allows alike; shorter prefixes that
 * cover v4-mapped space stay in the 20-byte maps. The every-length tests
 * above thus pair each map with each; this shows which one holds what, and
 * that the program reads an IPv4 rule from its own map only.
 */
static void test_ipv4_rules_in_their_own_maps(void **state)
{
	struct mg_prefix b32 = prefix_of(CLIENT4, 128), a24 = prefix_of(CLIENT4, 120), all = prefix_of(CLIENT4, 0);
	struct mg_prefix v4all = prefix_of(CLIENT4, 96), b95 = prefix_of(CLIENT4, 95);
	struct mg_rule r;
	int n = 0;

	(void)state;
	assert_int_equal(mg_rulemap_block(&H.rules, &b32, MG_ACT_DROP_ALL, 0), 0);
	assert_true(in_map4(H.block4_fd, CLIENT4, 128));
	assert_false(in_map(H.block_fd, &b32));
	assert_int_equal(verdict_of(CLIENT4), XDP_DROP);
	assert_int_equal(xh_rule_hits(&H, CLIENT4 "/32"), 1);

	assert_int_equal(mg_rulemap_allow(&H.rules, &a24), 0);
	assert_true(in_map4(H.allow4_fd, CLIENT4, 120));
	assert_false(in_map(H.allow_fd, &a24));
	assert_int_equal(verdict_of(CLIENT4), XDP_PASS);
	assert_int_equal(xh_allow_hits(&H, "198.18.0.0/24"), 1);
	assert_int_equal(mg_rulemap_unallow(&H.rules, &a24), 0);

	/* 0.0.0.0/0 is ::ffff:0:0/96, an IPv4 rule; ::/0 and a /95 are not. */
	assert_int_equal(mg_rulemap_block(&H.rules, &v4all, MG_ACT_DROP_ALL, 0), 0);
	assert_int_equal(mg_rulemap_block(&H.rules, &all, MG_ACT_DROP_ALL, 0), 0);
	assert_int_equal(mg_rulemap_block(&H.rules, &b95, MG_ACT_DROP_ALL, 0), 0);
	assert_true(in_map4(H.block4_fd, "0.0.0.0", 96));
	assert_true(in_map(H.block_fd, &all));
	assert_true(in_map(H.block_fd, &b95));
	assert_false(in_map(H.block_fd, &v4all));

	/* The readers see every rule once, from both maps, and each where it is. */
	assert_int_equal(mg_rulemap_foreach(H.block4_fd, H.block_fd, count_rule, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(mg_rulemap_get(H.block4_fd, H.block_fd, &v4all, &r), 0);
	assert_int_equal(r.prefixlen, 96);
	assert_int_equal(mg_rulemap_get(H.block4_fd, H.block_fd, &b95, &r), 0);
	assert_int_equal(r.prefixlen, 95);

	/* Only the /32 left, moved by hand to the 20-byte map: the index still names /128, but the program does not look there. */
	assert_int_equal(mg_rulemap_unblock(&H.rules, &v4all), 0);
	assert_int_equal(mg_rulemap_unblock(&H.rules, &all), 0);
	assert_int_equal(mg_rulemap_unblock(&H.rules, &b95), 0);
	assert_int_equal(verdict_of(CLIENT4), XDP_DROP);
	struct mg_lpm_key k;
	struct mg_rule_key4 k4 = { .prefixlen = 128 };
	mg_lpm_key_from_prefix(&k, &b32);
	memcpy(&k4.addr, &b32.addr[12], 4);
	assert_int_equal(bpf_map_lookup_elem(H.block4_fd, &k4, &r), 0);
	assert_int_equal(bpf_map_delete_elem(H.block4_fd, &k4), 0);
	assert_int_equal(bpf_map_update_elem(H.block_fd, &k, &r, BPF_NOEXIST), 0);
	assert_int_equal(verdict_of(CLIENT4), XDP_PASS);
}

/*
 * A pin dir of the layout before the IPv4 maps (mg_blocklist without
 * mg_blocklist4) is refused by name, never loaded over: its IPv4 rules would
 * sit where the program no longer looks for them.
 */
static void test_old_pin_dir_refused(void **state)
{
	char dir[] = "/tmp/mg-oldpins-XXXXXX", file[64];
	struct mg_handle h;
	struct mg_load_opts o;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/mg_blocklist", dir);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(mg_open_pinned(dir, &h), MG_ERR_OLD_PINS);
	mg_load_opts_default(&o);
	o.pin_dir = dir;
	assert_int_equal(mg_load(&o, &h), MG_ERR_OLD_PINS);
	unlink(file);
	rmdir(dir);
}

/* A pinned map of this name in dir replaced by one of another value size (an older release's layout). */
static void pin_other_layout(const char *dir, const char *name, enum bpf_map_type type, uint32_t key_size,
			     uint32_t value_size, uint32_t entries)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(unlink(path), 0);
	int fd = bpf_map_create(type, name, key_size, value_size, entries, NULL);
	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_pin(fd, path), 0);
	close(fd);
}

static uint32_t pinned_value_size(const char *dir, const char *name)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = bpf_obj_get(path);
	assert_true(fd >= 0);
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	close(fd);
	return info.value_size;
}

/* Load options for a load of its own in dir, with small tables. */
static void small_load_opts(struct mg_load_opts *o, const char *dir)
{
	mg_load_opts_default(o);
	o->pin_dir = dir;
	o->max_sources = o->max_servers = o->max_policy = o->max_allow = 256;
}

static uint32_t pinned_prog_id(const char *dir)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);
	char path[256];

	snprintf(path, sizeof(path), "%s/mtaguard_xdp", dir);
	int fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	close(fd);
	return info.id;
}

/*
 * A load whose setup fails once its program is loaded (here its uplinks,
 * more than the map has slots for) leaves the pinned program as it was,
 * and no pin under the temporary name; the next good load replaces it.
 */
static void test_failed_load_keeps_pinned_program(void **state)
{
	char dir[] = "/sys/fs/bpf/mg-pinkeep-XXXXXX", tmp[256];
	struct mg_load_opts o;
	struct mg_handle h;

	(void)state;
	assert_non_null(mkdtemp(dir));
	small_load_opts(&o, dir);
	assert_int_equal(mg_load(&o, &h), 0);
	assert_int_equal(h.uplinks_n, 0);
	uint32_t first = pinned_prog_id(dir);
	assert_int_not_equal(first, 0);
	mg_close(&h);

	o.tunables.n_uplinks = MG_UPLINKS_MAX + 1;
	assert_int_equal(mg_load(&o, &h), -EINVAL);
	assert_int_equal(pinned_prog_id(dir), first);
	snprintf(tmp, sizeof(tmp), "%s/mtaguard_xdp_new", dir);
	assert_int_equal(access(tmp, F_OK), -1);

	o.tunables.n_uplinks = 0;
	assert_int_equal(mg_load(&o, &h), 0);
	uint32_t second = pinned_prog_id(dir);
	assert_int_not_equal(second, 0);
	assert_int_not_equal(second, first);
	assert_true(h.prog_fd >= 0);
	mg_close(&h);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(mg_unload(dir), 0);
}

/*
 * A release whose statistics have another layout (mg_stats: counters
 * added) loads over the old pins: the counters start over, the rules stay.
 * A map that holds state (the profiles) of another layout is still refused.
 */
static void test_counts_of_older_layout_start_over(void **state)
{
	char dir[] = "/sys/fs/bpf/mg-counts-XXXXXX";
	struct mg_load_opts o;
	struct mg_handle h;
	struct mg_prefix p = prefix_of(CLIENT4, 128);
	struct mg_rule r;

	(void)state;
	assert_non_null(mkdtemp(dir));
	small_load_opts(&o, dir);
	assert_int_equal(mg_load(&o, &h), 0);
	assert_int_equal(mg_rulemap_block(&h.rules, &p, MG_ACT_DROP_ALL, 0), 0);
	mg_close(&h);

	/* The statistics as a release before the last two counters had them. */
	pin_other_layout(dir, "mg_stats", BPF_MAP_TYPE_PERCPU_ARRAY, 4, sizeof(struct mg_global_stats) - 16,
			 MG_IFACE_SLOTS);
	assert_int_equal(mg_load(&o, &h), 0);
	assert_int_equal(pinned_value_size(dir, "mg_stats"), sizeof(struct mg_global_stats));
	assert_int_equal(mg_rulemap_get(h.block4_fd, h.block_fd, &p, &r), 0);
	assert_int_equal(r.action, MG_ACT_DROP_ALL);
	mg_close(&h);

	/* The profiles of another layout: refused, not started over. */
	pin_other_layout(dir, "mg_sources", BPF_MAP_TYPE_LRU_HASH, 16, sizeof(struct mg_src_stats) - 8, 256);
	assert_true(mg_load(&o, &h) < 0);
	assert_int_equal(mg_unload(dir), 0);
}

/* The verdict of a loaded handle's program on a TCP data segment from src to port 443. */
static int handle_verdict(const struct mg_handle *h, const char *src)
{
	struct pb p;
	size_t len = seg(&p, src, strchr(src, ':') ? SERVER6 : SERVER4, 40000, 443, "x");
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = p.buf, .data_size_in = (uint32_t)len, .repeat = 1);

	assert_int_equal(bpf_prog_test_run_opts(h->prog_fd, &t), 0);
	return (int)t.retval;
}

/*
 * mg_rule_short is state beside the rules: a reload keeps it, and a load
 * that finds it missing under rules already pinned (the first load of the
 * release that added it) sets it from their masks before the program
 * runs, so a short block stays in force on the fast path.
 */
static void test_short_flag_pinned_and_brought_in_line(void **state)
{
	char dir[] = "/sys/fs/bpf/mg-short-XXXXXX", path[256];
	struct mg_load_opts o;
	struct mg_handle h;
	struct mg_prefix all = { .prefixlen = 0 };

	(void)state;
	assert_non_null(mkdtemp(dir));
	small_load_opts(&o, dir);
	assert_int_equal(mg_load(&o, &h), 0);
	assert_int_equal(mg_rulemap_block(&h.rules, &all, MG_ACT_DROP_ALL, 0), 0);
	assert_int_equal(h.skel->data->mg_rule_short, MG_RULE_SHORT_V4 | MG_RULE_SHORT_V6);
	assert_int_equal(handle_verdict(&h, CLIENT4), XDP_DROP);
	assert_int_equal(handle_verdict(&h, CLIENT6), XDP_DROP);
	mg_close(&h);

	/* Reloaded: the pinned flag is this load's. */
	assert_int_equal(mg_load(&o, &h), 0);
	assert_int_equal(h.skel->data->mg_rule_short, MG_RULE_SHORT_V4 | MG_RULE_SHORT_V6);
	mg_close(&h);

	/* Its pin gone, as under a release from before it: the new map starts at 0, and is set from the masks. */
	snprintf(path, sizeof(path), "%s/mg_rule_short", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mg_load(&o, &h), 0);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(h.skel->data->mg_rule_short, MG_RULE_SHORT_V4 | MG_RULE_SHORT_V6);
	assert_int_equal(handle_verdict(&h, CLIENT4), XDP_DROP);
	assert_int_equal(mg_rulemap_unblock(&h.rules, &all), 0);
	assert_int_equal(h.skel->data->mg_rule_short, 0);
	assert_int_equal(handle_verdict(&h, CLIENT4), XDP_PASS);
	mg_close(&h);

	/*
	 * Its pin deleted under this program: a process opening the pins
	 * (not loading) still finds the flag among the program's own maps,
	 * so rules it writes keep the flag with them.
	 */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mg_open_pinned(dir, &h), 0);
	assert_true(h.short_fd >= 0);
	assert_int_equal(mg_rulemap_block(&h.rules, &all, MG_ACT_DROP_ALL, 0), 0);
	assert_int_equal(handle_verdict(&h, CLIENT6), XDP_DROP);
	assert_int_equal(mg_rulemap_unblock(&h.rules, &all), 0);
	assert_int_equal(handle_verdict(&h, CLIENT6), XDP_PASS);
	mg_close(&h);
	assert_int_equal(mg_unload(dir), 0);
}

/* A kernel symbol's address from /proc/kallsyms (0: not found, or hidden). */
static unsigned long long kernel_symbol(const char *name)
{
	char line[256], sym[128], type;
	unsigned long long addr, found = 0;
	FILE *f = fopen("/proc/kallsyms", "r");

	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx %c %127s", &addr, &type, sym) == 3 && strcmp(sym, name) == 0)
			found = addr;
	fclose(f);
	return found;
}

/*
 * Every map access of the program is one the verifier inlines or calls
 * directly: none goes through the generic map helpers, which dispatch
 * through the map's operations (an indirect call). The compiler makes such
 * a call where it merges two calls on different maps into one (the flow
 * maps' two families: MG_FAMILY_APART in handshake.h), and only the
 * benchmark would show it. Read in the program as the verifier left it:
 * a helper call's immediate is its address less __bpf_call_base.
 */
static void test_map_calls_not_generic(void **state)
{
	static const char *const generic[] = { "bpf_map_lookup_elem", "bpf_map_update_elem", "bpf_map_delete_elem" };
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);
	int fd = bpf_program__fd(H.skel->progs.mtaguard_xdp);
	unsigned long long base = kernel_symbol("__bpf_call_base");
	int32_t imm[3];

	(void)state;
	assert_true(base != 0); /* root reads kallsyms' addresses (kptr_restrict below 2) */
	for (int i = 0; i < 3; i++) {
		unsigned long long a = kernel_symbol(generic[i]);
		assert_true(a != 0);
		imm[i] = (int32_t)(a - base);
	}
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	__u32 n = info.xlated_prog_len / sizeof(struct bpf_insn), helpers = 0;
	struct bpf_insn *insns = calloc(n, sizeof(*insns));
	assert_non_null(insns);
	memset(&info, 0, sizeof(info));
	info.xlated_prog_len = n * sizeof(*insns);
	info.xlated_prog_insns = (__u64)(unsigned long)insns;
	len = sizeof(info);
	assert_int_equal(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	for (__u32 i = 0; i < n; i++) {
		if (insns[i].code != (BPF_JMP | BPF_CALL) || insns[i].src_reg != 0)
			continue;
		helpers++;
		for (int j = 0; j < 3; j++)
			if (insns[i].imm == imm[j])
				fail_msg("instruction %u calls %s: a map access the verifier could not inline", i, generic[j]);
	}
	free(insns);
	assert_true(helpers > 20); /* the calls were read at all: the program makes dozens */
}

/* Rule sets and the verdict on one source, Katran-style: what the index must get right beyond single pairs. */
struct rule_case {
	const char *name;
	const char *block[4];   /* in force, drop all */
	const char *expired[4]; /* expired a nanosecond ago */
	const char *allow[4];
	const char *unblock[4]; /* added as blocks, then removed again */
	const char *src;
	int verdict;
};

static const struct rule_case rule_cases[] = {
	{ "v4 /32", { "198.18.0.2/32" }, {}, {}, {}, CLIENT4, XDP_DROP },
	{ "v4 /32 of a neighbour in the same bucket", { "198.18.0.3/32" }, {}, {}, {}, CLIENT4, XDP_PASS },
	{ "v4 /25 beside the source in its bucket", { "198.18.0.128/25" }, {}, {}, {}, CLIENT4, XDP_PASS },
	{ "v4 shorter than a bucket (/12)", { "198.16.0.0/12" }, {}, {}, {}, CLIENT4, XDP_DROP },
	{ "v4 /0", { "0.0.0.0/0" }, {}, {}, {}, CLIENT4, XDP_DROP },
	{ "v4 /0 never covers IPv6", { "0.0.0.0/0" }, {}, {}, {}, CLIENT6, XDP_PASS },
	{ "IPv6 ::/0 covers v4-mapped sources", { "::/0" }, {}, {}, {}, CLIENT4, XDP_DROP },
	{ "IPv6 ::/0 covers IPv6", { "::/0" }, {}, {}, {}, CLIENT6, XDP_DROP },
	{ "v6 /128", { "2001:db8:0:1::2/128" }, {}, {}, {}, CLIENT6, XDP_DROP },
	{ "v6 /64 of another network in the same /32", { "2001:db8:0:2::/64" }, {}, {}, {}, CLIENT6, XDP_PASS },
	{ "v6 shorter than a bucket (/16)", { "2001::/16" }, {}, {}, {}, CLIENT6, XDP_DROP },
	{ "v6 /47 and /49 share a class, only /49 covers", { "2001:db8:0:1::/64", "2001:db8:1::/48" }, {}, {}, {},
	  "2001:db8:0:1::9", XDP_DROP },
	{ "stale bit of a removed neighbour", { "198.18.0.2/32" }, {}, {}, { "198.18.0.3/32" }, OTHER4, XDP_PASS },
	{ "removed /32, neighbour stays", { "198.18.0.3/32" }, {}, {}, { "198.18.0.2/32" }, OTHER4, XDP_DROP },
	{ "removed /24 under a /16 in force", { "198.18.0.0/16" }, {}, {}, { "198.18.0.0/24" }, CLIENT4, XDP_DROP },
	{ "removed v6 /64 under a /48 in force", { "2001:db8::/48" }, {}, {}, { "2001:db8:0:1::/64" }, CLIENT6,
	  XDP_DROP },
	{ "expired /32 over a /24 in force", { "198.18.0.0/24" }, { "198.18.0.2/32" }, {}, {}, CLIENT4, XDP_DROP },
	{ "expired /24 over /16, allow /31 over all", { "198.18.0.0/16" }, { "198.18.0.0/24" }, { "198.18.0.2/31" },
	  {}, CLIENT4, XDP_PASS },
	{ "expired v6 /128 over an expired /64: nothing in force", {}, { "2001:db8:0:1::2/128", "2001:db8:0:1::/64" },
	  {}, {}, CLIENT6, XDP_PASS },
	{ "allow of another source does not help", { "198.18.0.0/24" }, {}, { "198.18.0.3/32" }, {}, CLIENT4, XDP_DROP },
	{ "allow ::/0 over a v4 /32", { "198.18.0.2/32" }, {}, { "::/0" }, {}, CLIENT4, XDP_PASS },
	{ "allow 0.0.0.0/0 does not cover IPv6", { "2001:db8::/32" }, {}, { "0.0.0.0/0" }, {}, CLIENT6, XDP_DROP },
};

static void add_rules(const char *const *list, int kind)
{
	for (int i = 0; i < 4 && list[i]; i++) {
		struct mg_prefix p;
		assert_int_equal(mg_prefix_parse(list[i], &p), 0);
		if (kind == 0)
			assert_int_equal(mg_rulemap_block(&H.rules, &p, MG_ACT_DROP_ALL, 0), 0);
		else if (kind == 1)
			assert_int_equal(mg_rulemap_block_until(&H.rules, &p, MG_ACT_DROP_ALL, mg_mono_ns() - 1), 0);
		else if (kind == 2)
			assert_int_equal(mg_rulemap_allow(&H.rules, &p), 0);
		else {
			assert_int_equal(mg_rulemap_block(&H.rules, &p, MG_ACT_DROP_ALL, 0), 0);
			assert_int_equal(mg_rulemap_unblock(&H.rules, &p), 0);
		}
	}
}

static void test_rule_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rule_cases) / sizeof(rule_cases[0]); i++) {
		const struct rule_case *c = &rule_cases[i];
		xh_reset(&H);
		add_rules(c->unblock, 3);
		add_rules(c->block, 0);
		add_rules(c->expired, 1);
		add_rules(c->allow, 2);
		int v = verdict_of(c->src);
		if (v != c->verdict)
			fail_msg("%s: %s, expected %s", c->name, v == XDP_DROP ? "dropped" : "passed",
				 c->verdict == XDP_DROP ? "drop" : "pass");
		/* The userspace reader finds what the kernel applied. */
		uint8_t a[16];
		struct mg_rule r;
		mg_addr_parse(c->src, a);
		bool blocked = mg_rulemap_find(&H.rules, false, a, mg_mono_ns(), NULL, &r) == 0 &&
			       mg_rulemap_find(&H.rules, true, a, 0, NULL, &r) != 0;
		if (blocked != (c->verdict == XDP_DROP))
			fail_msg("%s: mg_rulemap_find disagrees with the kernel", c->name);
	}
}

/*
 * Bits over deleted rules are rebuilt away once they pile up: 2 000 IPv6
 * hosts in one /32 (one bucket), all removed, leave the index as if they had
 * never been there, and a neighbour's rule still applies through it all.
 */
static void test_index_rebuilt_after_deletions(void **state)
{
	char text[64];
	struct mg_prefix p;

	(void)state;
	xh_block(&H, "2001:db8:0:1::2/128", MG_ACT_DROP_ALL, 0);
	for (int i = 0; i < 2000; i++) {
		snprintf(text, sizeof(text), "2001:db8:0:2::%x", i + 1);
		assert_int_equal(mg_prefix_parse(text, &p), 0);
		assert_int_equal(mg_rulemap_block(&H.rules, &p, MG_ACT_DROP_ALL, 0), 0);
	}
	for (int i = 0; i < 2000; i++) {
		snprintf(text, sizeof(text), "2001:db8:0:2::%x", i + 1);
		assert_int_equal(mg_prefix_parse(text, &p), 0);
		assert_int_equal(mg_rulemap_unblock(&H.rules, &p), 0);
		if (i % 250 == 0 && verdict_of(CLIENT6) != XDP_DROP)
			fail_msg("the remaining /128 stopped applying after %d deletions", i + 1);
	}
	/* Rebuilt at least once: fewer stale bits than deletions, and the survivor's bit intact. */
	assert_true(H.rules.ix.lens->stale < 2000);
	assert_int_equal(verdict_of(CLIENT6), XDP_DROP);
	assert_int_equal(verdict_of("2001:db8:0:2::1"), XDP_PASS);
	assert_int_equal(mg_rulemaps_rebuild(&H.rules), 0);
	assert_int_equal(H.rules.ix.lens->stale, 0);
	assert_int_equal(H.rules.ix.lens->count[MG_LENS_BLOCK6][128], 1);
	assert_int_equal(verdict_of(CLIENT6), XDP_DROP);
}

static void test_monitor_mode(void **state)
{
	(void)state;
	xh_block(&H, "198.18.0.2/32", MG_ACT_DROP_ALL, 0);
	xh_monitor(&H, true);
	expect_syn(CLIENT4, XDP_PASS);
	struct mg_global_stats s = stats();
	assert_int_equal(s.dropped, 0);
	assert_int_equal(s.monitor_would_drop, 1);
	assert_int_equal(s.passed, 1);
	assert_int_equal(xh_rule_hits(&H, "198.18.0.2/32"), 1);
	/* In monitor mode the packet is processed as any other: it is profiled. */
	assert_int_equal(profile(CLIENT4).syn_mx, 1);
	/* The drop event says it was not dropped. */
	assert_int_equal(xh_events(&H), 2);
	int found = 0;
	for (int i = 0; i < H.nevents; i++)
		if (H.events[i].type == MG_EV_DROP) {
			assert_int_equal(H.events[i].monitor, 1);
			assert_int_equal(H.events[i].detail, MG_DROP_BLOCK_ALL);
			found++;
		}
	assert_int_equal(found, 1);

	xh_monitor(&H, false);
	expect_syn(CLIENT4, XDP_DROP);
	assert_int_equal(stats().dropped, 1);
}

static void test_drop_smtp_versus_all(void **state)
{
	struct pb p;

	(void)state;
	xh_block(&H, "198.18.0.2/32", MG_ACT_DROP_SMTP, 0);
	assert_int_equal(run(&p, syn(&p, CLIENT4, SERVER4, 25, NULL)), XDP_DROP);
	assert_int_equal(run(&p, syn(&p, CLIENT4, SERVER4, 587, NULL)), XDP_DROP);
	assert_int_equal(run(&p, seg(&p, CLIENT4, SERVER4, 40000, 25, "QUIT\r\n")), XDP_DROP);
	assert_int_equal(run(&p, syn(&p, CLIENT4, SERVER4, 443, NULL)), XDP_PASS);
	pb_init(&p);
	pb_eth(&p, NULL, NULL);
	pb_ipv4(&p, CLIENT4, SERVER4, NULL);
	pb_icmp_echo(&p, 1, 1);
	size_t icmp_len = pb_finish(&p);
	assert_int_equal(run(&p, icmp_len), XDP_PASS);
	assert_int_equal(stats().drop_reason[MG_DROP_BLOCK_SMTP], 3);

	xh_block(&H, "198.18.0.2/32", MG_ACT_DROP_ALL, 0); /* replaces the rule */
	assert_int_equal(run(&p, syn(&p, CLIENT4, SERVER4, 443, NULL)), XDP_DROP);
	pb_init(&p);
	pb_eth(&p, NULL, NULL);
	pb_ipv4(&p, CLIENT4, SERVER4, NULL);
	pb_icmp_echo(&p, 1, 2);
	icmp_len = pb_finish(&p);
	assert_int_equal(run(&p, icmp_len), XDP_DROP);
	struct mg_global_stats s = stats();
	assert_int_equal(s.drop_reason[MG_DROP_BLOCK_ALL], 2);
	assert_int_equal(s.dropped, 5);
}

/*
 * What stands between IP and TCP must not hide SMTP from a "drop its SMTP"
 * block: AH is walked (its port is read), and a packet whose TCP the walk
 * cannot reach (more extension headers than it takes, one it does not know,
 * a first fragment that ends inside it) may be SMTP, so such a source loses
 * it. A source with no rule, or an allowlisted one, passes whatever its
 * headers.
 */
enum hide {
	HIDE_AH,        /* IPsec AH (RFC 4302), IPv4 or IPv6: walked, the port is read */
	HIDE_6_DSTOPTS, /* six destination options headers: as many as the walk takes, then TCP */
	HIDE_7_DSTOPTS, /* seven: one more than the walk takes */
	HIDE_UNKNOWN,   /* an extension header the walk does not know (253, RFC 3692's experiments) */
	HIDE_ESP,       /* ESP: ciphertext, known as such, no port to read and none guessed */
	HIDE_FRAG_CUT,  /* a first fragment ending 20 bytes into a 40-byte TCP header (RFC 1858) */
	HIDE_FRAG_HEAD, /* a first fragment with the whole TCP header: the port is read */
	HIDE_FRAG_TAIL, /* a later fragment: no header in it; the first one's fate is the datagram's */
};

static const char *const hide_names[] = {
	"AH", "6 dstopts", "7 dstopts", "unknown header", "ESP", "cut first fragment", "first fragment",
	"later fragment",
};

#define BLOCKED6  CLIENT6           /* in the DROP_SMTP block 2001:db8:0:1::/64 */
#define ALLOWED6  "2001:db8:0:1::7" /* allowlisted inside it */
#define UNLISTED6 "2001:db8:0:3::2"
#define BLOCKED4  CLIENT4           /* in the DROP_SMTP block 198.18.0.0/24 */
#define ALLOWED4  "198.18.0.7"
#define UNLISTED4 "198.18.2.2"

/* A client segment (ACK|PSH, "EHLO x") from src to dport with `h` between IP and TCP. */
static size_t hidden_seg(struct pb *p, const char *src, enum hide h, uint16_t dport)
{
	bool v6 = strchr(src, ':') != NULL, frag = h >= HIDE_FRAG_CUT;
	/* IPv4's fragment fields; IPv6's go in a fragment header below. */
	struct pb_ip_opts fo = { .mf = h != HIDE_FRAG_TAIL, .frag_off = h == HIDE_FRAG_TAIL ? 185 : 0 };
	struct pb_tcp_opts to;

	pb_init(p);
	put_l2(p, NULL);
	if (v6)
		pb_ipv6(p, src, SERVER6, NULL);
	else
		pb_ipv4(p, src, SERVER4, frag ? &fo : NULL);
	if (v6 && frag)
		pb_ipv6_ext(p, 44, fo.frag_off, fo.mf);
	switch (h) {
	case HIDE_AH:
		pb_ipv6_ext(p, 51, 24, 0);
		break;
	case HIDE_6_DSTOPTS:
	case HIDE_7_DSTOPTS:
		for (int i = 0; i < (h == HIDE_6_DSTOPTS ? 6 : 7); i++)
			pb_ipv6_ext(p, 60, 0, 0);
		break;
	case HIDE_UNKNOWN:
		pb_ipv6_ext(p, 253, 0, 0);
		break;
	case HIDE_ESP:
		pb_l4_raw(p, 50);
		pb_payload_str(p, "SPI, sequence number, then ciphertext");
		return pb_finish(p);
	case HIDE_FRAG_CUT: {
		pb_tcp_opts_linux_syn(&to);
		pb_tcp(p, 40000, dport, PB_TCP_ACK | PB_TCP_PSH, &to);
		pb_finish(p);
		/* The datagram (and the frame) end 20 bytes into TCP: the options follow in the next fragment. */
		size_t end = pb_len_at(p, PB_L4_START) + 20, l3 = pb_len_at(p, PB_L3_START);
		uint8_t *ip = p->buf + l3;
		if (v6) {
			ip[4] = (uint8_t)((end - pb_len_at(p, PB_IP_END)) >> 8);
			ip[5] = (uint8_t)(end - pb_len_at(p, PB_IP_END));
		} else {
			ip[2] = (uint8_t)((end - l3) >> 8);
			ip[3] = (uint8_t)(end - l3);
			ip[10] = ip[11] = 0;
			uint16_t sum = pb_csum(ip, pb_len_at(p, PB_IP_END) - l3, 0);
			ip[10] = (uint8_t)(sum >> 8);
			ip[11] = (uint8_t)sum;
		}
		return end;
	}
	case HIDE_FRAG_HEAD:
	case HIDE_FRAG_TAIL:
		break;
	}
	pb_tcp(p, 40000, dport, PB_TCP_ACK | PB_TCP_PSH, NULL);
	pb_payload_str(p, "EHLO x\r\n");
	return pb_finish(p);
}

static void block_smtp_with_holes(void)
{
	xh_block(&H, "2001:db8:0:1::/64", MG_ACT_DROP_SMTP, 0);
	xh_allow(&H, ALLOWED6 "/128");
	xh_block(&H, "198.18.0.0/24", MG_ACT_DROP_SMTP, 0);
	xh_allow(&H, ALLOWED4 "/32");
}

static void test_drop_smtp_hidden_l4(void **state)
{
	static const struct {
		enum hide h;
		const char *src;
		uint16_t dport;
		int verdict;
	} cases[] = {
		{ HIDE_AH,        BLOCKED6,  25,  XDP_DROP },
		{ HIDE_AH,        BLOCKED6,  587, XDP_DROP },
		{ HIDE_AH,        BLOCKED6,  443, XDP_PASS }, /* AH is walked: the port is known */
		{ HIDE_6_DSTOPTS, BLOCKED6,  25,  XDP_DROP },
		{ HIDE_6_DSTOPTS, BLOCKED6,  443, XDP_PASS }, /* the sixth header's next is TCP: read */
		{ HIDE_7_DSTOPTS, BLOCKED6,  25,  XDP_DROP },
		{ HIDE_7_DSTOPTS, BLOCKED6,  443, XDP_DROP }, /* the port is not known: it may be SMTP */
		{ HIDE_UNKNOWN,   BLOCKED6,  25,  XDP_DROP },
		{ HIDE_UNKNOWN,   BLOCKED6,  443, XDP_DROP },
		{ HIDE_ESP,       BLOCKED6,  0,   XDP_PASS },
		{ HIDE_AH,        BLOCKED4,  25,  XDP_DROP },
		{ HIDE_AH,        BLOCKED4,  443, XDP_PASS },
		{ HIDE_ESP,       BLOCKED4,  0,   XDP_PASS },
		{ HIDE_FRAG_CUT,  BLOCKED6,  25,  XDP_DROP },
		{ HIDE_FRAG_CUT,  BLOCKED6,  443, XDP_DROP }, /* the header is not all here: it is not read */
		{ HIDE_FRAG_CUT,  BLOCKED4,  25,  XDP_DROP },
		{ HIDE_FRAG_HEAD, BLOCKED6,  25,  XDP_DROP },
		{ HIDE_FRAG_HEAD, BLOCKED6,  443, XDP_PASS },
		{ HIDE_FRAG_HEAD, BLOCKED4,  25,  XDP_DROP },
		{ HIDE_FRAG_HEAD, BLOCKED4,  443, XDP_PASS },
		{ HIDE_FRAG_TAIL, BLOCKED6,  25,  XDP_PASS },
		{ HIDE_FRAG_TAIL, BLOCKED4,  25,  XDP_PASS },
		/* No rule, or allowlisted inside the block: everything passes. */
		{ HIDE_AH,        UNLISTED6, 25,  XDP_PASS },
		{ HIDE_7_DSTOPTS, UNLISTED6, 25,  XDP_PASS },
		{ HIDE_UNKNOWN,   UNLISTED6, 25,  XDP_PASS },
		{ HIDE_FRAG_CUT,  UNLISTED6, 25,  XDP_PASS },
		{ HIDE_AH,        UNLISTED4, 25,  XDP_PASS },
		{ HIDE_FRAG_CUT,  UNLISTED4, 25,  XDP_PASS },
		{ HIDE_AH,        ALLOWED6,  25,  XDP_PASS },
		{ HIDE_7_DSTOPTS, ALLOWED6,  25,  XDP_PASS },
		{ HIDE_UNKNOWN,   ALLOWED6,  25,  XDP_PASS },
		{ HIDE_FRAG_CUT,  ALLOWED6,  25,  XDP_PASS },
		{ HIDE_AH,        ALLOWED4,  25,  XDP_PASS },
		{ HIDE_FRAG_CUT,  ALLOWED4,  25,  XDP_PASS },
	};
	uint64_t drops = 0, unknown = 0;
	struct pb p;

	(void)state;
	block_smtp_with_holes();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int v = run(&p, hidden_seg(&p, cases[i].src, cases[i].h, cases[i].dport));
		if (v != cases[i].verdict)
			fail_msg("%s from %s to port %u: verdict %d, expected %d", hide_names[cases[i].h],
				 cases[i].src, cases[i].dport, v, cases[i].verdict);
		drops += cases[i].verdict == XDP_DROP;
		/* The shapes whose L4 the walk cannot reach, whoever sends them. */
		unknown += cases[i].h == HIDE_7_DSTOPTS || cases[i].h == HIDE_UNKNOWN || cases[i].h == HIDE_FRAG_CUT;
	}
	/* Counted as the other SMTP drops are, on the rule that made them. */
	struct mg_global_stats s = stats();
	assert_int_equal(s.dropped, drops);
	assert_int_equal(s.drop_reason[MG_DROP_BLOCK_SMTP], drops);
	assert_int_equal(s.parse_errors, 0);
	assert_int_equal(xh_rule_hits(&H, "2001:db8:0:1::/64") + xh_rule_hits(&H, "198.18.0.0/24"), drops);
	assert_int_equal(s.allowlisted, 6);
	assert_int_equal(s.fragments, 2);
	assert_int_equal(s.l4_unknown, unknown);
}

/*
 * A first fragment may end anywhere past its fragment header: inside the
 * next extension header too. Not malformed (the receiver reassembles
 * first), so a "drop its SMTP" source loses it; without more fragments to
 * come, the same cut is a parse error, and passes.
 */
static void test_first_fragment_cut_in_chain(void **state)
{
	struct pb p;

	(void)state;
	block_smtp_with_holes();
	for (int mf = 1; mf >= 0; mf--) {
		pb_init(&p);
		pb_eth(&p, NULL, NULL);
		pb_ipv6(&p, BLOCKED6, SERVER6, NULL);
		pb_ipv6_ext(&p, 44, 0, mf);
		pb_ipv6_ext(&p, 60, 16, 0);
		pb_tcp(&p, 40000, 25, PB_TCP_SYN, NULL);
		pb_finish(&p);
		/* One byte of the options header: its length is in the next fragment. */
		assert_int_equal(run(&p, pb_ext_end(&p, 0) + 1), mf ? XDP_DROP : XDP_PASS);
	}
	struct mg_global_stats s = stats();
	assert_int_equal(s.drop_reason[MG_DROP_BLOCK_SMTP], 1);
	assert_int_equal(s.parse_errors, 1);
}

/* A "drop all" block drops every shape, whatever the walk made of it. */
static void test_drop_all_hidden_l4(void **state)
{
	static const enum hide shapes[] = {
		HIDE_AH, HIDE_6_DSTOPTS, HIDE_7_DSTOPTS, HIDE_UNKNOWN, HIDE_ESP, HIDE_FRAG_CUT, HIDE_FRAG_HEAD,
		HIDE_FRAG_TAIL,
	};
	struct pb p;

	(void)state;
	xh_block(&H, "2001:db8:0:1::/64", MG_ACT_DROP_ALL, 0);
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		if (run(&p, hidden_seg(&p, BLOCKED6, shapes[i], 443)) != XDP_DROP)
			fail_msg("%s from a \"drop all\" source passed", hide_names[shapes[i]]);
	assert_int_equal(run(&p, hidden_seg(&p, BLOCKED4, HIDE_AH, 443)), XDP_PASS); /* no rule there */
	assert_int_equal(stats().drop_reason[MG_DROP_BLOCK_ALL], 8);
}

/* AH is walked for profiling too: a SYN behind it is a SYN to port 25. */
static void test_ah_walked(void **state)
{
	static const char *const srcs[] = { CLIENT6, CLIENT4 };
	struct pb p;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		pb_init(&p);
		pb_eth(&p, NULL, NULL);
		put_ip(&p, srcs[i], i == 0 ? SERVER6 : SERVER4);
		pb_ipv6_ext(&p, 51, 24, 0);
		pb_tcp(&p, 40000, 25, PB_TCP_SYN, NULL);
		assert_int_equal(run(&p, pb_finish(&p)), XDP_PASS);
		assert_int_equal(profile(srcs[i]).syn_mx, 1);
	}
	assert_int_equal(stats().syn_smtp, 2);
	assert_int_equal(stats().parse_errors, 0);
}

static void test_drop_events_rate_limited(void **state)
{
	(void)state;
	xh_block(&H, "198.18.0.2/32", MG_ACT_DROP_ALL, 0);
	for (int i = 0; i < 150; i++)
		expect_syn(CLIENT4, XDP_DROP);
	struct mg_global_stats s = stats();
	/* Default budget: 100 per second per CPU, burst 100; the test runs on one CPU at a time. */
	assert_in_range(s.events_sent, 100, 101);
	assert_int_equal(s.events_sent + s.drop_events_suppressed, 150);
	assert_int_equal(xh_rule_hits(&H, "198.18.0.2/32"), 150);
}

/* ---- group with a protected IPv6 LAN keyed per host ------------------------------ */

static struct xh H_outer;

static int load_lan(void **state)
{
	struct mg_tunables t = MG_TUNABLES_DEFAULT;

	(void)state;
	t.n_v6_nets = 1;
	t.v6_nets[0].prefixlen = 64;
	t.v6_nets[0].aggregation = 128;
	assert_int_equal(mg_addr_parse("2001:db8:10::", t.v6_nets[0].addr), 0);
	H_outer = H;
	return xh_load(&H, &t);
}

static int unload_lan(void **state)
{
	(void)state;
	xh_unload(&H);
	H = H_outer;
	return 0;
}

/* Inside the LAN each host is its own profile; outside it a /64 is still one. */
static void test_lan_keyed_per_host(void **state)
{
	struct pb p;
	struct mg_src_stats s;
	uint8_t key[16];

	(void)state;
	assert_int_equal(run(&p, syn(&p, "2001:db8:10::3", SERVER6, 25, NULL)), XDP_PASS);
	assert_int_equal(run(&p, syn(&p, "2001:db8:10::3", SERVER6, 25, NULL)), XDP_PASS);
	assert_int_equal(run(&p, syn(&p, "2001:db8:10::2", SERVER6, 25, NULL)), XDP_PASS);
	assert_int_equal(profile("2001:db8:10::3").syn_mx, 2);
	assert_int_equal(profile("2001:db8:10::2").syn_mx, 1);
	/* Keyed by the full address: the /64's own key holds nothing. */
	assert_int_equal(mg_addr_parse("2001:db8:10::", key), 0);
	assert_int_equal(mg_source_read(H.servers_fd, H.sources_fd, key, &s, NULL), -ENOENT);
	assert_int_equal(run(&p, syn(&p, "2001:db8:99::1", SERVER6, 25, NULL)), XDP_PASS);
	assert_int_equal(run(&p, syn(&p, "2001:db8:99::2", SERVER6, 25, NULL)), XDP_PASS);
	assert_int_equal(profile("2001:db8:99::77").syn_mx, 2);
}

/* ---- group with every port slot in use ------------------------------------------ */

static struct xh H_ports_outer;

/* Ports in all four slots of each class (the program compares a class's four at once), and port 0 as a destination. */
static int load_ports(void **state)
{
	struct mg_tunables t = MG_TUNABLES_DEFAULT;
	static const uint16_t mx[4] = { 25, 2525, 2526, 1 }, sub[4] = { 465, 587, 10587, 0 };

	(void)state;
	memcpy(t.mx_ports, mx, sizeof(mx));
	memcpy(t.submission_ports, sub, sizeof(sub));
	H_ports_outer = H;
	return xh_load(&H, &t);
}

static int unload_ports(void **state)
{
	(void)state;
	xh_unload(&H);
	H = H_ports_outer;
	return 0;
}

static void test_port_classes_every_slot(void **state)
{
	static const uint16_t mx[] = { 25, 2525, 2526, 1 }, sub[] = { 465, 587, 10587 },
			      other[] = { 0, 24, 26, 2524, 2527, 586, 588, 10586, 443, 0x19 << 8, 0xffff };
	struct pb p;

	(void)state;
	for (size_t i = 0; i < sizeof(mx) / sizeof(mx[0]); i++)
		assert_int_equal(run(&p, syn(&p, CLIENT4, SERVER4, mx[i], NULL)), XDP_PASS);
	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++)
		assert_int_equal(run(&p, syn(&p, CLIENT4, SERVER4, sub[i], NULL)), XDP_PASS);
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		assert_int_equal(run(&p, syn(&p, CLIENT4, SERVER4, other[i], NULL)), XDP_PASS);
	struct mg_src_stats e = profile(CLIENT4);
	assert_int_equal(e.syn_mx, 4);
	assert_int_equal(e.syn_submission, 3);
	assert_int_equal(e.syn_other, sizeof(other) / sizeof(other[0]));
	/* Commands count on every MX port, on no other. */
	assert_int_equal(run(&p, seg(&p, CLIENT4, SERVER4, 40000, 2526, "QUIT\r\n")), XDP_PASS);
	assert_int_equal(run(&p, seg(&p, CLIENT4, SERVER4, 40000, 1, "QUIT\r\n")), XDP_PASS);
	assert_int_equal(run(&p, seg(&p, CLIENT4, SERVER4, 40000, 10587, "QUIT\r\n")), XDP_PASS);
	assert_int_equal(run(&p, seg(&p, CLIENT4, SERVER4, 40000, 0, "QUIT\r\n")), XDP_PASS);
	assert_int_equal(profile(CLIENT4).cmd[MG_CMD_QUIT], 2);
}

/* ---- group where every HELO sends its event (the replay's tunable) ------------- */

static struct xh H_helo_outer;

static int load_helo_every(void **state)
{
	struct mg_tunables t = MG_TUNABLES_DEFAULT;

	(void)state;
	t.helo_every = 1;
	H_helo_outer = H;
	return xh_load(&H, &t);
}

static int unload_helo_every(void **state)
{
	(void)state;
	xh_unload(&H);
	H = H_helo_outer;
	return 0;
}

static void test_helo_every_repeat_reported(void **state)
{
	(void)state;
	for (int i = 0; i < 3; i++)
		client_says("EHLO pc.example.org\r\n");
	assert_int_equal(xh_events(&H), 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(H.events[i].helo_hash, mg_helo_hash("pc.example.org", 14));
}

/* ---- group with a tight creation budget ---------------------------------------- */

static struct xh H_default;

static int load_tight(void **state)
{
	struct mg_tunables t = MG_TUNABLES_DEFAULT;

	(void)state;
	t.syn_new_per_sec = 1; /* one token per second: a test run never earns a second one */
	t.syn_new_burst = 5;
	t.payload_new_per_sec = 1;
	t.payload_new_burst = 3;
	H_default = H;
	return xh_load(&H, &t);
}

/*
 * The same budget on the fallback clock: a program loaded without the tick's
 * length (tick_ns 0, a loader that could not read it) reads the coarse clock
 * for its token buckets. The buckets must refuse and grant exactly as on the
 * tick clock.
 */
static int load_tight_coarse(void **state)
{
	struct mg_tunables t = MG_TUNABLES_DEFAULT;

	(void)state;
	t.syn_new_per_sec = 1;
	t.syn_new_burst = 5;
	t.payload_new_per_sec = 1;
	t.payload_new_burst = 3;
	t.tick_ns = 0;
	H_default = H;
	return xh_load_as_is(&H, &t);
}

static int unload_tight(void **state)
{
	(void)state;
	xh_unload(&H);
	H = H_default;
	return 0;
}

static void test_syn_flood_capped(void **state)
{
	struct pb p;
	char src[32];

	(void)state;
	/* A known profile first (created from payload), to show it survives the flood. */
	client_says("EHLO pc.example.org\r\n");
	for (int i = 0; i < 50; i++) {
		snprintf(src, sizeof(src), "198.19.%d.%d", i / 200, i % 200 + 1);
		assert_int_equal(run(&p, syn(&p, src, SERVER4, 25, NULL)), XDP_PASS);
	}
	struct mg_global_stats s = stats();
	assert_int_equal(s.src_created, 1 + 5);
	assert_int_equal(s.src_throttled, 45);
	assert_int_equal(s.syn_sketched, 45);
	assert_int_equal(profile(CLIENT4).cmd[MG_CMD_EHLO], 1);
	/* The budget for payload is separate: SYNs did not use it up. */
	client_says("EHLO again\r\n");
	assert_int_equal(run(&p, seg(&p, OTHER4, SERVER4, 40000, 25, "EHLO other\r\n")), XDP_PASS);
	assert_int_equal(profile(OTHER4).cmd[MG_CMD_EHLO], 1);
}

static void test_payload_creation_capped(void **state)
{
	struct pb p;
	char src[32];

	(void)state;
	for (int i = 0; i < 10; i++) {
		snprintf(src, sizeof(src), "198.19.1.%d", i + 1);
		assert_int_equal(run(&p, seg(&p, src, SERVER4, 40000, 25, "EHLO x\r\n")), XDP_PASS);
	}
	struct mg_global_stats s = stats();
	assert_int_equal(s.src_created, 3);
	assert_int_equal(s.src_throttled, 7);
	assert_int_equal(s.smtp_cmds, 3);
}

/* ---- activity of protected addresses ---------------------------------------- */

/*
 * The activity group loads with two protected networks: 198.18.0.0/24
 * (CLIENT4, OTHER4 inside; SERVER4 outside) and 2001:db8::/60 (CLIENT6's
 * /64 inside; SERVER6's /64 too, one record each).
 */
static struct xh H_plain;

static int load_protected(void **state)
{
	struct mg_tunables t = MG_TUNABLES_DEFAULT;
	struct mg_prefix nets[2];
	char why[256];
	size_t bad;

	(void)state;
	assert_int_equal(mg_prefix_parse("198.18.0.0/24", &nets[0]), 0);
	assert_int_equal(mg_prefix_parse("2001:db8::/60", &nets[1]), 0);
	assert_int_equal(mg_act_plan(nets, 2, t.act, &bad, why, sizeof(why)), 0);
	H_plain = H;
	return xh_load(&H, &t);
}

static int unload_protected(void **state)
{
	(void)state;
	xh_unload(&H);
	H = H_plain;
	return 0;
}

static size_t udp(struct pb *p, const char *src, const char *dst, uint16_t dport)
{
	pb_init(p);
	put_l2(p, NULL);
	put_ip(p, src, dst);
	pb_udp(p, 50000, dport);
	pb_payload_str(p, "query");
	return pb_finish(p);
}

static struct mg_activity activity(const char *addr)
{
	struct mg_activity r;

	assert_int_equal(xh_activity(&H, addr, &r), 0);
	return r;
}

static uint32_t kernel_now_units(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint32_t)(((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) >> MG_ACT_TIME_SHIFT);
}

/* Without protected networks, nothing is ever written: the table is one idle record. */
static void test_activity_off_without_protected_networks(void **state)
{
	struct pb p;

	(void)state;
	assert_int_equal(xh_activity_records(&H), 1);
	assert_int_equal(run(&p, syn(&p, CLIENT4, SERVER4, 443, NULL)), XDP_PASS);
	assert_int_equal(run(&p, seg(&p, CLIENT4, SERVER4, 40000, 443, "GET / HTTP/1.1\r\n")), XDP_PASS);
	assert_false(xh_activity_any(&H));
}

/* Each class counts its flow starts; data segments and ICMP only mark the address seen, now. */
static void test_activity_classes(void **state)
{
	struct pb p;

	(void)state;
	assert_int_equal(xh_activity_records(&H), 256 + 16);
	uint32_t before = kernel_now_units();
	assert_int_equal(run(&p, syn(&p, CLIENT4, SERVER4, 443, NULL)), XDP_PASS);
	assert_int_equal(run(&p, syn(&p, CLIENT4, SERVER4, 80, NULL)), XDP_PASS);
	assert_int_equal(run(&p, udp(&p, CLIENT4, SERVER4, 443)), XDP_PASS);
	assert_int_equal(run(&p, udp(&p, CLIENT4, SERVER4, 53)), XDP_PASS);
	assert_int_equal(run(&p, syn(&p, CLIENT4, SERVER4, 22, NULL)), XDP_PASS);
	for (int i = 0; i < 5; i++)
		assert_int_equal(run(&p, seg(&p, CLIENT4, SERVER4, 40000, 443, "GET / HTTP/1.1\r\n")), XDP_PASS);
	struct mg_activity r = activity(CLIENT4);
	assert_int_equal(r.flows[MG_ACT_WEB], 3);
	assert_int_equal(r.flows[MG_ACT_DNS], 1);
	assert_int_equal(r.flows[MG_ACT_OTHER_TCP], 1);
	assert_int_equal(r.flows[MG_ACT_MX], 0);
	assert_int_equal(r.classes, MG_ACT_F_SEEN | (1u << MG_ACT_WEB) | (1u << MG_ACT_DNS) | (1u << MG_ACT_OTHER_TCP));
	assert_true(r.last_seen >= before && r.last_seen <= kernel_now_units());
	assert_int_equal(r.hosts, 0);
	/* An MX SYN is its own class: not ordinary use. */
	assert_int_equal(run(&p, syn(&p, OTHER4, SERVER4, 25, NULL)), XDP_PASS);
	r = activity(OTHER4);
	assert_int_equal(r.flows[MG_ACT_MX], 1);
	assert_int_equal(r.classes, MG_ACT_F_SEEN | (1u << MG_ACT_MX));
	/* A ping: seen, no flow. */
	pb_init(&p);
	put_l2(&p, NULL);
	put_ip(&p, "198.18.0.9", SERVER4);
	pb_icmp_echo(&p, 1, 1);
	assert_int_equal(run(&p, pb_finish(&p)), XDP_PASS);
	r = activity("198.18.0.9");
	assert_int_equal(r.classes, MG_ACT_F_SEEN);
	assert_int_equal(r.flows[MG_ACT_WEB] + r.flows[MG_ACT_DNS] + r.flows[MG_ACT_OTHER_TCP] + r.flows[MG_ACT_MX], 0);
	/* Submission to a relay is ordinary use: other TCP. */
	assert_int_equal(run(&p, syn(&p, "198.18.0.6", SERVER4, 587, NULL)), XDP_PASS);
	assert_int_equal(activity("198.18.0.6").flows[MG_ACT_OTHER_TCP], 1);
	/* Ordinary traffic still creates no profile: the record is all it costs. */
	assert_no_profile(CLIENT4);
	assert_int_equal(stats().src_created, 2); /* OTHER4's MX SYN, 198.18.0.6's submission SYN */
}

/*
 * A data segment alone (the fast path's packet) marks a protected address
 * seen, now, and starts no flow; under a VLAN tag too, and an IPv6 one its
 * /64 with the host's bit. An address outside the protected networks gets
 * no record.
 */
static void test_activity_seen_by_data_segment(void **state)
{
	const struct l2 tagged = { .ntags = 1, .tpid = { 0x8100 }, .vid = { 10 } };
	const char *const srcs[] = { "198.18.0.20", "198.18.0.21" };
	struct pb p;

	(void)state;
	for (int i = 0; i < 2; i++) {
		uint32_t before = kernel_now_units();
		pb_init(&p);
		put_l2(&p, i ? &tagged : NULL);
		pb_ipv4(&p, srcs[i], SERVER4, NULL);
		pb_tcp(&p, 40000, 443, PB_TCP_ACK | PB_TCP_PSH, NULL);
		pb_payload_str(&p, "x");
		assert_int_equal(run(&p, pb_finish(&p)), XDP_PASS);
		struct mg_activity r = activity(srcs[i]);
		assert_int_equal(r.classes, MG_ACT_F_SEEN);
		assert_true(r.last_seen >= before && r.last_seen <= kernel_now_units());
		for (int k = 0; k < MG_ACT_CLASS_MAX; k++)
			assert_int_equal(r.flows[k], 0);
	}
	assert_int_equal(run(&p, seg(&p, SERVER4, CLIENT4, 443, 40000, "x")), XDP_PASS);
	struct mg_activity none;
	assert_true(xh_activity(&H, SERVER4, &none) != 0);
	/* IPv6: its /64's record, with the host's bit. */
	uint32_t before = kernel_now_units();
	assert_int_equal(run(&p, seg(&p, "2001:db8:0:5::9", SERVER6, 40000, 443, "x")), XDP_PASS);
	struct mg_activity r = activity("2001:db8:0:5::1");
	uint8_t a[16];
	uint32_t w[4];
	mg_addr_parse("2001:db8:0:5::9", a);
	memcpy(w, a, sizeof(w));
	assert_int_equal(r.classes, MG_ACT_F_SEEN);
	assert_int_equal(r.hosts, mg_act_host_bit(w[2], w[3]));
	assert_true(r.last_seen >= before && r.last_seen <= kernel_now_units());
	for (int k = 0; k < MG_ACT_CLASS_MAX; k++)
		assert_int_equal(r.flows[k], 0);
	assert_int_equal(stats().passed, 4);
}

/*
 * A UDP header is read within the IP datagram, not from the frame's
 * Ethernet padding: a datagram whose IP length ends before its UDP ports
 * (here: none at all) starts no flow, whatever the trailer's bytes say.
 */
static void test_activity_udp_ports_not_in_padding(void **state)
{
	static const uint8_t ports[4] = { 0xc3, 0x50, 0x00, 53 }; /* 50000 -> 53 */
	struct pb p;

	(void)state;
	for (int v6 = 0; v6 < 2; v6++) {
		const char *src = v6 ? CLIENT6 : CLIENT4;
		pb_init(&p);
		put_l2(&p, NULL);
		put_ip(&p, src, v6 ? SERVER6 : SERVER4);
		pb_l4_raw(&p, 17);
		size_t len = pb_finish(&p);
		memset(p.buf + len, 0, 64);
		memcpy(p.buf + len, ports, sizeof(ports));
		assert_int_equal(run(&p, len + 24 > 60 ? len + 24 : 60), XDP_PASS);
		struct mg_activity r = activity(src);
		assert_int_equal(r.classes, MG_ACT_F_SEEN);
		assert_int_equal(r.flows[MG_ACT_DNS], 0);
	}
	/* The same ports inside the datagram do start one. */
	assert_int_equal(run(&p, udp(&p, CLIENT4, SERVER4, 53)), XDP_PASS);
	assert_int_equal(activity(CLIENT4).flows[MG_ACT_DNS], 1);
}

/* IPv6: one record per /64, a bit per host in it; other /64s of the network have their own. */
static void test_activity_ipv6_per_64(void **state)
{
	struct pb p;
	uint8_t a[16], b[16];
	uint32_t wa[4], wb[4];

	(void)state;
	assert_int_equal(run(&p, syn(&p, "2001:db8:0:1::2", SERVER6, 443, NULL)), XDP_PASS);
	assert_int_equal(run(&p, syn(&p, "2001:db8:0:1::77", SERVER6, 443, NULL)), XDP_PASS);
	mg_addr_parse("2001:db8:0:1::2", a);
	mg_addr_parse("2001:db8:0:1::77", b);
	memcpy(wa, a, 16);
	memcpy(wb, b, 16);
	struct mg_activity r = activity("2001:db8:0:1::ffff");
	assert_int_equal(r.flows[MG_ACT_WEB], 2);
	assert_int_equal(r.hosts, mg_act_host_bit(wa[2], wa[3]) | mg_act_host_bit(wb[2], wb[3]));
	assert_int_equal(activity("2001:db8:0:2::1").classes, 0);
	assert_int_equal(run(&p, syn(&p, "2001:db8:0:2::1", SERVER6, 22, NULL)), XDP_PASS);
	assert_int_equal(activity("2001:db8:0:2::1").flows[MG_ACT_OTHER_TCP], 1);
	assert_int_equal(activity("2001:db8:0:1::2").flows[MG_ACT_OTHER_TCP], 0);
}

/*
 * Floods: sources outside the protected networks touch no record, whatever
 * they send; spoofed protected sources touch only the records of the
 * addresses they forge; a dropped packet is no activity.
 */
static void test_activity_floods_and_drops(void **state)
{
	struct pb p;
	char src[64];

	(void)state;
	for (int i = 0; i < 500; i++) {
		snprintf(src, sizeof(src), "198.19.%d.%d", i / 250, i % 250 + 1);
		assert_int_equal(run(&p, syn(&p, src, SERVER4, 443, NULL)), XDP_PASS);
		snprintf(src, sizeof(src), "2001:db8:0:%x::1", 0x10 + i);
		assert_int_equal(run(&p, syn(&p, src, SERVER6, 443, NULL)), XDP_PASS);
	}
	assert_int_equal(run(&p, syn(&p, SERVER4, CLIENT4, 443, NULL)), XDP_PASS); /* 198.18.1.1: outside the /24 */
	assert_false(xh_activity_any(&H));
	for (int i = 0; i < 300; i++)
		assert_int_equal(run(&p, syn(&p, "198.18.0.200", SERVER4, 1000 + i, NULL)), XDP_PASS);
	assert_int_equal(activity("198.18.0.200").flows[MG_ACT_OTHER_TCP], 300);
	assert_int_equal(activity(CLIENT4).classes, 0);
	assert_int_equal(stats().src_created, 0);
	xh_block(&H, CLIENT4, MG_ACT_DROP_ALL, 3600);
	assert_int_equal(run(&p, syn(&p, CLIENT4, SERVER4, 443, NULL)), XDP_DROP);
	assert_int_equal(activity(CLIENT4).classes, 0);
}

/* ---- handshake tracking: evidence a spoofer cannot fake --------------------- */

#define SERVER_ISN 0xfffffff0u /* near the wrap: ISN + 1 + data crosses zero */
#define CLIENT_ISN 1000u
#define BANNER_LEN 30u         /* bytes of the server's 220 greeting the client acknowledges */

/* Any TCP segment with explicit sequence and acknowledgement numbers. */
static size_t tcp_frame(struct pb *p, const char *src, const char *dst, uint16_t sport, uint16_t dport,
			uint8_t flags, uint32_t seq, uint32_t ack, const char *payload)
{
	pb_init(p);
	put_l2(p, NULL);
	put_ip(p, src, dst);
	pb_tcp(p, sport, dport, flags, &(struct pb_tcp_opts){ .seq = seq, .ack = ack });
	if (payload)
		pb_payload_str(p, payload);
	return pb_finish(p);
}

/* The server's SYN-ACK, from port 25 to the client's port 40000. */
static void server_synack(const char *client, const char *server, uint32_t isn)
{
	struct pb p;

	assert_int_equal(run(&p, tcp_frame(&p, server, client, 25, 40000, PB_TCP_SYN | PB_TCP_ACK, isn,
					   CLIENT_ISN + 1, NULL)), XDP_PASS);
}

/* A bare ACK from the client acknowledging `ack`. */
static void client_ack(const char *client, const char *server, uint32_t ack)
{
	struct pb p;

	assert_int_equal(run(&p, tcp_frame(&p, client, server, 40000, 25, PB_TCP_ACK, CLIENT_ISN + 1, ack, NULL)),
			 XDP_PASS);
}

/* Client commands acknowledging `ack`. */
static void client_cmds(const char *client, const char *server, uint32_t ack, const char *cmds)
{
	struct pb p;

	assert_int_equal(run(&p, tcp_frame(&p, client, server, 40000, 25, PB_TCP_ACK | PB_TCP_PSH, CLIENT_ISN + 1,
					   ack, cmds)), XDP_PASS);
}

/* The whole of a real connection: SYN, SYN-ACK, ACK of ISN + 1, then the greeting acknowledged. */
static void real_session(const char *client, const char *server, const char *cmds)
{
	struct pb p;

	assert_int_equal(run(&p, syn(&p, client, server, 25, NULL)), XDP_PASS);
	server_synack(client, server, SERVER_ISN);
	client_ack(client, server, SERVER_ISN + 1);
	client_cmds(client, server, SERVER_ISN + 1 + BANNER_LEN, cmds);
}

/*
 * (Budget group.) Commands on a connection whose handshake the program saw
 * find their source's profile without the profile filter: a flood cannot
 * send them, and the filter would only add its cost. Commands any spoofer
 * could send still ask it first. Shown with the filter cleared under a
 * profile and the creation budget spent: the unproven segment is taken for
 * a new source and refused, the proven one counts.
 */
static void test_proven_commands_skip_filter(void **state)
{
	struct pb p;
	char src[32];

	(void)state;
	real_session(CLIENT4, SERVER4, "EHLO pc.example.org\r\n");
	assert_int_equal(profile(CLIENT4).cmd[MG_CMD_EHLO], 1);
	for (int i = 0; i < 3; i++) {
		snprintf(src, sizeof(src), "198.19.1.%d", i + 1);
		assert_int_equal(run(&p, seg(&p, src, SERVER4, 40000, 25, "EHLO x\r\n")), XDP_PASS);
	}
	mg_srcfilter_refresh_begin(&H.src_filter);
	mg_srcfilter_refresh_end(&H.src_filter);
	uint8_t key[16];
	assert_int_equal(mg_addr_parse(CLIENT4, key), 0); /* an IPv4 profile's key: the v4-mapped address */
	assert_false(mg_srcfilter_may_hold(&H.src_filter, key));
	struct mg_global_stats before = stats();

	/* Another connection of the same client, whose handshake was not seen. */
	assert_int_equal(run(&p, seg(&p, CLIENT4, SERVER4, 40001, 25, "MAIL FROM:<a@example.org>\r\n")), XDP_PASS);
	assert_int_equal(stats().src_throttled, before.src_throttled + 1);
	assert_int_equal(profile(CLIENT4).cmd[MG_CMD_MAIL], 0);

	client_cmds(CLIENT4, SERVER4, SERVER_ISN + 1 + BANNER_LEN, "MAIL FROM:<a@example.org>\r\n");
	assert_int_equal(profile(CLIENT4).cmd[MG_CMD_MAIL], 1);
	assert_int_equal(stats().src_throttled, before.src_throttled + 1);
}

/* The HELO event among those drained; fails if there is none. */
static const struct mg_event *helo_event(void)
{
	xh_events(&H);
	for (int i = 0; i < H.nevents; i++)
		if (H.events[i].type == MG_EV_HELO)
			return &H.events[i];
	fail_msg("no HELO event");
	return NULL;
}

static void handshake_counts(const char *client, const char *server)
{
	real_session(client, server, "EHLO mx.example.org\r\nMAIL FROM:<a@example.org>\r\n");
	struct mg_global_stats s = stats();
	assert_int_equal(s.flows_established, 1);
	assert_int_equal(s.cmds_unproven, 0);
	assert_int_equal(s.smtp_cmds, 2);
	struct mg_src_stats e = profile(client);
	assert_int_equal(e.cmd[MG_CMD_EHLO], 1);
	assert_int_equal(e.cmd[MG_CMD_MAIL], 1);
	const struct mg_event *ev = helo_event();
	assert_int_equal(ev->proof, MG_PROOF_HANDSHAKE);
	/* The SYN's event proves nothing, whatever came after. */
	assert_int_equal(H.events[0].type, MG_EV_SYN_MX);
	assert_int_equal(H.events[0].proof, MG_PROOF_NONE);
}

static void test_handshake_v4_commands_count(void **state)
{
	(void)state;
	handshake_counts(CLIENT4, SERVER4);
}

static void test_handshake_v6_commands_count(void **state)
{
	(void)state;
	handshake_counts(CLIENT6, SERVER6);
}

/* The issue's flood: EHLO/MAIL/RCPT from random spoofed sources, no handshake anywhere. */
static void test_spoofed_payload_not_counted(void **state)
{
	char src[64];

	(void)state;
	for (int i = 0; i < 200; i++) {
		snprintf(src, sizeof(src), i % 2 ? "198.19.%d.%d" : "2001:db8:%x::%x", i / 100 + 1, i % 100 + 1);
		client_cmds(src, i % 2 ? SERVER4 : SERVER6, (uint32_t)i * 7919u,
			    "EHLO [198.19.0.1]\r\nMAIL FROM:<x@example.org>\r\nRCPT TO:<y@example.org>\r\n");
	}
	struct mg_global_stats s = stats();
	assert_int_equal(s.cmds_unproven, 600);
	assert_int_equal(s.smtp_cmds, 0);
	assert_int_equal(s.src_created, 0);
	assert_int_equal(s.events_sent, 0);
	assert_int_equal(xh_events(&H), 0);
	assert_no_profile("198.19.1.2");
	assert_no_profile("2001:db8:1::1");
}

/*
 * Replies count toward a client's profile (its reject ratio) only on a
 * connection whose handshake was seen: a spoofer on the uplink forging
 * "550" from some MX toward a profiled inside host moves nothing.
 */
static void test_spoofed_replies_not_counted(void **state)
{
	struct pb p;

	(void)state;
	real_session(CLIENT4, SERVER4, "EHLO pc.example.org\r\n");
	assert_int_equal(profile(CLIENT4).cmd[MG_CMD_EHLO], 1);
	/* Forged: no connection on that 4-tuple, from another MX and from this one to another port. */
	for (int i = 0; i < 10; i++) {
		assert_int_equal(run(&p, seg(&p, "198.18.1.2", CLIENT4, 25, 40000, "550 5.7.1 rejected\r\n")), XDP_PASS);
		assert_int_equal(run(&p, seg(&p, SERVER4, CLIENT4, 25, 40001, "550 5.7.1 rejected\r\n")), XDP_PASS);
	}
	/* A SYN-ACK seen, never acknowledged: a reply there is no proven connection's either. */
	assert_int_equal(run(&p, tcp_frame(&p, SERVER4, CLIENT4, 25, 40002, PB_TCP_SYN | PB_TCP_ACK, SERVER_ISN,
					   CLIENT_ISN + 1, NULL)), XDP_PASS);
	assert_int_equal(run(&p, seg(&p, SERVER4, CLIENT4, 25, 40002, "421 4.7.0 later\r\n")), XDP_PASS);
	struct mg_src_stats e = profile(CLIENT4);
	assert_int_equal(e.reply[MG_REPLY_5XX], 0);
	assert_int_equal(e.reply[MG_REPLY_4XX], 0);
	assert_int_equal(stats().smtp_replies, 0);
	/* The established connection's own reply counts. */
	assert_int_equal(run(&p, seg(&p, SERVER4, CLIENT4, 25, 40000, "250 mx.example.org\r\n")), XDP_PASS);
	assert_int_equal(profile(CLIENT4).reply[MG_REPLY_2XX], 1);
	assert_int_equal(stats().smtp_replies, 1);
}

/*
 * A connection's family is its IP version: IPv4 connections are kept in
 * maps of their own (12-byte keys). The 4-tuple of an established IPv4
 * connection in an IPv6 header, with v4-mapped addresses (which no host
 * sends on the wire), is another connection, not proven by the first.
 */
static void test_flow_family_is_ip_version(void **state)
{
	(void)state;
	real_session(CLIENT4, SERVER4, "EHLO pc.example.org\r\n");
	assert_int_equal(stats().flows_established, 1);
	client_cmds("::ffff:" CLIENT4, "::ffff:" SERVER4, SERVER_ISN + 1 + BANNER_LEN, "MAIL FROM:<a@example.org>\r\n");
	assert_int_equal(stats().cmds_unproven, 1);
	client_cmds(CLIENT4, SERVER4, SERVER_ISN + 1 + BANNER_LEN, "MAIL FROM:<a@example.org>\r\n");
	assert_int_equal(stats().cmds_unproven, 1);
	assert_int_equal(profile(CLIENT4).cmd[MG_CMD_MAIL], 1);
}

/* An ACK that is not of ISN + 1 completes nothing; the right one still does. */
static void test_wrong_ack_not_established(void **state)
{
	(void)state;
	server_synack(CLIENT4, SERVER4, SERVER_ISN);
	client_ack(CLIENT4, SERVER4, SERVER_ISN);     /* one short */
	client_ack(CLIENT4, SERVER4, SERVER_ISN + 2); /* one past */
	client_ack(CLIENT4, SERVER4, 0);
	assert_int_equal(stats().flows_established, 0);
	client_cmds(CLIENT4, SERVER4, SERVER_ISN + 1 + BANNER_LEN, "EHLO pc\r\n");
	assert_int_equal(stats().cmds_unproven, 1);
	assert_no_profile(CLIENT4);

	/* Another connection's ACK (other client port) does not complete this one. */
	struct pb p;
	assert_int_equal(run(&p, tcp_frame(&p, CLIENT4, SERVER4, 40001, 25, PB_TCP_ACK, CLIENT_ISN + 1,
					   SERVER_ISN + 1, NULL)), XDP_PASS);
	assert_int_equal(stats().flows_established, 0);

	client_ack(CLIENT4, SERVER4, SERVER_ISN + 1);
	assert_int_equal(stats().flows_established, 1);
	client_cmds(CLIENT4, SERVER4, SERVER_ISN + 1 + BANNER_LEN, "EHLO pc\r\n");
	assert_int_equal(profile(CLIENT4).cmd[MG_CMD_EHLO], 1);
}

/* A client that speaks first puts the ACK of ISN + 1 on its first command: that completes it too. */
static void test_early_talker_established(void **state)
{
	(void)state;
	server_synack(CLIENT6, SERVER6, SERVER_ISN);
	client_cmds(CLIENT6, SERVER6, SERVER_ISN + 1, "EHLO pc.example.org\r\n");
	assert_int_equal(stats().flows_established, 1);
	assert_int_equal(profile(CLIENT6).cmd[MG_CMD_EHLO], 1);
	assert_int_equal(helo_event()->proof, MG_PROOF_HANDSHAKE);
}

/* A new SYN-ACK on the same four-tuple is a new connection: what was established there is gone. */
static void test_new_handshake_starts_over(void **state)
{
	(void)state;
	real_session(CLIENT4, SERVER4, "EHLO pc.example.org\r\n");
	server_synack(CLIENT4, SERVER4, 12345);
	client_cmds(CLIENT4, SERVER4, 99, "EHLO pc.example.org\r\n");
	assert_int_equal(stats().cmds_unproven, 1);
	assert_int_equal(profile(CLIENT4).cmd[MG_CMD_EHLO], 1);
}

/* Only MX ports: a submission server's SYN-ACK starts no flow, its clients' commands are not counted anyway. */
static void test_submission_synack_no_flow(void **state)
{
	struct pb p;

	(void)state;
	assert_int_equal(run(&p, tcp_frame(&p, SERVER4, CLIENT4, 587, 40000, PB_TCP_SYN | PB_TCP_ACK, SERVER_ISN,
					   CLIENT_ISN + 1, NULL)), XDP_PASS);
	assert_int_equal(run(&p, tcp_frame(&p, CLIENT4, SERVER4, 40000, 587, PB_TCP_ACK, CLIENT_ISN + 1,
					   SERVER_ISN + 1, NULL)), XDP_PASS);
	assert_int_equal(stats().flows_established, 0);
}

/* When seen (the default): proof is marked per connection. */
static void test_when_seen_marks_proof(void **state)
{
	(void)state;
	/* No SYN-ACK seen for it: a box that sees one direction takes it, marked as payload only. */
	client_cmds(CLIENT4, SERVER4, 777, "EHLO pc.example.org\r\n");
	assert_int_equal(profile(CLIENT4).cmd[MG_CMD_EHLO], 1);
	assert_int_equal(helo_event()->proof, MG_PROOF_PAYLOAD);
	H.nevents = 0;

	/* A SYN-ACK seen but never acknowledged: a spoofer racing the server's answer. */
	server_synack(OTHER4, SERVER4, SERVER_ISN);
	client_cmds(OTHER4, SERVER4, SERVER_ISN + 1 + BANNER_LEN, "EHLO pc.example.org\r\n");
	assert_int_equal(stats().cmds_unproven, 1);
	assert_no_profile(OTHER4);

	/* A completed handshake: proven. */
	client_ack(OTHER4, SERVER4, SERVER_ISN + 1);
	client_cmds(OTHER4, SERVER4, SERVER_ISN + 1 + BANNER_LEN, "EHLO pc.example.org\r\n");
	assert_int_equal(profile(OTHER4).cmd[MG_CMD_EHLO], 1);
	assert_int_equal(helo_event()->proof, MG_PROOF_HANDSHAKE);
}

/* Off: nothing tracked, every command counts as payload. */
static void test_off_counts_everything(void **state)
{
	(void)state;
	server_synack(CLIENT4, SERVER4, SERVER_ISN);
	client_cmds(CLIENT4, SERVER4, 5, "EHLO pc.example.org\r\n");
	assert_int_equal(profile(CLIENT4).cmd[MG_CMD_EHLO], 1);
	assert_int_equal(helo_event()->proof, MG_PROOF_PAYLOAD);
	client_ack(CLIENT4, SERVER4, SERVER_ISN + 1);
	assert_int_equal(stats().flows_established, 0);
	assert_int_equal(stats().cmds_unproven, 0);
}

/* ---- an uplink declared: server-side packets count only where real ones arrive ---- */

/*
 * The uplink is a veth made in a network namespace of the test's own (the
 * kernel looks a test run's ingress_ifindex up, so it must exist); frames
 * run() sends arrive on that namespace's loopback (ifindex 1), an inside
 * interface here. The namespace and the veth go when the group ends.
 */
#define UPLINK_IF "mgup0"
/* A second interface of the namespace: where an uplink made again, with a new ifindex, is moved to. */
#define MOVED_IF "mgup2"
static int home_netns = -1;
static uint32_t uplink_ifindex, moved_ifindex;

static void netns_leave(void)
{
	if (home_netns < 0)
		return;
	if (system("ip link del " UPLINK_IF " 2>/dev/null") != 0)
		fprintf(stderr, "could not delete %s (it goes with its namespace)\n", UPLINK_IF);
	if (moved_ifindex && system("ip link del " MOVED_IF " 2>/dev/null") != 0)
		fprintf(stderr, "could not delete %s (it goes with its namespace)\n", MOVED_IF);
	moved_ifindex = 0;
	if (setns(home_netns, CLONE_NEWNET))
		perror("setns back to the test's network namespace");
	close(home_netns);
	home_netns = -1;
}

static int netns_with_uplink(void)
{
	home_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (home_netns < 0) {
		perror("/proc/self/ns/net");
		return -1;
	}
	if (unshare(CLONE_NEWNET)) {
		perror("unshare(CLONE_NEWNET)");
		close(home_netns);
		home_netns = -1;
		return -1;
	}
	if (system("ip link add " UPLINK_IF " type veth peer name mgup1") != 0) {
		fprintf(stderr, "could not create the veth %s (iproute2's ip)\n", UPLINK_IF);
		netns_leave();
		return -1;
	}
	uplink_ifindex = if_nametoindex(UPLINK_IF);
	if (!uplink_ifindex) {
		netns_leave();
		return -1;
	}
	if (system("ip link add " MOVED_IF " type veth peer name mgup3") != 0 ||
	    !(moved_ifindex = if_nametoindex(MOVED_IF))) {
		fprintf(stderr, "could not create the veth %s (iproute2's ip)\n", MOVED_IF);
		netns_leave();
		return -1;
	}
	return 0;
}

/*
 * The harness's program as the loader's handle sees it, for mg_set_uplink
 * and mg_get_uplinks: the map and the loaded count, nothing else.
 */
static struct mg_handle uplinks_handle(void)
{
	struct mg_handle h;

	memset(&h, 0, sizeof(h));
	h.uplinks_fd = bpf_map__fd(H.skel->maps.mg_uplinks);
	h.uplinks_n = H.skel->rodata->mg_cfg.n_uplinks;
	return h;
}

static void run_on_uplink(struct pb *p, size_t len)
{
	assert_int_equal(xh_run_on(&H, p->buf, len, uplink_ifindex), XDP_PASS);
}

/* The real server's SYN-ACK: on the uplink. server_synack's arrive inside, as an inside host forges them. */
static void uplink_synack(const char *client, const char *server, uint32_t isn)
{
	struct pb p;

	run_on_uplink(&p, tcp_frame(&p, server, client, 25, 40000, PB_TCP_SYN | PB_TCP_ACK, isn, CLIENT_ISN + 1,
				    NULL));
}

/* real_session with the server's SYN-ACK on the uplink. */
static void uplink_session(const char *client, const char *server, const char *cmds)
{
	struct pb p;

	assert_int_equal(run(&p, syn(&p, client, server, 25, NULL)), XDP_PASS);
	uplink_synack(client, server, SERVER_ISN);
	client_ack(client, server, SERVER_ISN + 1);
	client_cmds(client, server, SERVER_ISN + 1 + BANNER_LEN, cmds);
}

/* Connections with a SYN-ACK pending, in both families' maps. */
static uint32_t pending_flows(void)
{
	struct mg_flow_key k;
	struct mg_flow_key4 k4;
	uint32_t n = 0;

	for (const void *prev = NULL; bpf_map_get_next_key(H.flows_pending_fd, prev, &k) == 0; prev = &k)
		n++;
	for (const void *prev = NULL; bpf_map_get_next_key(H.flows_pending4_fd, prev, &k4) == 0; prev = &k4)
		n++;
	return n;
}

static uint32_t flows_seen(void)
{
	uint32_t zero = 0, seen = 0;

	assert_int_equal(bpf_map_lookup_elem(bpf_map__fd(H.skel->maps.mg_flows_seen), &zero, &seen), 0);
	return seen;
}

/* The event of `type` among those drained; fails if there is none. */
static const struct mg_event *event_of(uint8_t type)
{
	xh_events(&H);
	for (int i = 0; i < H.nevents; i++)
		if (H.events[i].type == type)
			return &H.events[i];
	fail_msg("no event of type %u", type);
	return NULL;
}

/*
 * The defect: a bot that completed its handshake forges a SYN-ACK "from the
 * MX" to its own four-tuple. Arriving on an inside interface it is no
 * server's: the bot's connection stays established, its commands count.
 */
static void test_uplink_forged_synack_keeps_established(void **state)
{
	(void)state;
	uplink_session(CLIENT4, SERVER4, "EHLO pc.example.org\r\n");
	assert_int_equal(stats().flows_established, 1);
	assert_int_equal(event_of(MG_EV_HELO)->proof, MG_PROOF_HANDSHAKE);
	H.nevents = 0;

	assert_int_equal(stats().server_side_refused, 0);
	server_synack(CLIENT4, SERVER4, 12345);
	assert_int_equal(pending_flows(), 0);
	assert_int_equal(stats().server_side_refused, 1);
	client_cmds(CLIENT4, SERVER4, SERVER_ISN + 1 + BANNER_LEN, "MAIL FROM:<a@example.org>\r\n");
	assert_int_equal(stats().cmds_unproven, 0);
	assert_int_equal(profile(CLIENT4).cmd[MG_CMD_MAIL], 1);
	assert_int_equal(event_of(MG_EV_MAIL)->proof, MG_PROOF_HANDSHAKE);
}

/* The real SYN-ACK, on the uplink, still makes a pending entry the client's ACK completes, and starts over. */
static void test_uplink_synack_tracked(void **state)
{
	(void)state;
	uplink_synack(CLIENT4, SERVER4, SERVER_ISN);
	assert_int_equal(pending_flows(), 1);
	assert_int_equal(flows_seen(), 1);
	client_cmds(CLIENT4, SERVER4, SERVER_ISN + 1 + BANNER_LEN, "EHLO pc.example.org\r\n");
	assert_int_equal(stats().cmds_unproven, 1);
	client_ack(CLIENT4, SERVER4, SERVER_ISN + 1);
	assert_int_equal(stats().flows_established, 1);
	client_cmds(CLIENT4, SERVER4, SERVER_ISN + 1 + BANNER_LEN, "EHLO pc.example.org\r\n");
	assert_int_equal(profile(CLIENT4).cmd[MG_CMD_EHLO], 1);
	assert_int_equal(event_of(MG_EV_HELO)->proof, MG_PROOF_HANDSHAKE);

	/* A new handshake on the four-tuple, from the uplink: a new connection, as without an uplink. */
	uplink_synack(CLIENT4, SERVER4, 12345);
	client_cmds(CLIENT4, SERVER4, 99, "EHLO pc.example.org\r\n");
	assert_int_equal(stats().cmds_unproven, 2);
	assert_int_equal(profile(CLIENT4).cmd[MG_CMD_EHLO], 1);
}

/* A reply "from the MX" arriving inside is forged: it moves nothing of the client's; the uplink's counts. */
static void test_uplink_inside_reply_not_counted(void **state)
{
	struct pb p;

	(void)state;
	uplink_session(CLIENT4, SERVER4, "EHLO pc.example.org\r\n");
	assert_int_equal(run(&p, seg(&p, SERVER4, CLIENT4, 25, 40000, "550 5.7.1 rejected\r\n")), XDP_PASS);
	assert_int_equal(profile(CLIENT4).reply[MG_REPLY_5XX], 0);
	assert_int_equal(stats().smtp_replies, 0);
	assert_int_equal(stats().server_side_refused, 1); /* the operator sees the forger at work */
	run_on_uplink(&p, seg(&p, SERVER4, CLIENT4, 25, 40000, "550 5.7.1 rejected\r\n"));
	assert_int_equal(profile(CLIENT4).reply[MG_REPLY_5XX], 1);
	assert_int_equal(stats().smtp_replies, 1);
	assert_int_equal(stats().server_side_refused, 1);
}

/*
 * An inside host fakes a whole handshake for an address it does not own:
 * the server's SYN-ACK and the client's ACK, both forged, both inside. No
 * flow comes of it, and the commands are no better than any spoofed
 * payload: not counted where a handshake is required, payload where it is
 * taken when seen. The SYN-ACK still counts toward its own source, like a
 * SYN: an inside mail server's SYN-ACKs arrive inside.
 */
static void test_uplink_forged_handshake_inside(void **state)
{
	(void)state;
	server_synack(OTHER4, SERVER4, SERVER_ISN);
	client_ack(OTHER4, SERVER4, SERVER_ISN + 1);
	assert_int_equal(flows_seen(), 0);
	assert_int_equal(pending_flows(), 0);
	assert_int_equal(stats().flows_established, 0);
	client_cmds(OTHER4, SERVER4, SERVER_ISN + 1 + BANNER_LEN, "EHLO pc.example.org\r\n");
	if (H.skel->rodata->mg_cfg.handshake == MG_HS_REQUIRED) {
		assert_int_equal(stats().cmds_unproven, 1);
		assert_no_profile(OTHER4);
	} else {
		assert_int_equal(profile(OTHER4).cmd[MG_CMD_EHLO], 1);
		assert_int_equal(event_of(MG_EV_HELO)->proof, MG_PROOF_PAYLOAD);
	}
	struct mg_src_stats server = profile(SERVER4);
	assert_int_equal(server.synack_smtp, 1);
	assert_true(server.flags & MG_SRC_F_SERVES_SMTP);
}

/*
 * An inside mail server answering a client on the Internet: its SYN-ACK and
 * replies arrive inside. With protected networks that client lies outside
 * them, so they count (the organisation's relay keeps its inbound
 * handshakes); without, every client counts as inside and they do not.
 * Here the inside server is CLIENT4's address and the outside client
 * SERVER4's.
 */
static void test_uplink_inside_server_answers_outside(void **state)
{
	struct pb p;
	const bool protected = H.skel->rodata->mg_cfg.act[0].size != 0;

	(void)state;
	assert_int_equal(run(&p, syn(&p, SERVER4, CLIENT4, 25, NULL)), XDP_PASS);
	server_synack(SERVER4, CLIENT4, SERVER_ISN);
	assert_int_equal(pending_flows(), protected ? 1 : 0);
	client_ack(SERVER4, CLIENT4, SERVER_ISN + 1);
	assert_int_equal(stats().flows_established, protected ? 1 : 0);
	client_cmds(SERVER4, CLIENT4, SERVER_ISN + 1 + BANNER_LEN, "EHLO mta.example.org\r\n");
	assert_int_equal(run(&p, seg(&p, CLIENT4, SERVER4, 25, 40000, "550 5.7.1 rejected\r\n")), XDP_PASS);
	if (protected) {
		assert_int_equal(profile(SERVER4).cmd[MG_CMD_EHLO], 1);
		assert_int_equal(event_of(MG_EV_HELO)->proof, MG_PROOF_HANDSHAKE);
		assert_int_equal(profile(SERVER4).reply[MG_REPLY_5XX], 1);
	} else if (H.skel->rodata->mg_cfg.handshake == MG_HS_REQUIRED) {
		assert_int_equal(stats().cmds_unproven, 1);
		assert_int_equal(profile(SERVER4).cmd[MG_CMD_EHLO], 0);
		assert_int_equal(profile(SERVER4).reply[MG_REPLY_5XX], 0);
	} else {
		assert_int_equal(event_of(MG_EV_HELO)->proof, MG_PROOF_PAYLOAD);
		assert_int_equal(profile(SERVER4).reply[MG_REPLY_5XX], 0);
	}
}

/* A server's SYN-ACK to `client` arriving on `ifindex`. */
static void synack_on(uint32_t ifindex, const char *client, const char *server, uint32_t isn)
{
	struct pb p;
	size_t len = tcp_frame(&p, server, client, 25, 40000, PB_TCP_SYN | PB_TCP_ACK, isn, CLIENT_ISN + 1, NULL);

	assert_int_equal(xh_run_on(&H, p.buf, len, ifindex), XDP_PASS);
}

/*
 * The uplink deleted and made again comes back with a new ifindex: the
 * daemon points the running program's slot at it (mg_set_uplink). From
 * then the new ifindex is trusted, and the old one is no uplink: a SYN-ACK
 * arriving there is refused like one arriving inside.
 */
static void test_uplink_moved_by_set_uplink(void **state)
{
	struct mg_handle h = uplinks_handle();
	struct mg_uplinks up;

	(void)state;
	synack_on(uplink_ifindex, CLIENT4, SERVER4, SERVER_ISN);
	assert_int_equal(pending_flows(), 1);
	synack_on(moved_ifindex, OTHER4, SERVER4, SERVER_ISN);
	assert_int_equal(pending_flows(), 1);
	xh_reset_traffic(&H);

	assert_int_equal(mg_set_uplink(&h, 0, moved_ifindex), 0);
	assert_int_equal(mg_get_uplinks(&h, &up), 0);
	assert_int_equal(up.ifindex[0], moved_ifindex);
	synack_on(uplink_ifindex, CLIENT4, SERVER4, SERVER_ISN);
	assert_int_equal(pending_flows(), 0);
	assert_int_equal(flows_seen(), 0);
	synack_on(moved_ifindex, CLIENT4, SERVER4, SERVER_ISN);
	assert_int_equal(pending_flows(), 1);
	assert_int_equal(flows_seen(), 1);
}

/*
 * An uplink not there yet (mg_load_opts_uplink_absent: its slot holds 0)
 * trusts nothing: not a test run's packet given no interface (the kernel
 * runs it as arriving on lo), nor the uplink's old device.
 */
static void test_uplink_absent_slot_matches_nothing(void **state)
{
	struct mg_handle h = uplinks_handle();

	(void)state;
	assert_int_equal(mg_set_uplink(&h, 0, 0), 0);
	synack_on(0, CLIENT4, SERVER4, SERVER_ISN);
	assert_int_equal(pending_flows(), 0);
	synack_on(uplink_ifindex, CLIENT4, SERVER4, SERVER_ISN);
	assert_int_equal(pending_flows(), 0);
	assert_int_equal(flows_seen(), 0);
}

/* Only the loaded uplinks' slots may be written: past them the program compares nothing. */
static void test_uplink_set_slot_out_of_range(void **state)
{
	struct mg_handle h = uplinks_handle(), pinned;
	struct mg_uplinks up;

	(void)state;
	assert_int_equal(mg_set_uplink(&h, 1, moved_ifindex), -EINVAL);
	assert_int_equal(mg_set_uplink(&h, MG_UPLINKS_MAX, moved_ifindex), -EINVAL);
	assert_int_equal(mg_get_uplinks(&h, &up), 0);
	assert_int_equal(up.ifindex[0], uplink_ifindex);
	assert_int_equal(up.ifindex[1], 0);
	/* A handle opened from pins has no uplinks map (it is not pinned). */
	memset(&pinned, 0, sizeof(pinned));
	pinned.uplinks_fd = -1;
	assert_int_equal(mg_set_uplink(&pinned, 0, moved_ifindex), -ENOENT);
	assert_int_equal(mg_get_uplinks(&pinned, &up), -ENOENT);
}

/* After each: slot 0 is the uplink again, whatever a test moved it to (or failed halfway). */
static int restore_uplink(void **state)
{
	struct mg_handle h = uplinks_handle();

	(void)state;
	return mg_set_uplink(&h, 0, uplink_ifindex);
}

/*
 * The loader's own load: the uplinks named in the options are in
 * mg_uplinks in their order, before the first packet, and a slot is
 * rewritten in place, the others kept.
 */
static void test_uplink_loader_writes_map(void **state)
{
	struct mg_load_opts o;
	struct mg_handle h;
	struct mg_uplinks up;

	(void)state;
	mg_load_opts_default(&o);
	o.max_sources = o.max_servers = o.max_policy = o.max_allow = 256;
	assert_int_equal(mg_load_opts_uplink(&o, UPLINK_IF), 0);
	assert_int_equal(mg_load_opts_uplink(&o, "lo"), 0);
	assert_int_equal(mg_load_private(&o, &h), 0);
	assert_int_equal(h.uplinks_n, 2);
	assert_int_equal(mg_get_uplinks(&h, &up), 0);
	assert_int_equal(up.ifindex[0], uplink_ifindex);
	assert_int_equal(up.ifindex[1], 1);
	assert_int_equal(up.ifindex[2], 0);
	assert_int_equal(mg_set_uplink(&h, 0, moved_ifindex), 0);
	assert_int_equal(mg_set_uplink(&h, 2, moved_ifindex), -EINVAL);
	assert_int_equal(mg_get_uplinks(&h, &up), 0);
	assert_int_equal(up.ifindex[0], moved_ifindex);
	assert_int_equal(up.ifindex[1], 1);
	mg_close(&h);
}

/* The loader's side: names resolved to the ifindexes the program compares, each once, a missing one refused. */
static void test_uplink_load_opts(void **state)
{
	struct mg_load_opts o;

	(void)state;
	mg_load_opts_default(&o);
	assert_int_equal(o.tunables.n_uplinks, 0);
	assert_int_equal(mg_load_opts_uplink(&o, UPLINK_IF), 0);
	assert_int_equal(mg_load_opts_uplink(&o, "lo"), 0);
	assert_int_equal(mg_load_opts_uplink(&o, UPLINK_IF), 0);
	assert_int_equal(mg_load_opts_uplink(&o, "mgnone0"), -ENODEV);
	assert_int_equal(o.tunables.n_uplinks, 2);
	assert_int_equal(o.uplink_ifindex[0], uplink_ifindex);
	assert_int_equal(o.uplink_ifindex[1], 1);
	/* One not there yet takes the next slot, holding no interface; two such are two slots. */
	assert_int_equal(mg_load_opts_uplink_absent(&o), 0);
	assert_int_equal(mg_load_opts_uplink_absent(&o), 0);
	assert_int_equal(o.tunables.n_uplinks, 4);
	assert_int_equal(o.uplink_ifindex[2], 0);
	assert_int_equal(o.uplink_ifindex[3], 0);
	assert_int_equal(mg_load_opts_uplink(&o, "lo"), 0); /* still the slot it had */
	assert_int_equal(o.tunables.n_uplinks, 4);
	o.tunables.n_uplinks = MG_UPLINKS_MAX; /* full: one more is refused, not dropped */
	assert_int_equal(mg_load_opts_uplink(&o, "mgup1"), -E2BIG);
	assert_int_equal(mg_load_opts_uplink_absent(&o), -E2BIG);
}

static struct xh H_saved;

/* protect: 198.18.0.0/24 is the protected network (CLIENT4 and OTHER4 inside it, SERVER4 outside). */
static int load_uplink(uint8_t mode, bool protect)
{
	struct mg_tunables t = MG_TUNABLES_DEFAULT;

	if (protect) {
		struct mg_prefix net;
		char why[256];
		size_t bad;
		assert_int_equal(mg_prefix_parse("198.18.0.0/24", &net), 0);
		assert_int_equal(mg_act_plan(&net, 1, t.act, &bad, why, sizeof(why)), 0);
	}
	if (netns_with_uplink())
		return -1;
	t.handshake = mode;
	t.n_uplinks = 1;
	H_saved = H;
	int err = xh_load(&H, &t);
	if (!err)
		err = restore_uplink(NULL); /* the loader's part: the harness loads from tunables only */
	if (err) {
		if (H.skel)
			xh_unload(&H);
		H = H_saved;
		netns_leave();
	}
	return err;
}

static int load_uplink_required(void **state)
{
	(void)state;
	return load_uplink(MG_HS_REQUIRED, false);
}

static int load_uplink_when_seen(void **state)
{
	(void)state;
	return load_uplink(MG_HS_WHEN_SEEN, false);
}

static int load_uplink_protected(void **state)
{
	(void)state;
	return load_uplink(MG_HS_REQUIRED, true);
}

static int unload_uplink(void **state)
{
	(void)state;
	xh_unload(&H);
	H = H_saved;
	netns_leave();
	return 0;
}

static int load_handshake(uint8_t mode)
{
	struct mg_tunables t = MG_TUNABLES_DEFAULT;

	t.handshake = mode;
	H_saved = H;
	return xh_load(&H, &t);
}

static int load_required(void **state)
{
	(void)state;
	return load_handshake(MG_HS_REQUIRED);
}

static int load_off(void **state)
{
	(void)state;
	return load_handshake(MG_HS_OFF);
}

static int unload_handshake(void **state)
{
	(void)state;
	xh_unload(&H);
	H = H_saved;
	return 0;
}

int main(void)
{
	const struct CMUnitTest parse_tests[] = {
		cmocka_unit_test_setup(test_ipv4_syn, reset),
		cmocka_unit_test_setup(test_ipv6_syn, reset),
		cmocka_unit_test_setup(test_vlan_syn, reset),
		cmocka_unit_test_setup(test_mac_stored_whole, reset),
		cmocka_unit_test_setup(test_qinq_syn, reset),
		cmocka_unit_test_setup(test_three_tags_not_walked, reset),
		cmocka_unit_test_setup(test_ipv4_options, reset),
		cmocka_unit_test_setup(test_ipv6_extension_headers, reset),
		cmocka_unit_test_setup(test_ipv6_too_many_extension_headers, reset),
		cmocka_unit_test_setup(test_ah_walked, reset),
		cmocka_unit_test_setup(test_fragments, reset),
		cmocka_unit_test_setup(test_ipv6_later_fragment_not_walked, reset),
		cmocka_unit_test_setup(test_truncated_qinq_ipv4_options, reset),
		cmocka_unit_test_setup(test_truncated_ipv6_ext, reset),
		cmocka_unit_test_setup(test_malformed_headers_pass, reset),
		cmocka_unit_test_setup(test_fast_path_cases, reset),
		cmocka_unit_test_setup(test_non_ip_passes, reset),
		cmocka_unit_test_setup(test_syn_fingerprint, reset),
		cmocka_unit_test_setup(test_submission_syn_fingerprint_only, reset),
		cmocka_unit_test_setup(test_submission_commands_not_counted, reset),
		cmocka_unit_test_setup(test_outbreak_containment, reset),
		cmocka_unit_test_setup(test_syn_classes_and_destinations, reset),
		cmocka_unit_test_setup(test_activity_off_without_protected_networks, reset),
	};
	const struct CMUnitTest smtp_tests[] = {
		cmocka_unit_test_setup(test_commands_any_case, reset),
		cmocka_unit_test_setup(test_pipelined, reset),
		cmocka_unit_test_setup(test_pipelined_short_tails, reset),
		cmocka_unit_test_setup(test_pipelined_bounded, reset),
		cmocka_unit_test_setup(test_line_end_right_after_verb, reset),
		cmocka_unit_test_setup(test_many_kinds_in_one_segment, reset),
		cmocka_unit_test_setup(test_split_commands, reset),
		cmocka_unit_test_setup(test_starttls_and_auth, reset),
		cmocka_unit_test_setup(test_body_text_not_commands, reset),
		cmocka_unit_test_setup(test_mail_event, reset),
		cmocka_unit_test_setup(test_helo_event, reset),
		cmocka_unit_test_setup(test_helo_bare_lf_no_argument, reset),
		cmocka_unit_test_setup(test_helo_event_repeats, reset),
		cmocka_unit_test_setup(test_event_argument_at_frame_end, reset),
		cmocka_unit_test_setup(test_helo_hash_every_shape, reset),
		cmocka_unit_test_setup(test_ethernet_padding_is_not_payload, reset),
		cmocka_unit_test_setup(test_replies, reset),
		cmocka_unit_test_setup(test_synack_marks_server, reset),
		cmocka_unit_test_setup(test_bulk_does_not_touch_profiles, reset),
		cmocka_unit_test_setup(test_syn_other_port_goes_to_sketch, reset),
		cmocka_unit_test_setup(test_servers_updated_in_place, reset),
	};
	const struct CMUnitTest enforce_tests[] = {
		cmocka_unit_test_setup(test_block_prefixes_v4, reset),
		cmocka_unit_test_setup(test_block_prefixes_v6, reset),
		cmocka_unit_test_setup(test_allow_beats_block, reset),
		cmocka_unit_test_setup(test_expiry, reset),
		cmocka_unit_test_setup(test_monitor_mode, reset),
		cmocka_unit_test_setup(test_drop_smtp_versus_all, reset),
		cmocka_unit_test_setup(test_drop_smtp_hidden_l4, reset),
		cmocka_unit_test_setup(test_first_fragment_cut_in_chain, reset),
		cmocka_unit_test_setup(test_drop_all_hidden_l4, reset),
		cmocka_unit_test_setup(test_drop_events_rate_limited, reset),
		cmocka_unit_test_setup(test_rule_cases, reset),
		cmocka_unit_test_setup(test_index_rebuilt_after_deletions, reset),
		cmocka_unit_test_setup(test_block_covers_whole_prefix_every_length, reset),
		cmocka_unit_test_setup(test_ipv4_rules_in_their_own_maps, reset),
		cmocka_unit_test(test_old_pin_dir_refused),
		cmocka_unit_test(test_failed_load_keeps_pinned_program),
		cmocka_unit_test(test_counts_of_older_layout_start_over),
		cmocka_unit_test(test_short_flag_pinned_and_brought_in_line),
		cmocka_unit_test(test_map_calls_not_generic),
	};
	const struct CMUnitTest index_tests[] = {
		cmocka_unit_test_setup(test_block_covers_whole_prefix_every_length, reset),
		cmocka_unit_test_setup(test_allow_wins_every_length_pair, reset),
		cmocka_unit_test_setup(test_expired_longer_block_every_length_pair, reset),
		cmocka_unit_test_setup(test_rule_cases, reset),
		cmocka_unit_test_setup(test_index_rebuilt_after_deletions, reset),
	};
	const struct CMUnitTest lan_tests[] = {
		cmocka_unit_test_setup(test_lan_keyed_per_host, reset),
	};
	const struct CMUnitTest port_tests[] = {
		cmocka_unit_test_setup(test_port_classes_every_slot, reset),
	};
	const struct CMUnitTest helo_every_tests[] = {
		cmocka_unit_test_setup(test_helo_every_repeat_reported, reset),
	};
	const struct CMUnitTest budget_tests[] = {
		cmocka_unit_test_setup(test_syn_flood_capped, reset),
		cmocka_unit_test_setup(test_payload_creation_capped, reset),
		cmocka_unit_test_setup(test_proven_commands_skip_filter, reset),
	};
	const struct CMUnitTest activity_tests[] = {
		cmocka_unit_test_setup(test_activity_classes, reset),
		cmocka_unit_test_setup(test_activity_seen_by_data_segment, reset),
		cmocka_unit_test_setup(test_activity_udp_ports_not_in_padding, reset),
		cmocka_unit_test_setup(test_activity_ipv6_per_64, reset),
		cmocka_unit_test_setup(test_activity_floods_and_drops, reset),
	};
	const struct CMUnitTest handshake_required_tests[] = {
		cmocka_unit_test_setup(test_handshake_v4_commands_count, reset),
		cmocka_unit_test_setup(test_handshake_v6_commands_count, reset),
		cmocka_unit_test_setup(test_spoofed_payload_not_counted, reset),
		cmocka_unit_test_setup(test_spoofed_replies_not_counted, reset),
		cmocka_unit_test_setup(test_wrong_ack_not_established, reset),
		cmocka_unit_test_setup(test_flow_family_is_ip_version, reset),
		cmocka_unit_test_setup(test_early_talker_established, reset),
		cmocka_unit_test_setup(test_new_handshake_starts_over, reset),
		cmocka_unit_test_setup(test_submission_synack_no_flow, reset),
	};
	const struct CMUnitTest handshake_when_seen_tests[] = {
		cmocka_unit_test_setup(test_when_seen_marks_proof, reset),
	};
	const struct CMUnitTest handshake_off_tests[] = {
		cmocka_unit_test_setup(test_off_counts_everything, reset),
	};
	/* Run under either mode: with a pending entry unacknowledged, commands count in neither. */
	const struct CMUnitTest uplink_tests[] = {
		cmocka_unit_test_setup(test_uplink_forged_synack_keeps_established, reset),
		cmocka_unit_test_setup(test_uplink_synack_tracked, reset),
		cmocka_unit_test_setup(test_uplink_inside_reply_not_counted, reset),
		cmocka_unit_test_setup(test_uplink_forged_handshake_inside, reset),
		cmocka_unit_test_setup(test_uplink_inside_server_answers_outside, reset),
		cmocka_unit_test(test_uplink_load_opts),
		cmocka_unit_test_setup_teardown(test_uplink_moved_by_set_uplink, reset, restore_uplink),
		cmocka_unit_test_setup_teardown(test_uplink_set_slot_out_of_range, reset, restore_uplink),
		cmocka_unit_test_setup_teardown(test_uplink_absent_slot_matches_nothing, reset, restore_uplink),
		cmocka_unit_test(test_uplink_loader_writes_map),
	};
	int failed = 0, err;

	xh_require_privileges();
	err = xh_load(&H, NULL);
	if (err) {
		fprintf(stderr, "loading the XDP program failed: %s\n", strerror(-err));
		return 1;
	}
	failed += cmocka_run_group_tests_name("xdp_parse", parse_tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("xdp_smtp", smtp_tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("xdp_enforce", enforce_tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("xdp_rule_index_small", index_tests, load_small_index, unload_small_index);
	failed += cmocka_run_group_tests_name("xdp_lan", lan_tests, load_lan, unload_lan);
	failed += cmocka_run_group_tests_name("xdp_ports", port_tests, load_ports, unload_ports);
	failed += cmocka_run_group_tests_name("xdp_helo_every", helo_every_tests, load_helo_every, unload_helo_every);
	failed += cmocka_run_group_tests_name("xdp_budget", budget_tests, load_tight, unload_tight);
	failed += cmocka_run_group_tests_name("xdp_budget_coarse_clock", budget_tests, load_tight_coarse, unload_tight);
	failed += cmocka_run_group_tests_name("xdp_activity", activity_tests, load_protected, unload_protected);
	failed += cmocka_run_group_tests_name("xdp_handshake_required", handshake_required_tests, load_required,
					      unload_handshake);
	failed += cmocka_run_group_tests_name("xdp_handshake_when_seen", handshake_when_seen_tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("xdp_handshake_off", handshake_off_tests, load_off, unload_handshake);
	failed += cmocka_run_group_tests_name("xdp_uplink_required", uplink_tests, load_uplink_required, unload_uplink);
	failed += cmocka_run_group_tests_name("xdp_uplink_when_seen", uplink_tests, load_uplink_when_seen,
					      unload_uplink);
	failed += cmocka_run_group_tests_name("xdp_uplink_protected", uplink_tests, load_uplink_protected,
					      unload_uplink);
	xh_unload(&H);
	return failed ? 1 : 0;
}
