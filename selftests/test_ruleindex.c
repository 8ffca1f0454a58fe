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

/* A small index in plain memory: 2^12 IPv4 buckets (/12s, sub-buckets /17s), 2^8 IPv6 ones. */
static struct mg_ruleindex X;

static int setup(void **state)
{
	(void)state;
	X.v4_bits = 12;
	X.v6_bits = 8;
	X.v4 = calloc((size_t)1 << X.v4_bits, sizeof(uint64_t));
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
	assert_int_equal(mg_rule_entries4(12), 4096);
	assert_int_equal(mg_rule_entries6(12), 2048);
	/* Sub-buckets: the five bits after the bucket's; the long lengths go where the sub-bucket has no long rule. */
	assert_int_equal(mg_rule_sub4(0xc6120002u, 12), 4);
	assert_int_equal(mg_rule_sub4(0xc61fffffu, 12), 31);
	assert_int_equal(mg_rule_cls4(1ull << 31 | 1ull << 7 | 1ull << (32 + 4), 0xc6120002u, 12), 1u << 31 | 1u << 7);
	assert_int_equal(mg_rule_cls4(1ull << 31 | 1ull << 7 | 1ull << (32 + 4), 0xc6180001u, 12), 1u << 7);
}

static void test_v4_buckets(void **state)
{
	(void)state;
	/* A /32 sets its length's bit in its /12 bucket and its sub-bucket's; a /8 sets its bit in the 16 buckets it covers. */
	add("198.18.0.2/32", false);
	assert_true(X.v4[0xc61] == (1u << 31 | 1ull << (32 + 4)));
	add("198.0.0.0/8", false);
	for (unsigned b = 0xc60; b <= 0xc6f; b++)
		assert_true(X.v4[b] & 1u << 7);
	assert_false(X.v4[0xc5f] & 1u << 7);
	assert_false(X.v4[0xc70] & 1u << 7);
	assert_string_equal(probes("198.18.0.2", false), "128 104");
	/* Same bucket, another sub-bucket: the /32 is not probed. */
	assert_string_equal(probes("198.24.0.1", false), "104");
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
	assert_true(X.v4[0xc61] == (1u << 31 | 1ull << (32 + 4)));
	assert_int_equal(X.lens->stale, 1);
	assert_string_equal(probes("198.18.0.2", false), "");
	assert_int_equal(X.lens->mask[MG_LENS_BLOCK4][2], 0);
}

/* A rule between the bucket and the sub-bucket sets the sub-buckets it covers; one no longer than the bucket sets none. */
static void test_v4_sub_buckets(void **state)
{
	(void)state;
	add("198.18.0.0/15", false); /* /17s 4 to 7 of 198.16.0.0/12 */
	assert_true(X.v4[0xc61] == (1u << 14 | 0xfull << (32 + 4)));
	add("198.16.0.0/12", false); /* the bucket itself: its length only */
	assert_true(X.v4[0xc61] == (1u << 14 | 1u << 11 | 0xfull << (32 + 4)));
	add("198.30.0.0/16", false); /* /17s 28 and 29 */
	assert_true(X.v4[0xc61] == (1u << 15 | 1u << 14 | 1u << 11 | 0xfull << (32 + 4) | 3ull << (32 + 28)));
	assert_string_equal(probes("198.19.255.255", false), "112 111 108");
	assert_string_equal(probes("198.20.0.0", false), "108");
	assert_string_equal(probes("198.30.128.1", false), "112 111 108");
	/* Every length between the bucket and the sub-bucket and beyond, each where it covers and nowhere else. */
	for (unsigned l = 13; l <= 32; l++) {
		char pfx[40], in[40], out[40];
		memset(X.v4, 0, sizeof(uint64_t) << X.v4_bits);
		memset(X.lens, 0, sizeof(*X.lens));
		uint32_t base = 0xc6100000u | (l < 32 ? 1u << (32 - l) : 1u); /* inside 198.16.0.0/12, not at its start */
		uint32_t last = base | (l < 32 ? (1u << (32 - l)) - 1 : 0), beyond = last + 1;
		snprintf(pfx, sizeof(pfx), "%u.%u.%u.%u/%u", base >> 24, base >> 16 & 255, base >> 8 & 255, base & 255, l);
		add(pfx, false);
		snprintf(in, sizeof(in), "%u.%u.%u.%u", last >> 24, last >> 16 & 255, last >> 8 & 255, last & 255);
		snprintf(out, sizeof(out), "%u.%u.%u.%u", beyond >> 24, beyond >> 16 & 255, beyond >> 8 & 255, beyond & 255);
		char want[8];
		snprintf(want, sizeof(want), "%u", 96 + l);
		assert_string_equal(probes(in, false), want);
		/* The address just past it: probed only when it shares the rule's sub-bucket. */
		bool same_sub = mg_rule_sub4(beyond, 12) == mg_rule_sub4(last, 12);
		assert_string_equal(probes(out, false), same_sub ? want : "");
	}
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

/*
 * mg_rule_short follows the block masks: set once a block too short for a
 * bucket is in (after its mask bit), cleared once the last of its family
 * goes; allows and bucketed blocks leave it alone. A flag that starts wrong
 * (a map new beside pinned rules) is put right by a sync.
 */
static void test_short_flag_follows_masks(void **state)
{
	uint32_t flag = 0;

	(void)state;
	X.shorts = &flag;
	add("198.18.0.0/15", false);
	add("2001:db8::/32", false);
	add("0.0.0.0/0", true);
	add("::/0", true);
	assert_int_equal(flag, 0);
	add("0.0.0.0/0", false); /* ::ffff:0:0/96: IPv4 only */
	assert_int_equal(flag, MG_RULE_SHORT_V4);
	add("2001::/16", false);
	assert_int_equal(flag, MG_RULE_SHORT_V4 | MG_RULE_SHORT_V6);
	add("::/0", false); /* both families */
	add("::ffff:0:0/95", false); /* short over v4-mapped space; in IPv6, bucketed (/32 or longer) */
	del("0.0.0.0/0", false);
	del("2001::/16", false);
	assert_int_equal(flag, MG_RULE_SHORT_V4 | MG_RULE_SHORT_V6);
	del("::/0", false);
	assert_int_equal(flag, MG_RULE_SHORT_V4);
	del("::ffff:0:0/95", false);
	assert_int_equal(flag, 0);
	/* IPv6 /31 is short, /32 is bucketed; IPv4 /1 is bucketed. */
	add("2001:db8::/31", false);
	assert_int_equal(flag, MG_RULE_SHORT_V6);
	del("2001:db8::/31", false);
	add("128.0.0.0/1", false);
	assert_int_equal(flag, 0);

	/* Out of line (the masks written with no flag to keep): a sync sets it, and clears it. */
	X.shorts = NULL;
	add("::/0", false);
	X.shorts = &flag;
	assert_int_equal(flag, 0);
	mg_ruleindex_sync_short(&X);
	assert_int_equal(flag, MG_RULE_SHORT_V4 | MG_RULE_SHORT_V6);
	assert_int_equal(mg_ruleindex_short(X.lens), MG_RULE_SHORT_V4 | MG_RULE_SHORT_V6);
	X.shorts = NULL;
	del("::/0", false);
	X.shorts = &flag;
	mg_ruleindex_sync_short(&X);
	assert_int_equal(flag, 0);
	X.shorts = NULL;
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
		cmocka_unit_test_setup_teardown(test_v4_sub_buckets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_lengths_probed_for_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_flag_follows_masks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_v6_classes_and_counts, setup, teardown),
	};
	return cmocka_run_group_tests_name("ruleindex", tests, NULL, NULL);
}
