// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_flowspec.c - the ExaBGP API lines of mtaguard-flowspec (mg_flowspec):
 * a table of blocks (IPv4 and IPv6, smtp and all, hosts and networks) and
 * settings (ports, discard, rate-limit, redirect) with the exact line
 * ExaBGP takes; withdrawals carry no "then"; RTBH lines only when asked
 * for; --then and --ports refuse what they cannot mean.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mtaguard.h"
#include "mg_flowspec.h"

struct line_case {
	const char *prefix;
	uint8_t action;
	bool announce;
	const char *then, *ports; /* NULL: the defaults */
	const char *want;
};

static const struct line_case lines[] = {
	{ "198.18.0.66", MG_ACT_DROP_SMTP, true, NULL, NULL,
	  "announce flow route { match { source 198.18.0.66/32; destination-port =25; protocol tcp; } then { discard; } }" },
	{ "198.18.0.66", MG_ACT_DROP_SMTP, false, NULL, NULL,
	  "withdraw flow route { match { source 198.18.0.66/32; destination-port =25; protocol tcp; } }" },
	{ "198.18.4.0/22", MG_ACT_DROP_ALL, true, NULL, NULL,
	  "announce flow route { match { source 198.18.4.0/22; } then { discard; } }" },
	{ "198.18.4.0/22", MG_ACT_DROP_ALL, false, NULL, NULL, "withdraw flow route { match { source 198.18.4.0/22; } }" },
	{ "2001:db8:1::/64", MG_ACT_DROP_SMTP, true, NULL, NULL,
	  "announce flow route { match { source 2001:db8:1::/64; destination-port =25; next-header tcp; } then { discard; } }" },
	{ "2001:db8:1::7", MG_ACT_DROP_ALL, true, NULL, NULL,
	  "announce flow route { match { source 2001:db8:1::7/128; } then { discard; } }" },
	{ "198.18.0.66", MG_ACT_DROP_SMTP, true, NULL, "25,465,587",
	  "announce flow route { match { source 198.18.0.66/32; destination-port [ =25 =465 =587 ]; protocol tcp; } then { discard; } }" },
	{ "198.18.0.66", MG_ACT_DROP_SMTP, true, "rate-limit:9600", NULL,
	  "announce flow route { match { source 198.18.0.66/32; destination-port =25; protocol tcp; } then { rate-limit 9600; } }" },
	{ "198.18.0.66", MG_ACT_DROP_SMTP, true, "redirect:65000:666", NULL,
	  "announce flow route { match { source 198.18.0.66/32; destination-port =25; protocol tcp; } then { redirect 65000:666; } }" },
	{ "198.18.0.66", MG_ACT_DROP_SMTP, false, "redirect:65000:666", "587",
	  "withdraw flow route { match { source 198.18.0.66/32; destination-port =587; protocol tcp; } }" },
	{ "0.0.0.0/0", MG_ACT_DROP_ALL, true, NULL, NULL, "announce flow route { match { source 0.0.0.0/0; } then { discard; } }" },
};

static void test_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		const struct line_case *t = &lines[i];
		struct mg_fs_config c = { 0 };
		struct mg_prefix p;
		char buf[256], err[160];
		assert_int_equal(mg_prefix_parse(t->prefix, &p), 0);
		if (t->then)
			assert_int_equal(mg_fs_parse_then(t->then, &c, err, sizeof(err)), 0);
		if (t->ports)
			assert_int_equal(mg_fs_parse_ports(t->ports, &c, err, sizeof(err)), 0);
		int n = mg_fs_flow_line(buf, sizeof(buf), t->announce, &p, t->action, &c);
		if (n < 0 || strcmp(buf, t->want))
			fail_msg("case %zu: got '%s', want '%s'", i, buf, t->want);
		assert_int_equal(n, strlen(t->want));
	}
}

static void test_small_buffer(void **state)
{
	struct mg_fs_config c = { 0 };
	struct mg_prefix p;
	char buf[40];

	(void)state;
	assert_int_equal(mg_prefix_parse("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", &p), 0);
	assert_int_equal(mg_fs_flow_line(buf, sizeof(buf), true, &p, MG_ACT_DROP_SMTP, &c), -ENOSPC);
	/* The longest there is fits in 256. */
	char big[256];
	assert_int_equal(mg_fs_parse_ports("1,2,3,4,5,65535,65534,65533", &c, NULL, 0), 0);
	assert_int_equal(mg_fs_parse_then("redirect:65535:4294967295", &c, NULL, 0), 0);
	assert_true(mg_fs_flow_line(big, sizeof(big), true, &p, MG_ACT_DROP_SMTP, &c) > 0);
}

static void test_rtbh(void **state)
{
	struct mg_fs_config c = { 0 };
	struct mg_prefix p;
	char buf[256];

	(void)state;
	assert_int_equal(mg_prefix_parse("198.18.0.66", &p), 0);
	assert_int_equal(mg_fs_rtbh_line(buf, sizeof(buf), true, &p, &c), -EINVAL); /* off unless asked for */
	snprintf(c.rtbh_next_hop, sizeof(c.rtbh_next_hop), "198.18.255.1");
	assert_true(mg_fs_rtbh_line(buf, sizeof(buf), true, &p, &c) > 0);
	assert_string_equal(buf, "announce route 198.18.0.66/32 next-hop 198.18.255.1 community [ 65535:666 65535:65281 ]");
	assert_true(mg_fs_rtbh_line(buf, sizeof(buf), false, &p, &c) > 0);
	assert_string_equal(buf, "withdraw route 198.18.0.66/32 next-hop 198.18.255.1");
}

static void test_bad_settings(void **state)
{
	static const char *thens[] = { "", "drop", "rate-limit:", "rate-limit:-1", "rate-limit:4294967296", "rate-limit:1e3",
				       "redirect:", "redirect:65000", "redirect:65536:1", "redirect:1:4294967296",
				       "redirect:a:b", "discard " };
	static const char *ports[] = { "", "0", "65536", "25,", ",25", "25,,587", "x", "1,2,3,4,5,6,7,8,9", "-25" };
	struct mg_fs_config c = { 0 };
	char err[160];

	(void)state;
	for (size_t i = 0; i < sizeof(thens) / sizeof(thens[0]); i++)
		if (mg_fs_parse_then(thens[i], &c, err, sizeof(err)) != -EINVAL)
			fail_msg("--then '%s' taken", thens[i]);
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
		if (mg_fs_parse_ports(ports[i], &c, err, sizeof(err)) != -EINVAL)
			fail_msg("--ports '%s' taken", ports[i]);
	assert_string_equal(mg_fs_then_name(MG_FS_RATE_LIMIT), "rate-limit");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_small_buffer),
		cmocka_unit_test(test_rtbh),
		cmocka_unit_test(test_bad_settings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
