// SPDX-License-Identifier: GPL-2.0-only
/* test_srcfilter.c - unit tests of the profile filter's userspace side (mg_srcfilter.c; no privileges needed). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mg_addr.h"
#include "mg_srcfilter.h"

static struct mg_srcfilter F;
static __u64 *mem;

static int setup(void **state)
{
	(void)state;
	mem = calloc(mg_src_filter_entries(14), sizeof(*mem));
	if (!mem)
		return -1;
	mg_srcfilter_init(&F, mem, 14);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(mem);
	return 0;
}

static const uint8_t *key(const char *text)
{
	static uint8_t k[16];

	assert_int_equal(mg_addr_parse(text, k), 0);
	return k;
}

static void test_note_then_holds(void **state)
{
	(void)state;
	assert_int_equal(mg_srcfilter_count(&F), 0);
	assert_false(mg_srcfilter_may_hold(&F, key("198.18.0.2")));
	mg_srcfilter_note(&F, key("198.18.0.2"));
	assert_true(mg_srcfilter_may_hold(&F, key("198.18.0.2")));
	assert_int_equal(mg_srcfilter_count(&F), 1);
	/* Both generations carry it: a refresh that selects the other loses nothing. */
	mg_srcfilter_refresh_begin(&F);
	mg_srcfilter_refresh_end(&F);
	assert_int_equal(mem[2 * F.words], 1);
	assert_false(mg_srcfilter_may_hold(&F, key("198.18.0.2"))); /* no scan noted it: gone */
}

/* A refresh keeps what the scan reads and what is noted meanwhile, and drops the rest. */
static void test_refresh(void **state)
{
	char text[64];

	(void)state;
	for (int i = 0; i < 100; i++) {
		snprintf(text, sizeof(text), "198.18.1.%d", i);
		mg_srcfilter_note(&F, key(text));
	}
	uint64_t before = mg_srcfilter_count(&F);
	assert_true(before > 90); /* a few may share a bit */
	mg_srcfilter_refresh_begin(&F);
	/* The program, between begin and end, reads the old generation: everything is still there. */
	assert_true(mg_srcfilter_may_hold(&F, key("198.18.1.7")));
	mg_srcfilter_note(&F, key("198.18.1.7"));   /* the scan reads this one */
	mg_srcfilter_note(&F, key("2001:db8::1")); /* created meanwhile */
	mg_srcfilter_refresh_end(&F);
	assert_true(mg_srcfilter_may_hold(&F, key("198.18.1.7")));
	assert_true(mg_srcfilter_may_hold(&F, key("2001:db8::1")));
	assert_true(mg_srcfilter_count(&F) <= 2);
	/* And back: the first generation was cleared before it was selected again. */
	mg_srcfilter_refresh_begin(&F);
	mg_srcfilter_refresh_end(&F);
	assert_int_equal(mem[2 * F.words], 0);
	assert_int_equal(mg_srcfilter_count(&F), 0);
}

static void test_no_filter(void **state)
{
	struct mg_srcfilter none = { 0 };

	(void)state;
	mg_srcfilter_note(&none, key("198.18.0.2"));
	assert_true(mg_srcfilter_may_hold(&none, key("198.18.0.2")));
	assert_int_equal(mg_src_filter_bits(0), MG_SRC_FILTER_BITS_DEFAULT);
	assert_int_equal(mg_src_filter_bits(14), 14);
	assert_int_equal(mg_src_filter_entries(14), 2 * 256 + 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_note_then_holds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refresh, setup, teardown),
		cmocka_unit_test(test_no_filter),
	};
	return cmocka_run_group_tests_name("srcfilter", tests, NULL, NULL);
}
