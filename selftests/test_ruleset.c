// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_ruleset.c - the rule ledger (mg_ruleset): the precedence between
 * owners as a table (claims in, what the kernel and the analyzer must hold
 * out), and the one writer: only differences written, in a safe order,
 * through a fake sink that records every call.
 *
 * Times are on a timeline that starts a few seconds after boot (NOW = 3 s):
 * nothing here may treat 0 or a small number as "never" or "long ago".
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
#include "mg_ruleset.h"

#define SEC 1000000000ull
#define NOW (3 * SEC)
#define NEVER MG_TIME_NEVER
#define LATER (NOW + 60 * SEC)
#define GONE (NOW - 1 * SEC) /* expired a second ago */
#define NONE MG_OWNER_MAX

static struct mg_prefix pfx(const char *text)
{
	struct mg_prefix p;
	assert_int_equal(mg_prefix_parse(text, &p), 0);
	return p;
}

/* ---- the precedence table ----------------------------------------------------------- */

struct claim_in {
	enum mg_owner owner;
	uint8_t action;
	uint64_t expires;
};

struct row {
	const char *name;
	bool profile_key;
	struct claim_in in[4];
	size_t n;
	/* expected */
	bool allow, block;
	uint8_t action;
	uint64_t block_expires;
	enum mg_owner block_by, allow_by;
	bool server, an_allow, an_server;
};

#define SMTP MG_ACT_DROP_SMTP
#define ALL MG_ACT_DROP_ALL

static const struct row rows[] = {
	{ "nothing claimed: nothing written", false, {}, 0, false, false, 0, NEVER, NONE, NONE, false, false, false },
	{ "configured allow", false, { { MG_OWNER_CONFIG_ALLOW, 0, NEVER } }, 1,
	  true, false, 0, NEVER, NONE, MG_OWNER_CONFIG_ALLOW, false, true, false },
	{ "configured mail server (a profile key): allowed, its profile in mg_servers", true,
	  { { MG_OWNER_CONFIG_SERVER, 0, NEVER } }, 1,
	  true, false, 0, NEVER, NONE, MG_OWNER_CONFIG_SERVER, true, false, true },
	{ "configured mail-server network (not a profile key): allowed, no mg_servers entry", false,
	  { { MG_OWNER_CONFIG_SERVER, 0, NEVER } }, 1,
	  true, false, 0, NEVER, NONE, MG_OWNER_CONFIG_SERVER, false, false, true },
	{ "a verdict", true, { { MG_OWNER_VERDICT, SMTP, LATER } }, 1,
	  false, true, SMTP, LATER, MG_OWNER_VERDICT, NONE, false, false, false },
	{ "allowlist beats a verdict", true, { { MG_OWNER_VERDICT, SMTP, LATER }, { MG_OWNER_CONFIG_ALLOW, 0, NEVER } }, 2,
	  true, false, 0, NEVER, NONE, MG_OWNER_CONFIG_ALLOW, false, true, false },
	{ "an operator's allow beats a verdict", true,
	  { { MG_OWNER_VERDICT, ALL, LATER }, { MG_OWNER_OPERATOR_ALLOW, 0, NEVER } }, 2,
	  true, false, 0, NEVER, NONE, MG_OWNER_OPERATOR_ALLOW, false, true, false },
	{ "a configured mail server beats an operator's block", true,
	  { { MG_OWNER_OPERATOR_BLOCK, ALL, NEVER }, { MG_OWNER_CONFIG_SERVER, 0, NEVER } }, 2,
	  true, false, 0, NEVER, NONE, MG_OWNER_CONFIG_SERVER, true, false, true },
	{ "the operator's block stands over a verdict", true,
	  { { MG_OWNER_VERDICT, SMTP, LATER }, { MG_OWNER_OPERATOR_BLOCK, ALL, NEVER } }, 2,
	  false, true, ALL, NEVER, MG_OWNER_OPERATOR_BLOCK, NONE, false, false, false },
	{ "an ended operator block hands back to the verdict", true,
	  { { MG_OWNER_VERDICT, SMTP, LATER }, { MG_OWNER_OPERATOR_BLOCK, ALL, GONE } }, 2,
	  false, true, SMTP, LATER, MG_OWNER_VERDICT, NONE, false, false, false },
	{ "an ended operator allow lets the verdict through", true,
	  { { MG_OWNER_VERDICT, SMTP, LATER }, { MG_OWNER_OPERATOR_ALLOW, 0, GONE } }, 2,
	  false, true, SMTP, LATER, MG_OWNER_VERDICT, NONE, false, false, false },
	{ "an ended operator allow leaves a configured one", false,
	  { { MG_OWNER_CONFIG_ALLOW, 0, NEVER }, { MG_OWNER_OPERATOR_ALLOW, 0, GONE } }, 2,
	  true, false, 0, NEVER, NONE, MG_OWNER_CONFIG_ALLOW, false, true, false },
	{ "operator and configuration allow the same: listed as the operator's", false,
	  { { MG_OWNER_CONFIG_ALLOW, 0, NEVER }, { MG_OWNER_OPERATOR_ALLOW, 0, LATER } }, 2,
	  true, false, 0, NEVER, NONE, MG_OWNER_OPERATOR_ALLOW, false, true, false },
	{ "a learned mail server: mg_servers only, never an allow", true,
	  { { MG_OWNER_LEARNED_SERVER, 0, NEVER } }, 1,
	  false, false, 0, NEVER, NONE, NONE, true, false, false },
	{ "a learned mail server's anomaly verdict is written", true,
	  { { MG_OWNER_LEARNED_SERVER, 0, NEVER }, { MG_OWNER_VERDICT, SMTP, LATER } }, 2,
	  false, true, SMTP, LATER, MG_OWNER_VERDICT, NONE, true, false, false },
	{ "a pinned block is the last resort", false,
	  { { MG_OWNER_PINNED_BLOCK, ALL, LATER }, { MG_OWNER_OPERATOR_BLOCK, SMTP, NEVER } }, 2,
	  false, true, SMTP, NEVER, MG_OWNER_OPERATOR_BLOCK, NONE, false, false, false },
	{ "an imported list's block alone", false, { { MG_OWNER_FEED, ALL, LATER } }, 1,
	  false, true, ALL, LATER, MG_OWNER_FEED, NONE, false, false, false },
	{ "a verdict stands over an imported list", false,
	  { { MG_OWNER_FEED, ALL, NEVER }, { MG_OWNER_VERDICT, SMTP, LATER } }, 2,
	  false, true, SMTP, LATER, MG_OWNER_VERDICT, NONE, false, false, false },
	{ "a block received from another node stands over an imported list", false,
	  { { MG_OWNER_FEED, ALL, NEVER }, { MG_OWNER_CLUSTER_BLOCK, SMTP, LATER } }, 2,
	  false, true, SMTP, LATER, MG_OWNER_CLUSTER_BLOCK, NONE, false, false, false },
	{ "an imported list stands over a pinned block", false,
	  { { MG_OWNER_PINNED_BLOCK, SMTP, LATER }, { MG_OWNER_FEED, ALL, NEVER } }, 2,
	  false, true, ALL, NEVER, MG_OWNER_FEED, NONE, false, false, false },
	{ "an allow beats an imported list", false,
	  { { MG_OWNER_FEED, ALL, NEVER }, { MG_OWNER_CONFIG_ALLOW, 0, NEVER } }, 2,
	  true, false, 0, NEVER, NONE, MG_OWNER_CONFIG_ALLOW, false, true, false },
	{ "a route from a BGP peer stands over an imported list", false,
	  { { MG_OWNER_FEED, ALL, NEVER }, { MG_OWNER_BGP_BLOCK, SMTP, LATER } }, 2,
	  false, true, SMTP, LATER, MG_OWNER_BGP_BLOCK, NONE, false, false, false },
	{ "another node's block stands over a route from a BGP peer", false,
	  { { MG_OWNER_BGP_BLOCK, ALL, LATER }, { MG_OWNER_CLUSTER_BLOCK, SMTP, NEVER } }, 2,
	  false, true, SMTP, NEVER, MG_OWNER_CLUSTER_BLOCK, NONE, false, false, false },
	{ "a mail server beats a route from a BGP peer", false,
	  { { MG_OWNER_BGP_BLOCK, ALL, NEVER }, { MG_OWNER_CONFIG_SERVER, 0, NEVER } }, 2,
	  true, false, 0, NEVER, NONE, MG_OWNER_CONFIG_SERVER, false, false, true },
	{ "an expired imported list hands back to nothing", false, { { MG_OWNER_FEED, SMTP, GONE } }, 1,
	  false, false, 0, NEVER, NONE, NONE, false, false, false },
	{ "a pinned block alone", false, { { MG_OWNER_PINNED_BLOCK, ALL, LATER } }, 1,
	  false, true, ALL, LATER, MG_OWNER_PINNED_BLOCK, NONE, false, false, false },
	{ "a pinned allow binds the kernel, not the analyzer", false, { { MG_OWNER_PINNED_ALLOW, 0, NEVER } }, 1,
	  true, false, 0, NEVER, NONE, MG_OWNER_PINNED_ALLOW, false, false, false },
	{ "everything expired: nothing", true,
	  { { MG_OWNER_VERDICT, SMTP, GONE }, { MG_OWNER_OPERATOR_BLOCK, ALL, GONE }, { MG_OWNER_OPERATOR_ALLOW, 0, GONE } },
	  3, false, false, 0, NEVER, NONE, NONE, false, false, false },
	{ "an expiry at exactly now has passed", false, { { MG_OWNER_VERDICT, SMTP, NOW } }, 1,
	  false, false, 0, NEVER, NONE, NONE, false, false, false },
	{ "an expiry a nanosecond after now, near boot, is in force", false, { { MG_OWNER_VERDICT, SMTP, NOW + 1 } }, 1,
	  false, true, SMTP, NOW + 1, MG_OWNER_VERDICT, NONE, false, false, false },
};

static void test_precedence_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct mg_claim claims[MG_OWNER_MAX] = { 0 };
		struct mg_rule_want w;

		for (size_t k = 0; k < r->n; k++)
			claims[r->in[k].owner] = (struct mg_claim){ true, r->in[k].action, r->in[k].expires };
		mg_rules_resolve(claims, r->profile_key, NOW, &w);
		print_message("  row %zu: %s\n", i, r->name);
		assert_int_equal(w.allow, r->allow);
		assert_int_equal(w.block, r->block);
		assert_int_equal(w.server, r->server);
		assert_int_equal(w.an_allow, r->an_allow);
		assert_int_equal(w.an_server, r->an_server);
		assert_int_equal(w.block_by, r->block ? r->block_by : NONE);
		assert_int_equal(w.allow_by, r->allow ? r->allow_by : NONE);
		if (r->block) {
			assert_int_equal(w.action, r->action);
			assert_true(w.block_expires == r->block_expires);
		}
	}
}

/* ---- the writer, through a fake sink ---------------------------------------------------- */

struct fake {
	char log[64][80];
	size_t n;
	int fail_put_block; /* -errno to return from put_block, 0 = succeed */
	size_t failures;
	size_t put_blocks;  /* put_block calls that succeeded */
	size_t put_calls;   /* put_block calls */
	unsigned refuse_below; /* 198.18.X.*: X below this refused for good (a prefix the map never takes) */
};

static void rec(struct fake *f, const char *op, const struct mg_prefix *p, const char *extra)
{
	char buf[MG_ADDRSTRLEN] = "";
	if (p)
		mg_prefix_str(p, buf, sizeof(buf));
	if (f->n < 64)
		snprintf(f->log[f->n++], sizeof(f->log[0]), "%s %s%s", op, buf, extra ? extra : "");
}

static int f_put_block(void *ctx, const struct mg_prefix *p, uint8_t action, uint64_t expires)
{
	struct fake *f = ctx;
	char x[48];
	f->put_calls++;
	if (f->fail_put_block)
		return f->fail_put_block;
	if (mg_prefix_is_v4(p) && p->addr[14] < f->refuse_below)
		return -E2BIG;
	f->put_blocks++;
	snprintf(x, sizeof(x), " %s %s", action == MG_ACT_DROP_ALL ? "all" : "smtp",
		 expires == NEVER ? "never" : expires == LATER ? "later" : "other");
	rec(f, "put_block", p, x);
	return 0;
}
static int f_del_block(void *ctx, const struct mg_prefix *p) { rec(ctx, "del_block", p, NULL); return 0; }
static int f_put_allow(void *ctx, const struct mg_prefix *p) { rec(ctx, "put_allow", p, NULL); return 0; }
static int f_del_allow(void *ctx, const struct mg_prefix *p) { rec(ctx, "del_allow", p, NULL); return 0; }
static int f_put_server(void *ctx, const uint8_t key[16])
{
	struct mg_prefix p = { .prefixlen = 128 };
	memcpy(p.addr, key, 16);
	rec(ctx, "put_server", &p, NULL);
	return 0;
}
static int f_del_server(void *ctx, const uint8_t key[16])
{
	struct mg_prefix p = { .prefixlen = 128 };
	memcpy(p.addr, key, 16);
	rec(ctx, "del_server", &p, NULL);
	return 0;
}
static int f_put_outbreak(void *ctx, uint32_t fp, unsigned level, uint64_t since)
{
	char x[48];
	(void)since;
	snprintf(x, sizeof(x), "%08x level %u", fp, level);
	rec(ctx, "put_outbreak", NULL, x);
	return 0;
}
static int f_del_outbreak(void *ctx, uint32_t fp)
{
	char x[16];
	snprintf(x, sizeof(x), "%08x", fp);
	rec(ctx, "del_outbreak", NULL, x);
	return 0;
}

static const struct mg_rule_sink fake_sink = {
	f_put_block, f_del_block, f_put_allow, f_del_allow, f_put_server, f_del_server, f_put_outbreak, f_del_outbreak,
};

static void on_fail(const char *what, const struct mg_prefix *p, int err, void *arg)
{
	(void)what;
	(void)p;
	(void)err;
	((struct fake *)arg)->failures++;
}

static size_t sync_now(struct mg_ruleset *rs, struct fake *f, bool *an)
{
	f->n = 0;
	return mg_ruleset_sync(rs, &fake_sink, f, NOW, an, on_fail, f);
}

static void expect(const struct fake *f, const char *const *want, size_t n)
{
	for (size_t i = 0; i < f->n; i++)
		print_message("    wrote: %s\n", f->log[i]);
	assert_int_equal(f->n, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(f->log[i], want[i]);
}
#define EXPECT(f, ...)                                                          \
	do {                                                                    \
		static const char *const w_[] = { __VA_ARGS__ };                \
		expect((f), w_, sizeof(w_) / sizeof(w_[0]));                    \
	} while (0)
#define EXPECT_NOTHING(f) assert_int_equal((f)->n, 0)

static void test_only_differences_written(void **state)
{
	(void)state;
	struct mg_ruleset *rs = mg_ruleset_new(64);
	struct fake f = { 0 };
	struct mg_prefix bot = pfx("198.18.0.66");
	bool an;

	mg_ruleset_claim(rs, &bot, MG_OWNER_VERDICT, SMTP, LATER);
	sync_now(rs, &f, &an);
	EXPECT(&f, "put_block 198.18.0.66 smtp later");
	assert_false(an);
	/* Nothing changed: nothing written. The same claim again: nothing either. */
	sync_now(rs, &f, &an);
	EXPECT_NOTHING(&f);
	mg_ruleset_claim(rs, &bot, MG_OWNER_VERDICT, SMTP, LATER);
	sync_now(rs, &f, &an);
	EXPECT_NOTHING(&f);

	/* The operator's block stands over it, and hands back when it ends. */
	mg_ruleset_claim(rs, &bot, MG_OWNER_OPERATOR_BLOCK, ALL, NEVER);
	sync_now(rs, &f, &an);
	EXPECT(&f, "put_block 198.18.0.66 all never");
	assert_true(mg_ruleset_release(rs, &bot, MG_OWNER_OPERATOR_BLOCK));
	sync_now(rs, &f, &an);
	EXPECT(&f, "put_block 198.18.0.66 smtp later");
	assert_false(mg_ruleset_release(rs, &bot, MG_OWNER_OPERATOR_BLOCK)); /* nothing left to release */

	/* The verdict ends: the rule goes, and so does the entry. */
	assert_true(mg_ruleset_release(rs, &bot, MG_OWNER_VERDICT));
	sync_now(rs, &f, &an);
	EXPECT(&f, "del_block 198.18.0.66");
	assert_int_equal(mg_ruleset_size(rs), 0);
	mg_ruleset_free(rs);
}

static void test_allow_written_before_the_block_goes(void **state)
{
	(void)state;
	struct mg_ruleset *rs = mg_ruleset_new(64);
	struct fake f = { 0 };
	struct mg_prefix net = pfx("198.18.9.0/24");
	bool an;

	mg_ruleset_claim(rs, &net, MG_OWNER_OPERATOR_BLOCK, ALL, NEVER);
	sync_now(rs, &f, &an);
	/* An allow arrives: at no moment may the prefix be blocked and not allowed. */
	mg_ruleset_claim(rs, &net, MG_OWNER_OPERATOR_ALLOW, 0, NEVER);
	sync_now(rs, &f, &an);
	EXPECT(&f, "put_allow 198.18.9.0/24", "del_block 198.18.9.0/24");
	assert_true(an); /* the analyzer's allow set changed */
	/* The allow goes: the block that waited behind it comes back before the allow leaves. */
	mg_ruleset_release(rs, &net, MG_OWNER_OPERATOR_ALLOW);
	sync_now(rs, &f, &an);
	EXPECT(&f, "put_block 198.18.9.0/24 all never", "del_allow 198.18.9.0/24");
	assert_true(an);
	mg_ruleset_free(rs);
}

static void test_reload_rewrites_nothing_unchanged(void **state)
{
	(void)state;
	struct mg_ruleset *rs = mg_ruleset_new(64);
	struct fake f = { 0 };
	struct mg_prefix a = pfx("198.18.5.0/24"), b = pfx("198.18.6.0/24"), c = pfx("198.18.7.0/24");
	bool an;

	mg_ruleset_claim(rs, &a, MG_OWNER_CONFIG_ALLOW, 0, NEVER);
	mg_ruleset_claim(rs, &b, MG_OWNER_CONFIG_ALLOW, 0, NEVER);
	sync_now(rs, &f, &an);
	assert_int_equal(f.n, 2);
	/* A reload drops every configured claim and claims the new list: a, c. */
	mg_ruleset_release_all(rs, MG_OWNER_CONFIG_ALLOW);
	mg_ruleset_claim(rs, &a, MG_OWNER_CONFIG_ALLOW, 0, NEVER);
	mg_ruleset_claim(rs, &c, MG_OWNER_CONFIG_ALLOW, 0, NEVER);
	sync_now(rs, &f, &an);
	EXPECT(&f, "del_allow 198.18.6.0/24", "put_allow 198.18.7.0/24");
	/* An operator's allow of b made meanwhile would have survived the reload. */
	mg_ruleset_claim(rs, &b, MG_OWNER_OPERATOR_ALLOW, 0, NEVER);
	mg_ruleset_release_all(rs, MG_OWNER_CONFIG_ALLOW);
	sync_now(rs, &f, &an);
	EXPECT(&f, "put_allow 198.18.6.0/24", "del_allow 198.18.5.0/24", "del_allow 198.18.7.0/24");
	mg_ruleset_free(rs);
}

static void test_servers_and_profile_keys(void **state)
{
	(void)state;
	struct mg_ruleset *rs = mg_ruleset_new(64);
	struct fake f = { 0 };
	struct mg_prefix mx = pfx("198.18.1.10"), v6 = pfx("2001:db8:1::/64"), v6host = pfx("2001:db8:2::5");
	bool an;

	mg_ruleset_claim(rs, &mx, MG_OWNER_LEARNED_SERVER, 0, NEVER);
	mg_ruleset_claim(rs, &v6, MG_OWNER_LEARNED_SERVER, 0, NEVER);
	/* A /128 under /64 aggregation is no kernel profile key: allowed, never moved. */
	mg_ruleset_claim(rs, &v6host, MG_OWNER_CONFIG_SERVER, 0, NEVER);
	sync_now(rs, &f, &an);
	assert_int_equal(f.n, 3);
	assert_string_equal(f.log[0], "put_server 198.18.1.10");
	assert_string_equal(f.log[1], "put_server 2001:db8:1::"); /* the fake prints keys as hosts */
	assert_string_equal(f.log[2], "put_allow 2001:db8:2::5");
	mg_ruleset_release(rs, &mx, MG_OWNER_LEARNED_SERVER);
	sync_now(rs, &f, &an);
	EXPECT(&f, "del_server 198.18.1.10");
	mg_ruleset_free(rs);
}

static void test_adopted_rules(void **state)
{
	(void)state;
	struct mg_ruleset *rs = mg_ruleset_new(64);
	struct fake f = { 0 };
	struct mg_prefix kept = pfx("198.18.0.66"), stale = pfx("198.18.0.77"), allow = pfx("198.18.5.0/24");
	bool an;

	/* What a previous run left pinned. */
	mg_ruleset_adopt(rs, &kept, false, SMTP, LATER);
	mg_ruleset_adopt(rs, &stale, false, SMTP, LATER);
	mg_ruleset_adopt(rs, &allow, true, 0, NEVER);
	mg_ruleset_adopt_outbreak(rs, 0x68812a4c, 2, NOW);
	mg_ruleset_adopt_outbreak(rs, 0x11111111, 3, NOW);
	/* The restored state claims the same verdict, the allowlist and one signature. */
	mg_ruleset_claim(rs, &kept, MG_OWNER_VERDICT, SMTP, LATER);
	mg_ruleset_claim(rs, &allow, MG_OWNER_CONFIG_ALLOW, 0, NEVER);
	mg_ruleset_contain(rs, 0x68812a4c, 2, NOW);
	sync_now(rs, &f, &an);
	/* Only what nobody claims goes; what is claimed as it stands is not rewritten. */
	EXPECT(&f, "del_block 198.18.0.77", "del_outbreak 11111111");
	assert_int_equal(mg_ruleset_contained(rs), 1);
	mg_ruleset_free(rs);
}

static void test_outbreak_signatures(void **state)
{
	(void)state;
	struct mg_ruleset *rs = mg_ruleset_new(64);
	struct fake f = { 0 };
	bool an;

	mg_ruleset_contain(rs, 0xabcd0001, 2, NOW);
	sync_now(rs, &f, &an);
	EXPECT(&f, "put_outbreak abcd0001 level 2");
	mg_ruleset_contain(rs, 0xabcd0001, 2, NOW);
	sync_now(rs, &f, &an);
	EXPECT_NOTHING(&f);
	mg_ruleset_contain(rs, 0xabcd0001, 4, NOW);
	sync_now(rs, &f, &an);
	EXPECT(&f, "put_outbreak abcd0001 level 4");
	assert_true(mg_ruleset_uncontain(rs, 0xabcd0001));
	assert_false(mg_ruleset_uncontain(rs, 0xabcd0002));
	sync_now(rs, &f, &an);
	EXPECT(&f, "del_outbreak abcd0001");
	assert_int_equal(mg_ruleset_contained(rs), 0);
	mg_ruleset_free(rs);
}

static void test_failed_write_reported_and_retried(void **state)
{
	(void)state;
	struct mg_ruleset *rs = mg_ruleset_new(64);
	struct fake f = { .fail_put_block = -ENOSPC };
	struct mg_prefix bot = pfx("198.18.0.66");
	bool an;

	mg_ruleset_claim(rs, &bot, MG_OWNER_VERDICT, SMTP, LATER);
	assert_int_equal(sync_now(rs, &f, &an), 1);
	assert_int_equal(f.failures, 1);
	struct mg_rule_entry e;
	assert_true(mg_ruleset_find(rs, &bot, &e));
	assert_false(e.written->block); /* what is written is what the kernel holds: nothing */
	/* The next sync tries again, with no change needed. */
	f.fail_put_block = 0;
	assert_int_equal(sync_now(rs, &f, &an), 0);
	EXPECT(&f, "put_block 198.18.0.66 smtp later");
	mg_ruleset_free(rs);
}

/* Prefix number i: IPv4 hosts, then IPv6 /64s. */
static struct mg_prefix many(unsigned i)
{
	char a[48];

	if (i < 10000)
		snprintf(a, sizeof(a), "198.18.%u.%u", (i >> 8) & 0xff, i & 0xff);
	else
		snprintf(a, sizeof(a), "2001:db8:%x:%x::/64", (i >> 16) & 0xffff, i & 0xffff);
	return pfx(a);
}

/*
 * A full map refuses a wave of verdicts: every refused write is tried again
 * at the next sync, however many there were (only the first 64 were, and the
 * rest stayed out of the kernel until their claim changed), and while other
 * entries leave the ledger in the same sync (their places are taken by
 * others: the retries must follow them).
 */
static void test_every_failed_write_retried(void **state)
{
	(void)state;
	struct mg_ruleset *rs = mg_ruleset_new(64);
	struct fake f = { 0 };
	enum { N = 1000, LEAVING = 500 };
	bool an;

	for (unsigned i = N; i < N + LEAVING; i++) {
		struct mg_prefix p = many(i);
		mg_ruleset_claim(rs, &p, MG_OWNER_VERDICT, SMTP, LATER);
	}
	assert_int_equal(mg_ruleset_sync(rs, &fake_sink, &f, NOW, &an, NULL, NULL), 0);
	f.fail_put_block = -E2BIG;
	for (unsigned i = N; i < N + LEAVING; i++) {
		struct mg_prefix p = many(i);
		assert_true(mg_ruleset_release(rs, &p, MG_OWNER_VERDICT));
	}
	for (unsigned i = 0; i < N; i++) {
		struct mg_prefix p = many(i);
		mg_ruleset_claim(rs, &p, MG_OWNER_VERDICT, SMTP, LATER);
	}
	assert_int_equal(mg_ruleset_sync(rs, &fake_sink, &f, NOW, &an, NULL, NULL), N);
	assert_int_equal(mg_ruleset_size(rs), N);
	/* Room again: no claim changed, and every one of them goes in. */
	f.fail_put_block = 0;
	f.put_blocks = 0;
	assert_int_equal(mg_ruleset_sync(rs, &fake_sink, &f, NOW, &an, NULL, NULL), 0);
	assert_int_equal(f.put_blocks, N);
	for (unsigned i = 0; i < N; i++) {
		struct mg_prefix p = many(i);
		struct mg_rule_entry e;
		assert_true(mg_ruleset_find(rs, &p, &e));
		assert_true(e.written->block);
	}
	/* And nothing is left to write. */
	f.put_blocks = 0;
	assert_int_equal(mg_ruleset_sync(rs, &fake_sink, &f, NOW, &an, NULL, NULL), 0);
	assert_int_equal(f.put_blocks, 0);
	mg_ruleset_free(rs);
}

/*
 * Ten thousand refused writes: each sync tries a bounded share of them again
 * (a sync follows every batch of events), in turns, so that retries refused
 * for good at the front do not keep the others from ever coming round.
 */
static void test_retries_take_turns(void **state)
{
	(void)state;
	struct mg_ruleset *rs = mg_ruleset_new(64);
	struct fake f = { .fail_put_block = -E2BIG };
	enum { N = 10000, FOR_GOOD = 20 * 256 }; /* 198.18.0-19.*: refused for good */
	bool an;

	for (unsigned i = 0; i < N; i++) {
		struct mg_prefix p = many(i);
		mg_ruleset_claim(rs, &p, MG_OWNER_VERDICT, SMTP, LATER);
	}
	assert_int_equal(mg_ruleset_sync(rs, &fake_sink, &f, NOW, &an, NULL, NULL), N); /* new ones: all tried */
	f.fail_put_block = 0;
	f.refuse_below = 20;
	for (int round = 0; round < 10; round++) {
		f.put_calls = 0;
		mg_ruleset_sync(rs, &fake_sink, &f, NOW, &an, NULL, NULL);
		assert_true(f.put_calls <= 4096);
	}
	assert_int_equal(f.put_blocks, N - FOR_GOOD);
	for (unsigned i = FOR_GOOD; i < N; i++) {
		struct mg_prefix p = many(i);
		struct mg_rule_entry e;
		assert_true(mg_ruleset_find(rs, &p, &e));
		assert_true(e.written->block);
	}
	mg_ruleset_free(rs);
}

/* Many prefixes in and out: the index stays right through growth and deletions. */
static void test_many_prefixes(void **state)
{
	(void)state;
	struct mg_ruleset *rs = mg_ruleset_new(64);
	struct fake f = { 0 };
	enum { N = 20000 };
	bool an;

	for (unsigned i = 0; i < N; i++) {
		struct mg_prefix p = many(i);
		mg_ruleset_claim(rs, &p, MG_OWNER_VERDICT, SMTP, LATER);
	}
	mg_ruleset_sync(rs, &fake_sink, &f, NOW, &an, NULL, NULL);
	assert_int_equal(mg_ruleset_size(rs), N);
	/* Every other one released; the rest must still be found, and all of them after another round. */
	for (unsigned i = 0; i < N; i += 2) {
		struct mg_prefix p = many(i);
		assert_true(mg_ruleset_release(rs, &p, MG_OWNER_VERDICT));
	}
	mg_ruleset_sync(rs, &fake_sink, &f, NOW, &an, NULL, NULL);
	assert_int_equal(mg_ruleset_size(rs), N / 2);
	for (unsigned i = 1; i < N; i += 2) {
		struct mg_prefix p = many(i);
		assert_non_null(mg_ruleset_get(rs, &p, MG_OWNER_VERDICT));
		assert_true(mg_ruleset_release(rs, &p, MG_OWNER_VERDICT));
	}
	mg_ruleset_sync(rs, &fake_sink, &f, NOW, &an, NULL, NULL);
	assert_int_equal(mg_ruleset_size(rs), 0);
	mg_ruleset_free(rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_precedence_table),
		cmocka_unit_test(test_only_differences_written),
		cmocka_unit_test(test_allow_written_before_the_block_goes),
		cmocka_unit_test(test_reload_rewrites_nothing_unchanged),
		cmocka_unit_test(test_servers_and_profile_keys),
		cmocka_unit_test(test_adopted_rules),
		cmocka_unit_test(test_outbreak_signatures),
		cmocka_unit_test(test_failed_write_reported_and_retried),
		cmocka_unit_test(test_many_prefixes),
		cmocka_unit_test(test_every_failed_write_retried),
		cmocka_unit_test(test_retries_take_turns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
