// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_dnsbl.c - the DNSBL dataset writer (mg_dnsbl): the exact text of an
 * ip4trie and an ip6trie dataset (each family in its own, sorted, every
 * prefix with its length, the code's A value and words), a prefix listed
 * twice keeping its first entry (an exclusion before a block), an empty
 * zone still a valid file, and the atomic write leaving no temporary; the
 * blocks an allow leaves out (inside it, not around it; IPv4 and IPv6; /0),
 * by the sorted index as by every allow against every block.
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

/* ---- which blocks an allow leaves out (mg_dnsbl_allows) ---- */

/* The reference: what mtaguardd asked before the index, every allow against the block. */
static bool ref_allowed(const struct mg_dnsbl_entry *a, size_t n, const struct mg_prefix *p)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].prefix.prefixlen <= p->prefixlen && mg_prefix_covers(&a[i].prefix, p->addr))
			return true;
	return false;
}

/* A zone as mtaguardd writes it: the allows as exclusions, then the blocks no allow covers (by the index or the reference). */
static char *zone(const struct mg_dnsbl_entry *a, size_t na, const struct mg_dnsbl_entry *b, size_t nb, bool v6,
		  bool ref)
{
	struct mg_dnsbl_entry *v = calloc(na + nb + 1, sizeof(*v));
	struct mg_dnsbl_allows idx;
	size_t n = 0, len;

	assert_non_null(v);
	assert_int_equal(mg_dnsbl_allows_init(&idx, a, na), 0);
	for (size_t i = 0; i < na; i++)
		v[n++] = a[i];
	for (size_t i = 0; i < nb; i++)
		if (!(ref ? ref_allowed(a, na, &b[i].prefix) : mg_dnsbl_allowed(&idx, &b[i].prefix)))
			v[n++] = b[i];
	mg_dnsbl_allows_free(&idx);
	char *t = mg_dnsbl_render(v, n, v6, 300, &len);
	assert_non_null(t);
	free(v);
	return t;
}

static void same_zones(const struct mg_dnsbl_entry *a, size_t na, const struct mg_dnsbl_entry *b, size_t nb)
{
	for (int v6 = 0; v6 <= 1; v6++) {
		char *t = zone(a, na, b, nb, v6, false), *r = zone(a, na, b, nb, v6, true);
		assert_string_equal(t, r);
		free(t);
		free(r);
	}
}

static void test_allows(void **state)
{
	(void)state;
	struct mg_dnsbl_entry a[] = {
		ent("198.18.7.0/24", MG_DNSBL_EXCLUDED),
		ent("198.18.9.9", MG_DNSBL_EXCLUDED),
		ent("2001:db8:1::/48", MG_DNSBL_EXCLUDED),
		ent("2001:db8:2:3::/64", MG_DNSBL_EXCLUDED),
		ent("0.0.0.0/0", MG_DNSBL_EXCLUDED), /* not in the first cases */
		ent("::/0", MG_DNSBL_EXCLUDED),
	};
	struct mg_dnsbl_entry b[] = {
		ent("198.18.7.7", MG_DNSBL_VERDICT),       /* inside an allow: left out */
		ent("198.18.7.0/25", MG_DNSBL_FEED),       /* likewise */
		ent("198.18.7.0/24", MG_DNSBL_OPERATOR),   /* the allow itself */
		ent("198.18.9.0/24", MG_DNSBL_OPERATOR),   /* holds an allow: listed, the allow excluded */
		ent("198.18.8.1", MG_DNSBL_VERDICT),
		ent("2001:db8:1:2::/64", MG_DNSBL_VERDICT), /* inside an allow */
		ent("2001:db8:2::/48", MG_DNSBL_OPERATOR),  /* holds an allow */
		ent("2001:db8:3::1", MG_DNSBL_OUTBREAK),
	};
	const size_t nb = sizeof(b) / sizeof(b[0]);
	char want[2048], *t;

	snprintf(want, sizeof(want),
		 "%s$TTL 300\n"
		 "!198.18.7.0/24\n"
		 "198.18.8.1/32 :127.0.0.2:mtaguard: verdict $\n"
		 "198.18.9.0/24 :127.0.0.4:mtaguard: operator block $\n"
		 "!198.18.9.9/32\n",
		 head4);
	t = zone(a, 4, b, nb, false, false);
	assert_string_equal(t, want);
	free(t);
	t = zone(a, 4, b, nb, true, false);
	assert_non_null(strstr(t, "$TTL 300\n!2001:db8:1::/48\n2001:db8:2::/48 :127.0.0.4:mtaguard: operator block $\n"
				  "!2001:db8:2:3::/64\n2001:db8:3::1/128 :127.0.0.3:mtaguard: outbreak member $\n"));
	assert_null(strstr(t, "2001:db8:1:2::"));
	free(t);
	same_zones(a, 4, b, nb);

	/* 0.0.0.0/0 leaves out every IPv4 block, no IPv6 one; ::/0 every block. */
	t = zone(a, 5, b, nb, false, false);
	assert_null(strstr(t, "mtaguard: "));
	free(t);
	t = zone(a, 5, b, nb, true, false);
	assert_non_null(strstr(t, "2001:db8:3::1/128 :127.0.0.3"));
	free(t);
	same_zones(a, 5, b, nb);
	struct mg_dnsbl_allows idx;
	assert_int_equal(mg_dnsbl_allows_init(&idx, a + 5, 1), 0);
	for (size_t i = 0; i < nb; i++)
		assert_true(mg_dnsbl_allowed(&idx, &b[i].prefix));
	mg_dnsbl_allows_free(&idx);
	same_zones(a, 6, b, nb);
	same_zones(a + 5, 1, b, nb);
	/* No allows: nothing left out. */
	assert_int_equal(mg_dnsbl_allows_init(&idx, NULL, 0), 0);
	assert_false(mg_dnsbl_allowed(&idx, &b[0].prefix));
	mg_dnsbl_allows_free(&idx);
	same_zones(NULL, 0, b, nb);
}

static uint32_t rnd_state = 12345;

static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}

/* A prefix of 198.18.0.0/20 or 2001:db8::/36-ish, of a length in [lo4..32] or [lo6..128]: a small space, many covers. */
static struct mg_dnsbl_entry rnd_ent(unsigned lo4, unsigned lo6, uint8_t code)
{
	char s[64];

	if (rnd() & 1)
		snprintf(s, sizeof(s), "198.18.%u.%u/%u", rnd() % 16, rnd() % 256, lo4 + rnd() % (33 - lo4));
	else
		snprintf(s, sizeof(s), "2001:db8:%x:%x::%x/%u", rnd() % 8, rnd() % 4, rnd() % 4, lo6 + rnd() % (129 - lo6));
	return ent(s, code);
}

/* Thousands of allows and blocks: every block's answer the reference's, and the zones the same. */
static void test_allows_many(void **state)
{
	enum { NA = 3000, NB = 30000 };
	struct mg_dnsbl_entry *a = calloc(NA, sizeof(*a)), *b = calloc(NB, sizeof(*b));
	struct mg_dnsbl_allows idx;
	size_t in = 0;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	for (size_t i = 0; i < NA; i++)
		a[i] = rnd_ent(26, 56, MG_DNSBL_EXCLUDED);
	for (size_t i = 0; i < NB; i++)
		b[i] = rnd_ent(20, 40, MG_DNSBL_VERDICT);
	assert_int_equal(mg_dnsbl_allows_init(&idx, a, NA), 0);
	for (size_t i = 0; i < NB; i++) {
		bool want = ref_allowed(a, NA, &b[i].prefix);
		assert_int_equal(mg_dnsbl_allowed(&idx, &b[i].prefix), want);
		in += want;
	}
	mg_dnsbl_allows_free(&idx);
	/* Both answers, many times each. */
	print_message("%zu of %d blocks inside an allow\n", in, NB);
	assert_true(in > NB / 20);
	assert_true(in < NB - NB / 20);
	same_zones(a, NA, b, NB);
	free(a);
	free(b);
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
		cmocka_unit_test(test_allows),
		cmocka_unit_test(test_allows_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
