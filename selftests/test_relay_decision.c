// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_relay_decision.c - the relay's quarantine decision (mg_relay_decide):
 * which gathered facts make REJECT, HOLD or DUNNO, in which order, with the
 * exact texts Postfix logs; and the exceptions by client, sender domain and
 * recipient. No data plane needed: the facts are what the daemon would have
 * looked up.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "mg_addr.h"
#include "mg_config.h"
#include "mg_relay_decision.h"

#define SIG "fp:68812a4c"
#define RULE "role-change:direct-to-mx"

static char action[256];
static const char *reason;

/* A parsed client nobody knows anything about, at the default threshold. */
static struct mg_relay_facts client(const char *addr)
{
	return (struct mg_relay_facts){ .client = addr, .parsed = true, .quarantine_level = 3 };
}

/* Decide, with a stale reason planted to show that it is always set. */
static enum mg_relay_action run(const struct mg_relay_facts *f)
{
	reason = "stale";
	memset(action, 'x', sizeof(action));
	return mg_relay_decide(f, action, sizeof(action), &reason);
}

static void assert_dunno(const struct mg_relay_facts *f)
{
	assert_int_equal(run(f), MG_RELAY_DUNNO);
	assert_string_equal(action, "DUNNO");
	assert_null(reason);
}

static void test_allowlist_wins(void **state)
{
	(void)state;
	/* Blocked by the kernel and the analyzer, an outbreak member, and a suspect at the top level. */
	struct mg_relay_facts f = client("198.18.9.9");
	f.kernel_block = true;
	f.known = true;
	f.role = MG_ROLE_BLOCKED;
	f.verdict_rule = RULE;
	f.outbreak_member = true;
	f.signature = SIG;
	f.threat_level = 5;
	assert_int_equal(run(&f), MG_RELAY_REJECT); /* the control: without the allow it is rejected */
	f.allowlisted = true;
	assert_dunno(&f);

	struct mg_relay_facts m = client("198.18.2.2");
	m.outbreak_member = true;
	m.signature = SIG;
	assert_int_equal(run(&m), MG_RELAY_HOLD);
	m.allowlisted = true;
	assert_dunno(&m);

	struct mg_relay_facts s = client("198.18.1.2");
	s.known = true;
	s.role = MG_ROLE_SUSPECT;
	s.threat_level = 5;
	s.allowlisted = true;
	assert_dunno(&s);
}

static void test_kernel_block_rejects(void **state)
{
	(void)state;
	/* The analyzer's verdict put the rule there: its rule is named. */
	struct mg_relay_facts f = client("198.18.9.9");
	f.kernel_block = true;
	f.known = true;
	f.role = MG_ROLE_BLOCKED;
	f.verdict_rule = RULE;
	assert_int_equal(run(&f), MG_RELAY_REJECT);
	assert_string_equal(action, "REJECT 5.7.1 mtaguard: 198.18.9.9 is blocked (" RULE ")");
	assert_null(reason);

	/* No profile: the operator's block. */
	struct mg_relay_facts o = client("2001:db8:9::9");
	o.kernel_block = true;
	assert_int_equal(run(&o), MG_RELAY_REJECT);
	assert_string_equal(action, "REJECT 5.7.1 mtaguard: 2001:db8:9::9 is blocked (by the operator)");

	/* A profile without a verdict (an end host the operator blocked): still the operator's,
	 * and the profile's rule text is not used. */
	o.known = true;
	o.role = MG_ROLE_END_HOST;
	o.verdict_rule = "should-not-appear";
	assert_int_equal(run(&o), MG_RELAY_REJECT);
	assert_string_equal(action, "REJECT 5.7.1 mtaguard: 2001:db8:9::9 is blocked (by the operator)");

	/* A block beats holding: a blocked outbreak member, a blocked suspect at the top level. */
	o.outbreak_member = true;
	o.signature = SIG;
	o.role = MG_ROLE_SUSPECT;
	o.threat_level = 5;
	assert_int_equal(run(&o), MG_RELAY_REJECT);
	assert_null(reason);
}

static void test_verdict_without_kernel_rule_rejects(void **state)
{
	(void)state;
	struct mg_relay_facts f = client("198.18.9.10");
	f.known = true;
	f.role = MG_ROLE_BLOCKED;
	f.verdict_rule = RULE;
	assert_int_equal(run(&f), MG_RELAY_REJECT);
	assert_string_equal(action, "REJECT 5.7.1 mtaguard: 198.18.9.10 is blocked (" RULE ")");
	/* Source verification's findings, named after the rule. */
	f.verdict_rule = "forgery:spf-fail";
	f.checks = "spf=fail domain=dhl.com, ptr=fail, helo=x.example (not FCrDNS)";
	assert_int_equal(run(&f), MG_RELAY_REJECT);
	assert_string_equal(action, "REJECT 5.7.1 mtaguard: 198.18.9.10 is blocked (forgery:spf-fail) checks: "
				    "spf=fail domain=dhl.com, ptr=fail, helo=x.example (not FCrDNS)");
	f.checks = NULL;

	/* Unknown to the analyzer, the role field means nothing. */
	f.known = false;
	assert_dunno(&f);
}

static void test_expired_block_does_not_count(void **state)
{
	(void)state;
	const uint64_t now = 1000000000000ull;

	assert_false(mg_relay_block_in_force(false, 0, now));
	assert_false(mg_relay_block_in_force(false, now + 1, now)); /* no rule found: the value is junk */
	assert_true(mg_relay_block_in_force(true, 0, now));         /* a rule without expiry */
	assert_true(mg_relay_block_in_force(true, now + 1, now));
	assert_false(mg_relay_block_in_force(true, now, now));      /* expires at this moment: over */
	assert_false(mg_relay_block_in_force(true, now - 1, now));

	/* An operator's block past its time, waiting to be removed: the client is not rejected. */
	struct mg_relay_facts f = client("198.18.9.11");
	f.kernel_block = mg_relay_block_in_force(true, now - 1, now);
	assert_dunno(&f);
	f.kernel_block = mg_relay_block_in_force(true, now + 60, now);
	assert_int_equal(run(&f), MG_RELAY_REJECT);
}

static void test_outbreak_member_held(void **state)
{
	(void)state;
	/* Held at threat level 0: membership is evidence enough, whatever the level. */
	struct mg_relay_facts f = client("198.18.2.2");
	f.outbreak_member = true;
	f.signature = SIG;
	assert_int_equal(run(&f), MG_RELAY_HOLD);
	assert_string_equal(action, "HOLD mtaguard: outbreak " SIG);
	assert_string_equal(reason, "outbreak");

	/* A suspect that is also a member is held for the outbreak, with its signature. */
	f.known = true;
	f.role = MG_ROLE_SUSPECT;
	f.threat_level = 4;
	assert_int_equal(run(&f), MG_RELAY_HOLD);
	assert_string_equal(action, "HOLD mtaguard: outbreak " SIG);
	assert_string_equal(reason, "outbreak");

	/* Without a signature text there is no dangling space. */
	f.signature = "";
	run(&f);
	assert_string_equal(action, "HOLD mtaguard: outbreak");
	f.signature = NULL;
	run(&f);
	assert_string_equal(action, "HOLD mtaguard: outbreak");
}

static void test_suspect_held_from_threshold(void **state)
{
	(void)state;
	static struct mg_config cfg; /* large: not on the stack */

	mg_config_default(&cfg);
	assert_int_equal(cfg.quarantine_level, 3);

	struct mg_relay_facts f = client("198.18.1.2");
	f.known = true;
	f.role = MG_ROLE_SUSPECT;
	f.quarantine_level = cfg.quarantine_level;
	for (unsigned level = 0; level <= 2; level++) {
		f.threat_level = level;
		assert_dunno(&f);
	}
	for (unsigned level = 3; level <= 5; level++) {
		f.threat_level = level;
		assert_int_equal(run(&f), MG_RELAY_HOLD);
		assert_string_equal(action, "HOLD mtaguard: suspect");
		assert_string_equal(reason, "suspect");
	}

	f.checks = "spf=fail domain=dhl.com";
	assert_int_equal(run(&f), MG_RELAY_HOLD);
	assert_string_equal(action, "HOLD mtaguard: suspect checks: spf=fail domain=dhl.com");
	f.checks = NULL;

	/* The threshold is the configured one, not a constant. */
	f.quarantine_level = 5;
	f.threat_level = 4;
	assert_dunno(&f);
	f.quarantine_level = 0;
	f.threat_level = 0;
	assert_int_equal(run(&f), MG_RELAY_HOLD);
}

static void test_other_roles_dunno(void **state)
{
	(void)state;
	const enum mg_role roles[] = { MG_ROLE_UNKNOWN, MG_ROLE_END_HOST, MG_ROLE_MAIL_SERVER };

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		struct mg_relay_facts f = client("198.18.4.2");
		f.known = true;
		f.role = roles[i];
		f.verdict_rule = RULE;
		f.threat_level = 5;
		assert_dunno(&f);
	}
	/* Nothing known at all. */
	struct mg_relay_facts f = client("198.18.4.3");
	f.threat_level = 5;
	assert_dunno(&f);
}

static void test_unparseable_client_dunno(void **state)
{
	(void)state;
	uint8_t addr[16];
	const char *bad[] = { "", "unknown", "198.18.2.256", "2001:db8::1::2", "198.18.2.0/24" };

	/* What the daemon feeds in: these are not addresses. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_not_equal(mg_addr_parse(bad[i], addr), 0);

	/* Whatever else would be said of it, an unparsed client gets DUNNO, never REJECT. */
	struct mg_relay_facts f = client("unknown");
	f.parsed = false;
	f.kernel_block = true;
	f.known = true;
	f.role = MG_ROLE_BLOCKED;
	f.verdict_rule = RULE;
	f.outbreak_member = true;
	f.signature = SIG;
	f.threat_level = 5;
	assert_dunno(&f);
}

/* The exception lists as the config would hold them. */
static struct mg_prefix ex_client[2];
static const char ex_domain[][128] = { "Trusted.Example", "partner.example" };
static const char ex_rcpt[][256] = { "Postmaster@Relay.Example" };

static struct mg_relay_exceptions exceptions(void)
{
	assert_int_equal(mg_prefix_parse("198.18.7.0/24", &ex_client[0]), 0);
	assert_int_equal(mg_prefix_parse("2001:db8:7::/48", &ex_client[1]), 0);
	return (struct mg_relay_exceptions){
		.client = ex_client, .n_client = 2,
		.domain = ex_domain, .n_domain = 2,
		.rcpt = ex_rcpt, .n_rcpt = 1,
	};
}

/* What Postfix is told about an outbreak member sending this request. */
static enum mg_relay_action member(const char *ip, const char *sender, const char *rcpt)
{
	struct mg_relay_exceptions x = exceptions();
	struct mg_relay_facts f = client(ip);
	uint8_t addr[16];

	assert_int_equal(mg_addr_parse(ip, addr), 0);
	f.excepted = mg_relay_excepted(&x, addr, sender, rcpt);
	f.outbreak_member = true;
	f.signature = SIG;
	return run(&f);
}

static void test_exception_by_client(void **state)
{
	(void)state;
	/* IPv4: inside and at both ends of the /24; the neighbours are not excepted. */
	assert_int_equal(member("198.18.7.1", "a@b.example", "c@d.example"), MG_RELAY_DUNNO);
	assert_string_equal(action, "DUNNO");
	assert_int_equal(member("198.18.7.0", "a@b.example", "c@d.example"), MG_RELAY_DUNNO);
	assert_int_equal(member("198.18.7.255", "a@b.example", "c@d.example"), MG_RELAY_DUNNO);
	assert_int_equal(member("198.18.6.255", "a@b.example", "c@d.example"), MG_RELAY_HOLD);
	assert_int_equal(member("198.18.8.0", "a@b.example", "c@d.example"), MG_RELAY_HOLD);
	assert_string_equal(action, "HOLD mtaguard: outbreak " SIG);

	/* IPv6: within the /48, and just outside it. */
	assert_int_equal(member("2001:db8:7:ffff::25", "a@b.example", "c@d.example"), MG_RELAY_DUNNO);
	assert_int_equal(member("2001:db8:7::1", "a@b.example", "c@d.example"), MG_RELAY_DUNNO);
	assert_int_equal(member("2001:db8:8::1", "a@b.example", "c@d.example"), MG_RELAY_HOLD);
	/* The IPv4 prefix (v4-mapped) does not cover an IPv6 address ending in the same 32 bits. */
	assert_int_equal(member("::c612:701", "a@b.example", "c@d.example"), MG_RELAY_HOLD);
}

static void test_exception_by_sender_domain(void **state)
{
	(void)state;
	assert_int_equal(member("198.18.2.2", "boss@trusted.example", "c@d.example"), MG_RELAY_DUNNO);
	assert_string_equal(action, "DUNNO");
	assert_int_equal(member("198.18.2.2", "boss@TRUSTED.EXAMPLE", "c@d.example"), MG_RELAY_DUNNO);
	assert_int_equal(member("198.18.2.2", "x@Partner.Example", "c@d.example"), MG_RELAY_DUNNO);
	/* Only what follows the last '@' is the domain. */
	assert_int_equal(member("198.18.2.2", "\"odd@evil.example\"@trusted.example", "c@d.example"), MG_RELAY_DUNNO);
	assert_int_equal(member("198.18.2.2", "\"x@trusted.example\"@evil.example", "c@d.example"), MG_RELAY_HOLD);
	assert_int_equal(member("198.18.2.2", "trusted.example@evil.example", "c@d.example"), MG_RELAY_HOLD);
	/* The whole domain, not a part of it. */
	assert_int_equal(member("198.18.2.2", "boss@mail.trusted.example", "c@d.example"), MG_RELAY_HOLD);
	assert_int_equal(member("198.18.2.2", "boss@trusted.example.evil", "c@d.example"), MG_RELAY_HOLD);
	/* A domain exception says nothing about a sender without a domain. */
	assert_int_equal(member("198.18.2.2", "trusted.example", "c@d.example"), MG_RELAY_HOLD);
}

static void test_exception_by_recipient(void **state)
{
	(void)state;
	assert_int_equal(member("198.18.2.2", "a@b.example", "postmaster@relay.example"), MG_RELAY_DUNNO);
	assert_string_equal(action, "DUNNO");
	assert_int_equal(member("198.18.2.2", "a@b.example", "POSTMASTER@RELAY.EXAMPLE"), MG_RELAY_DUNNO);
	/* The whole address: another local part or domain is not excepted. */
	assert_int_equal(member("198.18.2.2", "a@b.example", "abuse@relay.example"), MG_RELAY_HOLD);
	assert_int_equal(member("198.18.2.2", "a@b.example", "postmaster@relay.example.org"), MG_RELAY_HOLD);
	/* The recipient exception is not a sender exception. */
	assert_int_equal(member("198.18.2.2", "postmaster@relay.example", "c@d.example"), MG_RELAY_HOLD);
}

static void test_empty_sender_matches_no_domain(void **state)
{
	(void)state;
	/* The null sender of a bounce ("<>") arrives as "". */
	assert_int_equal(member("198.18.2.2", "", "c@d.example"), MG_RELAY_HOLD);
	assert_int_equal(member("198.18.2.2", NULL, "c@d.example"), MG_RELAY_HOLD);

	/* Not even an empty entry in the list matches it, nor an empty recipient an empty entry. */
	const char empty_domain[][128] = { "" };
	const char empty_rcpt[][256] = { "" };
	struct mg_relay_exceptions x = { .domain = empty_domain, .n_domain = 1, .rcpt = empty_rcpt, .n_rcpt = 1 };
	uint8_t addr[16];
	assert_int_equal(mg_addr_parse("198.18.2.2", addr), 0);
	assert_false(mg_relay_excepted(&x, addr, "", ""));
	assert_false(mg_relay_excepted(&x, addr, NULL, NULL));

	/* With no lists at all nothing is excepted. */
	struct mg_relay_exceptions none = { 0 };
	assert_false(mg_relay_excepted(&none, addr, "boss@trusted.example", "postmaster@relay.example"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allowlist_wins),
		cmocka_unit_test(test_kernel_block_rejects),
		cmocka_unit_test(test_verdict_without_kernel_rule_rejects),
		cmocka_unit_test(test_expired_block_does_not_count),
		cmocka_unit_test(test_outbreak_member_held),
		cmocka_unit_test(test_suspect_held_from_threshold),
		cmocka_unit_test(test_other_roles_dunno),
		cmocka_unit_test(test_unparseable_client_dunno),
		cmocka_unit_test(test_exception_by_client),
		cmocka_unit_test(test_exception_by_sender_domain),
		cmocka_unit_test(test_exception_by_recipient),
		cmocka_unit_test(test_empty_sender_matches_no_domain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
