// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_dnsbl.c - the DNSBL dataset writer (mg_dnsbl): the exact text of an
 * ip4trie and an ip6trie dataset (each family in its own, sorted, every
 * prefix with its length, the code's A value and words), a prefix listed
 * twice keeping its first entry (an exclusion before a block), an empty
 * zone still a valid file, and the atomic write leaving no temporary.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "mg_dnsbl.h"

static struct mg_dnsbl_entry ent(const char *p, uint8_t code)
{
	struct mg_dnsbl_entry e = { .code = code };
	assert_int_equal(mg_prefix_parse(p, &e.prefix), 0);
	return e;
}

static const char head4[] =
	"; mtaguard DNSBL data (rbldnsd ip4trie), rewritten whole on every change: do not edit\n"
	"; 127.0.0.2 verdict, .3 outbreak member, .4 operator block, .5 imported list; ! allowed\n";

static void test_render(void **state)
{
	(void)state;
	struct mg_dnsbl_entry v[] = {
		ent("198.18.7.0/24", MG_DNSBL_EXCLUDED),
		ent("198.18.0.66", MG_DNSBL_VERDICT),
		ent("2001:db8:1::/64", MG_DNSBL_VERDICT),
		ent("198.18.9.0/24", MG_DNSBL_OPERATOR),
		ent("198.18.7.0/24", MG_DNSBL_FEED), /* allowed: the exclusion came first */
		ent("198.19.0.0/16", MG_DNSBL_FEED),
		ent("198.18.0.66", MG_DNSBL_OUTBREAK), /* blocked already: the block's line stays */
		ent("198.18.0.67", MG_DNSBL_OUTBREAK),
		ent("2001:db8:2::1", MG_DNSBL_EXCLUDED),
	};
	size_t len;
	char *t = mg_dnsbl_render(v, sizeof(v) / sizeof(v[0]), false, 300, &len);
	char want[2048];

	snprintf(want, sizeof(want),
		 "%s$TTL 300\n"
		 "198.18.0.66/32 :127.0.0.2:mtaguard: verdict $\n"
		 "198.18.0.67/32 :127.0.0.3:mtaguard: outbreak member $\n"
		 "!198.18.7.0/24\n"
		 "198.18.9.0/24 :127.0.0.4:mtaguard: operator block $\n"
		 "198.19.0.0/16 :127.0.0.5:mtaguard: imported list $\n",
		 head4);
	assert_non_null(t);
	assert_string_equal(t, want);
	assert_int_equal(len, strlen(want));
	free(t);

	t = mg_dnsbl_render(v, sizeof(v) / sizeof(v[0]), true, 60, &len);
	assert_non_null(t);
	assert_non_null(strstr(t, "(rbldnsd ip6trie)"));
	assert_non_null(strstr(t, "$TTL 60\n2001:db8:1::/64 :127.0.0.2:mtaguard: verdict $\n!2001:db8:2::1/128\n"));
	assert_null(strstr(t, "198."));
	free(t);
}

static void test_empty_and_long(void **state)
{
	(void)state;
	size_t len;
	char *t = mg_dnsbl_render(NULL, 0, false, 300, &len);

	assert_non_null(t);
	assert_non_null(strstr(t, "$TTL 300\n"));
	assert_int_equal(t[len - 1], '\n');
	free(t);
	/* The longest lines there are: full IPv6 addresses, the longest words. */
	struct mg_dnsbl_entry v[64];
	char p[64];
	for (int i = 0; i < 64; i++) {
		snprintf(p, sizeof(p), "2001:db8:ffff:ffff:ffff:ffff:ffff:%x", 0xff00 + i);
		v[i] = ent(p, MG_DNSBL_OUTBREAK);
	}
	t = mg_dnsbl_render(v, 64, true, 300, &len);
	assert_non_null(t);
	assert_int_equal(strlen(t), len);
	assert_non_null(strstr(t, "2001:db8:ffff:ffff:ffff:ffff:ffff:ff3f/128 :127.0.0.3:mtaguard: outbreak member $\n"));
	free(t);
}

static void test_write_atomic(void **state)
{
	(void)state;
	char dir[] = "/tmp/mg-test-dnsbl.XXXXXX", path[128], cmd[160];
	struct stat st;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ip4", dir);
	assert_int_equal(mg_dnsbl_write(path, "$TTL 1\n", 7), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(st.st_size, 7);
	snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 1", dir);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_empty_and_long),
		cmocka_unit_test(test_write_atomic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
