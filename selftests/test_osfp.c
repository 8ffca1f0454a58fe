// SPDX-License-Identifier: GPL-2.0-only
/* test_osfp.c - the table of stock OS SYN fingerprint layouts (user/mg_osfp.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "mg_osfp.h"

static struct mg_syn_fp fp_of(uint8_t ttl, uint16_t window, uint16_t mss, uint8_t wscale, const uint8_t *opts, size_t n)
{
	struct mg_syn_fp fp = { .ip_version = 4, .ttl_initial = ttl, .df = 1, .window = window, .mss = mss,
				.wscale = wscale, .n_opts = (uint8_t)n };
	if (n)
		memcpy(fp.opt_kinds, opts, n);
	return fp;
}

static const uint8_t LINUX[] = { 2, 4, 8, 1, 3 }, WINDOWS[] = { 2, 1, 3, 1, 1, 4 },
		     MACOS[] = { 2, 1, 3, 1, 1, 8, 4 };

/* The layouts the stock stacks send, whatever the link's MSS or the host's window. */
static void test_stock_layouts(void **state)
{
	(void)state;
	struct mg_syn_fp f = fp_of(64, 64240, 1460, 7, LINUX, sizeof(LINUX));
	assert_int_equal(mg_osfp_classify(&f), MG_OSFP_LINUX);
	/* Behind a tunnel, with more memory, over IPv6: still Linux. */
	f = fp_of(64, 62727, 1360, 9, LINUX, sizeof(LINUX));
	f.ip_version = 6;
	f.df = 0;
	assert_int_equal(mg_osfp_classify(&f), MG_OSFP_LINUX);
	f = fp_of(128, 64240, 1460, 8, WINDOWS, sizeof(WINDOWS));
	assert_int_equal(mg_osfp_classify(&f), MG_OSFP_WINDOWS);
	f = fp_of(64, 65535, 1460, 6, MACOS, sizeof(MACOS));
	assert_int_equal(mg_osfp_classify(&f), MG_OSFP_MACOS);
	assert_string_equal(mg_osfp_name(MG_OSFP_LINUX), "linux");
	assert_string_equal(mg_osfp_name(MG_OSFP_WINDOWS), "windows");
	assert_string_equal(mg_osfp_name(MG_OSFP_MACOS), "macos");
	assert_string_equal(mg_osfp_name(MG_OSFP_NONE), "none");
	assert_string_equal(mg_osfp_name(MG_OSFP_MAX), "?");
}

/* Anything else is no stock stack: a raw-socket tool, a kit's own stack, a layout with another TTL. */
static void test_other_layouts(void **state)
{
	(void)state;
	struct mg_syn_fp f = fp_of(64, 1024, 0, 0xff, NULL, 0); /* no options at all: a raw-socket scanner */
	assert_int_equal(mg_osfp_classify(&f), MG_OSFP_NONE);
	f = fp_of(64, 5840, 1460, 2, (const uint8_t[]){ 2, 3 }, 2);
	assert_int_equal(mg_osfp_classify(&f), MG_OSFP_NONE);
	f = fp_of(128, 64240, 1460, 7, LINUX, sizeof(LINUX)); /* Linux's options, Windows's TTL */
	assert_int_equal(mg_osfp_classify(&f), MG_OSFP_NONE);
	f = fp_of(64, 64240, 1460, 7, LINUX, sizeof(LINUX) - 1); /* one option short */
	assert_int_equal(mg_osfp_classify(&f), MG_OSFP_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stock_layouts),
		cmocka_unit_test(test_other_layouts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
