// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_log_gate.c - "one line a minute at most" (mg_log_gate.h) on a machine
 * that booted seconds ago: the first line always gets through, even when
 * CLOCK_MONOTONIC is still below the interval.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "mg_log_gate.h"

#define SEC 1000000000ull
#define MINUTE (60 * SEC)

static void test_first_line_near_boot(void **state)
{
	static const uint64_t boots[] = { 0, 1, 3 * SEC, MINUTE - 1, MINUTE, 36ull * 365 * 86400 * SEC };

	(void)state;
	for (size_t i = 0; i < sizeof(boots) / sizeof(boots[0]); i++) {
		struct mg_log_gate g = { 0 };
		uint64_t t = boots[i];

		assert_true(mg_log_gate_pass(&g, t, MINUTE));
		assert_false(mg_log_gate_pass(&g, t, MINUTE));
		assert_false(mg_log_gate_pass(&g, t + MINUTE - 1, MINUTE));
		assert_true(mg_log_gate_pass(&g, t + MINUTE, MINUTE));
		assert_false(mg_log_gate_pass(&g, t + MINUTE + 1, MINUTE));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_line_near_boot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
