// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_cover.c - what an operator's block would reach (mg_cover): a
 * protected network only when covered whole (blocking inside one's own LAN
 * is the ordinary case), mail servers and allows covered or lain inside,
 * both families kept apart, the refusal's text, and a bounded list.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "mg_cover.h"

static struct mg_prefix P(const char *text)
{
	struct mg_prefix p;

	if (mg_prefix_parse(text, &p))
		fail_msg("bad prefix %s", text);
	return p;
}

/* The block `block` against one item: does it meet it, and is it inside? */
static bool meets(const char *block, enum mg_cover_kind k, const char *item, bool *inside)
{
	struct mg_cover c;
	struct mg_prefix b = P(block), p = P(item);

	mg_cover_init(&c, &b);
	bool hit = mg_cover_add(&c, k, &p, NULL);
	assert_int_equal(c.n, hit ? 1 : 0);
	if (hit && inside)
		*inside = c.named[0].inside;
	return hit;
}

static void test_contains(void **state)
{
	struct mg_prefix a = P("198.18.0.0/15"), b = P("198.19.4.0/24"), h = P("198.19.4.4"), v6 = P("2001:db8::/32");

	(void)state;
	assert_true(mg_prefix_contains(&a, &b));
	assert_true(mg_prefix_contains(&b, &h));
	assert_true(mg_prefix_contains(&a, &a));
	assert_false(mg_prefix_contains(&b, &a));
	assert_false(mg_prefix_contains(&a, &v6));
	assert_false(mg_prefix_contains(&v6, &a));
}

static void test_protected(void **state)
{
	bool inside = true;

	(void)state;
	/* The whole network, or wider: reached. */
	assert_true(meets("198.18.0.0/16", MG_COVER_PROTECTED, "198.18.0.0/16", &inside));
	assert_false(inside);
	assert_true(meets("198.18.0.0/15", MG_COVER_PROTECTED, "198.18.0.0/16", NULL));
	assert_true(meets("0.0.0.0/0", MG_COVER_PROTECTED, "198.18.0.0/16", NULL));
	/* A host or a subnet inside it: the ordinary block of a zombie PC. */
	assert_false(meets("198.18.5.7", MG_COVER_PROTECTED, "198.18.0.0/16", NULL));
	assert_false(meets("198.18.5.0/24", MG_COVER_PROTECTED, "198.18.0.0/16", NULL));
	/* Elsewhere, or the other family: nothing. */
	assert_false(meets("198.19.0.0/16", MG_COVER_PROTECTED, "198.18.0.0/16", NULL));
	assert_false(meets("2001:db8::/32", MG_COVER_PROTECTED, "198.18.0.0/16", NULL));
	/* ::/0 holds the v4-mapped addresses too, as the kernel's 16-byte tries see it: said, to be safe. */
	assert_true(meets("::/0", MG_COVER_PROTECTED, "198.18.0.0/16", NULL));
	assert_true(meets("2001:db8::/32", MG_COVER_PROTECTED, "2001:db8:1::/48", NULL));
	assert_false(meets("2001:db8:1:2::/64", MG_COVER_PROTECTED, "2001:db8:1::/48", NULL));
}

static void test_servers_and_allows(void **state)
{
	bool inside = false;

	(void)state;
	assert_true(meets("198.18.1.0/24", MG_COVER_MAIL_SERVER, "198.18.1.25", &inside));
	assert_false(inside);
	assert_true(meets("198.18.1.25", MG_COVER_MAIL_SERVER, "198.18.1.25", &inside));
	assert_false(inside);
	/* A host inside an IPv6 mail server's /64, an address inside an allowed /24: the allow wins there. */
	assert_true(meets("2001:db8:1:2::25", MG_COVER_MAIL_SERVER, "2001:db8:1:2::/64", &inside));
	assert_true(inside);
	assert_true(meets("198.18.5.7", MG_COVER_ALLOW, "198.18.5.0/24", &inside));
	assert_true(inside);
	assert_false(meets("198.18.6.0/24", MG_COVER_ALLOW, "198.18.5.0/24", NULL));
	assert_false(meets("198.18.1.24", MG_COVER_MAIL_SERVER, "198.18.1.25", NULL));
}

static void test_text(void **state)
{
	struct mg_cover c;
	struct mg_prefix b = P("198.18.0.0/15"), p;
	char buf[512];

	(void)state;
	mg_cover_init(&c, &b);
	assert_string_equal(mg_cover_str(&c, buf, sizeof(buf)), "");
	p = P("198.18.0.0/16");
	mg_cover_add(&c, MG_COVER_PROTECTED, &p, NULL);
	p = P("198.18.1.25");
	mg_cover_add(&c, MG_COVER_MAIL_SERVER, &p, "config:mail_servers");
	p = P("100.64.0.0/10");
	assert_false(mg_cover_add(&c, MG_COVER_ALLOW, &p, "operator"));
	assert_string_equal(mg_cover_str(&c, buf, sizeof(buf)),
			    "covers protected network 198.18.0.0/16, covers mail server 198.18.1.25 (config:mail_servers)");

	b = P("198.18.5.7");
	mg_cover_init(&c, &b);
	p = P("198.18.5.0/24");
	mg_cover_add(&c, MG_COVER_ALLOW, &p, "operator");
	assert_string_equal(mg_cover_str(&c, buf, sizeof(buf)),
			    "lies inside allowlisted 198.18.5.0/24 (operator), which wins: the block would drop nothing there");

	/* Many: the first MG_COVER_NAMED named, the rest counted; a short buffer is cut, not overrun. */
	b = P("198.18.0.0/16");
	mg_cover_init(&c, &b);
	for (int i = 0; i < 10; i++) {
		char t[32];
		snprintf(t, sizeof(t), "198.18.1.%d", i);
		p = P(t);
		mg_cover_add(&c, MG_COVER_MAIL_SERVER, &p, "analyzer:learned");
	}
	assert_int_equal(c.n, 10);
	mg_cover_str(&c, buf, sizeof(buf));
	assert_non_null(strstr(buf, "covers mail server 198.18.1.3 (analyzer:learned), and 6 more"));
	assert_null(strstr(buf, "198.18.1.4"));
	char tiny[24];
	assert_int_equal(strlen(mg_cover_str(&c, tiny, sizeof(tiny))), sizeof(tiny) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contains),
		cmocka_unit_test(test_protected),
		cmocka_unit_test(test_servers_and_allows),
		cmocka_unit_test(test_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
