// SPDX-License-Identifier: GPL-2.0-only
/* test_ruleindex.c - unit tests of the rule index's bookkeeping (mg_ruleindex.c; no privileges needed). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mg_addr.h"
#include "mg_ruleindex.h"

/* A small index in plain memory: 2^12 IPv4 buckets (/12s), 2^8 IPv6 ones. */
static struct mg_ruleindex X;

static int setup(void **state)
{
	(void)state;
	X.v4_bits = 12;
	X.v6_bits = 8;
	X.v4 = calloc((size_t)1 << X.v4_bits, sizeof(uint32_t));
	X.v6 = calloc((size_t)1 << X.v6_bits, sizeof(uint32_t));
	X.lens = calloc(1, sizeof(*X.lens));
	return X.v4 && X.v6 && X.lens ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(X.v4);
	free(X.v6);
	free(X.lens);
	memset(&X, 0, sizeof(X));
	return 0;
}

static struct mg_prefix P(const char *text)
{
	struct mg_prefix p;

	assert_int_equal(mg_prefix_parse(text, &p), 0);
	return p;
}

static void add(const char *text, bool allow)
{
	struct mg_prefix p = P(text);
	mg_ruleindex_add(&X, &p, allow);
}

static void del(const char *text, bool allow)
{
	struct mg_prefix p = P(text);
	mg_ruleindex_del(&X, &p, allow);
}

/* The lengths probed for `addr`, as text ("128 120" ...), longest first. */
static const char *probes(const char *addr, bool allow)
{
	static char buf[1024];
	uint8_t a[16], lens[MG_RULE_LENS];
	size_t off = 0;

	assert_int_equal(mg_addr_parse(addr, a), 0);
	unsigned n = mg_ruleindex_lens(&X, a, allow, lens);
	buf[0] = '\0';
	for (unsigned i = 0; i < n; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%u", i ? " " : "", lens[i]);
	return buf;
}

static void test_families(void **state)
{
	(void)state;
	struct mg_prefix p;
	p = P("198.18.0.0/24");
	assert_true(mg_ruleindex_covers4(&p));
	assert_false(mg_ruleindex_covers6(&p));
	p = P("0.0.0.0/0");
	assert_true(mg_ruleindex_covers4(&p));
	assert_false(mg_ruleindex_covers6(&p));
	p = P("2001:db8::/32");
	assert_false(mg_ruleindex_covers4(&p));
	assert_true(mg_ruleindex_covers6(&p));
	/* Short IPv6 prefixes that agree with ::ffff:0:0 cover v4-mapped addresses too. */
	p = P("::/0");
	assert_true(mg_ruleindex_covers4(&p));
	assert_true(mg_ruleindex_covers6(&p));
	p = P("::/64");
	assert_true(mg_ruleindex_covers4(&p));
	assert_true(mg_ruleindex_covers6(&p));
	p = P("::ffff:0:0/95");
	assert_true(mg_ruleindex_covers4(&p));
	assert_true(mg_ruleindex_covers6(&p));
	p = P("::fffc:0:0/95"); /* ::fffc and ::fffd: beside the v4-mapped space */
	assert_false(mg_ruleindex_covers4(&p));
	assert_true(mg_ruleindex_covers6(&p));
}

static void test_classes(void **state)
{
	(void)state;
	assert_int_equal(mg_rule_class6(32), 0);
	assert_int_equal(mg_rule_class6(34), 0);
	assert_int_equal(mg_rule_class6(35), 1);
	assert_int_equal(mg_rule_class6(64), 10);
	assert_int_equal(mg_rule_class6(124), 30);
	for (unsigned l = 125; l <= 128; l++)
		assert_int_equal(mg_rule_class6(l), 31);
	assert_int_equal(mg_rule_bits4(0), MG_RULE_V4_BITS_DEFAULT);
	assert_int_equal(mg_rule_bits4(25), MG_RULE_V4_BITS_DEFAULT);
	assert_int_equal(mg_rule_bits4(12), 12);
	assert_int_equal(mg_rule_entries(12), 2048);
}

static void test_v4_buckets(void **state)
{
	(void)state;
	/* A /32 sets one bit in its /12 bucket; a /8 sets its bit in the 16 buckets it covers. */
	add("198.18.0.2/32", false);
	assert_int_equal(X.v4[0xc61], 1u << 31);
	add("198.0.0.0/8", false);
	for (unsigned b = 0xc60; b <= 0xc6f; b++)
		assert_true(X.v4[b] & 1u << 7);
	assert_false(X.v4[0xc5f] & 1u << 7);
	assert_false(X.v4[0xc70] & 1u << 7);
	assert_string_equal(probes("198.18.0.2", false), "128 104");
	assert_string_equal(probes("198.1.0.1", false), "104");
	assert_string_equal(probes("199.0.0.1", false), "");
	/* Lengths no bucket holds never become probes, bit or no bit. */
	assert_string_equal(probes("2001:db8::1", false), "");
	assert_true(X.lens->mask[MG_LENS_BLOCK4][2] & 1);
	assert_int_equal(X.lens->count[MG_LENS_BLOCK4][128], 1);

	/* Gone: a rule no longer than the bucket clears its bits exactly... */
	del("198.0.0.0/8", false);
	for (unsigned b = 0xc60; b <= 0xc6f; b++)
		assert_false(X.v4[b] & 1u << 7);
	assert_int_equal(X.lens->stale, 0);
	/* ...a longer one leaves its bit (others of its length may share the bucket), counted as stale, never probed. */
	del("198.18.0.2/32", false);
	assert_int_equal(X.v4[0xc61], 1u << 31);
	assert_int_equal(X.lens->stale, 1);
	assert_string_equal(probes("198.18.0.2", false), "");
	assert_int_equal(X.lens->mask[MG_LENS_BLOCK4][2], 0);
}

static void test_short_lengths_probed_for_all(void **state)
{
	(void)state;
	add("::/0", false);
	add("0.0.0.0/0", false);
	add("2001::/16", false);
	assert_string_equal(probes("198.18.0.2", false), "96 0");
	assert_string_equal(probes("2001:db8::1", false), "16 0");
	assert_string_equal(probes("2001:db8::1", true), "");
	add("198.18.0.0/15", true);
	add("2001:db8::/32", true);
	add("::/0", true);
	assert_string_equal(probes("198.18.0.2", true), "111 0");
	assert_string_equal(probes("2001:db8::1", true), "32 0");
}

static void test_v6_classes_and_counts(void **state)
{
	(void)state;
	add("2001:db8:0:1::/64", false);
	add("2001:db8:0:2::/64", false);
	add("2001:db8:1::/48", false);
	/* One bucket (the /32's), classes of /64 and /48; only lengths in use are probed. */
	assert_string_equal(probes("2001:db8:0:1::9", false), "64 48");
	del("2001:db8:0:1::/64", false);
	/* Another /64 keeps the length in use. */
	assert_string_equal(probes("2001:db8:0:1::9", false), "64 48");
	assert_int_equal(X.lens->count[MG_LENS_BLOCK6][64], 1);
	del("2001:db8:0:2::/64", false);
	assert_string_equal(probes("2001:db8:0:1::9", false), "48");
	assert_int_equal(X.lens->stale, 2);
	/* Deleting what was never added undoes nothing. */
	del("2001:db8:0:3::/64", false);
	assert_int_equal(X.lens->count[MG_LENS_BLOCK6][64], 0);
	assert_int_equal(mg_ruleindex_blocks(&X), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_families),
		cmocka_unit_test(test_classes),
		cmocka_unit_test_setup_teardown(test_v4_buckets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_lengths_probed_for_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v6_classes_and_counts, setup, teardown),
	};
	return cmocka_run_group_tests_name("ruleindex", tests, NULL, NULL);
}
