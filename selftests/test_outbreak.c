// SPDX-License-Identifier: GPL-2.0-only
/* test_outbreak.c - outbreak detection as pure logic on scripted timelines (no privileges needed). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "mg_analyzer.h"
#include "mg_outbreak.h"

#define SEC 1000000000ull
#define MIN (60 * SEC)
#define T0 (5000 * SEC)

static struct mg_outbreaks *ob;
static struct mg_ob_config cfg;
static struct mg_ob_action acts[64];

static int setup(void **state)
{
	(void)state;
	mg_ob_config_default(&cfg);
	ob = mg_ob_new(&cfg);
	return ob ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	mg_ob_free(ob);
	return 0;
}

static struct mg_prefix host(unsigned i)
{
	struct mg_prefix p;
	char ip[32];
	snprintf(ip, sizeof(ip), "198.18.%u.%u", i / 250, i % 250 + 1);
	assert_int_equal(mg_prefix_parse(ip, &p), 0);
	return p;
}

static const struct mg_signature BOT_FP = { MG_SIG_FP, 0xb07b07 };
static const struct mg_signature OTHER_FP = { MG_SIG_FP, 0x1e617 };

static size_t see(unsigned i, const struct mg_signature *sig, uint64_t t)
{
	struct mg_prefix p = host(i);
	uint8_t mac[6] = { 2, 0, 0, 0, 0, (uint8_t)i };
	return mg_ob_observe(ob, &p, mac, 100, 0, sig, t, acts, 64);
}

static const struct mg_ob_action *find(size_t n, enum mg_ob_action_kind k)
{
	for (size_t i = 0; i < n; i++)
		if (acts[i].kind == k)
			return &acts[i];
	return NULL;
}

static void test_signature_text(void **state)
{
	struct mg_signature s;
	char buf[64];

	(void)state;
	assert_string_equal(mg_sig_str(&BOT_FP, buf, sizeof(buf)), "fp:00b07b07");
	assert_int_equal(mg_sig_parse("fp:00b07b07", &s), 0);
	assert_true(s.kind == MG_SIG_FP && s.value == 0xb07b07);
	struct mg_signature shape = { MG_SIG_SHAPE, MG_HELO_IP_LITERAL | MG_HELO_OWN_OCTETS | 0x100 };
	assert_string_equal(mg_sig_str(&shape, buf, sizeof(buf)), "shape:ip-literal,own-octets/ehlo");
	assert_int_equal(mg_sig_parse(buf, &s), 0);
	assert_true(s.kind == MG_SIG_SHAPE && s.value == shape.value);
	assert_int_equal(mg_sig_parse("helo:deadbeef", &s), 0);
	assert_true(s.kind == MG_SIG_HELO && s.value == 0xdeadbeef);
	const char *bad[] = { "", "fp:", "fp:xyz", "fp:123456789", "shape:bogus/ehlo", "shape:fqdn/smtp", "ip:1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (mg_sig_parse(bad[i], &s) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
}

/* K new senders sharing a fingerprint within W: an outbreak, naming every member. */
static void test_declared_at_k(void **state)
{
	(void)state;
	for (unsigned i = 0; i < cfg.min_senders - 1; i++) {
		assert_int_equal(see(i, &BOT_FP, T0 + i * SEC), 0);
		assert_int_equal(see(i, &BOT_FP, T0 + i * SEC + 1), 0); /* the same sender twice counts once */
	}
	assert_int_equal(mg_ob_threat_level(ob), 0);
	assert_false(mg_ob_member_of(ob, host(0).addr, NULL));
	size_t n = see(99, &BOT_FP, T0 + 30 * SEC);
	const struct mg_ob_action *d = find(n, MG_OB_DECLARE);
	assert_non_null(d);
	assert_true(d->sig.kind == MG_SIG_FP && d->sig.value == BOT_FP.value);
	assert_int_equal(d->members, cfg.min_senders);
	assert_int_equal(d->n_list, cfg.min_senders);
	assert_int_equal(d->level, 2);
	assert_int_equal(d->threat_level, 2);
	assert_int_equal(d->list[cfg.min_senders - 1].mac[5], 99);
	assert_int_equal(d->list[0].vlan_outer, 100);
	struct mg_signature s;
	assert_true(mg_ob_member_of(ob, host(99).addr, &s));
	assert_int_equal(s.value, BOT_FP.value);
	assert_false(mg_ob_member_of(ob, host(500).addr, NULL));
	assert_int_equal(mg_ob_active(ob), 1);
}

/* Senders spread wider than the window never add up. */
static void test_spread_out_not_declared(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 20; i++) {
		assert_int_equal(see(i, &BOT_FP, T0 + i * 3 * MIN), 0); /* 3 per window of 10 min */
		mg_ob_tick(ob, T0 + i * 3 * MIN, acts, 64);
	}
	assert_int_equal(mg_ob_threat_level(ob), 0);
}

/* The level rises with members: 2 at K, 3 at 2K, 4 at 4K, 5 at 8K. */
static void test_level_rises(void **state)
{
	unsigned want_at[] = { 5, 10, 20, 40 }, lv = 2;

	(void)state;
	for (unsigned i = 0; i < 45; i++) {
		size_t n = see(i, &BOT_FP, T0 + i * SEC);
		for (unsigned k = 0; k < 4; k++)
			if (i + 1 == want_at[k]) {
				const struct mg_ob_action *a = find(n, k == 0 ? MG_OB_DECLARE : MG_OB_LEVEL);
				assert_non_null(a);
				assert_int_equal(a->level, lv + k);
			}
		if (i >= 5)
			assert_non_null(find(n, MG_OB_JOIN));
	}
	assert_int_equal(mg_ob_threat_level(ob), 5);
}

/* Quiet outbreaks decay one level per period and end; new members keep one alive. */
static void test_decay_and_end(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 10; i++)
		see(i, &BOT_FP, T0 + i * SEC);
	assert_int_equal(mg_ob_threat_level(ob), 3);
	uint64_t t = T0 + 10 * SEC;
	/* A member joins at +20 min: the first decay waits for 30 quiet minutes after it. */
	see(50, &BOT_FP, t + 20 * MIN);
	assert_int_equal(mg_ob_tick(ob, t + 40 * MIN, acts, 64), 0);
	size_t n = mg_ob_tick(ob, t + 50 * MIN + SEC, acts, 64);
	assert_non_null(find(n, MG_OB_LEVEL));
	assert_int_equal(mg_ob_threat_level(ob), 2);
	n = mg_ob_tick(ob, t + 81 * MIN, acts, 64);
	assert_int_equal(mg_ob_threat_level(ob), 1);
	n = mg_ob_tick(ob, t + 112 * MIN, acts, 64);
	const struct mg_ob_action *e = find(n, MG_OB_END);
	assert_non_null(e);
	assert_int_equal(e->sig.value, BOT_FP.value);
	assert_false(e->exempted); /* ended after quiet */
	assert_int_equal(mg_ob_threat_level(ob), 0);
	assert_int_equal(mg_ob_active(ob), 0);
	assert_false(mg_ob_member_of(ob, host(0).addr, NULL));
	/* After the end, the same fingerprint needs K fresh senders again. */
	assert_int_equal(see(200, &BOT_FP, t + 120 * MIN), 0);
}

/* Two signatures at once: one level more than either. */
static void test_two_outbreaks_raise_level(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 5; i++)
		see(i, &BOT_FP, T0 + i * SEC);
	assert_int_equal(mg_ob_threat_level(ob), 2);
	struct mg_signature helo = { MG_SIG_HELO, 0x12345 };
	for (unsigned i = 10; i < 15; i++)
		see(i, &helo, T0 + i * SEC);
	assert_int_equal(mg_ob_threat_level(ob), 3);
	assert_int_equal(mg_ob_active(ob), 2);
}

/* One kit on one set of hosts shows several signatures: one campaign, no extra level. */
static void test_one_campaign_many_signatures(void **state)
{
	(void)state;
	struct mg_signature helo = { MG_SIG_HELO, 0x12345 };
	struct mg_signature shape = { MG_SIG_SHAPE, 0x101 };
	for (unsigned i = 0; i < 5; i++) {
		see(i, &BOT_FP, T0 + i * SEC);
		see(i, &helo, T0 + i * SEC);
		see(i, &shape, T0 + i * SEC);
	}
	assert_int_equal(mg_ob_active(ob), 3);
	assert_int_equal(mg_ob_threat_level(ob), 2);
	/* Mostly the same hosts (3 of 5) is still the same campaign... */
	struct mg_signature other = { MG_SIG_HELO, 0x777 };
	for (unsigned i = 2; i < 7; i++)
		see(i, &other, T0 + 10 * SEC + i * SEC);
	assert_int_equal(mg_ob_active(ob), 4);
	assert_int_equal(mg_ob_threat_level(ob), 2);
	/* ...a group of hosts of its own is another one. */
	for (unsigned i = 100; i < 105; i++)
		see(i, &OTHER_FP, T0 + 20 * SEC + i * SEC);
	assert_int_equal(mg_ob_threat_level(ob), 3);
}

static void test_exceptions(void **state)
{
	struct mg_prefix lab;

	(void)state;
	/* An excepted signature is never declared. */
	mg_ob_except_sig(ob, &BOT_FP, true);
	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(see(i, &BOT_FP, T0 + i * SEC), 0);
	assert_int_equal(mg_ob_threat_level(ob), 0);
	mg_ob_except_sig(ob, &BOT_FP, false);
	/* An excepted prefix's hosts are never counted: here 198.18.0.0/24 holds hosts 0..249. */
	assert_int_equal(mg_prefix_parse("198.18.0.0/24", &lab), 0);
	mg_ob_except_prefix(ob, &lab, true);
	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(see(i, &OTHER_FP, T0 + MIN + i * SEC), 0);
	/* Hosts outside it still are. */
	size_t n = 0;
	for (unsigned i = 250; i < 255; i++)
		n += see(i, &OTHER_FP, T0 + MIN + i * SEC);
	assert_true(n >= 1);
	assert_int_equal(mg_ob_threat_level(ob), 2);
	int count = 0;
	void count_fn(const struct mg_signature *s, const struct mg_prefix *p, void *arg)
	{
		(void)s;
		(void)p;
		(*(int *)arg)++;
	}
	mg_ob_foreach_exception(ob, count_fn, &count);
	assert_int_equal(count, 1);
}

/* Excepting the signature of an active outbreak ends it at the next tick. */
static void test_exception_ends_active(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 5; i++)
		see(i, &BOT_FP, T0 + i * SEC);
	assert_int_equal(mg_ob_active(ob), 1);
	mg_ob_except_sig(ob, &BOT_FP, true);
	size_t n = mg_ob_tick(ob, T0 + 6 * SEC, acts, 64);
	const struct mg_ob_action *e = find(n, MG_OB_END);
	assert_non_null(e);
	assert_int_equal(e->sig.value, BOT_FP.value);
	assert_true(e->exempted);
	assert_int_equal(mg_ob_active(ob), 0);
	assert_int_equal(mg_ob_threat_level(ob), 0);
}

/* A zero characteristic (a fingerprint the kernel could not take) is never a signature. */
static void test_zero_value_ignored(void **state)
{
	struct mg_signature none = { MG_SIG_FP, 0 };

	(void)state;
	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(see(i, &none, T0 + i * SEC), 0);
	assert_int_equal(mg_ob_threat_level(ob), 0);
}

/*
 * A few seconds after boot: CLOCK_MONOTONIC is small, so nothing may stand for
 * "long ago" by being 0. CI machines run the tests minutes after they start.
 */
#define BOOT (3 * SEC)

/* Excepting an active outbreak ends it at the next tick, even 3 s after boot (decay is 30 min). */
static void test_boot_exception_ends_active(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 5; i++)
		see(i, &BOT_FP, SEC + i * (SEC / 10));
	assert_int_equal(mg_ob_active(ob), 1);
	mg_ob_except_sig(ob, &BOT_FP, true);
	size_t n = mg_ob_tick(ob, BOOT, acts, 64);
	const struct mg_ob_action *e = find(n, MG_OB_END);
	assert_non_null(e);
	assert_true(e->exempted);
	assert_int_equal(mg_ob_active(ob), 0);
	assert_int_equal(mg_ob_threat_level(ob), 0);
}

/* Decay right after boot: a level per quiet 30 min, counted from the declaration, not from 0. */
static void test_boot_decay(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 10; i++)
		see(i, &BOT_FP, SEC + i * (SEC / 10));
	assert_int_equal(mg_ob_threat_level(ob), 3);
	uint64_t last = SEC + 9 * (SEC / 10);
	assert_int_equal(mg_ob_tick(ob, BOOT, acts, 64), 0);
	assert_int_equal(mg_ob_tick(ob, last + 30 * MIN - 1, acts, 64), 0);
	size_t n = mg_ob_tick(ob, last + 30 * MIN, acts, 64);
	assert_non_null(find(n, MG_OB_LEVEL));
	assert_int_equal(mg_ob_threat_level(ob), 2);
	mg_ob_tick(ob, last + 60 * MIN, acts, 64);
	assert_int_equal(mg_ob_threat_level(ob), 1);
	n = mg_ob_tick(ob, last + 90 * MIN, acts, 64);
	const struct mg_ob_action *e = find(n, MG_OB_END);
	assert_non_null(e);
	assert_false(e->exempted);
	assert_int_equal(mg_ob_active(ob), 0);
}

/* Candidates right after boot: kept while their senders are within the window, gone after. */
static void test_boot_candidate(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(see(i, &BOT_FP, SEC + i * (SEC / 10)), 0);
	assert_int_equal(mg_ob_tick(ob, 2 * SEC, acts, 64), 0);
	assert_int_equal(mg_ob_tick(ob, BOOT, acts, 64), 0);
	/* The fifth within the window: the four ticks above kept the other four. */
	assert_non_null(find(see(4, &BOT_FP, BOOT + SEC), MG_OB_DECLARE));

	/* Another characteristic: four senders, then the window passes; a fifth is alone again. */
	for (unsigned i = 10; i < 14; i++)
		assert_int_equal(see(i, &OTHER_FP, BOOT + i * (SEC / 10)), 0);
	mg_ob_tick(ob, BOOT + 2 * SEC + 10 * MIN, acts, 64);
	for (unsigned i = 20; i < 24; i++)
		assert_int_equal(see(i, &OTHER_FP, BOOT + 3 * SEC + 10 * MIN + i * (SEC / 10)), 0);
	assert_int_equal(mg_ob_active(ob), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signature_text),
		cmocka_unit_test_setup_teardown(test_declared_at_k, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spread_out_not_declared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level_rises, setup, teardown),
		cmocka_unit_test_setup_teardown(test_decay_and_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_outbreaks_raise_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_campaign_many_signatures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exceptions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exception_ends_active, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_value_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_boot_exception_ends_active, setup, teardown),
		cmocka_unit_test_setup_teardown(test_boot_decay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_boot_candidate, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
