// SPDX-License-Identifier: GPL-2.0-only
/* test_addr.c - unit tests of address and prefix parsing and printing (no privileges needed). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "mg_addr.h"
#include "mg_stats.h"

static void expect_prefix(const char *in, const char *printed, unsigned plen)
{
	struct mg_prefix p;
	char buf[MG_ADDRSTRLEN];

	assert_int_equal(mg_prefix_parse(in, &p), 0);
	assert_int_equal(p.prefixlen, plen);
	assert_string_equal(mg_prefix_str(&p, buf, sizeof(buf)), printed);
}

static void test_prefixes(void **state)
{
	(void)state;
	expect_prefix("198.18.0.1", "198.18.0.1", 128);
	expect_prefix("198.18.0.1/32", "198.18.0.1", 128);
	expect_prefix("198.18.0.77/24", "198.18.0.0/24", 120); /* host bits cleared */
	expect_prefix("198.18.0.0/15", "198.18.0.0/15", 111);
	expect_prefix("0.0.0.0/0", "0.0.0.0/0", 96);
	expect_prefix("2001:db8::1", "2001:db8::1", 128);
	expect_prefix("2001:db8:0:1:2:3:4:5/64", "2001:db8:0:1::/64", 64);
	expect_prefix("::/0", "::/0", 0);
}

static void test_bad_prefixes(void **state)
{
	struct mg_prefix p;
	static const char *const bad[] = {
		"", "198.18.0", "198.18.0.1/33", "198.18.0.1/", "198.18.0.1/-1", "198.18.0.1/24x",
		"2001:db8::/129", "2001:db8:::1", "mail.example.org", "198.18.0.256",
		"198.18.0.1/24/8", NULL,
	};

	(void)state;
	for (int i = 0; bad[i]; i++)
		if (mg_prefix_parse(bad[i], &p) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(mg_prefix_parse(NULL, &p), -EINVAL);
}

/* Host bits below the length: refused with both readings, never cleared silently. */
static void test_exact_prefixes(void **state)
{
	static const struct {
		const char *in;
		int want;
		const char *why;
	} cases[] = {
		{ "198.18.10.0/24", 0, NULL },
		{ "198.18.10.5", 0, NULL },
		{ "198.18.10.5/32", 0, NULL },
		{ "198.18.10.5/24", -EDOM,
		  "198.18.10.5/24 has host bits set: write 198.18.10.0/24 for the network, or 198.18.10.5 for the one host" },
		{ "198.18.0.1/0", -EDOM, "198.18.0.1/0 has host bits set: write 0.0.0.0/0 for the network, or 198.18.0.1 for the one host" },
		{ "2001:db8::/32", 0, NULL },
		{ "2001:db8::1/64", -EDOM,
		  "2001:db8::1/64 has host bits set: write 2001:db8::/64 for the network, or 2001:db8::1 for the one host" },
		{ "2001:db8::1/128", 0, NULL },
		{ "198.18.10.5/33", -EINVAL, NULL },
		{ "not a prefix", -EINVAL, NULL },
	};
	struct mg_prefix p;
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = '\0';
		int got = mg_prefix_parse_exact(cases[i].in, &p, why, sizeof(why));
		if (got != cases[i].want)
			fail_msg("%s: %d, not %d", cases[i].in, got, cases[i].want);
		if (cases[i].why && strcmp(why, cases[i].why))
			fail_msg("%s: '%s'", cases[i].in, why);
	}
	/* Without room for the reason, the answer is the same. */
	assert_int_equal(mg_prefix_parse_exact("198.18.10.5/24", &p, NULL, 0), -EDOM);
}

static void test_v4_mapped(void **state)
{
	uint8_t a[16];
	char buf[MG_ADDRSTRLEN];

	(void)state;
	assert_int_equal(mg_addr_parse("198.18.3.4", a), 0);
	assert_true(mg_addr_is_v4(a));
	assert_int_equal(a[10], 0xff);
	assert_int_equal(a[12], 198);
	assert_string_equal(mg_addr_str(a, buf, sizeof(buf)), "198.18.3.4");
	assert_int_equal(mg_addr_parse("2001:db8::1", a), 0);
	assert_false(mg_addr_is_v4(a));
}

static void test_mask(void **state)
{
	uint8_t a[16];
	char buf[MG_ADDRSTRLEN];

	(void)state;
	mg_addr_parse("2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff", a);
	mg_addr_mask(a, 52);
	assert_string_equal(mg_addr_str(a, buf, sizeof(buf)), "2001:db8:aaaa:b000::");
}

static void test_prefix_eq(void **state)
{
	struct mg_prefix a, b, c, d;

	(void)state;
	assert_int_equal(mg_prefix_parse("198.18.5.0/24", &a), 0);
	assert_int_equal(mg_prefix_parse("198.18.5.77/24", &b), 0); /* host bits cleared: the same prefix */
	assert_int_equal(mg_prefix_parse("198.18.5.0/25", &c), 0);
	assert_int_equal(mg_prefix_parse("2001:db8::/24", &d), 0);
	assert_true(mg_prefix_eq(&a, &b));
	assert_false(mg_prefix_eq(&a, &c)); /* same address, other length */
	assert_false(mg_prefix_eq(&a, &d));
}

/* A prefix's length as its family counts it: what the operator's limits compare. */
static void test_family_len(void **state)
{
	static const struct {
		const char *text;
		bool v4;
		unsigned len;
	} cases[] = {
		{ "0.0.0.0/0", true, 0 }, { "100.0.0.0/8", true, 8 }, { "198.18.0.1", true, 32 },
		{ "::/0", false, 0 }, { "2001:db8::/32", false, 32 }, { "2001:db8::1", false, 128 },
		/* ::ffff:0:0/96 is all of IPv4; shorter covers more than IPv4: an IPv6 prefix. */
		{ "::ffff:0:0/96", true, 0 }, { "::ffff:0:0/95", false, 95 }, { "::/8", false, 8 },
	};
	struct mg_prefix p;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(mg_prefix_parse(cases[i].text, &p), 0);
		if (mg_prefix_is_v4(&p) != cases[i].v4 || mg_prefix_family_len(&p) != cases[i].len)
			fail_msg("%s: v4 %d len %u", cases[i].text, mg_prefix_is_v4(&p), mg_prefix_family_len(&p));
	}
}

static void test_distinct_estimate(void **state)
{
	(void)state;
	assert_int_equal(mg_distinct_estimate(0), 0);
	assert_int_equal(mg_distinct_estimate(1), 1);
	/* 32 of 64 bits set: -64 ln(1/2) = 44 */
	assert_int_equal(mg_distinct_estimate(0x00000000ffffffffull), 44);
	assert_true(mg_distinct_estimate(~0ull) >= 200);
}

static void test_helo_hash_folds_case(void **state)
{
	(void)state;
	assert_int_equal(mg_helo_hash("MX.Example.ORG", 14), mg_helo_hash("mx.example.org", 14));
	assert_int_not_equal(mg_helo_hash("mx.example.org", 14), mg_helo_hash("mx.example.com", 14));
	/* Trailing NUL bytes are no shorter name: the length is mixed in. */
	assert_int_not_equal(mg_helo_hash("mx\0", 3), mg_helo_hash("mx", 2));
	assert_int_not_equal(mg_helo_hash("", 0), 0);
	/* The name's eight bytes a word: one past the word and one short of it differ from it. */
	assert_int_not_equal(mg_helo_hash("abcdefgh", 8), mg_helo_hash("abcdefghi", 9));
	assert_int_not_equal(mg_helo_hash("abcdefgh", 8), mg_helo_hash("abcdefg", 7));
}

/* The fold of eight bytes at once is the byte fold of each, for every byte value in every position beside any other. */
static void test_fold8_is_the_byte_fold(void **state)
{
	(void)state;
	for (unsigned pos = 0; pos < 8; pos++)
		for (unsigned b = 0; b < 256; b++)
			for (unsigned nb = 0; nb < 256; nb += 17) {
				uint8_t in[8], want[8];
				uint64_t w = 0;
				for (unsigned i = 0; i < 8; i++)
					in[i] = (uint8_t)(i == pos ? b : nb + i);
				for (unsigned i = 0; i < 8; i++) {
					want[i] = mg_fold(in[i]);
					w |= (uint64_t)in[i] << (8 * i);
				}
				uint64_t f = mg_fold8(w);
				for (unsigned i = 0; i < 8; i++)
					if ((uint8_t)(f >> (8 * i)) != want[i])
						fail_msg("byte %02x at %u beside %02x: folded to %02x, want %02x", b, pos,
							 nb, (unsigned)(uint8_t)(f >> (8 * i)), want[i]);
			}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_bad_prefixes),
		cmocka_unit_test(test_exact_prefixes),
		cmocka_unit_test(test_v4_mapped),
		cmocka_unit_test(test_mask),
		cmocka_unit_test(test_prefix_eq),
		cmocka_unit_test(test_family_len),
		cmocka_unit_test(test_distinct_estimate),
		cmocka_unit_test(test_helo_hash_folds_case),
		cmocka_unit_test(test_fold8_is_the_byte_fold),
	};
	return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}
