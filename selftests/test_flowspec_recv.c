// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_flowspec_recv.c - the receive side of mtaguard-flowspec: ExaBGP's
 * JSON lines (as ExaBGP 4.2 writes them, shortened) read into routes, a
 * table of good IPv4 and IPv6 routes, withdrawals, other actions and
 * matches (not taken), this node's own community, session changes and
 * input that is not ExaBGP's, an UPDATE of 5000 routes (more than the first
 * room for them: all read); then the held table: several routes of one
 * peer on one source add up to one block, withdrawals and a session going
 * down end it, a refresh lists what is held, the bound refuses more.
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
#include "mg_flowspec_held.h"
#include "mg_flowspec_recv.h"

#define HEAD(type) "{ \"exabgp\": \"4.0.1\", \"time\": 1796205845.4, \"host\" : \"vm\", \"pid\" : 1, \"ppid\" : 1, " \
	"\"counter\": 5, \"type\": \"" type "\", \"neighbor\": { \"address\": { \"local\": \"198.18.100.1\", " \
	"\"peer\": \"198.18.100.2\" }, \"asn\": { \"local\": 65000, \"peer\": 65000 } , "
/* ExaBGP writes an extended community's value as an unsigned 64-bit number: more than jansson's integers hold. */
#define DISCARD "\"extended-community\": [ { \"value\": 9225060886715039744, \"string\": \"rate-limit:0\" } ]"
/* An UPDATE announcing routes (attr: more attributes) or withdrawing them: what comes before the routes, and after. */
#define ANNOUNCE_OPEN(attr, fam) HEAD("update") "\"direction\": \"receive\", \"message\": { \"update\": { " \
	"\"attribute\": { \"origin\": \"igp\", \"local-preference\": 100" attr " }, \"announce\": { \"" fam "\": " \
	"{ \"no-nexthop\": [ "
#define ANNOUNCE_CLOSE " ] } } } } } }"
#define ANNOUNCE(attr, fam, route) ANNOUNCE_OPEN(attr, fam) route ANNOUNCE_CLOSE
#define WITHDRAW_OPEN(fam) HEAD("update") "\"direction\": \"receive\", \"message\": { \"update\": { " \
	"\"attribute\": { \"origin\": \"igp\" }, \"withdraw\": { \"" fam "\": [ "
#define WITHDRAW_CLOSE " ] } } } } }"
#define WITHDRAW(fam, route) WITHDRAW_OPEN(fam) route WITHDRAW_CLOSE
#define SMTP_ROUTE(src) "{ \"source-ipv4\": [ \"" src "\" ], \"protocol\": [ \"=tcp\" ], \"destination-port\": [ \"=25\" ], " \
	"\"string\": \"flow source-ipv4 " src " protocol =tcp destination-port =25\" }"

struct parse_case {
	const char *name, *line;
	enum mg_fsr_kind kind;
	size_t n;
	bool withdraw;
	enum mg_fsr_status status;
	const char *prefix; /* NULL: not checked */
	uint8_t action;
};

static const struct parse_case cases[] = {
	{ "IPv4 source, TCP to port 25, discard", ANNOUNCE(", " DISCARD, "ipv4 flow", SMTP_ROUTE("198.18.7.7/32")),
	  MG_FSR_ROUTES, 1, false, MG_FSR_USABLE, "198.18.7.7", MG_ACT_DROP_SMTP },
	{ "IPv4 source alone: all its traffic",
	  ANNOUNCE(", " DISCARD, "ipv4 flow", "{ \"source-ipv4\": [ \"198.18.7.0/24\" ], \"string\": \"flow source-ipv4 198.18.7.0/24\" }"),
	  MG_FSR_ROUTES, 1, false, MG_FSR_USABLE, "198.18.7.0/24", MG_ACT_DROP_ALL },
	{ "IPv6 source with ExaBGP's offset /0, next-header tcp, ports 25 and 587",
	  ANNOUNCE(", " DISCARD, "ipv6 flow", "{ \"source-ipv6\": [ \"2001:db8:7::/64/0\" ], \"next-header\": [ \"=tcp\" ], "
	  "\"destination-port\": [ \"=25\", \"=587\" ], \"string\": \"flow source-ipv6 2001:db8:7::/64/0\" }"),
	  MG_FSR_ROUTES, 1, false, MG_FSR_USABLE, "2001:db8:7::/64", MG_ACT_DROP_SMTP },
	{ "IPv6 source with an offset: not a prefix",
	  ANNOUNCE(", " DISCARD, "ipv6 flow", "{ \"source-ipv6\": [ \"2001:db8:7::/64/8\" ] }"),
	  MG_FSR_ROUTES, 1, false, MG_FSR_MALFORMED, NULL, 0 },
	{ "withdrawal", WITHDRAW("ipv4 flow", SMTP_ROUTE("198.18.7.7/32")), MG_FSR_ROUTES, 1, true, MG_FSR_USABLE,
	  "198.18.7.7", 0 },
	{ "IPv6 withdrawal",
	  WITHDRAW("ipv6 flow", "{ \"source-ipv6\": [ \"2001:db8:7::/64/0\" ], \"string\": \"flow source-ipv6 2001:db8:7::/64/0\" }"),
	  MG_FSR_ROUTES, 1, true, MG_FSR_USABLE, "2001:db8:7::/64", 0 },
	{ "a rate limit is no discard",
	  ANNOUNCE(", \"extended-community\": [ { \"value\": 9225060887863885824, \"string\": \"rate-limit:1000\" } ]",
		   "ipv4 flow", SMTP_ROUTE("198.18.7.9/32")),
	  MG_FSR_ROUTES, 1, false, MG_FSR_NOT_DISCARD, NULL, 0 },
	{ "no action at all", ANNOUNCE("", "ipv4 flow", SMTP_ROUTE("198.18.7.9/32")), MG_FSR_ROUTES, 1, false,
	  MG_FSR_NOT_DISCARD, NULL, 0 },
	{ "a destination: narrower than a source block",
	  ANNOUNCE(", " DISCARD, "ipv4 flow", "{ \"destination-ipv4\": [ \"198.18.1.1/32\" ], \"source-ipv4\": [ \"198.18.7.10/32\" ] }"),
	  MG_FSR_ROUTES, 1, false, MG_FSR_UNSUPPORTED, NULL, 0 },
	{ "another port",
	  ANNOUNCE(", " DISCARD, "ipv4 flow", "{ \"source-ipv4\": [ \"198.18.7.10/32\" ], \"destination-port\": [ \"=80\" ] }"),
	  MG_FSR_ROUTES, 1, false, MG_FSR_UNSUPPORTED, NULL, 0 },
	{ "UDP", ANNOUNCE(", " DISCARD, "ipv4 flow", "{ \"source-ipv4\": [ \"198.18.7.10/32\" ], \"protocol\": [ \"=udp\" ] }"),
	  MG_FSR_ROUTES, 1, false, MG_FSR_UNSUPPORTED, NULL, 0 },
	{ "no source", ANNOUNCE(", " DISCARD, "ipv4 flow", "{ \"destination-port\": [ \"=25\" ] }"), MG_FSR_ROUTES, 1,
	  false, MG_FSR_UNSUPPORTED, NULL, 0 },
	{ "two sources", ANNOUNCE(", " DISCARD, "ipv4 flow", "{ \"source-ipv4\": [ \"198.18.7.1/32\", \"198.18.7.2/32\" ] }"),
	  MG_FSR_ROUTES, 1, false, MG_FSR_MALFORMED, NULL, 0 },
	{ "an IPv6 source in the IPv4 family", ANNOUNCE(", " DISCARD, "ipv4 flow", "{ \"source-ipv4\": [ \"2001:db8::/32\" ] }"),
	  MG_FSR_ROUTES, 1, false, MG_FSR_MALFORMED, NULL, 0 },
	{ "a source that is no prefix", ANNOUNCE(", " DISCARD, "ipv4 flow", "{ \"source-ipv4\": [ \"198.18.7.300/32\" ] }"),
	  MG_FSR_ROUTES, 1, false, MG_FSR_MALFORMED, NULL, 0 },
	{ "a route that is not an object", ANNOUNCE(", " DISCARD, "ipv4 flow", "\"source 198.18.7.1\""), MG_FSR_ROUTES, 1,
	  false, MG_FSR_MALFORMED, NULL, 0 },
	{ "this node's own community",
	  ANNOUNCE(", \"community\": [ [ 65000, 1 ] ], " DISCARD, "ipv4 flow", SMTP_ROUTE("198.18.7.11/32")),
	  MG_FSR_ROUTES, 1, false, MG_FSR_OWN, NULL, 0 },
	{ "another node's community",
	  ANNOUNCE(", \"community\": [ [ 65000, 2 ] ], " DISCARD, "ipv4 flow", SMTP_ROUTE("198.18.7.11/32")),
	  MG_FSR_ROUTES, 1, false, MG_FSR_USABLE, "198.18.7.11", MG_ACT_DROP_SMTP },
	{ "unicast routes are not ours",
	  ANNOUNCE(", " DISCARD, "ipv4 unicast", "{ \"nlri\": \"198.18.7.0/24\" }"), MG_FSR_IGNORED, 0, false, 0, NULL, 0 },
	{ "end of RIB", HEAD("update") "\"direction\": \"receive\", \"message\": { \"eor\": { \"afi\" : \"ipv4\", \"safi\" : \"flow\" } } } }",
	  MG_FSR_IGNORED, 0, false, 0, NULL, 0 },
	{ "session down", HEAD("state") "\"state\": \"down\", \"reason\": \"peer reset\" } }", MG_FSR_PEER_DOWN, 0, false, 0,
	  NULL, 0 },
	{ "session up", HEAD("state") "\"state\": \"up\" } }", MG_FSR_IGNORED, 0, false, 0, NULL, 0 },
	{ "shutdown", "{ \"exabgp\": \"4.0.1\", \"type\": \"shutdown\" }", MG_FSR_SHUTDOWN, 0, false, 0, NULL, 0 },
	{ "not JSON", "announce flow route {", MG_FSR_BAD, 0, false, 0, NULL, 0 },
	{ "cut short", "{ \"exabgp\": \"4.0.1\", \"type\": \"update\", \"neighbor\": { \"address\": { \"peer\":", MG_FSR_BAD, 0,
	  false, 0, NULL, 0 },
	{ "an array", "[1,2,3]", MG_FSR_BAD, 0, false, 0, NULL, 0 },
	{ "no type", "{ \"exabgp\": \"4.0.1\" }", MG_FSR_BAD, 0, false, 0, NULL, 0 },
	{ "an update without its peer", "{ \"type\": \"update\", \"neighbor\": { \"message\": { \"update\": {} } } }", MG_FSR_BAD,
	  0, false, 0, NULL, 0 },
	{ "the family not an object", HEAD("update") "\"message\": { \"update\": { \"announce\": { \"ipv4 flow\": 7 } } } } }",
	  MG_FSR_ROUTES, 1, false, MG_FSR_MALFORMED, NULL, 0 },
	{ "the withdrawn family not an array", HEAD("update") "\"message\": { \"update\": { \"withdraw\": { \"ipv6 flow\": {} } } } } }",
	  MG_FSR_ROUTES, 1, true, MG_FSR_MALFORMED, NULL, 0 },
};

static const struct mg_fsr_opts own = { .own_set = true, .own_asn = 65000, .own_value = 1 };

static void test_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct parse_case *t = &cases[i];
		struct mg_fsr_route v[4];
		struct mg_fsr_msg m;
		char buf[MG_ADDRSTRLEN];

		mg_fsr_parse(t->line, strlen(t->line), &own, &m, v, 4);
		print_message("%s\n", t->name);
		assert_int_equal(m.kind, t->kind);
		assert_int_equal(m.n, t->n);
		if (t->kind == MG_FSR_ROUTES || t->kind == MG_FSR_PEER_DOWN)
			assert_string_equal(m.peer, "198.18.100.2");
		if (!t->n)
			continue;
		assert_int_equal(v[0].withdraw, t->withdraw);
		assert_string_equal(mg_fsr_status_name(v[0].status), mg_fsr_status_name(t->status));
		if (t->prefix)
			assert_string_equal(mg_prefix_str(&v[0].prefix, buf, sizeof(buf)), t->prefix);
		if (t->action)
			assert_int_equal(v[0].action, t->action);
	}
}

/* Routes past the caller's room are counted, not written; without --tag no community is "own". */
static void test_parse_bounds(void **state)
{
	const char *line = ANNOUNCE(", \"community\": [ [ 65000, 1 ] ], " DISCARD, "ipv4 flow",
				    SMTP_ROUTE("198.18.7.1/32") ", " SMTP_ROUTE("198.18.7.2/32") ", " SMTP_ROUTE("198.18.7.3/32"));
	struct mg_fsr_opts none = { 0 };
	struct mg_fsr_route v[2];
	struct mg_fsr_msg m;

	(void)state;
	mg_fsr_parse(line, strlen(line), &none, &m, v, 2);
	assert_int_equal(m.kind, MG_FSR_ROUTES);
	assert_int_equal(m.n, 2);
	assert_int_equal(m.dropped, 1);
	assert_int_equal(v[1].status, MG_FSR_USABLE);
	assert_string_equal(v[1].match, "flow source-ipv4 198.18.7.2/32 protocol =tcp destination-port =25");
	/* Every prefix of the line, one at a time, never crashes and never reads past it. */
	for (size_t n = 0; n < strlen(line); n++) {
		char *cut = malloc(n ? n : 1);
		memcpy(cut, line, n);
		mg_fsr_parse(cut, n, &own, &m, v, 2);
		assert_int_equal(m.kind, MG_FSR_BAD);
		free(cut);
	}
}

static void test_community(void **state)
{
	struct mg_fsr_opts o = { 0 };

	(void)state;
	assert_int_equal(mg_fsr_parse_community("65000:1", &o), 0);
	assert_true(o.own_set);
	assert_int_equal(o.own_asn, 65000);
	assert_int_equal(o.own_value, 1);
	assert_int_equal(mg_fsr_parse_community("65536:1", &o), -EINVAL);
	assert_int_equal(mg_fsr_parse_community("65000:", &o), -EINVAL);
	assert_int_equal(mg_fsr_parse_community("65000:1x", &o), -EINVAL);
	assert_int_equal(mg_fsr_parse_community(":1", &o), -EINVAL);
	assert_int_equal(mg_fsr_parse_community("-1:1", &o), -EINVAL);
}

/* ---- an UPDATE bigger than the first room for its routes ---- */

/* An UPDATE of routes first..last-1, each a /32 of 198.18.0.0/15, announced (discard) or withdrawn. */
static char *big_update(size_t first, size_t last, bool withdraw)
{
	size_t cap = 512 + (last - first) * 128, n = 0;
	char *s = malloc(cap);

	assert_non_null(s);
	n += (size_t)snprintf(s + n, cap - n, "%s",
			      withdraw ? WITHDRAW_OPEN("ipv4 flow") : ANNOUNCE_OPEN(", " DISCARD, "ipv4 flow"));
	for (size_t i = first; i < last; i++) {
		unsigned b = (unsigned)(i >> 8), c = (unsigned)(i & 255);
		n += (size_t)snprintf(s + n, cap - n,
				      "%s{ \"source-ipv4\": [ \"198.18.%u.%u/32\" ], \"string\": \"flow source-ipv4 198.18.%u.%u/32\" }",
				      i > first ? ", " : "", b, c, b, c);
		assert_true(n < cap);
	}
	n += (size_t)snprintf(s + n, cap - n, "%s", withdraw ? WITHDRAW_CLOSE : ANNOUNCE_CLOSE);
	assert_true(n < cap);
	return s;
}

static void count_ops(const struct mg_fsh_op *op, void *arg)
{
	size_t *c = arg;
	c[op->withdraw]++;
}

/*
 * What mtaguard-flowspec --accept does with big_update(first, last,
 * withdraw): every route read (the room grows), every one to the table.
 */
static void take_update(struct mg_fsh *h, size_t first, size_t last, bool withdraw, struct mg_fsr_route **v,
			size_t *cap, size_t *ops)
{
	char *line = big_update(first, last, withdraw);
	struct mg_fsr_msg m;

	assert_int_equal(mg_fsr_parse_all(line, strlen(line), NULL, &m, v, cap), 0);
	assert_int_equal(m.kind, MG_FSR_ROUTES);
	assert_int_equal(m.dropped, 0);
	for (size_t i = 0; i < m.n; i++) {
		assert_int_equal((*v)[i].status, MG_FSR_USABLE);
		assert_int_equal(mg_fsh_route(h, m.peer, &(*v)[i], count_ops, ops), 0);
	}
	free(line);
}

/* 5000 routes in one UPDATE, with room for 4096 at first: all announced, then all withdrawn, none held. */
static void test_parse_big_update(void **state)
{
	struct mg_fsh *h = mg_fsh_new(10000);
	size_t cap = 4096, ops[2] = { 0 };
	struct mg_fsr_route *v = calloc(cap, sizeof(*v));

	(void)state;
	assert_non_null(h);
	assert_non_null(v);
	take_update(h, 0, 5000, false, &v, &cap, ops);
	assert_int_equal(mg_fsh_routes(h), 5000);
	assert_int_equal(ops[0], 5000);
	assert_true(cap >= 5000);
	take_update(h, 0, 5000, true, &v, &cap, ops);
	assert_int_equal(mg_fsh_routes(h), 0);
	assert_int_equal(mg_fsh_sums(h), 0);
	assert_int_equal(ops[1], 5000);

	/* Announced 1000 at a time, withdrawn in one UPDATE of 5000: the withdrawals past the first room too. */
	cap = 4096;
	v = realloc(v, cap * sizeof(*v));
	assert_non_null(v);
	for (size_t i = 0; i < 5000; i += 1000)
		take_update(h, i, i + 1000, false, &v, &cap, ops);
	assert_int_equal(mg_fsh_routes(h), 5000);
	take_update(h, 0, 5000, true, &v, &cap, ops);
	assert_int_equal(mg_fsh_routes(h), 0);
	assert_int_equal(mg_fsh_sums(h), 0);
	assert_int_equal(ops[0], 10000);
	assert_int_equal(ops[1], 10000);
	free(v);
	mg_fsh_free(h);
}

/* ---- the held table ---- */

struct ops {
	struct mg_fsh_op v[16];
	size_t n;
};

static void record(const struct mg_fsh_op *op, void *arg)
{
	struct ops *o = arg;
	assert_true(o->n < 16);
	o->v[o->n++] = *op;
}

static struct mg_fsr_route route(const char *match, const char *pfx, uint8_t action, bool withdraw)
{
	struct mg_fsr_route r = { .withdraw = withdraw, .status = MG_FSR_USABLE, .action = action };

	snprintf(r.match, sizeof(r.match), "%s", match);
	assert_int_equal(mg_prefix_parse(pfx, &r.prefix), 0);
	return r;
}

static void test_held(void **state)
{
	struct mg_fsh *h = mg_fsh_new(3);
	struct ops o = { 0 };
	struct mg_fsr_route r;

	(void)state;
	/* A first route on a source: the daemon gets a block. */
	r = route("m1", "198.18.7.7", MG_ACT_DROP_SMTP, false);
	assert_int_equal(mg_fsh_route(h, "198.18.100.2", &r, record, &o), 0);
	assert_int_equal(o.n, 1);
	assert_false(o.v[0].withdraw);
	assert_int_equal(o.v[0].action, MG_ACT_DROP_SMTP);
	assert_string_equal(o.v[0].peer, "198.18.100.2");
	/* Announced again unchanged: nothing to tell. */
	assert_int_equal(mg_fsh_route(h, "198.18.100.2", &r, record, &o), 0);
	assert_int_equal(o.n, 1);
	/* A second route of the same peer on the source, all traffic: the sum grows to "all". */
	r = route("m2", "198.18.7.7", MG_ACT_DROP_ALL, false);
	assert_int_equal(mg_fsh_route(h, "198.18.100.2", &r, record, &o), 0);
	assert_int_equal(o.n, 2);
	assert_int_equal(o.v[1].action, MG_ACT_DROP_ALL);
	/* Another peer's route on it: a sum of its own. */
	r = route("m1", "198.18.7.7", MG_ACT_DROP_SMTP, false);
	assert_int_equal(mg_fsh_route(h, "198.18.101.2", &r, record, &o), 0);
	assert_int_equal(o.n, 3);
	assert_int_equal(mg_fsh_routes(h), 3);
	assert_int_equal(mg_fsh_sums(h), 2);
	/* Past the bound: refused, nothing told. */
	r = route("m3", "198.18.7.8", MG_ACT_DROP_SMTP, false);
	assert_int_equal(mg_fsh_route(h, "198.18.100.2", &r, record, &o), -ENOSPC);
	assert_int_equal(o.n, 3);
	/* The "all" route withdrawn: back to smtp. */
	r = route("m2", "198.18.7.7", 0, true);
	assert_int_equal(mg_fsh_route(h, "198.18.100.2", &r, record, &o), 0);
	assert_int_equal(o.n, 4);
	assert_false(o.v[3].withdraw);
	assert_int_equal(o.v[3].action, MG_ACT_DROP_SMTP);
	/* A route of the same match now not a discard: it goes, and the peer's block with it. */
	r = route("m1", "198.18.7.7", MG_ACT_DROP_SMTP, false);
	r.status = MG_FSR_NOT_DISCARD;
	assert_int_equal(mg_fsh_route(h, "198.18.100.2", &r, record, &o), 0);
	assert_int_equal(o.n, 5);
	assert_true(o.v[4].withdraw);
	assert_string_equal(o.v[4].peer, "198.18.100.2");
	/* A withdrawal of what is not held: nothing. */
	r = route("m9", "198.18.7.9", 0, true);
	assert_int_equal(mg_fsh_route(h, "198.18.100.2", &r, record, &o), 0);
	assert_int_equal(o.n, 5);
	/* The refresh lists what is held: the other peer's block. */
	struct ops all = { 0 };
	mg_fsh_foreach(h, record, &all);
	assert_int_equal(all.n, 1);
	assert_string_equal(all.v[0].peer, "198.18.101.2");
	/* That peer's session goes down: its block goes. */
	assert_int_equal(mg_fsh_peer_down(h, "198.18.101.2", record, &o), 1);
	assert_int_equal(o.n, 6);
	assert_true(o.v[5].withdraw);
	assert_int_equal(mg_fsh_routes(h), 0);
	assert_int_equal(mg_fsh_sums(h), 0);
	/* A peer whose address begins like another's is another peer. */
	r = route("m1", "2001:db8::1", MG_ACT_DROP_ALL, false);
	assert_int_equal(mg_fsh_route(h, "198.18.100.22", &r, record, &o), 0);
	assert_int_equal(mg_fsh_peer_down(h, "198.18.100.2", record, &o), 0);
	assert_int_equal(mg_fsh_routes(h), 1);
	mg_fsh_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_bounds),
		cmocka_unit_test(test_parse_big_update),
		cmocka_unit_test(test_community),
		cmocka_unit_test(test_held),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
