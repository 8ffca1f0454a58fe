// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_human.c - times and counts as mtaguardctl prints them (mg_human):
 * durations in their two largest units rounded down, instants before and
 * after now, sizes in three figures, the daemon's ISO times read back,
 * singular and plural.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "mg_human.h"

static void test_durations(void **state)
{
	static const struct {
		uint64_t s;
		const char *want;
	} cases[] = {
		{ 0, "0s" }, { 1, "1s" }, { 59, "59s" }, { 60, "1m" }, { 61, "1m1s" }, { 200, "3m20s" },
		{ 3599, "59m59s" }, { 3600, "1h" }, { 3660, "1h1m" }, { 7140, "1h59m" }, { 7199, "1h59m" },
		{ 86399, "23h59m" }, { 86400, "1d" }, { 86400 + 3 * 3600 + 59, "1d3h" }, { 366ull * 86400, "366d" },
		{ UINT64_MAX, "213503982334601d7h" },
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (strcmp(mg_human_duration(cases[i].s, buf, sizeof(buf)), cases[i].want))
			fail_msg("%llu s: '%s', not '%s'", (unsigned long long)cases[i].s, buf, cases[i].want);
	/* A short buffer is cut, never overrun. */
	char tiny[4];
	assert_string_equal(mg_human_duration(7140, tiny, sizeof(tiny)), "1h5");
}

static void test_bytes(void **state)
{
	static const struct {
		uint64_t b;
		const char *want;
	} cases[] = {
		{ 0, "0 bytes" }, { 1, "1 byte" }, { 999, "999 bytes" }, { 1000, "1.00 kB" }, { 1999, "1.99 kB" },
		{ 46400000, "46.4 MB" }, { 214300000, "214 MB" }, { 999999999, "999 MB" }, { 2110000000, "2.11 GB" },
		{ 24ull << 30, "25.7 GB" }, { UINT64_MAX, "18.4 EB" },
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(mg_human_bytes(cases[i].b, buf, sizeof(buf)), cases[i].want);
}

static void test_when(void **state)
{
	char buf[32];

	(void)state;
	assert_string_equal(mg_human_when(7140, buf, sizeof(buf)), "in 1h59m");
	assert_string_equal(mg_human_when(-180, buf, sizeof(buf)), "3m ago");
	assert_string_equal(mg_human_when(0, buf, sizeof(buf)), "now");
	assert_string_equal(mg_human_when(-1, buf, sizeof(buf)), "1s ago");
	assert_string_equal(mg_human_when(INT64_MIN, buf, sizeof(buf)), "106751991167300d15h ago");
}

static void test_iso(void **state)
{
	int64_t t;

	(void)state;
	assert_int_equal(mg_iso_parse("1970-01-01T00:00:03Z", &t), 0);
	assert_int_equal(t, 3);
	assert_int_equal(mg_iso_parse("2026-12-02T10:00:00Z", &t), 0);
	assert_int_equal(t, 1796205600);
	static const char *const bad[] = { "", "-", "2026-12-02", "2026-12-02T10:00:00", "2026-12-02T10:00:00Z junk",
					   "yesterday" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (mg_iso_parse(bad[i], &t) != -EINVAL)
			fail_msg("'%s' read as a time", bad[i]);
	assert_int_equal(mg_iso_parse(NULL, &t), -EINVAL);
}

static void test_plural(void **state)
{
	(void)state;
	assert_string_equal(mg_plural(1, "verdict", "verdicts"), "verdict");
	assert_string_equal(mg_plural(-1, "verdict", "verdicts"), "verdict");
	assert_string_equal(mg_plural(0, "verdict", "verdicts"), "verdicts");
	assert_string_equal(mg_plural(2, "prefix", "prefixes"), "prefixes");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_when),
		cmocka_unit_test(test_iso),
		cmocka_unit_test(test_plural),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
