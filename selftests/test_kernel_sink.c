// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_kernel_sink.c - the kernel sink without a kernel: what adopting the
 * rules a previous run left does when the maps cannot be read.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <cmocka.h>

#include "mg_kernel_sink.h"

/* Rule maps that cannot be read (no such descriptor): both kinds said, counted, and the first error returned. */
static void test_adopt_reports_unreadable_rule_maps(void **state)
{
	(void)state;
	struct mg_handle h;
	struct mg_kernel_sink k;
	const char *what = NULL;

	memset(&h, 0, sizeof(h));
	h.block4_fd = h.block_fd = h.allow4_fd = h.allow_fd = h.outbreaks_fd = -1;
	memset(&k, 0, sizeof(k));
	k.h = &h;
	/* Nothing is read, so the engine is never called. */
	assert_int_equal(mg_kernel_sink_adopt(&k, NULL, &what), -EBADF);
	assert_non_null(what);
	assert_string_equal(what, "block and allow");
	assert_int_equal(k.adopt_failed, 2);
	assert_int_equal(mg_kernel_sink_adopt(&k, NULL, NULL), -EBADF);
	assert_int_equal(k.adopt_failed, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_adopt_reports_unreadable_rule_maps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
