// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_oprules.c - the operator's rules table (mg_oprules): one rule per
 * prefix and kind, comments bounded, expiry taking out exactly what is due,
 * and the JSON round trip the daemon's rules file relies on, with damaged
 * input refused without touching the table.
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
#include "mg_oprules.h"

#define SEC 1000000000ull

static struct mg_oprule rule(const char *prefix, uint8_t kind, uint64_t expires, const char *comment)
{
	/* An allow has no action. */
	struct mg_oprule r = { .kind = kind, .action = kind == MG_RULE_BLOCK ? MG_ACT_DROP_SMTP : 0,
			       .created_ns = 1000 * SEC, .expires_ns = expires };
	assert_int_equal(mg_prefix_parse(prefix, &r.prefix), 0);
	snprintf(r.comment, sizeof(r.comment), "%s", comment);
	return r;
}

static struct mg_prefix pfx(const char *text)
{
	struct mg_prefix p;
	assert_int_equal(mg_prefix_parse(text, &p), 0);
	return p;
}

static void test_one_rule_per_prefix_and_kind(void **state)
{
	(void)state;
	struct mg_oprules t;
	mg_oprules_init(&t);

	struct mg_oprule a = rule("198.18.9.0/24", MG_RULE_BLOCK, 0, "first");
	assert_int_equal(mg_oprules_set(&t, &a), 0);
	a.action = MG_ACT_DROP_ALL;
	snprintf(a.comment, sizeof(a.comment), "second");
	assert_int_equal(mg_oprules_set(&t, &a), 0);
	assert_int_equal(t.n, 1); /* replaced, not added */
	struct mg_prefix p = pfx("198.18.9.0/24");
	const struct mg_oprule *got = mg_oprules_find(&t, &p, MG_RULE_BLOCK);
	assert_non_null(got);
	assert_string_equal(got->comment, "second");
	assert_int_equal(got->action, MG_ACT_DROP_ALL);

	/* The same prefix allowed is another rule; a /25 inside it is another prefix. */
	struct mg_oprule b = rule("198.18.9.0/24", MG_RULE_ALLOW, 0, "");
	struct mg_oprule c = rule("198.18.9.0/25", MG_RULE_BLOCK, 0, "");
	assert_int_equal(mg_oprules_set(&t, &b), 0);
	assert_int_equal(mg_oprules_set(&t, &c), 0);
	assert_int_equal(t.n, 3);
	assert_non_null(mg_oprules_find(&t, &p, MG_RULE_ALLOW));

	assert_true(mg_oprules_remove(&t, &p, MG_RULE_BLOCK));
	assert_false(mg_oprules_remove(&t, &p, MG_RULE_BLOCK));
	assert_null(mg_oprules_find(&t, &p, MG_RULE_BLOCK));
	assert_non_null(mg_oprules_find(&t, &p, MG_RULE_ALLOW));
	struct mg_prefix q = pfx("198.18.9.0/25");
	assert_non_null(mg_oprules_find(&t, &q, MG_RULE_BLOCK));
	mg_oprules_free(&t);
}

static void test_many_rules(void **state)
{
	(void)state;
	struct mg_oprules t;
	char text[64];
	mg_oprules_init(&t);
	for (int i = 0; i < 1000; i++) {
		snprintf(text, sizeof(text), "2001:db8:%x::/48", i);
		struct mg_oprule r = rule(text, MG_RULE_BLOCK, 0, "bulk");
		assert_int_equal(mg_oprules_set(&t, &r), 0);
	}
	assert_int_equal(t.n, 1000);
	struct mg_prefix p = pfx("2001:db8:3e7::/48");
	assert_non_null(mg_oprules_find(&t, &p, MG_RULE_BLOCK));
	mg_oprules_free(&t);
}

static void test_expiry_takes_what_is_due(void **state)
{
	(void)state;
	struct mg_oprules t;
	struct mg_oprule out[2];
	mg_oprules_init(&t);

	struct mg_oprule r[] = {
		rule("198.18.1.1", MG_RULE_ALLOW, 100 * SEC, "a"), rule("198.18.1.2", MG_RULE_ALLOW, 0, "never"),
		rule("198.18.1.3", MG_RULE_BLOCK, 200 * SEC, "b"), rule("198.18.1.4", MG_RULE_BLOCK, 100 * SEC, "c"),
		rule("198.18.1.5", MG_RULE_ALLOW, 101 * SEC, "d"),
	};
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++)
		assert_int_equal(mg_oprules_set(&t, &r[i]), 0);

	assert_int_equal(mg_oprules_expire(&t, 99 * SEC, out, 2), 0);
	/* Due at exactly its expiry; at most `max` at a time, the rest next call. */
	assert_int_equal(mg_oprules_expire(&t, 100 * SEC, out, 1), 1);
	assert_int_equal(out[0].expires_ns, 100 * SEC);
	assert_int_equal(mg_oprules_expire(&t, 100 * SEC, out, 2), 1);
	assert_int_equal(out[0].expires_ns, 100 * SEC);
	assert_int_equal(t.n, 3);
	assert_int_equal(mg_oprules_expire(&t, 1000000 * SEC, out, 2), 2);
	assert_int_equal(t.n, 1);
	assert_string_equal(t.v[0].comment, "never");
	mg_oprules_free(&t);
}

static void test_json_round_trip(void **state)
{
	(void)state;
	struct mg_oprules t, u;
	mg_oprules_init(&t);
	mg_oprules_init(&u);

	struct mg_oprule a = rule("198.18.9.0/24", MG_RULE_BLOCK, 5000 * SEC, "abuse desk \"ticket\" 4711");
	a.action = MG_ACT_DROP_ALL;
	struct mg_oprule b = rule("2001:db8:1::/64", MG_RULE_ALLOW, 0, "");
	struct mg_oprule c = rule("198.18.7.7", MG_RULE_ALLOW, 7000 * SEC, "partner relay");
	assert_int_equal(mg_oprules_set(&t, &a), 0);
	assert_int_equal(mg_oprules_set(&t, &b), 0);
	assert_int_equal(mg_oprules_set(&t, &c), 0);

	json_t *j = mg_oprules_to_json(&t);
	char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	j = json_loads(text, 0, NULL);
	free(text);
	assert_int_equal(mg_oprules_from_json(&u, j, NULL), 0);
	json_decref(j);

	assert_int_equal(u.n, 3);
	for (size_t i = 0; i < t.n; i++) {
		const struct mg_oprule *x = &t.v[i], *y = mg_oprules_find(&u, &x->prefix, x->kind);
		assert_non_null(y);
		assert_int_equal(y->action, x->action);
		assert_int_equal(y->created_ns, x->created_ns);
		assert_int_equal(y->expires_ns, x->expires_ns);
		assert_string_equal(y->comment, x->comment);
		assert_int_equal(y->prefix.prefixlen, x->prefix.prefixlen);
	}
	mg_oprules_free(&t);
	mg_oprules_free(&u);
}

/* Files written before allows lost their action said "smtp" for them: still read. */
static void test_older_allow_with_an_action(void **state)
{
	(void)state;
	struct mg_oprules t;
	json_t *j = json_loads("{\"version\":1,\"rules\":[{\"prefix\":\"198.18.7.7\",\"kind\":\"allow\","
			       "\"action\":\"smtp\",\"created\":1,\"expires\":0,\"comment\":\"\"}]}", 0, NULL);

	mg_oprules_init(&t);
	assert_non_null(j);
	assert_int_equal(mg_oprules_from_json(&t, j, NULL), 0);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.v[0].kind, MG_RULE_ALLOW);
	assert_int_equal(t.v[0].action, 0);
	/* Written again, the allow says "none". */
	json_t *out = mg_oprules_to_json(&t);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(out, "rules"), 0), "action")),
			    "none");
	json_decref(out);
	json_decref(j);
	mg_oprules_free(&t);
}

/* A document that is not a rules table is refused whole: the table is unchanged. */
static void test_damaged_json_refused(void **state)
{
	(void)state;
	static const char *bad[] = {
		"[]",
		"{\"version\":2,\"rules\":[]}",
		"{\"version\":1}",
		"{\"version\":1,\"rules\":{}}",
		"{\"version\":\"1\",\"rules\":[]}",
	};
	struct mg_oprules t;
	mg_oprules_init(&t);
	struct mg_oprule keep = rule("198.18.5.5", MG_RULE_BLOCK, 0, "keep me");
	assert_int_equal(mg_oprules_set(&t, &keep), 0);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = json_loads(bad[i], 0, NULL);
		assert_non_null(j);
		assert_int_equal(mg_oprules_from_json(&t, j, NULL), -EINVAL);
		json_decref(j);
		assert_int_equal(t.n, 1);
		assert_string_equal(t.v[0].comment, "keep me");
	}
	mg_oprules_free(&t);
}

/*
 * A malformed rule (wrong types, a prefix that is not one, an unknown kind or
 * action, times out of range, a comment too long) is refused alone and
 * counted: the good rule beside it is restored.
 */
static void test_malformed_rule_refused_alone(void **state)
{
	(void)state;
	char big[MG_OPRULE_COMMENT_MAX + 100], longc[sizeof(big) + 100];
	memset(big, 'c', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(longc, sizeof(longc),
		 "{\"prefix\":\"198.18.0.1\",\"kind\":\"allow\",\"action\":\"none\",\"created\":1,\"expires\":0,"
		 "\"comment\":\"%s\"}", big);
	const char *bad[] = {
		"{\"prefix\":\"not-an-address\",\"kind\":\"block\",\"action\":\"smtp\",\"created\":1,\"expires\":0,\"comment\":\"\"}",
		"{\"prefix\":\"198.18.0.1/33\",\"kind\":\"block\",\"action\":\"smtp\",\"created\":1,\"expires\":0,\"comment\":\"\"}",
		"{\"prefix\":\"198.18.0.1\",\"kind\":\"deny\",\"action\":\"smtp\",\"created\":1,\"expires\":0,\"comment\":\"\"}",
		"{\"prefix\":\"198.18.0.1\",\"kind\":\"block\",\"action\":\"some\",\"created\":1,\"expires\":0,\"comment\":\"\"}",
		"{\"prefix\":\"198.18.0.1\",\"kind\":\"block\",\"action\":\"smtp\",\"created\":-1,\"expires\":0,\"comment\":\"\"}",
		"{\"prefix\":\"198.18.0.1\",\"kind\":\"block\",\"action\":\"smtp\",\"created\":1,\"comment\":\"\"}",
		"{\"prefix\":\"198.18.0.1\",\"kind\":\"block\",\"action\":\"smtp\",\"created\":1.5,\"expires\":0,\"comment\":\"\"}",
		"{\"prefix\":7,\"kind\":\"block\",\"action\":\"smtp\",\"created\":1,\"expires\":0,\"comment\":\"\"}",
		/* ends before it was made; ends after 2^62 ns (2116) */
		"{\"prefix\":\"198.18.0.1\",\"kind\":\"block\",\"action\":\"smtp\",\"created\":10,\"expires\":5,\"comment\":\"\"}",
		"{\"prefix\":\"198.18.0.1\",\"kind\":\"block\",\"action\":\"smtp\",\"created\":1,"
		"\"expires\":9223372036854775807,\"comment\":\"\"}",
		"\"198.18.0.1\"",
		longc,
		/* a second block for the good rule's prefix */
		"{\"prefix\":\"198.18.5.0/24\",\"kind\":\"block\",\"action\":\"all\",\"created\":3,\"expires\":0,\"comment\":\"again\"}",
	};
	struct mg_oprules t;
	mg_oprules_init(&t);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char doc[1024];
		size_t refused = 99;
		snprintf(doc, sizeof(doc),
			 "{\"version\":1,\"rules\":[{\"prefix\":\"198.18.5.0/24\",\"kind\":\"block\",\"action\":\"smtp\","
			 "\"created\":2,\"expires\":0,\"comment\":\"good\"},%s]}", bad[i]);
		json_t *j = json_loads(doc, 0, NULL);
		assert_non_null(j);
		assert_int_equal(mg_oprules_from_json(&t, j, &refused), 0);
		json_decref(j);
		if (refused != 1 || t.n != 1)
			fail_msg("case %zu: refused %zu, kept %zu: %s", i, refused, t.n, bad[i]);
		assert_string_equal(t.v[0].comment, "good");
		assert_int_equal(t.v[0].action, MG_ACT_DROP_SMTP);
	}
	mg_oprules_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_rule_per_prefix_and_kind),
		cmocka_unit_test(test_many_rules),
		cmocka_unit_test(test_expiry_takes_what_is_due),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_older_allow_with_an_action),
		cmocka_unit_test(test_damaged_json_refused),
		cmocka_unit_test(test_malformed_rule_refused_alone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
