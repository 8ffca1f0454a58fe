// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_feeds.c - imported lists by origin (mg_feeds): the sync diff as a
 * table; an import merged or synced, with exactly the prefixes whose claim
 * may change reported; two origins adding up to one claim (any "all" wins,
 * the latest expiry); expiry taking out what is due; the feeds file's round
 * trip, with bad records refused alone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mtaguard.h"
#include "mg_cidr_list.h"
#include "mg_feeds.h"

#define SEC 1000000000ull
#define WALL (1767225600ull * SEC) /* 2026-01-01 */

/* "a b c" -> sorted unique prefixes; returns the count. */
static size_t plist(const char *text, struct mg_prefix *v)
{
	char buf[512], *save = NULL;
	size_t n = 0;

	snprintf(buf, sizeof(buf), "%s", text);
	for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save))
		assert_int_equal(mg_prefix_parse(t, &v[n++]), 0);
	return mg_prefix_sort_unique(v, n);
}

struct diff_case {
	const char *old, *new;
	size_t gone, added;
};

static const struct diff_case diffs[] = {
	{ "", "", 0, 0 },
	{ "", "198.18.0.0/24 198.18.1.0/24", 0, 2 },
	{ "198.18.0.0/24 198.18.1.0/24", "", 2, 0 },
	{ "198.18.0.0/24 198.18.1.0/24", "198.18.0.0/24 198.18.1.0/24", 0, 0 },
	{ "198.18.0.0/24 198.18.1.0/24", "198.18.1.0/24 198.18.2.0/24", 1, 1 },
	/* same address, another length: another prefix */
	{ "198.18.0.0/24", "198.18.0.0/23", 1, 1 },
	{ "198.18.0.0/24 2001:db8::/32 2001:db8:1::/48", "2001:db8::/32 198.19.0.0/16", 2, 1 },
};

static void test_diff_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(diffs) / sizeof(diffs[0]); i++) {
		struct mg_prefix o[16], n[16];
		size_t gone[16], added = 99;
		size_t no = plist(diffs[i].old, o), nn = plist(diffs[i].new, n);
		size_t ng = mg_feed_diff(o, no, n, nn, gone, &added);
		if (ng != diffs[i].gone || added != diffs[i].added)
			fail_msg("case %zu: gone %zu added %zu, want %zu %zu", i, ng, added, diffs[i].gone, diffs[i].added);
		/* Each one gone is in old and not in new. */
		for (size_t k = 0; k < ng; k++)
			for (size_t j = 0; j < nn; j++)
				assert_false(mg_prefix_eq(&o[gone[k]], &n[j]));
	}
}

static bool touched(const struct mg_feed_change *ch, const char *p)
{
	struct mg_prefix x;

	assert_int_equal(mg_prefix_parse(p, &x), 0);
	for (size_t i = 0; i < ch->ntouched; i++)
		if (mg_prefix_eq(&ch->touched[i], &x))
			return true;
	return false;
}

static void test_merge_and_sync(void **state)
{
	struct mg_feeds f;
	struct mg_feed_change ch;
	struct mg_prefix v[8];
	size_t n;

	(void)state;
	mg_feeds_init(&f);
	n = plist("198.18.0.0/24 198.18.1.0/24 2001:db8::/48", v);
	assert_int_equal(mg_feeds_import(&f, "drop", MG_ACT_DROP_SMTP, v, n, MG_TIME_NEVER, false, WALL, &ch), 0);
	assert_int_equal(ch.added, 3);
	assert_int_equal(ch.total, 3);
	assert_int_equal(ch.ntouched, 3);
	free(ch.touched);

	/* Merged: the old ones stay; with the same action only the listed ones are touched. */
	n = plist("198.18.1.0/24 198.18.2.0/24", v);
	assert_int_equal(mg_feeds_import(&f, "drop", MG_ACT_DROP_SMTP, v, n, MG_TIME_NEVER, false, WALL, &ch), 0);
	assert_int_equal(ch.added, 1);
	assert_int_equal(ch.kept, 1);
	assert_int_equal(ch.removed, 0);
	assert_int_equal(ch.total, 4);
	assert_int_equal(ch.ntouched, 2);
	assert_false(touched(&ch, "198.18.0.0/24"));
	free(ch.touched);

	/* Synced, with another action: the origin becomes exactly the list; everything is touched. */
	n = plist("198.18.2.0/24 198.18.3.0/24", v);
	assert_int_equal(mg_feeds_import(&f, "drop", MG_ACT_DROP_ALL, v, n, MG_TIME_NEVER, true, WALL, &ch), 0);
	assert_int_equal(ch.added, 1);
	assert_int_equal(ch.kept, 1);
	assert_int_equal(ch.removed, 3);
	assert_int_equal(ch.total, 2);
	assert_int_equal(ch.ntouched, 5);
	assert_true(touched(&ch, "198.18.0.0/24"));
	assert_true(touched(&ch, "2001:db8::/48"));
	free(ch.touched);
	struct mg_feed_origin *o = mg_feeds_find(&f, "drop");
	assert_non_null(o);
	assert_int_equal(o->n, 2);
	assert_int_equal(o->action, MG_ACT_DROP_ALL);

	/* An empty list with --sync empties the origin. */
	assert_int_equal(mg_feeds_import(&f, "drop", MG_ACT_DROP_ALL, v, 0, MG_TIME_NEVER, true, WALL, &ch), 0);
	assert_int_equal(ch.removed, 2);
	assert_int_equal(ch.total, 0);
	free(ch.touched);
	mg_feeds_free(&f);
}

static void test_origins_add_up(void **state)
{
	struct mg_feeds f;
	struct mg_feed_change ch;
	struct mg_prefix v[4], p;
	uint8_t act;
	uint64_t exp;
	char names[64];

	(void)state;
	mg_feeds_init(&f);
	size_t n = plist("198.18.0.0/24 198.18.1.0/24", v);
	assert_int_equal(mg_feeds_import(&f, "a", MG_ACT_DROP_SMTP, v, n, WALL + 100 * SEC, false, WALL, &ch), 0);
	free(ch.touched);
	n = plist("198.18.1.0/24", v);
	assert_int_equal(mg_feeds_import(&f, "b", MG_ACT_DROP_ALL, v, n, WALL + 50 * SEC, false, WALL, &ch), 0);
	free(ch.touched);

	assert_int_equal(mg_prefix_parse("198.18.1.0/24", &p), 0);
	assert_true(mg_feeds_want(&f, &p, WALL, &act, &exp));
	assert_int_equal(act, MG_ACT_DROP_ALL);
	assert_int_equal(exp, WALL + 100 * SEC);
	mg_feeds_origins_of(&f, &p, names, sizeof(names));
	assert_string_equal(names, "a,b");
	/* Past b's expiry, a's alone: smtp. */
	assert_true(mg_feeds_want(&f, &p, WALL + 60 * SEC, &act, &exp));
	assert_int_equal(act, MG_ACT_DROP_SMTP);
	assert_false(mg_feeds_want(&f, &p, WALL + 100 * SEC, &act, &exp));
	assert_int_equal(mg_prefix_parse("198.18.9.0/24", &p), 0);
	assert_false(mg_feeds_want(&f, &p, WALL, &act, &exp));

	/* Expiry takes out what is due, and nothing else; mg_feeds_expiring counts it first, changing nothing. */
	struct mg_prefix *gone;
	assert_int_equal(mg_feeds_expiring(&f, WALL + 10 * SEC), 0);
	assert_int_equal(mg_feeds_expire(&f, WALL + 10 * SEC, &gone), 0);
	free(gone);
	assert_int_equal(mg_feeds_expiring(&f, WALL + 100 * SEC), 3);
	assert_int_equal(mg_feeds_expiring(&f, WALL + 50 * SEC), 1);
	assert_int_equal(mg_feeds_total(&f), 3);
	assert_int_equal(mg_feeds_expire(&f, WALL + 50 * SEC, &gone), 1);
	free(gone);
	assert_int_equal(mg_feeds_find(&f, "b")->n, 0);
	assert_int_equal(mg_feeds_find(&f, "a")->n, 2);
	assert_int_equal(mg_feeds_total(&f), 2);

	/* Dropping an origin lists its prefixes. */
	size_t nt;
	assert_int_equal(mg_feeds_drop(&f, "a", &gone, &nt), 0);
	assert_int_equal(nt, 2);
	free(gone);
	assert_int_equal(mg_feeds_drop(&f, "a", &gone, &nt), -ENOENT);
	assert_null(mg_feeds_find(&f, "a"));
	mg_feeds_free(&f);
}

static void test_too_many_origins(void **state)
{
	struct mg_feeds f;
	struct mg_feed_change ch;
	struct mg_prefix v[1];
	char name[16];

	(void)state;
	mg_feeds_init(&f);
	plist("198.18.0.0/24", v);
	for (int i = 0; i < MG_FEED_ORIGINS_MAX; i++) {
		snprintf(name, sizeof(name), "o%d", i);
		assert_int_equal(mg_feeds_import(&f, name, MG_ACT_DROP_SMTP, v, 1, MG_TIME_NEVER, false, WALL, &ch), 0);
		free(ch.touched);
	}
	assert_int_equal(mg_feeds_import(&f, "one-more", MG_ACT_DROP_SMTP, v, 1, MG_TIME_NEVER, false, WALL, &ch), -ENOSPC);
	mg_feeds_free(&f);
}

static void test_names(void **state)
{
	(void)state;
	assert_true(mg_feed_name_ok("spamhaus-drop"));
	assert_true(mg_feed_name_ok("a"));
	assert_true(mg_feed_name_ok("Feed_2.v6"));
	assert_false(mg_feed_name_ok(""));
	assert_false(mg_feed_name_ok(NULL));
	assert_false(mg_feed_name_ok("-drop"));
	assert_false(mg_feed_name_ok("drop list"));
	assert_false(mg_feed_name_ok("drop/x"));
	assert_false(mg_feed_name_ok("0123456789012345678901234567890123"));
}

static void test_file_round_trip(void **state)
{
	struct mg_feeds f, g;
	struct mg_feed_change ch;
	struct mg_prefix v[4];
	size_t refused;

	(void)state;
	mg_feeds_init(&f);
	size_t n = plist("198.18.0.0/24 2001:db8::/48 198.18.9.9", v);
	assert_int_equal(mg_feeds_import(&f, "drop", MG_ACT_DROP_ALL, v, n, WALL + 3600 * SEC, false, WALL, &ch), 0);
	free(ch.touched);
	n = plist("198.18.5.0/24", v);
	assert_int_equal(mg_feeds_import(&f, "local", MG_ACT_DROP_SMTP, v, n, MG_TIME_NEVER, false, WALL, &ch), 0);
	free(ch.touched);
	json_t *j = mg_feeds_save_json(&f);
	char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	j = json_loads(text, 0, NULL);
	free(text);
	mg_feeds_init(&g);
	assert_int_equal(mg_feeds_restore_json(&g, j, WALL + 10 * SEC, &refused), 0);
	json_decref(j);
	assert_int_equal(refused, 0);
	assert_int_equal(g.n, 2);
	struct mg_feed_origin *o = mg_feeds_find(&g, "drop");
	assert_int_equal(o->n, 3);
	assert_int_equal(o->action, MG_ACT_DROP_ALL);
	assert_int_equal(o->v[0].expires, WALL + 3600 * SEC);
	assert_int_equal(mg_feeds_find(&g, "local")->v[0].expires, MG_TIME_NEVER);
	mg_feeds_free(&g);

	/* Restored after the expiry: the items are simply gone. */
	j = mg_feeds_save_json(&f);
	mg_feeds_init(&g);
	assert_int_equal(mg_feeds_restore_json(&g, j, WALL + 7200 * SEC, &refused), 0);
	json_decref(j);
	assert_int_equal(mg_feeds_find(&g, "drop")->n, 0);
	mg_feeds_free(&g);
	mg_feeds_free(&f);
}

static void test_bad_records_refused_alone(void **state)
{
	static const char text[] =
		"{\"version\":1,\"origins\":["
		"{\"name\":\"ok\",\"action\":\"smtp\",\"updated\":1,\"prefixes\":[\"198.18.0.0/24\",\"198.18.0.1/24\","
		"\"nonsense\",\"198.18.1.0/24@x\",\"198.18.2.0/24@99999999999999999999\",\"198.18.0.0/24\",42,"
		"\"198.18.3.0/24@1767312000\"]},"
		"{\"name\":\"bad name\",\"action\":\"smtp\",\"updated\":1,\"prefixes\":[]},"
		"{\"name\":\"badact\",\"action\":\"drop\",\"updated\":1,\"prefixes\":[]},"
		"{\"name\":\"ok\",\"action\":\"smtp\",\"updated\":1,\"prefixes\":[]},"
		"{\"name\":\"neg\",\"action\":\"all\",\"updated\":-5,\"prefixes\":[]}]}";
	struct mg_feeds f;
	size_t refused;
	json_t *j = json_loads(text, 0, NULL);

	(void)state;
	assert_non_null(j);
	mg_feeds_init(&f);
	assert_int_equal(mg_feeds_restore_json(&f, j, WALL, &refused), 0);
	json_decref(j);
	/* 6 bad items in "ok" (host bits, nonsense, bad time, huge time, repeat, not a string), 4 bad origins */
	assert_int_equal(refused, 10);
	assert_int_equal(f.n, 1);
	assert_int_equal(mg_feeds_find(&f, "ok")->n, 2);
	mg_feeds_free(&f);

	/* Not a feeds file at all. */
	j = json_loads("{\"version\":2,\"origins\":[]}", 0, NULL);
	mg_feeds_init(&f);
	assert_int_equal(mg_feeds_restore_json(&f, j, WALL, &refused), -EINVAL);
	json_decref(j);
	mg_feeds_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diff_table),
		cmocka_unit_test(test_merge_and_sync),
		cmocka_unit_test(test_origins_add_up),
		cmocka_unit_test(test_too_many_origins),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_file_round_trip),
		cmocka_unit_test(test_bad_records_refused_alone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
