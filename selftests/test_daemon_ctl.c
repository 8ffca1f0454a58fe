// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_daemon_ctl.c - the control socket's operator commands (block, allow,
 * except) as the daemon answers them, over an engine whose kernel is a
 * recording fake: what is refused, what needs force, what reaches the kernel
 * and what the readable log says.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "mg_clock.h"
#include "daemon_fixture.h"
#include "mg_daemon.h"

#define SEC 1000000000ull

/* The kernel as the engine writes it: the block rules, with their expiries. */
struct fake_kernel {
	struct mg_prefix blocks[32];
	uint64_t expires[32];
	size_t nblocks, nallows;
};

static int find_block(struct fake_kernel *k, const struct mg_prefix *p)
{
	for (size_t i = 0; i < k->nblocks; i++)
		if (mg_prefix_eq(&k->blocks[i], p))
			return (int)i;
	return -1;
}

static int put_block(void *ctx, const struct mg_prefix *p, uint8_t action, uint64_t expires)
{
	struct fake_kernel *k = ctx;
	int i = find_block(k, p);

	(void)action;
	if (i < 0)
		i = (int)k->nblocks++;
	k->blocks[i] = *p;
	k->expires[i] = expires;
	return 0;
}

static int del_block(void *ctx, const struct mg_prefix *p)
{
	struct fake_kernel *k = ctx;
	int i = find_block(k, p);

	if (i < 0)
		return -ENOENT;
	k->blocks[i] = k->blocks[--k->nblocks];
	k->expires[i] = k->expires[k->nblocks];
	return 0;
}

static int put_allow(void *ctx, const struct mg_prefix *p) { (void)p; ((struct fake_kernel *)ctx)->nallows++; return 0; }
static int del_allow(void *ctx, const struct mg_prefix *p) { (void)p; ((struct fake_kernel *)ctx)->nallows--; return 0; }
static int put_server(void *ctx, const uint8_t key[16]) { (void)ctx; (void)key; return 0; }
static int del_server(void *ctx, const uint8_t key[16]) { (void)ctx; (void)key; return 0; }
static int put_outbreak(void *ctx, uint32_t fp, unsigned level, uint64_t since)
{
	(void)ctx, (void)fp, (void)level, (void)since;
	return 0;
}
static int del_outbreak(void *ctx, uint32_t fp) { (void)ctx; (void)fp; return 0; }

static const struct mg_engine_sink fake_sink = {
	.rules = { put_block, del_block, put_allow, del_allow, put_server, del_server, put_outbreak, del_outbreak },
};

/*
 * json_array_append_new as the daemon calls it (this test is linked with
 * --wrap=json_array_append_new): armed with n, the nth call from then on
 * fails as under memory pressure (the value is freed, as jansson does).
 */
int __real_json_array_append_new(json_t *array, json_t *value);
int __wrap_json_array_append_new(json_t *array, json_t *value);
static unsigned append_fails_at;

int __wrap_json_array_append_new(json_t *array, json_t *value)
{
	if (append_fails_at && !--append_fails_at) {
		json_decref(value);
		return -1;
	}
	return __real_json_array_append_new(array, value);
}

struct fixture {
	struct daemon_fixture df; /* the daemon, its configuration and log */
	struct fake_kernel k;
};

/* The daemon's engine on the fake kernel, started, saving in the fixture's directory. */
static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || daemon_fixture_open(&f->df, "/tmp/mg-ctl-XXXXXX"))
		return -1;
	snprintf(f->df.d.cfg.state_file, sizeof(f->df.d.cfg.state_file), "%s/state.gz", f->df.dir);
	if (mg_engine_init(&f->df.d.eng, &f->df.d.cfg, &fake_sink, &f->k, mg_daemon_observe, &f->df.d))
		return -1;
	uint64_t mono = mg_mono_ns();
	mg_engine_start(&f->df.d.eng, mg_daemon_timeline(mono), mg_mono_to_wall_ns(mono));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	int rc;

	mg_engine_free(&f->df.d.eng);
	rc = daemon_fixture_close(&f->df);
	free(f);
	return rc;
}

/*
 * Send {"cmd": cmd, "prefix"/"what": arg, ...} (the rest as key, value pairs
 * of strings; "force" as JSON true); NULL if answered ok, else the error
 * (kept until the next call).
 */
static const char *ask(struct fixture *f, const char *cmd, const char *arg, ...)
{
	static char error[512];
	json_t *req = json_pack("{s:s}", "cmd", cmd);
	const char *k;
	va_list ap;

	if (!strcmp(cmd, "except")) {
		json_object_set_new(req, "op", json_string("add"));
		json_object_set_new(req, "what", json_string(arg));
	} else {
		json_object_set_new(req, "prefix", json_string(arg));
	}
	va_start(ap, arg);
	while ((k = va_arg(ap, const char *))) {
		if (!strcmp(k, "force"))
			json_object_set_new(req, "force", json_true());
		else
			json_object_set_new(req, k, json_string(va_arg(ap, const char *)));
	}
	va_end(ap);
	json_t *resp = mg_daemon_control(req, &f->df.d, NULL);
	json_decref(req);
	bool ok = json_is_true(json_object_get(resp, "ok"));
	snprintf(error, sizeof(error), "%s", ok ? "" : json_string_value(json_object_get(resp, "error")));
	json_decref(resp);
	return ok ? NULL : error;
}

static bool blocked(struct fixture *f, const char *text, uint64_t *expires)
{
	struct mg_prefix p;
	int i;

	assert_int_equal(mg_prefix_parse(text, &p), 0);
	i = find_block(&f->k, &p);
	if (i >= 0 && expires)
		*expires = f->k.expires[i];
	return i >= 0;
}

/* Blocking everything needs force; with it, it happens and the log warns, naming who asked. */
static void test_block_everything_needs_force(void **state)
{
	struct fixture *f = *state;
	const char *e;

	e = ask(f, "block", "0.0.0.0/0", "action", "all", NULL);
	assert_non_null(e);
	assert_non_null(strstr(e, "0.0.0.0/0 is wider than /8, the limit for IPv4 (limits.min_prefix_v4"));
	assert_non_null(strstr(e, "--force"));
	assert_false(blocked(f, "0.0.0.0/0", NULL));
	e = ask(f, "block", "::/0", NULL);
	assert_non_null(e);
	assert_non_null(strstr(e, "the limit for IPv6 (limits.min_prefix_v6"));
	assert_null(strstr(human_log(&f->df), "::/0"));

	assert_null(ask(f, "block", "0.0.0.0/0", "force", "user", "alice", NULL));
	assert_true(blocked(f, "0.0.0.0/0", NULL));
	assert_non_null(strstr(human_log(&f->df),
			       "mtaguardd: warning: operator block 0.0.0.0/0 forced past the limit /8 "
			       "(limits.min_prefix_v4), every source of the family; requested by alice\n"));
	/* Taking it back needs no force. */
	assert_null(ask(f, "unblock", "0.0.0.0/0", NULL));
	assert_false(blocked(f, "0.0.0.0/0", NULL));
}

/* At the limit is fine; one bit wider is not; the limit is the config's. */
static void test_block_limits(void **state)
{
	struct fixture *f = *state;

	assert_null(ask(f, "block", "100.0.0.0/8", NULL));
	assert_non_null(ask(f, "block", "100.0.0.0/7", NULL));
	assert_null(ask(f, "block", "2001:db8::/32", NULL));
	assert_non_null(ask(f, "block", "2001:db8::/31", NULL));
	assert_null(ask(f, "block", "198.18.2.2", NULL));
	f->df.d.cfg.min_prefix_v4 = 16;
	assert_non_null(ask(f, "block", "100.64.0.0/12", NULL));
	assert_null(ask(f, "block", "100.64.0.0/12", "force", NULL));
	/* No name given: the warning says so. */
	assert_non_null(strstr(human_log(&f->df), "requested by an unnamed client"));
	assert_null(strstr(human_log(&f->df), "100.0.0.0/8 forced"));
}

/* Host bits below the length are refused for any client (raw JSON too), never cleared into the network. */
static void test_host_bits_refused(void **state)
{
	static const char *const cmds[] = { "block", "allow", "unblock", "disallow" };
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		const char *e = ask(f, cmds[i], "198.18.10.5/24", NULL);
		assert_non_null(e);
		assert_string_equal(e, "198.18.10.5/24 has host bits set: write 198.18.10.0/24 for the network, "
				       "or 198.18.10.5 for the one host");
	}
	assert_false(blocked(f, "198.18.10.0/24", NULL));
	assert_null(ask(f, "block", "198.18.10.0/24", NULL));
	assert_true(blocked(f, "198.18.10.0/24", NULL));
}

/* Allowing everything is enforcement off: refused with the way to do that, and loud when forced. */
static void test_allow_everything_needs_force(void **state)
{
	struct fixture *f = *state;
	const char *e;

	e = ask(f, "allow", "::/0", NULL);
	assert_non_null(e);
	assert_non_null(strstr(e, "::/0 is every source: nothing would be enforced against any of them; to stop enforcing, "
				  "use 'monitor on'"));
	assert_non_null(strstr(e, "--force"));
	assert_int_equal(f->k.nallows, 0);
	assert_non_null(ask(f, "allow", "0.0.0.0/0", NULL));
	assert_non_null(ask(f, "allow", "64.0.0.0/2", NULL));
	assert_int_equal(f->k.nallows, 0);

	assert_null(ask(f, "allow", "::/0", "force", "user", "root (sudo from bob)", NULL));
	assert_int_equal(f->k.nallows, 1);
	assert_non_null(strstr(human_log(&f->df), "mtaguardd: warning: operator allow ::/0 forced past the limit /32 "
					 "(limits.min_prefix_v6), every source of the family; requested by root (sudo from bob)"));
	assert_null(ask(f, "disallow", "::/0", NULL));
	/* An outbreak exception is an allow too. */
	assert_non_null(ask(f, "except", "0.0.0.0/0", NULL));
	assert_null(ask(f, "except", "198.18.7.0/24", NULL));
	assert_null(ask(f, "except", "0.0.0.0/0", "force", NULL));
	assert_non_null(strstr(human_log(&f->df), "warning: operator except add 0.0.0.0/0 forced"));
}

/* Durations: 0 is "until removed" when asked for; nothing below 1 s or past 366 d; nothing wraps. */
static void test_durations(void **state)
{
	struct fixture *f = *state;
	static const char *const out_of_range[] = { "999ms", "1ms", "367d", "200000d", "18446744073s", "18446744074s",
						    "99999999999999999999" };
	static const char *const bad[] = { "-5s", "1.5h", "5 s", "1x", "", "s" };
	uint64_t exp, now;
	const char *e;

	for (size_t i = 0; i < sizeof(out_of_range) / sizeof(out_of_range[0]); i++) {
		e = ask(f, "block", "198.18.3.3", "duration", out_of_range[i], NULL);
		if (!e || !strstr(e, "out of range: from 1s to 366d, or 0 for until removed"))
			fail_msg("block -d %s: %s", out_of_range[i], e ? e : "accepted");
		e = ask(f, "allow", "198.18.3.3", "duration", out_of_range[i], NULL);
		if (!e || !strstr(e, "out of range"))
			fail_msg("allow -d %s: %s", out_of_range[i], e ? e : "accepted");
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e = ask(f, "block", "198.18.3.3", "duration", bad[i], NULL);
		if (!e || !strstr(e, "bad duration"))
			fail_msg("block -d '%s': %s", bad[i], e ? e : "accepted");
	}
	assert_false(blocked(f, "198.18.3.3", NULL));
	assert_int_equal(f->k.nallows, 0);

	/* The edges: a second and 366 days from now, and forever only by 0. */
	now = mg_daemon_timeline(mg_mono_ns());
	assert_null(ask(f, "block", "198.18.3.3", "duration", "1s", NULL));
	assert_true(blocked(f, "198.18.3.3", &exp));
	assert_true(exp >= now + SEC && exp < now + 2 * SEC);
	assert_null(ask(f, "block", "198.18.3.4", "duration", "366d", NULL));
	assert_true(blocked(f, "198.18.3.4", &exp));
	assert_true(exp >= now + 366 * 86400 * SEC && exp != MG_TIME_NEVER);
	assert_null(ask(f, "block", "198.18.3.5", "duration", "0", NULL));
	assert_true(blocked(f, "198.18.3.5", &exp));
	assert_true(exp == MG_TIME_NEVER);
	/* Without -d: the configured block duration. */
	assert_null(ask(f, "block", "198.18.3.6", NULL));
	assert_true(blocked(f, "198.18.3.6", &exp));
	assert_true(exp >= now + f->df.d.cfg.an.block_ns && exp < now + f->df.d.cfg.an.block_ns + 2 * SEC);
}

/* A comment with a newline or control bytes is one line in the readable log. */
static void test_comment_escaped(void **state)
{
	struct fixture *f = *state;

	assert_null(ask(f, "block", "198.18.4.4", "duration", "1h", "comment",
			"ticket 9\nmtaguardd: operator allow ::/0\x1b[1A", NULL));
	const char *line = strstr(human_log(&f->df), "operator block 198.18.4.4");
	assert_non_null(line);
	assert_non_null(strstr(line, ": ticket 9\\nmtaguardd: operator allow ::/0\\x1b[1A\n"));
	assert_null(strstr(human_log(&f->df), "\nmtaguardd: operator allow ::/0"));
}

/* The whole answer to a request (kept by the caller). */
static json_t *answer(struct fixture *f, json_t *req)
{
	json_t *resp = mg_daemon_control(req, &f->df.d, NULL);

	json_decref(req);
	return resp;
}

/* One "bgp" request (ROUTES is its JSON array); the answer, to be freed. */
static json_t *bgp(struct fixture *f, long long ttl_ms, const char *routes)
{
	json_error_t jerr;
	json_t *req = json_pack("{s:s,s:I,s:o}", "cmd", "bgp", "ttl_ms", (json_int_t)ttl_ms, "routes",
				json_loads(routes, 0, &jerr));
	return answer(f, req);
}

static void set_list(struct mg_prefix_list *l, const char *const *texts, size_t n)
{
	free(l->v);
	l->v = calloc(n, sizeof(*l->v));
	l->n = n;
	for (size_t i = 0; i < n; i++)
		assert_int_equal(mg_prefix_parse(texts[i], &l->v[i]), 0);
}

/* The LAN 198.18.0.0/16, a mail server in it, an allowlisted /24: what the cover check knows. */
static void configure_lan(struct fixture *f)
{
	static const char *const lan[] = { "198.18.0.0/16" }, *const mx[] = { "198.18.1.25" },
			  *const allow[] = { "198.18.5.0/24" };
	uint64_t mono = mg_mono_ns();

	set_list(&f->df.d.cfg.protected_nets, lan, 1);
	set_list(&f->df.d.cfg.mail_servers, mx, 1);
	set_list(&f->df.d.cfg.allowlist, allow, 1);
	mg_engine_configure(&f->df.d.eng, &f->df.d.cfg, mg_daemon_timeline(mono), mg_mono_to_wall_ns(mono));
}

/* A block that reaches the LAN, a mail server or an allow is refused, named, unless forced (and then logged). */
static void test_block_reaching(void **state)
{
	struct fixture *f = *state;
	const char *e;

	configure_lan(f);
	e = ask(f, "block", "198.18.0.0/15", NULL);
	assert_non_null(e);
	assert_string_equal(e, "block 198.18.0.0/15 covers protected network 198.18.0.0/16, covers allowlisted "
			       "198.18.5.0/24 (config:allowlist), covers mail server 198.18.1.25 (config:mail_servers); "
			       "repeat with --force if you mean it");
	assert_false(blocked(f, "198.18.0.0/15", NULL));
	e = ask(f, "block", "198.18.1.0/24", NULL);
	assert_non_null(e);
	assert_non_null(strstr(e, "covers mail server 198.18.1.25 (config:mail_servers)"));
	assert_null(strstr(e, "protected network"));
	e = ask(f, "block", "198.18.5.7", "duration", "1h", NULL);
	assert_non_null(e);
	assert_non_null(strstr(e, "lies inside allowlisted 198.18.5.0/24 (config:allowlist), which wins"));
	assert_false(blocked(f, "198.18.5.7", NULL));
	/* Inside the LAN, away from the server and the allow: the ordinary block of a zombie PC. */
	assert_null(ask(f, "block", "198.18.7.0/24", NULL));
	assert_true(blocked(f, "198.18.7.0/24", NULL));
	/* An operator's own allow counts, named as theirs. */
	assert_null(ask(f, "allow", "100.64.1.0/24", NULL));
	e = ask(f, "block", "100.64.0.0/16", NULL);
	assert_non_null(e);
	assert_non_null(strstr(e, "covers allowlisted 100.64.1.0/24 (operator)"));
	/* Unblocking never needs force. */
	assert_null(ask(f, "unblock", "198.18.7.0/24", NULL));

	json_t *r = answer(f, json_pack("{s:s,s:s,s:b,s:s}", "cmd", "block", "prefix", "198.18.0.0/15", "force", 1, "user",
					"alice"));
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_non_null(strstr(json_string_value(json_object_get(r, "forced_over")), "covers protected network 198.18.0.0/16"));
	json_decref(r);
	assert_true(blocked(f, "198.18.0.0/15", NULL));
	assert_non_null(strstr(human_log(&f->df),
			       "mtaguardd: warning: operator block 198.18.0.0/15 forced: it covers protected "
			       "network 198.18.0.0/16, covers allowlisted 198.18.5.0/24 (config:allowlist), covers "
			       "mail server 198.18.1.25 (config:mail_servers); requested by alice\n"));
}

/* A change answers with what was done: the prefix as taken, the action, the end, the note. */
static void test_mutations_say_what(void **state)
{
	struct fixture *f = *state;
	json_t *r;

	r = answer(f, json_pack("{s:s,s:s,s:s,s:s,s:s}", "cmd", "block", "prefix", "198.18.9.7", "duration", "1h", "action",
				"all", "comment", "ticket 8"));
	assert_string_equal(json_string_value(json_object_get(r, "done")), "block");
	assert_string_equal(json_string_value(json_object_get(r, "prefix")), "198.18.9.7");
	assert_string_equal(json_string_value(json_object_get(r, "action")), "all");
	assert_string_equal(json_string_value(json_object_get(r, "comment")), "ticket 8");
	json_int_t left = json_integer_value(json_object_get(r, "expires_in_s"));
	assert_true(left >= 3598 && left <= 3600);
	assert_true(json_is_string(json_object_get(r, "expires")));
	json_decref(r);
	r = answer(f, json_pack("{s:s,s:s,s:s}", "cmd", "allow", "prefix", "198.18.9.8", "duration", "0"));
	assert_string_equal(json_string_value(json_object_get(r, "done")), "allow");
	assert_true(json_is_null(json_object_get(r, "expires")));
	assert_int_equal(json_integer_value(json_object_get(r, "expires_in_s")), -1);
	json_decref(r);
	r = answer(f, json_pack("{s:s,s:s}", "cmd", "unblock", "prefix", "198.18.9.7"));
	assert_string_equal(json_string_value(json_object_get(r, "done")), "unblock");
	assert_string_equal(json_string_value(json_object_get(r, "prefix")), "198.18.9.7");
	json_decref(r);
	/* A HELO given by its text is kept (and said) as its hash. */
	r = answer(f, json_pack("{s:s,s:s,s:s}", "cmd", "except", "op", "add", "what", "helo:Mail.Example.NET"));
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(r, "what")), "helo:fab9b02b");
	json_decref(r);
	r = answer(f, json_pack("{s:s,s:s}", "cmd", "except", "op", "list"));
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "exceptions"), 0)), "helo:fab9b02b");
	json_decref(r);
	r = answer(f, json_pack("{s:s,s:s,s:s}", "cmd", "except", "op", "remove", "what", "helo:fab9b02b"));
	assert_string_equal(json_string_value(json_object_get(r, "op")), "remove");
	json_decref(r);
}

/* verdicts --by/--origin/--source: the rows that match, every block counted. */
static void test_verdicts_filtered(void **state)
{
	struct fixture *f = *state;
	json_t *r, *rows;

	assert_null(ask(f, "block", "198.18.7.0/24", "comment", "lab 7", NULL));
	assert_null(ask(f, "block", "198.18.8.8", NULL));
	assert_null(ask(f, "block", "100.64.0.0/10", NULL));

	r = answer(f, json_pack("{s:s}", "cmd", "verdicts"));
	assert_int_equal(json_integer_value(json_object_get(r, "total")), 3);
	assert_int_equal(json_integer_value(json_object_get(r, "shown")), 3);
	json_decref(r);
	r = answer(f, json_pack("{s:s,s:s}", "cmd", "verdicts", "source", "198.18.7.9"));
	rows = json_object_get(r, "verdicts");
	assert_int_equal(json_array_size(rows), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "source")), "198.18.7.0/24");
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "comment")), "lab 7");
	assert_int_equal(json_integer_value(json_object_get(r, "total")), 3);
	assert_int_equal(json_integer_value(json_object_get(r, "shown")), 1);
	json_decref(r);
	r = answer(f, json_pack("{s:s,s:s}", "cmd", "verdicts", "source", "198.18.0.0/16"));
	assert_int_equal(json_integer_value(json_object_get(r, "shown")), 2);
	json_decref(r);
	r = answer(f, json_pack("{s:s,s:s}", "cmd", "verdicts", "by", "analyzer"));
	assert_int_equal(json_integer_value(json_object_get(r, "shown")), 0);
	assert_int_equal(json_integer_value(json_object_get(r, "total")), 3);
	json_decref(r);
	r = answer(f, json_pack("{s:s,s:s,s:s}", "cmd", "verdicts", "by", "operator", "origin", "edge-a"));
	assert_int_equal(json_integer_value(json_object_get(r, "shown")), 0); /* no cluster: nothing came from edge-a */
	json_decref(r);
	r = answer(f, json_pack("{s:s,s:s}", "cmd", "verdicts", "by", "config:allowlist"));
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_non_null(strstr(json_string_value(json_object_get(r, "error")), "blocks are by operator, analyzer"));
	json_decref(r);
}

static const char *outcome(json_t *resp, size_t i)
{
	return json_string_value(json_array_get(json_object_get(resp, "outcomes"), i));
}

/*
 * The FlowSpec helper's routes: taken as the owner bgp with the peer named
 * in verdicts, refreshed, withdrawn; unusable items answered as such and
 * the rest taken; never listed in the blocks the helper announces; bounds
 * on the TTL and the request refused as a whole.
 */
/*
 * The blocks as mtaguard-flowspec follows them: a list it cannot build whole
 * is refused, never answered with blocks left out (the helper would
 * withdraw their routes, and the next ask would say "unchanged").
 */
static void test_blocks_whole_or_refused(void **state)
{
	struct fixture *f = *state;
	json_t *req = json_pack("{s:s}", "cmd", "blocks"), *r;

	assert_null(ask(f, "block", "198.18.9.1", NULL));
	assert_null(ask(f, "block", "198.18.9.2", NULL));
	assert_null(ask(f, "block", "198.18.9.3", NULL));
	append_fails_at = 2;
	r = mg_daemon_control(req, &f->df.d, NULL);
	append_fails_at = 0;
	assert_false(json_is_true(json_object_get(r, "ok")));
	assert_null(json_object_get(r, "blocks"));
	json_decref(r);
	r = mg_daemon_control(req, &f->df.d, NULL);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(json_array_size(json_object_get(r, "blocks")), 3);
	json_decref(r);
	json_decref(req);
}

static void test_bgp_routes(void **state)
{
	struct fixture *f = *state;
	uint64_t exp1, exp2;
	json_t *r;

	r = bgp(f, 60000, "[{\"peer\":\"198.18.100.2\",\"prefix\":\"198.18.7.7\",\"action\":\"smtp\"},"
			  "{\"peer\":\"198.18.100.2\",\"prefix\":\"198.18.7.300\",\"action\":\"smtp\"},"
			  "{\"peer\":\"bad peer\",\"prefix\":\"198.18.7.8\",\"action\":\"smtp\"},"
			  "{\"peer\":\"198.18.100.2\",\"prefix\":\"198.18.7.9\",\"action\":\"none\"},"
			  "{\"peer\":\"198.18.100.2\",\"prefix\":\"100.0.0.0/7\",\"action\":\"all\"},"
			  "{\"prefix\":\"198.18.7.10\",\"action\":\"all\"}]");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(outcome(r, 0), "taken");
	assert_string_equal(outcome(r, 1), "unusable");
	assert_string_equal(outcome(r, 2), "unusable");
	assert_string_equal(outcome(r, 3), "unusable");
	assert_string_equal(outcome(r, 4), "too-wide");
	assert_string_equal(outcome(r, 5), "unusable");
	json_decref(r);
	assert_true(blocked(f, "198.18.7.7", &exp1));
	assert_false(blocked(f, "198.18.7.8", NULL));
	assert_non_null(strstr(human_log(&f->df), "bgp: FlowSpec discard 198.18.7.7 (smtp) from 198.18.100.2 taken"));
	assert_non_null(
		strstr(human_log(&f->df), "bgp: FlowSpec route 100.0.0.0/7 from 198.18.100.2 refused: too-wide"));

	/* verdicts names the owner and the peer; blocks (the helper's announcements) leaves it out. */
	json_t *req = json_pack("{s:s}", "cmd", "verdicts");
	r = mg_daemon_control(req, &f->df.d, NULL);
	json_decref(req);
	json_t *v = json_array_get(json_object_get(r, "verdicts"), 0);
	assert_string_equal(json_string_value(json_object_get(v, "source")), "198.18.7.7");
	assert_string_equal(json_string_value(json_object_get(v, "by")), "bgp");
	assert_string_equal(json_string_value(json_object_get(v, "peer")), "198.18.100.2");
	json_decref(r);
	req = json_pack("{s:s}", "cmd", "blocks");
	r = mg_daemon_control(req, &f->df.d, NULL);
	json_decref(req);
	assert_int_equal(json_array_size(json_object_get(r, "blocks")), 0);
	json_decref(r);

	/* Announced again: refreshed, its expiry from now. */
	usleep(20000);
	r = bgp(f, 60000, "[{\"peer\":\"198.18.100.2\",\"prefix\":\"198.18.7.7\",\"action\":\"smtp\"}]");
	assert_string_equal(outcome(r, 0), "refreshed");
	json_decref(r);
	assert_true(blocked(f, "198.18.7.7", &exp2));
	assert_true(exp2 > exp1);

	/* Withdrawn: gone, and said. */
	r = bgp(f, 60000, "[{\"peer\":\"198.18.100.2\",\"prefix\":\"198.18.7.7\",\"withdraw\":true}]");
	assert_string_equal(outcome(r, 0), "removed");
	json_decref(r);
	assert_false(blocked(f, "198.18.7.7", NULL));
	assert_non_null(strstr(human_log(&f->df), "bgp: FlowSpec route 198.18.7.7 withdrawn by 198.18.100.2"));

	/* The request's own bounds. */
	r = bgp(f, 10, "[]");
	assert_false(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	req = json_pack("{s:s,s:I}", "cmd", "bgp", "ttl_ms", (json_int_t)60000);
	r = mg_daemon_control(req, &f->df.d, NULL);
	json_decref(req);
	assert_false(json_is_true(json_object_get(r, "ok")));
	json_decref(r);

	req = json_pack("{s:s}", "cmd", "status");
	r = mg_daemon_control(req, &f->df.d, NULL);
	json_decref(req);
	json_t *st = json_object_get(json_object_get(r, "bgp"), "outcomes");
	assert_int_equal(json_integer_value(json_object_get(st, "taken")), 1);
	assert_int_equal(json_integer_value(json_object_get(st, "refreshed")), 1);
	assert_int_equal(json_integer_value(json_object_get(st, "unusable")), 4);
	assert_int_equal(json_integer_value(json_object_get(st, "too-wide")), 1);
	json_decref(r);
}

/* A daemon with nothing started, for its command line's overrides, and a default configuration in c. */
static struct mg_daemon *daemon_for_overrides(struct mg_config *c)
{
	struct mg_daemon *d = calloc(1, sizeof(*d));

	assert_non_null(d);
	mg_daemon_init(d);
	mg_config_default(c);
	return d;
}

/*
 * Interfaces named with -i come on top of the file's: past the cap of 16 the
 * rest were dropped without a word, and the daemon ran unattached to them.
 * Now refused, saying how many; names the file has already are no more.
 */
static void test_interfaces_over_the_cap_refused(void **state)
{
	struct mg_config c;
	struct mg_daemon *d = daemon_for_overrides(&c);
	char err[256] = "";

	(void)state;
	for (size_t i = 0; i < MG_CONFIG_MAX_IFACES - 1; i++)
		snprintf(c.ifaces[c.n_ifaces++].name, sizeof(c.ifaces[0].name), "veth%zu", i);
	snprintf(d->over.ifaces[0].name, sizeof(d->over.ifaces[0].name), "veth0"); /* the file's already */
	snprintf(d->over.ifaces[1].name, sizeof(d->over.ifaces[1].name), "mg-extra1");
	d->over.n_ifaces = 2;
	assert_int_equal(mg_daemon_apply_overrides(d, &c, err, sizeof(err)), 0);
	assert_int_equal(c.n_ifaces, MG_CONFIG_MAX_IFACES);
	c.n_ifaces--;
	snprintf(d->over.ifaces[2].name, sizeof(d->over.ifaces[2].name), "mg-extra2");
	d->over.n_ifaces = 3;
	assert_int_equal(mg_daemon_apply_overrides(d, &c, err, sizeof(err)), -E2BIG);
	assert_non_null(strstr(err, "at most 16"));
	assert_non_null(strstr(err, "mg-extra2"));
	mg_config_free(&c);
	free(d);
}

/*
 * -u: an uplink named on the command line, one the file lists marked as
 * such, and past MG_UPLINKS_MAX in all (the program holds that many) refused.
 */
static void test_uplinks_from_the_command_line(void **state)
{
	struct mg_config c;
	struct mg_daemon *d = daemon_for_overrides(&c);
	char err[256] = "";

	(void)state;
	snprintf(c.ifaces[c.n_ifaces++].name, sizeof(c.ifaces[0].name), "in0");
	snprintf(c.ifaces[c.n_ifaces++].name, sizeof(c.ifaces[0].name), "out0");
	snprintf(d->over.ifaces[0].name, sizeof(d->over.ifaces[0].name), "out0");
	d->over.ifaces[0].uplink = true;
	snprintf(d->over.ifaces[1].name, sizeof(d->over.ifaces[1].name), "out1");
	d->over.ifaces[1].uplink = true;
	snprintf(d->over.ifaces[2].name, sizeof(d->over.ifaces[2].name), "in1");
	d->over.n_ifaces = 3;
	assert_int_equal(mg_daemon_apply_overrides(d, &c, err, sizeof(err)), 0);
	assert_int_equal(c.n_ifaces, 4);
	assert_false(c.ifaces[0].uplink);
	assert_true(c.ifaces[1].uplink); /* the file's out0, marked by -u */
	assert_string_equal(c.ifaces[2].name, "out1");
	assert_true(c.ifaces[2].uplink);
	assert_false(c.ifaces[3].uplink);

	for (size_t i = 0; i < MG_UPLINKS_MAX - 1; i++) {
		snprintf(d->over.ifaces[i].name, sizeof(d->over.ifaces[0].name), "up%zu", i);
		d->over.ifaces[i].uplink = true;
	}
	d->over.n_ifaces = MG_UPLINKS_MAX - 1;
	c.n_ifaces = 2; /* in0 and the marked out0 */
	assert_int_equal(mg_daemon_apply_overrides(d, &c, err, sizeof(err)), 0);
	c.n_ifaces = 2;
	snprintf(d->over.ifaces[MG_UPLINKS_MAX - 1].name, sizeof(d->over.ifaces[0].name), "up-last");
	d->over.ifaces[MG_UPLINKS_MAX - 1].uplink = true;
	d->over.n_ifaces = MG_UPLINKS_MAX;
	assert_int_equal(mg_daemon_apply_overrides(d, &c, err, sizeof(err)), -E2BIG);
	assert_non_null(strstr(err, "at most 8 uplinks"));
	mg_config_free(&c);
	free(d);
}

/* A writer with no room for `full` puts, then room for all (what the daemon's thread says when behind). */
struct slow_writer {
	int full, puts, closes;
};

static int slow_open(void *ctx, const char *path)
{
	(void)ctx;
	(void)path;
	return 0;
}

static int slow_put(void *ctx, uint8_t *buf, size_t len)
{
	struct slow_writer *w = ctx;

	(void)len;
	if (w->full > 0) {
		w->full--;
		return -EAGAIN;
	}
	w->puts++;
	free(buf);
	return 0;
}

static void slow_close(void *ctx)
{
	((struct slow_writer *)ctx)->closes++;
}

static void slow_abort(void *ctx)
{
	(void)ctx;
	fail_msg("the save was given up");
}

/*
 * The loop's slices of a save while the writer is behind: a slice that
 * finds no room ends at once, and the next one hands the waiting piece over
 * and goes on to the end (a slice that only looked at whether it waited never
 * tried again: the save stayed under way for good).
 */
static void test_save_slices_wait_for_the_writer(void **state)
{
	struct fixture *f = *state;
	struct mg_daemon *d = &f->df.d;
	struct slow_writer w = { .full = 2 };
	static const struct mg_state_stream slow = {
		.open = slow_open, .put = slow_put, .close = slow_close, .abort = slow_abort,
	};
	uint64_t mono = mg_mono_ns();

	d->eng.state_stream = &slow;
	d->eng.state_stream_ctx = &w;
	assert_int_equal(mg_engine_save_begin(&d->eng, mg_daemon_timeline(mono), mg_mono_to_wall_ns(mono)), 0);
	mg_daemon_save_slice(d);
	assert_true(d->eng.saving);
	assert_true(mg_engine_save_waiting(&d->eng));
	assert_int_equal(w.full, 1);
	mg_daemon_save_slice(d);
	assert_true(mg_engine_save_waiting(&d->eng));
	assert_int_equal(w.full, 0);
	mg_daemon_save_slice(d); /* room now */
	assert_false(d->eng.saving);
	assert_int_equal(w.puts, 1);
	assert_int_equal(w.closes, 1);
	d->eng.state_stream = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_block_everything_needs_force, setup, teardown),
		cmocka_unit_test_setup_teardown(test_block_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_bits_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allow_everything_needs_force, setup, teardown),
		cmocka_unit_test_setup_teardown(test_durations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_comment_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_block_reaching, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mutations_say_what, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verdicts_filtered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocks_whole_or_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bgp_routes, setup, teardown),
		cmocka_unit_test(test_interfaces_over_the_cap_refused),
		cmocka_unit_test(test_uplinks_from_the_command_line),
		cmocka_unit_test_setup_teardown(test_save_slices_wait_for_the_writer, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
