// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_cidr_list.c - the CIDR list reader (mg_cidr_list): a table of lines
 * as feeds write them (DROP comments, blanks, CRLF, IPv4 and IPv6, hosts)
 * and of lines it must refuse, each with the column it names; the
 * piecewise parser with lines straddling pieces, line numbers in its
 * errors, and nothing taken after an error; sorting with repeats dropped.
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

#include "mg_cidr_list.h"

struct line_case {
	const char *line;
	int want;           /* 1 a prefix, 0 nothing, -EINVAL refused */
	const char *prefix; /* as mg_prefix_str prints it (1) */
	unsigned column;    /* of the fault (-EINVAL) */
	const char *msg;    /* a part of the reason (-EINVAL) */
};

static const struct line_case lines[] = {
	{ "", 0, NULL, 0, NULL },
	{ "   \t ", 0, NULL, 0, NULL },
	{ "; Spamhaus DROP List 2026/12/02 - (c) 2026 The Spamhaus Project", 0, NULL, 0, NULL },
	{ "# a comment", 0, NULL, 0, NULL },
	{ "  ; indented comment", 0, NULL, 0, NULL },
	{ "\r", 0, NULL, 0, NULL },
	{ "198.18.4.0/22 ; SBL123456", 1, "198.18.4.0/22", 0, NULL },
	{ "198.18.4.0/22;SBL123456", 1, "198.18.4.0/22", 0, NULL },
	{ "198.18.4.0/22#note", 1, "198.18.4.0/22", 0, NULL },
	{ "198.18.4.0/22\r", 1, "198.18.4.0/22", 0, NULL },
	{ "  198.18.4.0/22  ", 1, "198.18.4.0/22", 0, NULL },
	{ "198.18.9.7", 1, "198.18.9.7", 0, NULL },
	{ "198.18.9.7/32", 1, "198.18.9.7", 0, NULL },
	{ "0.0.0.0/0", 1, "0.0.0.0/0", 0, NULL },
	{ "2001:db8:bad::/48 ; SBL1", 1, "2001:db8:bad::/48", 0, NULL },
	{ "2001:DB8:BAD::/48", 1, "2001:db8:bad::/48", 0, NULL },
	{ "2001:db8::1", 1, "2001:db8::1", 0, NULL },
	{ "2001:db8::/128", 1, "2001:db8::", 0, NULL },
	{ "198.18.0.1/24", -EINVAL, NULL, 1, "host bits set below /24 (the network is 198.18.0.0/24)" },
	{ "  2001:db8::1/64", -EINVAL, NULL, 3, "host bits set below /64" },
	{ "198.18.0.0/33", -EINVAL, NULL, 12, "0 to 32" },
	{ "2001:db8::/129", -EINVAL, NULL, 12, "0 to 128" },
	{ "198.18.0.0/", -EINVAL, NULL, 12, "0 to 32" },
	{ "198.18.0.0/+8", -EINVAL, NULL, 12, "'+'" },
	{ "198.18.0.0/2x", -EINVAL, NULL, 13, "'x'" },
	{ "198.18.0.0/0024", -EINVAL, NULL, 12, "0 to 32" },
	{ "198.18.300.0/24", -EINVAL, NULL, 1, "not an IPv4 or IPv6 address" },
	{ "198.18.0.0/24 SBL1", -EINVAL, NULL, 15, "text after the prefix" },
	{ "198.18.0.0/24 198.18.1.0/24", -EINVAL, NULL, 15, "text after the prefix" },
	{ "example.com", -EINVAL, NULL, 2, "'x'" },
	{ "198.18.0.0/24/8", -EINVAL, NULL, 14, "'/'" },
	{ "::ffff:198.18.0.0/24x", -EINVAL, NULL, 21, "'x'" },
	{ "fe80::1%eth0", -EINVAL, NULL, 8, "'%'" },
	{ "2001:db8:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0/32", -EINVAL, NULL, 1, "too long" },
};

static void test_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		const struct line_case *c = &lines[i];
		struct mg_prefix p;
		unsigned col = 0;
		char msg[160] = "", buf[MG_ADDRSTRLEN];
		int r = mg_cidr_parse_line(c->line, strlen(c->line), &p, &col, msg, sizeof(msg));
		if (r != c->want)
			fail_msg("'%s': got %d (%s), want %d", c->line, r, msg, c->want);
		if (r == 1 && strcmp(mg_prefix_str(&p, buf, sizeof(buf)), c->prefix))
			fail_msg("'%s': got %s, want %s", c->line, buf, c->prefix);
		if (r < 0 && (col != c->column || !strstr(msg, c->msg)))
			fail_msg("'%s': column %u '%s', want column %u '%s'", c->line, col, msg, c->column, c->msg);
	}
}

static void test_nul_byte_refused(void **state)
{
	struct mg_prefix p;
	unsigned col;
	char msg[160];

	(void)state;
	assert_int_equal(mg_cidr_parse_line("198.18.0.0\0/24", 14, &p, &col, msg, sizeof(msg)), -EINVAL);
	assert_int_equal(col, 11);
	assert_non_null(strstr(msg, "NUL"));
}

static const char list[] = "; header\n"
			   "198.18.0.0/24 ; one\n"
			   "\n"
			   "2001:db8::/32\n"
			   "# two\r\n"
			   "198.18.1.1\r\n"
			   "198.18.2.0/23"; /* no newline at the end */

/* Fed in pieces of every size: the same prefixes, with their line numbers. */
static void test_pieces(void **state)
{
	(void)state;
	for (size_t piece = 1; piece <= sizeof(list); piece++) {
		struct mg_cidr_parser p;
		struct mg_cidr_error e;
		char buf[MG_ADDRSTRLEN];
		mg_cidr_parser_init(&p);
		for (size_t at = 0; at < sizeof(list) - 1; at += piece) {
			size_t n = sizeof(list) - 1 - at < piece ? sizeof(list) - 1 - at : piece;
			assert_int_equal(mg_cidr_parser_feed(&p, list + at, n, &e), 0);
		}
		assert_int_equal(mg_cidr_parser_finish(&p, &e), 0);
		assert_int_equal(p.n, 4);
		assert_int_equal(p.line, 7);
		assert_string_equal(mg_prefix_str(&p.v[0].prefix, buf, sizeof(buf)), "198.18.0.0/24");
		assert_int_equal(p.v[0].line, 2);
		assert_string_equal(mg_prefix_str(&p.v[1].prefix, buf, sizeof(buf)), "2001:db8::/32");
		assert_int_equal(p.v[1].line, 4);
		assert_string_equal(mg_prefix_str(&p.v[2].prefix, buf, sizeof(buf)), "198.18.1.1");
		assert_int_equal(p.v[2].line, 6);
		assert_string_equal(mg_prefix_str(&p.v[3].prefix, buf, sizeof(buf)), "198.18.2.0/23");
		assert_int_equal(p.v[3].line, 7);
		mg_cidr_parser_free(&p);
	}
}

static void test_error_names_its_line_and_stops(void **state)
{
	static const char text[] = "198.18.0.0/24\n; c\n\n198.18.1.0/24\n198.18.2.5/24 ; typo\n198.18.3.0/24\n";
	struct mg_cidr_parser p;
	struct mg_cidr_error e;

	(void)state;
	mg_cidr_parser_init(&p);
	assert_int_equal(mg_cidr_parser_feed(&p, text, sizeof(text) - 1, &e), -EINVAL);
	assert_int_equal(e.line, 5);
	assert_int_equal(e.column, 1);
	assert_non_null(strstr(e.msg, "host bits"));
	/* Nothing more is taken after an error. */
	assert_int_equal(mg_cidr_parser_feed(&p, "198.18.4.0/24\n", 14, &e), -EINVAL);
	assert_int_equal(mg_cidr_parser_finish(&p, &e), -EINVAL);
	assert_int_equal(p.n, 2);
	mg_cidr_parser_free(&p);
}

static void test_long_line_refused(void **state)
{
	struct mg_cidr_parser p;
	struct mg_cidr_error e;
	char *text = malloc(MG_CIDR_LINE_MAX + 100);

	(void)state;
	memset(text, ' ', MG_CIDR_LINE_MAX + 100);
	text[0] = ';';
	mg_cidr_parser_init(&p);
	assert_int_equal(mg_cidr_parser_feed(&p, "198.18.0.0/24\n", 14, &e), 0);
	/* In two pieces, so the limit holds across a piece boundary too. */
	assert_int_equal(mg_cidr_parser_feed(&p, text, 600, &e), 0);
	assert_int_equal(mg_cidr_parser_feed(&p, text + 600, MG_CIDR_LINE_MAX + 100 - 600, &e), -EINVAL);
	assert_int_equal(e.line, 2);
	assert_non_null(strstr(e.msg, "longer than"));
	mg_cidr_parser_free(&p);
	free(text);
}

static void test_sort_unique(void **state)
{
	const char *in[] = { "198.18.1.0/24", "2001:db8::/32", "198.18.0.0/24", "198.18.1.0/24", "198.18.0.0/23",
			     "2001:db8::/32", "198.18.0.0/24" };
	const char *want[] = { "198.18.0.0/23", "198.18.0.0/24", "198.18.1.0/24", "2001:db8::/32" };
	struct mg_prefix v[7];
	char buf[MG_ADDRSTRLEN];

	(void)state;
	for (int i = 0; i < 7; i++)
		assert_int_equal(mg_prefix_parse(in[i], &v[i]), 0);
	size_t n = mg_prefix_sort_unique(v, 7);
	assert_int_equal(n, 4);
	/* IPv4 (::ffff:…) sorts after 2001:db8:: by address bytes; what matters is one order and no repeats. */
	for (size_t i = 1; i < n; i++)
		assert_true(mg_prefix_cmp(&v[i - 1], &v[i]) < 0);
	for (size_t k = 0; k < 4; k++) {
		bool found = false;
		for (size_t i = 0; i < n; i++)
			found |= !strcmp(mg_prefix_str(&v[i], buf, sizeof(buf)), want[k]);
		assert_true(found);
	}
	assert_int_equal(mg_prefix_sort_unique(v, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_nul_byte_refused),
		cmocka_unit_test(test_pieces),
		cmocka_unit_test(test_error_names_its_line_and_stops),
		cmocka_unit_test(test_long_line_refused),
		cmocka_unit_test(test_sort_unique),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
