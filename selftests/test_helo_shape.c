// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_helo_shape.c - HELO argument shapes, the dynamic-pool word table and
 * absurd identities, name by name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "mg_addr.h"
#include "mg_helo_shape.h"

static void test_helo_shapes(void **state)
{
	uint8_t src[16];
	static const struct {
		const char *arg;
		unsigned shape;
	} cases[] = {
		{ "mail.example.net", MG_HELO_FQDN },
		{ "[198.18.0.2]", MG_HELO_IP_LITERAL | MG_HELO_OWN_OCTETS },
		{ "[198.18.7.7]", MG_HELO_IP_LITERAL },
		{ "198.18.0.2", MG_HELO_IP_LITERAL | MG_HELO_OWN_OCTETS },
		{ "[IPv6:2001:db8::1]", MG_HELO_IP_LITERAL },
		{ "2001:db8::1", MG_HELO_IP_LITERAL },
		{ "DESKTOP-4F3K", MG_HELO_BARE_WORD },
		{ "localhost", MG_HELO_BARE_WORD },
		{ "198-18-0-2.dsl.example.net", MG_HELO_FQDN | MG_HELO_OWN_OCTETS },
		{ "2.0.18.198.in-addr.example", MG_HELO_FQDN | MG_HELO_OWN_OCTETS },
		{ "host198-18-0-22.example.net", MG_HELO_FQDN }, /* 22 is not 2 */
		{ "", MG_HELO_EMPTY },
		{ "  ", MG_HELO_EMPTY },
		{ "mx.example.org\r\n", MG_HELO_FQDN },
	};

	(void)state;
	assert_int_equal(mg_addr_parse("198.18.0.2", src), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned got = mg_helo_shape(cases[i].arg, strlen(cases[i].arg), src);
		if (got != cases[i].shape)
			fail_msg("HELO '%s': shape %#x, expected %#x", cases[i].arg, got, cases[i].shape);
	}
	/* Own octets are an IPv4 notion: an IPv6 source never matches. */
	assert_int_equal(mg_addr_parse("2001:db8::2", src), 0);
	assert_int_equal(mg_helo_shape("198-18-0-2.example", 18, src), MG_HELO_FQDN);
}

/* Every word of the table makes a pool name with an embedded address, and has a name. */
static void test_pool_word_table(void **state)
{
	char name[96];

	(void)state;
	assert_string_equal(mg_pool_word_name(MG_POOL_NONE), "");
	for (unsigned w = MG_POOL_NONE + 1; w < MG_POOL_WORD_MAX; w++) {
		const char *word = mg_pool_word_name((enum mg_pool_word)w);
		assert_true(strlen(word) > 0);
		snprintf(name, sizeof(name), "%s-198-18-1-2.example.net", word);
		if (mg_helo_dynamic_pool(name, strlen(name)) != (enum mg_pool_word)w)
			fail_msg("'%s': not recognised as the pool word %s", name, word);
		/* The word alone, no address in the name: a server's name, not a pool's. */
		snprintf(name, sizeof(name), "%s-1.example.net", word);
		assert_int_equal(mg_helo_dynamic_pool(name, strlen(name)), MG_POOL_NONE);
	}
}

static void test_dynamic_pool_names(void **state)
{
	static const struct {
		const char *arg;
		enum mg_pool_word word;
	} cases[] = {
		{ "c-198-18-5-7.hsd1.example-cable.net", MG_POOL_HSD },
		{ "173-66-46-112.wash.fios.verizon.net", MG_POOL_FIOS },
		{ "dsl-198-18-1-2.pool.example.net", MG_POOL_DSL },
		{ "DSL-198-18-1-2.POOL.EXAMPLE.NET", MG_POOL_DSL },
		{ "ppp-2.1.18.198.dyn.example.org", MG_POOL_PPP },
		{ "host198-18-0-22.example.net", MG_POOL_HOST },
		{ "client-10-0-0-1.isp.example", MG_POOL_CLIENT },
		{ "198.18.3.4.customer.example.net\r\n", MG_POOL_CUSTOMER },
		/* Not pools. */
		{ "mail.example.com", MG_POOL_NONE },
		{ "smtp-out-3.example.net", MG_POOL_NONE },
		{ "mx1.dsl-provider.example", MG_POOL_NONE },        /* a word, no address */
		{ "mail-198-18-1-2.example.com", MG_POOL_NONE },      /* an address, no word */
		{ "dsl-198-18-1-256.example.net", MG_POOL_NONE },     /* 256 is no octet */
		{ "dsl-1198-18-1-2.example.net", MG_POOL_NONE },      /* nor is 1198 */
		{ "dsl-198-18-1.example.net", MG_POOL_NONE },         /* three octets */
		{ "198.18.1.2", MG_POOL_NONE },                       /* a literal: no word */
		{ "", MG_POOL_NONE },
		{ "DESKTOP-4F3K", MG_POOL_NONE },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum mg_pool_word got = mg_helo_dynamic_pool(cases[i].arg, strlen(cases[i].arg));
		if (got != cases[i].word)
			fail_msg("HELO '%s': pool word '%s', expected '%s'", cases[i].arg, mg_pool_word_name(got),
				 mg_pool_word_name(cases[i].word));
	}
}

static void test_absurd_identities(void **state)
{
	static const struct {
		const char *src, *arg;
		enum mg_helo_absurd why;
	} cases[] = {
		{ "198.18.0.2", "[0.0.0.0]", MG_ABSURD_UNSPECIFIED_LITERAL },
		{ "198.18.0.2", "0.0.0.0", MG_ABSURD_UNSPECIFIED_LITERAL },
		{ "2001:db8::2", "[IPv6:::]", MG_ABSURD_UNSPECIFIED_LITERAL },
		{ "198.18.0.2", "[198.18.7.7]", MG_ABSURD_FOREIGN_LITERAL },
		{ "198.18.0.2", "[198.19.1.10]", MG_ABSURD_FOREIGN_LITERAL },
		{ "198.18.0.2", "[IPv6:2001:db8::1]", MG_ABSURD_FOREIGN_LITERAL },
		{ "198.18.0.2", "[999.1.1.1]", MG_ABSURD_FOREIGN_LITERAL },
		{ "2001:db8::2", "[IPv6:2001:db8::3]", MG_ABSURD_FOREIGN_LITERAL },
		{ "198.18.0.2", "c-198-18-5-7.hsd1.example-cable.net", MG_ABSURD_DYNAMIC_POOL },
		{ "198.18.0.2", "173-66-46-112.wash.fios.verizon.net", MG_ABSURD_DYNAMIC_POOL },
		{ "198.18.1.2", "dsl-198-18-1-2.pool.example.net", MG_ABSURD_DYNAMIC_POOL },
		/* Its own address, and ordinary names, are no reason for suspicion by themselves. */
		{ "198.18.0.2", "[198.18.0.2]", MG_ABSURD_NONE },
		{ "198.18.0.2", "198.18.0.2", MG_ABSURD_NONE },
		{ "2001:db8::2", "[IPv6:2001:db8::2]", MG_ABSURD_NONE },
		{ "198.18.0.2", "mail.example.com", MG_ABSURD_NONE },
		{ "198.18.0.2", "smtp-out-3.example.net", MG_ABSURD_NONE },
		{ "198.18.0.2", "DESKTOP-4F3K", MG_ABSURD_NONE },
	};
	uint8_t src[16];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(mg_addr_parse(cases[i].src, src), 0);
		enum mg_helo_absurd got = mg_helo_absurd(cases[i].arg, strlen(cases[i].arg), src);
		if (got != cases[i].why)
			fail_msg("HELO '%s' from %s: '%s', expected '%s'", cases[i].arg, cases[i].src,
				 mg_helo_absurd_name(got), mg_helo_absurd_name(cases[i].why));
	}
	assert_string_equal(mg_helo_absurd_name(MG_ABSURD_DYNAMIC_POOL), "dynamic-pool");
	assert_string_equal(mg_helo_absurd_name(MG_ABSURD_NONE), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_helo_shapes),
		cmocka_unit_test(test_pool_word_table),
		cmocka_unit_test(test_dynamic_pool_names),
		cmocka_unit_test(test_absurd_identities),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
