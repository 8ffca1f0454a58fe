// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_cluster_codec.c - shared entries as NATS key-value keys and values
 * (mg_cluster_codec), and received entries added up per prefix
 * (mg_cluster_recv): round trips, every refusal with its reason, and what a
 * prefix wants as origins come and go.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "mtaguard.h"
#include "mg_cluster.h"
#include "mg_cluster_codec.h"
#include "mg_cluster_recv.h"
#include "mg_ruleset.h"

#define SEC 1000000000ull
#define WALL (1800000000ull * SEC)

static struct mg_cl_entry entry(enum mg_cl_kind kind, const char *node, const char *prefix, uint8_t action,
				uint64_t expires)
{
	struct mg_cl_entry e = { .kind = kind, .action = action, .expires_wall = expires, .at_wall = WALL };

	snprintf(e.node, sizeof(e.node), "%s", node);
	assert_int_equal(mg_prefix_parse(prefix, &e.prefix), 0);
	snprintf(e.why, sizeof(e.why), "direct-to-mx:new-sender score 10.0");
	return e;
}

/* Keys as the bucket holds them, and back. */
static void test_keys_round_trip(void **state)
{
	static const struct {
		enum mg_cl_kind kind;
		const char *node, *prefix, *key;
	} cases[] = {
		{ MG_CL_VERDICT, "edge-a", "198.18.2.2", "verdict.edge-a.198.18.2.2/32" },
		{ MG_CL_BLOCK, "edge_b", "198.18.0.0/16", "block.edge_b.198.18.0.0/16" },
		{ MG_CL_ALLOW, "n1", "2001:db8:1:2::/64", "allow.n1.2001-db8-1-2--/64" },
		{ MG_CL_VERDICT, "x", "2001:db8::1", "verdict.x.2001-db8--1/128" },
		{ MG_CL_BLOCK, "ab", "2001:db8:ff00::/40", "block.ab.2001-db8-ff00--/40" },
		{ MG_CL_SERVER, "relay-1", "198.18.0.25", "server.relay-1.198.18.0.25/32" },
	};
	char key[MG_CL_KEY_MAX], err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mg_cl_entry e = entry(cases[i].kind, cases[i].node, cases[i].prefix, MG_ACT_DROP_SMTP, WALL), back;
		assert_int_equal(mg_cl_key(&e, key, sizeof(key)), 0);
		assert_string_equal(key, cases[i].key);
		assert_int_equal(mg_cl_parse_key(key, &back, err, sizeof(err)), 0);
		assert_int_equal(back.kind, e.kind);
		assert_string_equal(back.node, e.node);
		assert_true(mg_prefix_eq(&back.prefix, &e.prefix));
	}
	/* Outbreaks are named by their signature, not a prefix. */
	struct mg_cl_entry ob = { .kind = MG_CL_OUTBREAK, .sig = { MG_SIG_FP, 0x68812a4c, 0 }, .level = 2, .members = 5,
				  .expires_wall = WALL + 3600 * SEC, .at_wall = WALL }, obback;
	snprintf(ob.node, sizeof(ob.node), "edge-a");
	assert_int_equal(mg_cl_key(&ob, key, sizeof(key)), 0);
	assert_string_equal(key, "outbreak.edge-a.fp-68812a4c");
	assert_int_equal(mg_cl_parse_key(key, &obback, err, sizeof(err)), 0);
	assert_int_equal(obback.sig.kind, MG_SIG_FP);
	assert_int_equal(obback.sig.value, 0x68812a4c);
	char v[MG_CL_VALUE_MAX];
	assert_int_equal(mg_cl_value(&ob, v, sizeof(v)), 0);
	assert_int_equal(mg_cl_parse_value(v, strlen(v), &obback, err, sizeof(err)), 0);
	assert_int_equal(obback.level, 2);
	assert_int_equal(obback.members, 5);
	ob.sig.kind = MG_SIG_SHAPE;
	ob.sig.value = 0x103;
	assert_int_equal(mg_cl_key(&ob, key, sizeof(key)), 0);
	assert_string_equal(key, "outbreak.edge-a.shape-00000103");
	ob.level = 0;
	assert_int_equal(mg_cl_value(&ob, v, sizeof(v)), -EINVAL);

	/* A key that does not fit is refused, never cut. */
	struct mg_cl_entry e = entry(MG_CL_VERDICT, "edge-a", "198.18.2.2", MG_ACT_DROP_SMTP, WALL);
	assert_int_equal(mg_cl_key(&e, key, 10), -ENOSPC);
	snprintf(e.node, sizeof(e.node), "bad.node");
	assert_int_equal(mg_cl_key(&e, key, sizeof(key)), -EINVAL);
}

/* Keys from the network that cannot be used: each refused with its reason. */
static void test_bad_keys(void **state)
{
	static const struct {
		const char *key, *says;
	} cases[] = {
		{ "verdict", "not KIND.NODE.PREFIX" },
		{ "verdict.edge-a", "not KIND.NODE.PREFIX" },
		{ "unblock.edge-a.198.18.2.2/32", "unknown kind" },
		{ "averyveryverylongkind.edge-a.198.18.2.2/32", "unknown kind" },
		{ "verdict..198.18.2.2/32", "bad node name" },
		{ "verdict.ed=ge.198.18.2.2/32", "bad node name" },
		{ "verdict.edge-a.198.18.2.2", "without a length" },
		{ "verdict.edge-a.198.18.2.300/32", "bad prefix" },
		{ "verdict.edge-a.198.18.2.2/33", "bad prefix" },
		{ "verdict.edge-a.198.18.2.2/24", "host bits" },
		{ "verdict.edge-a.2001-DB8--1/128", "another spelling" },
		{ "verdict.edge-a.2001-0db8--1/128", "another spelling" },
		{ "verdict.edge-a.2001-db8--1/64", "host bits" },
		{ "verdict.edge-a.not-an-address/32", "bad prefix" },
		{ "outbreak.edge-a.fp-0000000g", "bad signature" },
		{ "outbreak.edge-a.xx-00000001", "bad signature" },
		{ "outbreak.edge-a.fp-", "bad signature" },
		{ "outbreak.edge-a.fp-1", "not as mtaguard writes it" },
		{ "outbreak.edge-a.fp-+0000001", "not as mtaguard writes it" },
		{ "outbreak.edge-a.fp-123456789", "bad signature" },
	};
	struct mg_cl_entry e;
	char err[160];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		if (mg_cl_parse_key(cases[i].key, &e, err, sizeof(err)) != -EINVAL || !strstr(err, cases[i].says))
			fail_msg("%s: said '%s', wanted '%s'", cases[i].key, err, cases[i].says);
	}
	/* A key quoted in a message stays on one line, whatever bytes it holds. */
	assert_int_equal(mg_cl_parse_key("verdict.edge\nmtaguardd: forged.198.18.2.2/32", &e, err, sizeof(err)), -EINVAL);
	assert_null(strchr(err, '\n'));
	assert_non_null(strstr(err, "edge?mtaguardd:?forged"));
	char longkey[400];
	memset(longkey, 'a', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	assert_int_equal(mg_cl_parse_key(longkey, &e, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "longer than"));
}

/* Values: written, read back, and every field checked. */
static void test_values(void **state)
{
	char buf[MG_CL_VALUE_MAX], err[160];
	struct mg_cl_entry e = entry(MG_CL_VERDICT, "edge-a", "198.18.2.2", MG_ACT_DROP_ALL, WALL + 3600 * SEC), back;

	(void)state;
	assert_int_equal(mg_cl_value(&e, buf, sizeof(buf)), 0);
	back = entry(MG_CL_VERDICT, "edge-a", "198.18.2.2", 0, 0);
	assert_int_equal(mg_cl_parse_value(buf, strlen(buf), &back, err, sizeof(err)), 0);
	assert_int_equal(back.action, MG_ACT_DROP_ALL);
	assert_int_equal(back.expires_wall, WALL + 3600 * SEC);
	assert_int_equal(back.at_wall, WALL);
	assert_string_equal(back.why, e.why);
	/* No expiry, and an allow (no action). */
	struct mg_cl_entry a = entry(MG_CL_ALLOW, "edge-a", "198.18.1.0/24", 0, MG_CL_NO_EXPIRY);
	assert_int_equal(mg_cl_value(&a, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "\"expires\":null"));
	back = entry(MG_CL_ALLOW, "edge-a", "198.18.1.0/24", 0, 0);
	assert_int_equal(mg_cl_parse_value(buf, strlen(buf), &back, err, sizeof(err)), 0);
	assert_int_equal(back.expires_wall, MG_CL_NO_EXPIRY);
	/* A block without a valid action cannot be written. */
	e.action = 7;
	assert_int_equal(mg_cl_value(&e, buf, sizeof(buf)), -EINVAL);

	static const struct {
		const char *value, *says;
	} bad[] = {
		{ "", "empty" },
		{ "not json", "not JSON" },
		{ "[1]", "version-1" },
		{ "{\"v\":2,\"action\":\"smtp\",\"expires\":null,\"at\":1}", "version-1" },
		{ "{\"v\":1,\"action\":\"drop\",\"expires\":null,\"at\":1}", "action" },
		{ "{\"v\":1,\"expires\":null,\"at\":1}", "action" },
		{ "{\"v\":1,\"action\":\"smtp\",\"expires\":-5,\"at\":1}", "expires" },
		{ "{\"v\":1,\"action\":\"smtp\",\"expires\":\"soon\",\"at\":1}", "expires" },
		{ "{\"v\":1,\"action\":\"smtp\",\"expires\":null}", "at must" },
		{ "{\"v\":1,\"action\":\"smtp\",\"expires\":null,\"at\":1,\"why\":5}", "why" },
		{ "{\"v\":1,\"v\":1,\"action\":\"smtp\",\"expires\":null,\"at\":1}", "not JSON" },
	};
	struct mg_cl_entry o;
	assert_int_equal(mg_cl_parse_key("outbreak.edge-a.fp-68812a4c", &o, err, sizeof(err)), 0);
	static const char *const bad_ob[] = {
		"{\"v\":1,\"expires\":null,\"at\":1}",
		"{\"v\":1,\"expires\":null,\"at\":1,\"level\":0,\"members\":1}",
		"{\"v\":1,\"expires\":null,\"at\":1,\"level\":6,\"members\":1}",
		"{\"v\":1,\"expires\":null,\"at\":1,\"level\":2,\"members\":-1}",
	};
	for (size_t i = 0; i < sizeof(bad_ob) / sizeof(bad_ob[0]); i++) {
		err[0] = '\0';
		if (mg_cl_parse_value(bad_ob[i], strlen(bad_ob[i]), &o, err, sizeof(err)) != -EINVAL ||
		    !strstr(err, "level 1..5"))
			fail_msg("%s: said '%s'", bad_ob[i], err);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mg_cl_entry x = entry(MG_CL_VERDICT, "edge-a", "198.18.2.2", 0, 0);
		err[0] = '\0';
		if (mg_cl_parse_value(bad[i].value, strlen(bad[i].value), &x, err, sizeof(err)) != -EINVAL ||
		    !strstr(err, bad[i].says))
			fail_msg("%s: said '%s', wanted '%s'", bad[i].value, err, bad[i].says);
	}
	char big[MG_CL_VALUE_MAX + 2];
	memset(big, ' ', sizeof(big));
	assert_int_equal(mg_cl_parse_value(big, sizeof(big), &back, err, sizeof(err)), -EINVAL);
	/* A long "why" is cut at a whole character. */
	char v[600];
	snprintf(v, sizeof(v), "{\"v\":1,\"action\":\"smtp\",\"expires\":null,\"at\":1,\"why\":\"%s\"}",
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
		 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
	assert_int_equal(mg_cl_parse_value(v, strlen(v), &back, err, sizeof(err)), 0);
	assert_int_equal(strlen(back.why) % 2, 0);
	assert_true(strlen(back.why) >= MG_CL_WHY_MAX - 2);
}

/*
 * An operator's comment cut to fit the "why" (mtaguardd writes
 * "operator: %.100s") may end halfway through a character: the entry is
 * still written, without that half (it was refused, and the block never
 * reached the other nodes).
 */
static void test_value_why_cut_mid_character(void **state)
{
	char buf[MG_CL_VALUE_MAX], err[160], comment[161];
	struct mg_cl_entry e = entry(MG_CL_BLOCK, "edge-a", "198.18.2.2", MG_ACT_DROP_SMTP, MG_CL_NO_EXPIRY), back;

	(void)state;
	memset(comment, 'a', 99);
	snprintf(comment + 99, sizeof(comment) - 99, "\xc3\xa9 spam run, ticket 4711");
	snprintf(e.why, sizeof(e.why), "operator: %.100s", comment);
	assert_int_equal(mg_cl_value(&e, buf, sizeof(buf)), 0);
	back = entry(MG_CL_BLOCK, "edge-a", "198.18.2.2", 0, 0);
	assert_int_equal(mg_cl_parse_value(buf, strlen(buf), &back, err, sizeof(err)), 0);
	assert_int_equal(strlen(back.why), strlen("operator: ") + 99);
	assert_int_equal(strncmp(back.why, e.why, strlen(back.why)), 0);
	/* A 3-byte character cut after its second byte too. */
	snprintf(e.why, sizeof(e.why), "operator: x\xe2\x82");
	assert_int_equal(mg_cl_value(&e, buf, sizeof(buf)), 0);
	assert_int_equal(mg_cl_parse_value(buf, strlen(buf), &back, err, sizeof(err)), 0);
	assert_string_equal(back.why, "operator: x");
}

/* Per prefix, the received entries add up: the strongest action, the latest expiry; allows apart. */
static void test_recv_adds_up(void **state)
{
	struct mg_clrecv *r = mg_clrecv_new();
	struct mg_cl_want w;
	struct mg_cl_entry a = entry(MG_CL_VERDICT, "edge-a", "198.18.2.2", MG_ACT_DROP_SMTP, 0);
	struct mg_cl_entry b = entry(MG_CL_BLOCK, "edge-b", "198.18.2.2", MG_ACT_DROP_ALL, 0);
	struct mg_cl_entry c = entry(MG_CL_ALLOW, "edge-c", "198.18.2.2", 0, 0);
	char buf[128];
	size_t by[MG_CL_KIND_MAX];

	(void)state;
	assert_non_null(r);
	assert_int_equal(mg_clrecv_put(r, &a, 100 * SEC, &w), 0);
	assert_true(w.block && !w.allow);
	assert_int_equal(w.action, MG_ACT_DROP_SMTP);
	assert_int_equal(w.block_expires, 100 * SEC);
	assert_int_equal(mg_clrecv_put(r, &b, 50 * SEC, &w), 0);
	assert_int_equal(w.action, MG_ACT_DROP_ALL);
	assert_int_equal(w.block_expires, 100 * SEC);
	assert_int_equal(w.origins, 2);
	/* The same origin and kind again replaces its entry. */
	assert_int_equal(mg_clrecv_put(r, &a, MG_TIME_NEVER, &w), 0);
	assert_int_equal(w.block_expires, MG_TIME_NEVER);
	assert_int_equal(w.origins, 2);
	assert_int_equal(mg_clrecv_put(r, &c, 30 * SEC, &w), 0);
	assert_true(w.allow && w.block);
	assert_int_equal(w.allow_expires, 30 * SEC);
	assert_string_equal(mg_clrecv_origins(r, &a.prefix, buf, sizeof(buf)), "edge-a verdict, edge-b block, edge-c allow");
	assert_true(mg_clrecv_has(r, MG_CL_BLOCK, "edge-b", &a.prefix));
	assert_false(mg_clrecv_has(r, MG_CL_VERDICT, "edge-b", &a.prefix));
	assert_int_equal(mg_clrecv_count(r, by), 3);
	assert_int_equal(by[MG_CL_VERDICT], 1);
	/* One origin's removal leaves the others' in force. */
	assert_true(mg_clrecv_del(r, MG_CL_BLOCK, "edge-b", &a.prefix, &w));
	assert_true(w.block);
	assert_int_equal(w.action, MG_ACT_DROP_SMTP);
	assert_false(mg_clrecv_del(r, MG_CL_BLOCK, "edge-b", &a.prefix, &w));
	assert_true(mg_clrecv_del(r, MG_CL_VERDICT, "edge-a", &a.prefix, &w));
	assert_false(w.block);
	assert_true(w.allow);
	assert_true(mg_clrecv_del(r, MG_CL_ALLOW, "edge-c", &a.prefix, &w));
	assert_int_equal(w.origins, 0);
	mg_clrecv_want(r, &a.prefix, &w);
	assert_false(w.block || w.allow);
	assert_int_equal(mg_clrecv_count(r, NULL), 0);

	/* Many prefixes: the table grows and removals keep every other prefix findable. */
	for (unsigned i = 0; i < 3000; i++) {
		char p[32];
		snprintf(p, sizeof(p), "198.18.%u.%u", i / 250, i % 250 + 1);
		struct mg_cl_entry x = entry(MG_CL_VERDICT, "edge-a", p, MG_ACT_DROP_SMTP, 0);
		assert_int_equal(mg_clrecv_put(r, &x, 10 * SEC + i, &w), 0);
	}
	for (unsigned i = 0; i < 3000; i += 2) {
		char p[32];
		snprintf(p, sizeof(p), "198.18.%u.%u", i / 250, i % 250 + 1);
		struct mg_cl_entry x = entry(MG_CL_VERDICT, "edge-a", p, 0, 0);
		assert_true(mg_clrecv_del(r, MG_CL_VERDICT, "edge-a", &x.prefix, &w));
	}
	for (unsigned i = 1; i < 3000; i += 2) {
		char p[32];
		snprintf(p, sizeof(p), "198.18.%u.%u", i / 250, i % 250 + 1);
		struct mg_cl_entry x = entry(MG_CL_VERDICT, "edge-a", p, 0, 0);
		mg_clrecv_want(r, &x.prefix, &w);
		assert_true(w.block);
		assert_int_equal(w.block_expires, 10 * SEC + i);
	}
	assert_int_equal(mg_clrecv_count(r, NULL), 1500);

	/*
	 * Many nodes on one prefix (a cluster of 40 edges that all saw one bot):
	 * every entry is kept, and an allow from one more node still counts. A
	 * cap of 32 refused the rest for good: the watch does not send an entry
	 * again, so when the first 32 went, the others' rule was missing here.
	 */
	for (unsigned i = 0; i < 40; i++) {
		char node[16];
		snprintf(node, sizeof(node), "n%u", i);
		struct mg_cl_entry x = entry(MG_CL_VERDICT, node, "198.19.0.1", MG_ACT_DROP_SMTP, 0);
		assert_int_equal(mg_clrecv_put(r, &x, SEC, &w), 0);
		x = entry(MG_CL_BLOCK, node, "198.19.0.1", MG_ACT_DROP_SMTP, 0);
		assert_int_equal(mg_clrecv_put(r, &x, SEC, &w), 0);
	}
	struct mg_cl_entry x = entry(MG_CL_ALLOW, "one-more", "198.19.0.1", 0, 0);
	assert_int_equal(mg_clrecv_put(r, &x, SEC, &w), 0);
	assert_int_equal(w.origins, 81);
	assert_true(w.allow && w.block);
	for (unsigned i = 0; i < 39; i++) {
		char node[16];
		snprintf(node, sizeof(node), "n%u", i);
		assert_true(mg_clrecv_del(r, MG_CL_VERDICT, node, &x.prefix, &w));
		assert_true(mg_clrecv_del(r, MG_CL_BLOCK, node, &x.prefix, &w));
	}
	assert_true(w.block && w.allow);
	assert_int_equal(w.origins, 3);
	assert_true(mg_clrecv_has(r, MG_CL_VERDICT, "n39", &x.prefix));
	mg_clrecv_free(r);
}

/* A server's URL as logs and status show it: never its user and password. */
static void test_url_public(void **state)
{
	static const char *const cases[][2] = {
		{ "tls://mtaguard:e2e-secret@127.0.0.1:14225", "tls://127.0.0.1:14225" },
		{ "nats://token@nats1.example.net:4222", "nats://nats1.example.net:4222" },
		{ "nats://u:p@ss@198.18.0.1:4222", "nats://198.18.0.1:4222" },
		{ "nats://198.18.0.1:4222", "nats://198.18.0.1:4222" },
		{ "nats://198.18.0.1:4222/x@y", "nats://198.18.0.1:4222/x@y" },
		{ "", "" },
	};
	char buf[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(mg_cluster_url_public(cases[i][0], buf, sizeof(buf)), cases[i][1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_round_trip),
		cmocka_unit_test(test_bad_keys),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_value_why_cut_mid_character),
		cmocka_unit_test(test_recv_adds_up),
		cmocka_unit_test(test_url_public),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
