// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_rule_filter.c - which blocks `verdicts --by/--origin/--source` lists
 * (mg_rule_filter): owners that hold blocks only, origins as the listings
 * write them (cluster "node kind" items, feeds' comma lists), a source that
 * a rule holds or that holds the rule, and all three together.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "mg_rule_filter.h"

static struct mg_prefix P(const char *text)
{
	struct mg_prefix p;

	if (mg_prefix_parse(text, &p))
		fail_msg("bad prefix %s", text);
	return p;
}

static void test_parse(void **state)
{
	struct mg_rule_filter f;
	char err[256];

	(void)state;
	assert_int_equal(mg_rule_filter_parse(&f, NULL, NULL, NULL, err, sizeof(err)), 0);
	assert_false(mg_rule_filter_any(&f));
	assert_int_equal(mg_rule_filter_parse(&f, "", "", "", err, sizeof(err)), 0);
	assert_false(mg_rule_filter_any(&f));
	static const char *const owners[] = { "analyzer", "operator", "cluster", "feed", "pinned" };
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(mg_rule_filter_parse(&f, owners[i], NULL, NULL, err, sizeof(err)), 0);
		assert_true(mg_rule_filter_any(&f));
	}
	/* Owners of allows hold no blocks: refused with the names that do. */
	assert_int_equal(mg_rule_filter_parse(&f, "config:allowlist", NULL, NULL, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "--by 'config:allowlist': blocks are by operator, analyzer, cluster, feed, pinned");
	assert_int_equal(mg_rule_filter_parse(&f, "nobody", NULL, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(mg_rule_filter_parse(&f, NULL, "a,b", NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(mg_rule_filter_parse(&f, NULL, NULL, "198.18.0.0/33", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--source '198.18.0.0/33'"));
	assert_int_equal(mg_rule_filter_parse(&f, NULL, NULL, "abc", err, sizeof(err)), -EINVAL);
}

static void test_origins(void **state)
{
	(void)state;
	assert_true(mg_origin_listed("edge-a verdict, edge-b block", "edge-a"));
	assert_true(mg_origin_listed("edge-a verdict, edge-b block", "edge-b"));
	assert_false(mg_origin_listed("edge-a verdict, edge-b block", "edge"));
	assert_false(mg_origin_listed("edge-a verdict, edge-b block", "verdict"));
	assert_true(mg_origin_listed("drop,edrop", "edrop"));
	assert_false(mg_origin_listed("drop,edrop", "dro"));
	assert_true(mg_origin_listed("edge-a", "edge-a"));
	assert_false(mg_origin_listed("", "edge-a"));
	assert_false(mg_origin_listed(NULL, "edge-a"));
	assert_false(mg_origin_listed("edge-a", ""));
}

static void test_match(void **state)
{
	struct mg_rule_filter f;
	struct mg_prefix net = P("198.18.7.0/24"), host = P("198.18.7.9"), other = P("198.18.8.0/24");
	char err[256];

	(void)state;
	/* Nothing asked: everything passes. */
	assert_int_equal(mg_rule_filter_parse(&f, NULL, NULL, NULL, err, sizeof(err)), 0);
	assert_true(mg_rule_filter_match(&f, &net, "feed", "drop"));

	assert_int_equal(mg_rule_filter_parse(&f, "operator", NULL, NULL, err, sizeof(err)), 0);
	assert_true(mg_rule_filter_match(&f, &net, "operator", ""));
	assert_false(mg_rule_filter_match(&f, &net, "analyzer", ""));

	/* --source: the rule holds the address, or lies inside the prefix asked about. */
	assert_int_equal(mg_rule_filter_parse(&f, NULL, NULL, "198.18.7.9", err, sizeof(err)), 0);
	assert_true(mg_rule_filter_match(&f, &net, "operator", ""));
	assert_true(mg_rule_filter_match(&f, &host, "analyzer", ""));
	assert_false(mg_rule_filter_match(&f, &other, "operator", ""));
	assert_int_equal(mg_rule_filter_parse(&f, NULL, NULL, "198.18.0.0/16", err, sizeof(err)), 0);
	assert_true(mg_rule_filter_match(&f, &host, "analyzer", ""));
	assert_true(mg_rule_filter_match(&f, &other, "analyzer", ""));

	/* All three. */
	assert_int_equal(mg_rule_filter_parse(&f, "cluster", "edge-b", "198.18.7.0/24", err, sizeof(err)), 0);
	assert_true(mg_rule_filter_match(&f, &host, "cluster", "edge-a verdict, edge-b block"));
	assert_false(mg_rule_filter_match(&f, &host, "cluster", "edge-a verdict"));
	assert_false(mg_rule_filter_match(&f, &other, "cluster", "edge-b block"));
	assert_false(mg_rule_filter_match(&f, &host, "feed", "edge-b"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_origins),
		cmocka_unit_test(test_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
