// SPDX-License-Identifier: GPL-2.0-only
/* test_outbreak.c - outbreak detection as pure logic on scripted timelines (no privileges needed). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "mg_analyzer.h"
#include "mg_hash.h"
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

static const struct mg_signature BOT_FP = { MG_SIG_FP, 0xb07b07, MG_SIGCLASS_BY_KIND };
static const struct mg_signature OTHER_FP = { MG_SIG_FP, 0x1e617, MG_SIGCLASS_BY_KIND };

static size_t see(unsigned i, const struct mg_signature *sig, uint64_t t)
{
	struct mg_prefix p = host(i);
	uint8_t mac[6] = { 2, 0, 0, 0, 0, (uint8_t)i };
	return mg_ob_observe(ob, &p, mac, 100, 0, sig, t, acts, 64);
}

/* Source i seen through a SYN only: anyone could have sent it with that address. */
static size_t see_syn(unsigned i, const struct mg_signature *sig, uint64_t t)
{
	struct mg_prefix p = host(i);
	uint8_t mac[6] = { 2, 0, 0, 0, 0xee, 0xee }; /* the attacker's */
	return mg_ob_observe_unproven(ob, &p, mac, 100, 0, sig, t, acts, 64);
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
	struct mg_signature shape = { MG_SIG_SHAPE, MG_HELO_IP_LITERAL | MG_HELO_OWN_OCTETS | 0x100,
				      MG_SIGCLASS_BY_KIND };
	assert_string_equal(mg_sig_str(&shape, buf, sizeof(buf)), "shape:ip-literal,own-octets/ehlo");
	assert_int_equal(mg_sig_parse(buf, &s), 0);
	assert_true(s.kind == MG_SIG_SHAPE && s.value == shape.value);
	assert_int_equal(mg_sig_parse("helo:deadbeef", &s), 0);
	assert_true(s.kind == MG_SIG_HELO && s.value == 0xdeadbeef);
	/* A HELO by its text: hashed as the data plane hashes it (case-folded, a word at a time); quoted when it looks like a hash. */
	assert_int_equal(mg_sig_parse("helo:mail.example.net", &s), 0);
	assert_true(s.kind == MG_SIG_HELO && s.value == 0xfab9b02b);
	assert_int_equal(mg_sig_parse("helo:MAIL.Example.NET", &s), 0);
	assert_true(s.value == 0xfab9b02b);
	assert_int_equal(mg_sig_parse("helo:\"deadbeef\"", &s), 0);
	assert_true(s.kind == MG_SIG_HELO && s.value == mg_helo_hash("deadbeef", 8));
	assert_int_equal(mg_sig_parse("helo:DEADBEEF", &s), 0);
	assert_true(s.value == 0xdeadbeef);
	char longer[MG_HELO_ARG_MAX + 16];
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	char named[sizeof(longer) + 8];
	snprintf(named, sizeof(named), "helo:%s", longer);
	assert_int_equal(mg_sig_parse(named, &s), 0);
	assert_true(s.value == mg_helo_hash(longer, MG_HELO_ARG_MAX)); /* the kernel hashes at most that much */
	const char *bad[] = { "", "fp:", "fp:xyz", "fp:123456789", "shape:bogus/ehlo", "shape:fqdn/smtp", "ip:1", "helo:",
			      "helo:\"\"", "helo:a\r\nb" };
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
	struct mg_signature helo = { MG_SIG_HELO, 0x12345, MG_SIGCLASS_BY_KIND };
	for (unsigned i = 10; i < 15; i++)
		see(i, &helo, T0 + i * SEC);
	assert_int_equal(mg_ob_threat_level(ob), 3);
	assert_int_equal(mg_ob_active(ob), 2);
}

/* One kit on one set of hosts shows several signatures: one campaign, no extra level. */
static void test_one_campaign_many_signatures(void **state)
{
	(void)state;
	struct mg_signature helo = { MG_SIG_HELO, 0x12345, MG_SIGCLASS_BY_KIND };
	struct mg_signature shape = { MG_SIG_SHAPE, 0x101, MG_SIGCLASS_BY_KIND };
	for (unsigned i = 0; i < 5; i++) {
		see(i, &BOT_FP, T0 + i * SEC);
		see(i, &helo, T0 + i * SEC);
		see(i, &shape, T0 + i * SEC);
	}
	assert_int_equal(mg_ob_active(ob), 3);
	assert_int_equal(mg_ob_threat_level(ob), 2);
	/* Mostly the same hosts (3 of 5) is still the same campaign... */
	struct mg_signature other = { MG_SIG_HELO, 0x777, MG_SIGCLASS_BY_KIND };
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
	struct mg_signature none = { MG_SIG_FP, 0, MG_SIGCLASS_BY_KIND };

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

/* ---- persistence of active outbreaks ---- */

#define WALL (1800000000ull * SEC) /* a wall clock in 2027 */

static const struct mg_signature BOT_HELO = { MG_SIG_HELO, 0x12345, MG_SIGCLASS_BY_KIND };

/* ob's active outbreaks, saved at `now` (wall WALL), restored into a fresh instance at rnow, wall WALL + gap. */
static struct mg_outbreaks *save_restore(uint64_t now, uint64_t rnow, uint64_t gap, int *rc)
{
	json_t *j = mg_ob_save_json(ob, now, WALL);
	assert_non_null(j);
	/* Through text, as the state file stores it. */
	char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	assert_non_null(text);
	j = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(j);
	struct mg_outbreaks *o2 = mg_ob_new(&cfg);
	assert_non_null(o2);
	*rc = mg_ob_restore_json(o2, j, rnow, WALL + gap, NULL);
	json_decref(j);
	return o2;
}

struct viewed {
	unsigned n, level[4];
	uint32_t members[4], n_list[4];
	struct mg_ob_member first[4];
};

static void view_fn(const struct mg_ob_view *v, void *arg)
{
	struct viewed *w = arg;
	if (w->n < 4) {
		w->level[w->n] = v->level;
		w->members[w->n] = v->members;
		w->n_list[w->n] = v->n_list;
		w->first[w->n] = v->list[0];
	}
	w->n++;
}

/* A round trip into a fresh boot (3 s of uptime, a minute later): same outbreaks, levels, members, threat. */
static void test_save_restore_round_trip(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 10; i++)
		see(i, &BOT_FP, T0 + i * SEC);
	for (unsigned i = 100; i < 105; i++)
		see(i, &BOT_HELO, T0 + i * (SEC / 100));
	for (unsigned i = 200; i < 203; i++)
		see(i, &OTHER_FP, T0 + i * (SEC / 100)); /* a candidate: not saved */
	assert_int_equal(mg_ob_threat_level(ob), 4);
	int rc;
	struct mg_outbreaks *o2 = save_restore(T0 + 20 * SEC, BOOT, MIN, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(mg_ob_active(o2), 2);
	assert_int_equal(mg_ob_threat_level(o2), 4);
	struct mg_signature s;
	assert_true(mg_ob_member_of(o2, host(9).addr, &s));
	assert_int_equal(s.value, BOT_FP.value);
	assert_true(mg_ob_member_of(o2, host(104).addr, &s));
	assert_int_equal(s.value, BOT_HELO.value);
	assert_false(mg_ob_member_of(o2, host(200).addr, NULL));
	struct viewed w = { 0 };
	mg_ob_foreach(o2, view_fn, &w);
	assert_int_equal(w.n, 2);
	for (unsigned i = 0; i < 2; i++) {
		bool bot = w.members[i] == 10;
		assert_int_equal(w.level[i], bot ? 3 : 2);
		assert_int_equal(w.n_list[i], bot ? 10 : 5);
		assert_int_equal(w.first[i].mac[5], bot ? 0 : 100);
		assert_int_equal(w.first[i].vlan_outer, 100);
	}
	/* Nothing decays at the first ticks after the restart... */
	assert_int_equal(mg_ob_tick(o2, BOOT, acts, 64), 0);
	/* ...and a restored outbreak takes new members. */
	struct mg_prefix p = host(50);
	size_t n = mg_ob_observe(o2, &p, NULL, 0, 0, &BOT_FP, BOOT + SEC, acts, 64);
	assert_non_null(find(n, MG_OB_JOIN));
	mg_ob_free(o2);
}

/* The decay of the downtime is applied; the quiet time before boot still counts afterwards. */
static void test_save_restore_decay(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 10; i++)
		see(i, &BOT_FP, T0 + i * SEC);
	uint64_t saved = T0 + 10 * SEC; /* the last join was at T0 + 9 s */
	int rc;
	/* 65 quiet minutes by the restore (64:59 of them down): two steps, level 3 to 1. */
	struct mg_outbreaks *o2 = save_restore(saved, BOOT, 65 * MIN - SEC, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(mg_ob_active(o2), 1);
	assert_int_equal(mg_ob_threat_level(o2), 1);
	/* The next step falls 90 quiet minutes after the last join: 25 minutes after the restore. */
	assert_int_equal(mg_ob_tick(o2, BOOT, acts, 64), 0);
	assert_int_equal(mg_ob_tick(o2, BOOT + 25 * MIN - 1, acts, 64), 0);
	size_t n = mg_ob_tick(o2, BOOT + 25 * MIN, acts, 64);
	const struct mg_ob_action *e = find(n, MG_OB_END);
	assert_non_null(e);
	assert_false(e->exempted);
	assert_int_equal(mg_ob_active(o2), 0);
	mg_ob_free(o2);
	/* Down longer than all the decay: it ended while nobody ran. */
	o2 = save_restore(saved, BOOT, 95 * MIN, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(mg_ob_active(o2), 0);
	assert_int_equal(mg_ob_threat_level(o2), 0);
	mg_ob_free(o2);
}

/* Restored into an instance that has an exception for it: it ends at the next tick; its candidates stay. */
static void test_save_restore_exception_and_candidates(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 5; i++) {
		see(i, &BOT_FP, T0 + i * SEC);
		see(i + 100, &BOT_HELO, T0 + i * SEC);
	}
	json_t *j = mg_ob_save_json(ob, T0 + 10 * SEC, WALL);
	struct mg_outbreaks *o2 = mg_ob_new(&cfg);
	mg_ob_except_sig(o2, &BOT_FP, true);
	/* The restoring instance has a candidate with 4 senders and an outbreak of its own. */
	for (unsigned i = 300; i < 304; i++) {
		struct mg_prefix p = host(i);
		assert_int_equal(mg_ob_observe(o2, &p, NULL, 0, 0, &OTHER_FP, SEC, acts, 64), 0);
	}
	struct mg_signature mine = { MG_SIG_HELO, 0x999, MG_SIGCLASS_BY_KIND };
	for (unsigned i = 400; i < 405; i++) {
		struct mg_prefix p = host(i);
		mg_ob_observe(o2, &p, NULL, 0, 0, &mine, SEC, acts, 64);
	}
	assert_int_equal(mg_ob_active(o2), 1);
	assert_int_equal(mg_ob_restore_json(o2, j, BOOT, WALL + MIN, NULL), 0);
	json_decref(j);
	/* Replaced: the two saved ones, not its own. */
	assert_int_equal(mg_ob_active(o2), 2);
	assert_false(mg_ob_member_of(o2, host(400).addr, NULL));
	size_t n = mg_ob_tick(o2, BOOT + SEC, acts, 64);
	const struct mg_ob_action *e = find(n, MG_OB_END);
	assert_non_null(e);
	assert_true(e->exempted);
	assert_int_equal(e->sig.value, BOT_FP.value);
	assert_int_equal(mg_ob_active(o2), 1);
	assert_int_equal(mg_ob_threat_level(o2), 2);
	/* The candidate survived the restore: a fifth sender declares it. */
	struct mg_prefix p = host(304);
	assert_non_null(find(mg_ob_observe(o2, &p, NULL, 0, 0, &OTHER_FP, BOOT + 2 * SEC, acts, 64), MG_OB_DECLARE));
	mg_ob_free(o2);
}

/* A document that is not a saved outbreak list is refused whole and changes nothing. */
static void test_restore_malformed_document(void **state)
{
	static const char *const bad[] = {
		"[]",
		"{\"outbreaks\": []}",
		"{\"version\": 2, \"outbreaks\": []}",
		"{\"version\": 1}",
		"{\"version\": 1, \"outbreaks\": {}}",
	};

	(void)state;
	for (unsigned i = 0; i < 10; i++)
		see(i, &BOT_FP, BOOT + i * SEC);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = json_loads(bad[i], 0, NULL);
		assert_non_null(j);
		if (mg_ob_restore_json(ob, j, BOOT + MIN, WALL, NULL) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		json_decref(j);
		assert_int_equal(mg_ob_active(ob), 1);
		assert_int_equal(mg_ob_threat_level(ob), 3);
		assert_true(mg_ob_member_of(ob, host(9).addr, NULL));
	}
}

/*
 * A malformed outbreak in a good list (wrong types, out-of-range values,
 * prefix strings that are not prefixes, times past 2^62) is refused alone,
 * counted, and the others are restored: one bad entry does not lift the
 * containment of every outbreak.
 */
static void test_restore_malformed_outbreak_refused_alone(void **state)
{
	static const char *const bad[] = {
		"{\"version\": 1, \"outbreaks\": [1]}",
		"{\"version\": 1, \"outbreaks\": [{\"sig\": \"bogus\", \"level\": 2, \"members\": 1, \"since\": 1,"
		" \"last_join\": 1, \"last_change\": 1, \"list\": []}]}",
		"{\"version\": 1, \"outbreaks\": [{\"sig\": \"fp:00000000\", \"level\": 2, \"members\": 1, \"since\": 1,"
		" \"last_join\": 1, \"last_change\": 1, \"list\": []}]}",
		"{\"version\": 1, \"outbreaks\": [{\"sig\": \"fp:1\", \"level\": 6, \"members\": 1, \"since\": 1,"
		" \"last_join\": 1, \"last_change\": 1, \"list\": []}]}",
		"{\"version\": 1, \"outbreaks\": [{\"sig\": \"fp:1\", \"level\": 2, \"members\": 1, \"since\": -1,"
		" \"last_join\": 1, \"last_change\": 1, \"list\": []}]}",
		"{\"version\": 1, \"outbreaks\": [{\"sig\": \"fp:1\", \"level\": 2, \"members\": 1, \"since\": 1,"
		" \"last_join\": 1, \"list\": []}]}",
		"{\"version\": 1, \"outbreaks\": [{\"sig\": \"fp:1\", \"level\": 2, \"members\": 1, \"since\": 1,"
		" \"last_join\": 1, \"last_change\": 1, \"list\": [{\"src\": \"nope\", \"vlan_outer\": 0,"
		" \"vlan_inner\": 0, \"joined\": 1}]}]}",
		"{\"version\": 1, \"outbreaks\": [{\"sig\": \"fp:1\", \"level\": 2, \"members\": 1, \"since\": 1,"
		" \"last_join\": 1, \"last_change\": 1, \"list\": [{\"src\": \"198.18.0.1\", \"mac\": \"02:00\","
		" \"vlan_outer\": 0, \"vlan_inner\": 0, \"joined\": 1}]}]}",
		"{\"version\": 1, \"outbreaks\": [{\"sig\": \"fp:1\", \"level\": 2, \"members\": 1, \"since\": 1,"
		" \"last_join\": 1, \"last_change\": 1, \"list\": [{\"src\": \"198.18.0.1\", \"vlan_outer\": 70000,"
		" \"vlan_inner\": 0, \"joined\": 1}]}]}",
		/* more members listed than counted */
		"{\"version\": 1, \"outbreaks\": [{\"sig\": \"fp:1\", \"level\": 2, \"members\": 1, \"since\": 1,"
		" \"last_join\": 1, \"last_change\": 1, \"list\": [{\"src\": \"198.18.0.1\", \"vlan_outer\": 0,"
		" \"vlan_inner\": 0, \"joined\": 1}, {\"src\": \"198.18.0.2\", \"vlan_outer\": 0,"
		" \"vlan_inner\": 0, \"joined\": 1}]}]}",
		/* a good one, then the same signature again */
		"{\"version\": 1, \"outbreaks\": [{\"sig\": \"fp:1\", \"level\": 2, \"members\": 1, \"since\": 1,"
		" \"last_join\": 1, \"last_change\": 1, \"list\": []}, {\"sig\": \"fp:1\", \"level\": 2, \"members\": 1,"
		" \"since\": 1, \"last_join\": 1, \"last_change\": 1, \"list\": []}]}",
		/* times past 2^62 ns (2116) */
		"{\"version\": 1, \"outbreaks\": [{\"sig\": \"fp:1\", \"level\": 2, \"members\": 1, \"since\": 1,"
		" \"last_join\": 4611686018427387904, \"last_change\": 1, \"list\": []}]}",
		"{\"version\": 1, \"outbreaks\": [{\"sig\": \"fp:1\", \"level\": 2, \"members\": 1, \"since\": 1,"
		" \"last_join\": 9223372036854775807, \"last_change\": 1, \"list\": []}]}",
		/* a VLAN ID past 12 bits */
		"{\"version\": 1, \"outbreaks\": [{\"sig\": \"fp:1\", \"level\": 2, \"members\": 1, \"since\": 1,"
		" \"last_join\": 1, \"last_change\": 1, \"list\": [{\"src\": \"198.18.0.1\", \"vlan_outer\": 4096,"
		" \"vlan_inner\": 0, \"joined\": 1}]}]}",
		/* a level that is not an integer */
		"{\"version\": 1, \"outbreaks\": [{\"sig\": \"fp:1\", \"level\": \"2\", \"members\": 1, \"since\": 1,"
		" \"last_join\": 1, \"last_change\": 1, \"list\": []}]}",
	};
	/* The good one appended to each: at level 4 with 20 proven members (4K), joined a minute before the restore. */
	json_t *good = json_loads("{\"sig\": \"fp:2\", \"level\": 4, \"members\": 20, \"proven\": 20, \"since\": 1,"
				  " \"last_join\": 1, \"last_change\": 1, \"list\": [{\"src\": \"198.18.7.7\","
				  " \"vlan_outer\": 0, \"vlan_inner\": 0, \"joined\": 1}]}", 0, NULL);

	(void)state;
	assert_non_null(good);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = json_loads(bad[i], 0, NULL);
		size_t refused = 99;
		assert_non_null(j);
		json_t *arr = json_object_get(j, "outbreaks");
		json_array_append(arr, good);
		size_t wanted = json_array_size(arr) - 1; /* all but the bad one */
		if (mg_ob_restore_json(ob, j, BOOT + MIN, 1 + MIN, &refused) != 0 || refused != 1)
			fail_msg("case %u: refused %zu, want 1: %s", i, refused, bad[i]);
		json_decref(j);
		assert_int_equal(mg_ob_active(ob), wanted);
		assert_true(mg_ob_threat_level(ob) >= 4); /* the good one's level, or more with a second outbreak */
		uint8_t a[16];
		assert_int_equal(mg_addr_parse("198.18.7.7", a), 0);
		assert_true(mg_ob_member_of(ob, a, NULL));
	}
	json_decref(good);
}

/* ---- which sources, and specificity ------------------------------------------------------------- */

static const struct mg_signature STOCK_FP = { MG_SIG_FP, 0x5eed1, MG_SIGCLASS_STOCK_OS_FP };
static const struct mg_signature LITERAL_SHAPE = { MG_SIG_SHAPE, MG_HELO_IP_LITERAL | MG_HELO_OWN_OCTETS | 0x100,
						    MG_SIGCLASS_HELO_SHAPE };
static const struct mg_signature APP_HELO = { MG_SIG_HELO, 0xa99, MG_SIGCLASS_APP_HELO };

struct decided {
	struct mg_signature key;
	enum mg_ob_decision d;
	enum mg_ob_direction dir;
	unsigned spec;
	struct mg_signature with;
	bool found;
};

static void decided_fn(const struct mg_ob_view *v, void *arg)
{
	struct decided *w = arg;
	if (v->sig.kind == w->key.kind && v->sig.value == w->key.value) {
		w->d = v->decision;
		w->dir = v->direction;
		w->spec = v->specificity;
		w->found = true;
		w->with = v->with;
	}
}

static struct decided decision_of(const struct mg_signature *sig)
{
	struct decided w = { .key = *sig };
	mg_ob_foreach(ob, decided_fn, &w);
	assert_true(w.found);
	return w;
}

/* Names and scores: one table. */
static void test_class_names_and_scores(void **state)
{
	(void)state;
	assert_string_equal(mg_sig_class_name(MG_SIGCLASS_STOCK_OS_FP), "stock-os-fingerprint");
	assert_string_equal(mg_sig_class_name(MG_SIGCLASS_APP_HELO), "application-helo");
	assert_string_equal(mg_sig_class_name(MG_SIGCLASS_MAX), "?");
	assert_int_equal(mg_sig_class_score(MG_SIGCLASS_STOCK_OS_FP), 1);
	assert_int_equal(mg_sig_class_score(MG_SIGCLASS_HELO_SHAPE), 2);
	assert_int_equal(mg_sig_class_score(MG_SIGCLASS_RARE_FP), 3);
	assert_int_equal(mg_sig_class_score(MG_SIGCLASS_SAME_HELO), 3);
	assert_int_equal(mg_sig_class_score(MG_SIGCLASS_APP_HELO), 0);
	assert_string_equal(mg_ob_decision_name(MG_OB_CONTAINED), "contained");
	assert_string_equal(mg_ob_decision_name(MG_OB_INBOUND_HOLD), "inbound-hold");
	assert_string_equal(mg_ob_direction_name(MG_OB_INBOUND), "inbound");
}

/*
 * A stock fingerprint alone: declared (an alert), no threat level, nobody
 * held. The same hosts' address-literal shape joins it: 1 + 2 = 3, contained
 * (announced as a decision), the threat level up.
 */
static void test_stock_fingerprint_needs_a_co_signature(void **state)
{
	size_t n;
	char why[400];

	(void)state;
	for (unsigned i = 0; i < 5; i++)
		n = see(i, &STOCK_FP, T0 + i * SEC);
	const struct mg_ob_action *a = find(n, MG_OB_DECLARE);
	assert_non_null(a);
	assert_int_equal(a->decision, MG_OB_ALERT_ONLY);
	assert_int_equal(a->specificity, 1);
	assert_int_equal(a->threat_level, 0);
	assert_int_equal(mg_ob_threat_level(ob), 0);
	struct mg_prefix p = host(0);
	assert_false(mg_ob_member_of(ob, p.addr, NULL));
	for (unsigned i = 0; i < 5; i++)
		n = see(i, &LITERAL_SHAPE, T0 + (5 + i) * SEC);
	assert_non_null(find(n, MG_OB_DECLARE));
	a = find(n, MG_OB_DECIDE);
	assert_non_null(a);
	assert_int_equal(a->sig.value, STOCK_FP.value);
	assert_int_equal(a->decision, MG_OB_CONTAINED);
	assert_int_equal(a->specificity, 3);
	assert_int_equal(a->with.kind, MG_SIG_SHAPE);
	assert_true(a->threat_level >= 2);
	assert_true(mg_ob_member_of(ob, p.addr, NULL));
	assert_string_equal(mg_ob_explain(&a->sig, a->direction, a->decision, a->specificity, &a->with, why, sizeof(why)),
			    "outbound, specificity 3 (stock-os-fingerprint 1 + shape:ip-literal,own-octets/ehlo helo-shape "
			    "2): counted in the threat level, members held at the relay, contained in the kernel");
	/* The shape ends (exempted): the fingerprint is common again, released. */
	mg_ob_except_sig(ob, &LITERAL_SHAPE, true);
	n = mg_ob_tick(ob, T0 + 11 * SEC, acts, 64);
	a = find(n, MG_OB_DECIDE);
	assert_non_null(a);
	assert_int_equal(a->decision, MG_OB_ALERT_ONLY);
	assert_int_equal(mg_ob_threat_level(ob), 0);
}

/* A rare fingerprint is specific alone. */
static void test_rare_fingerprint_contained_alone(void **state)
{
	size_t n;
	struct mg_signature rare = { MG_SIG_FP, 0xb07b07, MG_SIGCLASS_RARE_FP };

	(void)state;
	for (unsigned i = 0; i < 5; i++)
		n = see(i, &rare, T0 + i * SEC);
	const struct mg_ob_action *a = find(n, MG_OB_DECLARE);
	assert_non_null(a);
	assert_int_equal(a->decision, MG_OB_CONTAINED);
	assert_int_equal(a->specificity, 3);
	assert_int_equal(a->threat_level, 2);
}

/* Identical proper-FQDN HELOs: the whole group is an application, whatever else its hosts share. */
static void test_application_helo(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 5; i++) {
		see(i, &STOCK_FP, T0 + i * SEC);
		see(i, &APP_HELO, T0 + i * SEC);
	}
	assert_int_equal(mg_ob_active(ob), 2);
	assert_int_equal(decision_of(&APP_HELO).d, MG_OB_APPLICATION);
	struct decided fp = decision_of(&STOCK_FP);
	assert_int_equal(fp.d, MG_OB_APPLICATION);
	assert_int_equal(fp.with.value, APP_HELO.value);
	assert_int_equal(mg_ob_threat_level(ob), 0);
	struct mg_prefix p = host(3);
	assert_false(mg_ob_member_of(ob, p.addr, NULL));
}

/*
 * With protected networks, outside senders are grouped apart: a stock
 * fingerprint among them is not even declared; a specific one is, for the
 * relay only (never contained, no threat level). Inside hosts with the same
 * fingerprint are their own group.
 */
static void test_inbound_grouped_apart(void **state)
{
	struct mg_prefix prot;
	size_t n, declared = 0;

	(void)state;
	assert_int_equal(mg_prefix_parse("198.18.0.0/16", &prot), 0);
	assert_int_equal(mg_ob_set_protected(ob, &prot, 1), 0);
	for (unsigned i = 0; i < 40; i++) {
		struct mg_prefix p;
		char ip[32];
		snprintf(ip, sizeof(ip), "198.19.1.%u", i + 1);
		assert_int_equal(mg_prefix_parse(ip, &p), 0);
		n = mg_ob_observe(ob, &p, NULL, 0, 0, &STOCK_FP, T0 + i * SEC, acts, 64);
		declared += find(n, MG_OB_DECLARE) != NULL;
	}
	assert_int_equal(declared, 0);
	assert_int_equal(mg_ob_active(ob), 0);
	/* Outside senders with one literal HELO (not an FQDN): the relay holds their mail. */
	struct mg_signature lit = { MG_SIG_HELO, 0x11, MG_SIGCLASS_SAME_HELO };
	for (unsigned i = 0; i < 5; i++) {
		struct mg_prefix p;
		char ip[32];
		snprintf(ip, sizeof(ip), "198.19.1.%u", i + 1);
		assert_int_equal(mg_prefix_parse(ip, &p), 0);
		n = mg_ob_observe(ob, &p, NULL, 0, 0, &lit, T0 + (40 + i) * SEC, acts, 64);
	}
	const struct mg_ob_action *a = find(n, MG_OB_DECLARE);
	assert_non_null(a);
	assert_int_equal(a->direction, MG_OB_INBOUND);
	assert_int_equal(a->decision, MG_OB_INBOUND_HOLD);
	assert_int_equal(mg_ob_threat_level(ob), 0);
	struct mg_prefix outside;
	assert_int_equal(mg_prefix_parse("198.19.1.2", &outside), 0);
	assert_true(mg_ob_member_of(ob, outside.addr, NULL));
	/* The stock fingerprint, co-signature of the literal HELO among the same outside hosts: held, not contained. */
	struct decided fp = decision_of(&lit);
	assert_int_equal(fp.dir, MG_OB_INBOUND);
	/* Our own hosts with the stock fingerprint: a group of their own, outbound. */
	for (unsigned i = 0; i < 5; i++)
		n = see(i, &STOCK_FP, T0 + (50 + i) * SEC);
	a = find(n, MG_OB_DECLARE);
	assert_non_null(a);
	assert_int_equal(a->direction, MG_OB_OUTBOUND);
	assert_int_equal(a->members, 5);
}

/* Class and direction survive a save and restore (and so the decision). */
static void test_save_restore_keeps_class_and_direction(void **state)
{
	struct mg_prefix prot;
	int rc;

	(void)state;
	assert_int_equal(mg_prefix_parse("198.18.0.0/16", &prot), 0);
	for (unsigned i = 0; i < 5; i++)
		see(i, &STOCK_FP, T0 + i * SEC);
	struct mg_outbreaks *o2 = save_restore(T0 + 5 * SEC, 3 * SEC, 60 * SEC, &rc);
	assert_int_equal(rc, 0);
	struct mg_outbreaks *keep = ob;
	ob = o2;
	struct decided d = decision_of(&STOCK_FP);
	assert_int_equal(d.d, MG_OB_ALERT_ONLY); /* still a stock fingerprint, not a "rare" one */
	assert_int_equal(d.spec, 1);
	assert_int_equal(d.dir, MG_OB_OUTBOUND);
	assert_int_equal(mg_ob_threat_level(ob), 0);
	ob = keep;
	mg_ob_free(o2);
	/* A file from before classes: a fingerprint is taken as rare (contained, as it was), outbound. */
	json_t *j = json_loads("{\"version\":1,\"outbreaks\":[{\"sig\":\"fp:00b07b07\",\"level\":2,\"members\":5,"
			       "\"since\":1,\"last_join\":1,\"last_change\":1,\"list\":[]}]}", 0, NULL);
	assert_non_null(j);
	o2 = mg_ob_new(&cfg);
	assert_int_equal(mg_ob_restore_json(o2, j, 3 * SEC, 2 * SEC, NULL), 0);
	json_decref(j);
	ob = o2;
	struct mg_signature old = { MG_SIG_FP, 0xb07b07, MG_SIGCLASS_BY_KIND };
	d = decision_of(&old);
	assert_int_equal(d.d, MG_OB_CONTAINED);
	ob = keep;
	mg_ob_free(o2);
}

/*
 * Issue 13: a spoofed SYN flood, thousands of random sources with the flood
 * tool's fingerprint, none proven. The signature may be declared (the kernel
 * contains it); no source is named, and the threat level stays 0.
 */
static void test_spoofed_syn_flood_names_no_member(void **state)
{
	(void)state;
	size_t declared = 0, named = 0;
	for (unsigned i = 0; i < 5000; i++) {
		size_t n = see_syn(i, &BOT_FP, T0 + i * (SEC / 1000));
		for (size_t k = 0; k < n; k++) {
			declared += acts[k].kind == MG_OB_DECLARE;
			named += acts[k].kind == MG_OB_DECLARE ? acts[k].n_list : 0;
			named += acts[k].kind == MG_OB_JOIN;
			assert_int_equal(acts[k].threat_level, 0);
		}
	}
	assert_int_equal(declared, 1);
	assert_int_equal(named, 0);
	assert_int_equal(mg_ob_active(ob), 1);
	assert_int_equal(mg_ob_threat_level(ob), 0);
	for (unsigned i = 0; i < 5000; i += 97)
		assert_false(mg_ob_member_of(ob, host(i).addr, NULL));
	/* Its level (for the kernel's containment) follows the count; the threat level does not. */
	for (unsigned i = 6000; i < 6010; i++)
		see_syn(i, &OTHER_FP, T0 + SEC);
	assert_int_equal(mg_ob_active(ob), 2);
	assert_int_equal(mg_ob_threat_level(ob), 0); /* two "campaigns" of nobody are still nobody */
}

/*
 * Sources first seen through SYNs that then prove themselves (commands on a
 * connection) are named then, and only the proven ones carry the threat level.
 */
static void test_proven_members_named_and_carry_the_threat(void **state)
{
	(void)state;
	for (unsigned i = 0; i < 300; i++) /* fills the member list with unproven sources */
		see_syn(i, &BOT_FP, T0 + i * (SEC / 100));
	assert_int_equal(mg_ob_threat_level(ob), 0);
	/* Four of them prove themselves: named, but fewer than K proven carry no threat. */
	for (unsigned i = 0; i < 4; i++) {
		size_t n = see(i * 50, &BOT_FP, T0 + 10 * SEC);
		const struct mg_ob_action *j = find(n, MG_OB_JOIN);
		assert_non_null(j);
		assert_non_null(j->member);
		assert_int_equal(j->member->mac[5], (uint8_t)(i * 50));
		assert_int_equal(j->proven, i + 1);
		assert_int_equal(j->members, 300); /* counted already */
		assert_true(mg_ob_member_of(ob, host(i * 50).addr, NULL));
	}
	assert_false(mg_ob_member_of(ob, host(1).addr, NULL));
	assert_int_equal(mg_ob_threat_level(ob), 0);
	/* A fifth, never seen before and past the list's room for unproven ones: listed all the same. */
	size_t n = see(999, &BOT_FP, T0 + 11 * SEC);
	const struct mg_ob_action *j = find(n, MG_OB_JOIN);
	assert_non_null(j);
	assert_non_null(j->member);
	assert_int_equal(j->members, 301);
	assert_true(mg_ob_member_of(ob, host(999).addr, NULL));
	/* K proven: level 2 for the threat, though 301 sources make the signature's own level 5. */
	assert_int_equal(mg_ob_threat_level(ob), 2);
}

/* A candidate group declared from proven sources names exactly those, however many SYN-only ones came before. */
static void test_declaration_lists_proven_only(void **state)
{
	(void)state;
	see_syn(100, &BOT_FP, T0);
	see_syn(101, &BOT_FP, T0);
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(see(i, &BOT_FP, T0 + SEC), 0);
	see_syn(0, &BOT_FP, T0 + SEC); /* a proven source's SYN later changes nothing */
	size_t n = see_syn(102, &BOT_FP, T0 + 2 * SEC);
	const struct mg_ob_action *d = find(n, MG_OB_DECLARE);
	assert_non_null(d);
	assert_int_equal(d->members, 5);
	assert_int_equal(d->proven, 2);
	assert_int_equal(d->n_list, 2);
	assert_true(d->list[0].mac[5] == 0 || d->list[0].mac[5] == 1);
	assert_true(d->list[1].mac[5] == 0 || d->list[1].mac[5] == 1);
	assert_int_equal(d->threat_level, 0);
	assert_true(mg_ob_member_of(ob, host(1).addr, NULL));
	assert_false(mg_ob_member_of(ob, host(100).addr, NULL));

	/* Saved and restored: the named stay named, the unproven stay unnamed and out of the threat level. */
	json_t *j = mg_ob_save_json(ob, T0 + 3 * SEC, 1000 * SEC);
	assert_non_null(j);
	mg_ob_free(ob);
	ob = mg_ob_new(&cfg);
	assert_int_equal(mg_ob_restore_json(ob, j, T0 + 4 * SEC, 1001 * SEC, NULL), 0);
	json_decref(j);
	assert_int_equal(mg_ob_active(ob), 1);
	assert_true(mg_ob_member_of(ob, host(0).addr, NULL));
	assert_false(mg_ob_member_of(ob, host(101).addr, NULL));
	assert_int_equal(mg_ob_threat_level(ob), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signature_text),
		cmocka_unit_test_setup_teardown(test_declared_at_k, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spoofed_syn_flood_names_no_member, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proven_members_named_and_carry_the_threat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_declaration_lists_proven_only, setup, teardown),
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
		cmocka_unit_test_setup_teardown(test_save_restore_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_restore_decay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_restore_exception_and_candidates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_malformed_document, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore_malformed_outbreak_refused_alone, setup, teardown),
		cmocka_unit_test(test_class_names_and_scores),
		cmocka_unit_test_setup_teardown(test_stock_fingerprint_needs_a_co_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rare_fingerprint_contained_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_application_helo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inbound_grouped_apart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_restore_keeps_class_and_direction, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
