// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_verify.c - source verification with scripted DNS answers: the wire
 * reader, the cache, the checks (libspf2 included, fed from the script), the
 * asynchronous runner with a resolver that answers late, never or too much,
 * and the analyzer's verdicts on the outcomes. No network, no privileges.
 *
 * Times start 3 s after "boot": nothing may take 0 for "never".
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mg_addr.h"
#include "mg_analyzer.h"
#include "mg_config.h"
#include "mg_dns.h"
#include "mg_dns_cache.h"
#include "mg_spf.h"
#include "mg_verifier.h"
#include "mg_verify.h"

#define SEC 1000000000ull
#define MIN (60 * SEC)
#define T0 (3 * SEC)

/* ---- a scripted DNS: (name, type) -> status and records -------------------------------- */

struct rr {
	const char *name;
	uint16_t type;
	enum mg_dns_status status;
	const char *data[4]; /* addresses in text for A/AAAA, names or text otherwise */
	uint32_t ttl;
};

/* The lab's facts, as the e2e test's zones write them. */
static const struct rr zone[] = {
	/* A bot at 198.18.1.2 behind a residential-looking PTR that does not resolve back. */
	{ "2.1.18.198.in-addr.arpa", MG_DNS_PTR, MG_DNS_OK, { "198-18-1-2.dyn.example-isp.test" }, 3600 },
	{ "198-18-1-2.dyn.example-isp.test", MG_DNS_A, MG_DNS_NXDOMAIN, { 0 }, 300 },
	/* The HELO it borrows from a real capture: resolves, elsewhere. */
	{ "173-66-46-112.wash.fios.verizon.net", MG_DNS_A, MG_DNS_OK, { "173.66.46.112" }, 3600 },
	/* An SPF-protected domain whose mail comes from 198.19.0.0/24 only. */
	{ "dhl.test", MG_DNS_TXT, MG_DNS_OK, { "v=spf1 ip4:198.19.0.0/24 -all" }, 3600 },
	/* A legitimate server at 198.18.2.25 with FCrDNS and an SPF pass through a:. */
	{ "25.2.18.198.in-addr.arpa", MG_DNS_PTR, MG_DNS_OK, { "mail.example.test" }, 3600 },
	{ "mail.example.test", MG_DNS_A, MG_DNS_OK, { "198.18.2.25" }, 3600 },
	{ "example.test", MG_DNS_TXT, MG_DNS_OK, { "google-site-verification=x", "v=spf1 a:mail.example.test include:_spf.example.test -all" }, 3600 },
	{ "_spf.example.test", MG_DNS_TXT, MG_DNS_OK, { "v=spf1 ip4:198.19.9.0/24 ~all" }, 3600 },
	/* softfail: a domain with ~all. */
	{ "soft.test", MG_DNS_TXT, MG_DNS_OK, { "v=spf1 ip4:198.19.0.0/24 ~all" }, 3600 },
	/* No SPF at all. */
	{ "nospf.test", MG_DNS_TXT, MG_DNS_NODATA, { 0 }, 300 },
	/* 198.18.3.3 has no PTR. */
	{ "3.3.18.198.in-addr.arpa", MG_DNS_PTR, MG_DNS_NXDOMAIN, { 0 }, 300 },
	{ "mail-ed1-f41.google.com", MG_DNS_A, MG_DNS_OK, { "209.85.208.41" }, 300 },
	{ "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", MG_DNS_PTR, MG_DNS_OK, { "v6.example.test" }, 300 },
	{ "v6.example.test", MG_DNS_AAAA, MG_DNS_OK, { "2001:db8::" }, 300 },
};

static struct mg_dns_answer *build(const struct rr *r)
{
	struct mg_dns_answer *a = mg_dns_answer_new(r->status, r->ttl);
	uint8_t addr[16];

	assert_non_null(a);
	for (int i = 0; i < 4 && r->data[i]; i++) {
		if (r->type == MG_DNS_A || r->type == MG_DNS_AAAA) {
			assert_int_equal(mg_addr_parse(r->data[i], addr), 0);
			if (r->type == MG_DNS_A)
				assert_int_equal(mg_dns_answer_add(&a, addr + 12, 4), 0);
			else
				assert_int_equal(mg_dns_answer_add(&a, addr, 16), 0);
		} else {
			assert_int_equal(mg_dns_answer_add(&a, r->data[i], strlen(r->data[i])), 0);
		}
	}
	return a;
}

/* What the script says of (name, type): its answer, else NXDOMAIN (every other name does not exist). */
static struct mg_dns_answer *script_answer(const char *name, uint16_t type)
{
	for (size_t i = 0; i < sizeof(zone) / sizeof(zone[0]); i++)
		if (zone[i].type == type && !strcmp(zone[i].name, name))
			return build(&zone[i]);
	for (size_t i = 0; i < sizeof(zone) / sizeof(zone[0]); i++)
		if (!strcmp(zone[i].name, name))
			return mg_dns_answer_new(MG_DNS_NODATA, 300);
	return mg_dns_answer_new(MG_DNS_NXDOMAIN, 300);
}

/* ---- a synchronous lookup over the script (the pure evaluation's tests) ----------------- */

struct sync_dns {
	struct mg_dns_cache *cache;
	bool dead;      /* every answer a timeout */
	unsigned asked; /* lookups the cache could not answer */
};

static const struct mg_dns_answer *sync_lookup(void *arg, const char *name, uint16_t type)
{
	struct sync_dns *d = arg;
	const struct mg_dns_answer *a = mg_dns_cache_get(d->cache, name, type, T0);

	if (a)
		return a;
	d->asked++;
	mg_dns_cache_put(d->cache, name, type, d->dead ? mg_dns_answer_new(MG_DNS_TEMPFAIL, 0) : script_answer(name, type),
			 T0);
	return NULL; /* asked: known at the next round, as with a real resolver */
}

/* Evaluate until nothing lacks, as the runner does; the rounds it took. */
static unsigned eval_all(struct sync_dns *d, const struct mg_verify_input *in, struct mg_verify_summary *s)
{
	unsigned rounds = 0;

	while (mg_verify_eval(in, sync_lookup, d, s)) {
		assert_true(++rounds < 30);
	}
	return rounds + 1;
}

static void input(struct mg_verify_input *in, const char *addr, const char *helo, const char *domain)
{
	memset(in, 0, sizeof(*in));
	assert_int_equal(mg_addr_parse(addr, in->addr), 0);
	snprintf(in->helo, sizeof(in->helo), "%s", helo);
	snprintf(in->mail_domain, sizeof(in->mail_domain), "%s", domain);
	in->dns = true;
}

/* The input (DNS on) evaluated over d's script until nothing lacks; the rounds it took. */
static unsigned evaluate(struct sync_dns *d, struct mg_verify_input *in, struct mg_verify_summary *s, const char *addr,
			 const char *helo, const char *domain)
{
	input(in, addr, helo, domain);
	return eval_all(d, in, s);
}

/* A pure evaluation's test: the script behind a cache of its own, freed after the test whatever its outcome. */
static int sync_dns_setup(void **state)
{
	struct sync_dns *d = calloc(1, sizeof(*d));

	if (!d || !(d->cache = mg_dns_cache_new(100, 86400, 900))) {
		free(d);
		return -1;
	}
	*state = d;
	return 0;
}

static int sync_dns_teardown(void **state)
{
	struct sync_dns *d = *state;

	mg_dns_cache_free(d->cache);
	free(d);
	return 0;
}

static void test_bot_forging_spf(void **state)
{
	struct sync_dns *d = *state;
	struct mg_verify_input in;
	struct mg_verify_summary s;
	struct mg_verify_weights w;
	char text[512];

	evaluate(d, &in, &s, "198.18.1.2", "173-66-46-112.wash.fios.verizon.net", "dhl.test");
	assert_int_equal(s.res[MG_CHK_SPF], MG_CR_FAIL);
	assert_int_equal(s.res[MG_CHK_PTR], MG_CR_PASS);
	assert_int_equal(s.res[MG_CHK_FCRDNS], MG_CR_FAIL);
	assert_int_equal(s.res[MG_CHK_PTR_SHAPE], MG_CR_FAIL);
	assert_int_equal(s.res[MG_CHK_HELO_RESOLVES], MG_CR_PASS);
	assert_int_equal(s.res[MG_CHK_HELO_ADDR], MG_CR_FAIL);
	assert_int_equal(s.res[MG_CHK_HELO_PTR], MG_CR_FAIL);
	assert_int_equal(s.res[MG_CHK_HELO_PROVIDER], MG_CR_NOT_RUN);
	assert_true(s.forged & MG_FORGED_SPF);
	assert_string_equal(s.ptr, "198-18-1-2.dyn.example-isp.test");
	assert_string_equal(s.mail_domain, "dhl.test");
	mg_verify_weights_default(&w);
	/* 4 (spf) + 1 (dynamic PTR) + 1 (not FCrDNS) + 1 (HELO elsewhere) */
	assert_true(mg_verify_score(&s, &w) > 6.9 && mg_verify_score(&s, &w) < 7.1);
	mg_verify_explain(&s, "173-66-46-112.wash.fios.verizon.net", true, text, sizeof(text));
	assert_non_null(strstr(text, "spf=fail domain=dhl.test"));
	assert_non_null(strstr(text, "helo=173-66-46-112.wash.fios.verizon.net (dynamic, not FCrDNS)"));
	assert_non_null(strstr(text, "ptr=198-18-1-2.dyn.example-isp.test (dynamic, not FCrDNS)"));
	/* Again: everything is cached now, the first round completes. */
	unsigned asked = d->asked;
	assert_int_equal(eval_all(d, &in, &s), 1);
	assert_int_equal(d->asked, asked);
}

/*
 * A sender domain that does not exist (the dhl-spoof capture's bot forges
 * random subdomains of a protected domain: they have no SPF record of their
 * own, so SPF says none): a forgery, read from SPF's own TXT answer, no
 * query of its own. A domain without SPF that exists passes; no answer is
 * no evidence.
 */
static void test_sender_domain_that_does_not_exist(void **state)
{
	struct sync_dns *d = *state;
	struct mg_verify_input in;
	struct mg_verify_summary s;
	struct mg_verify_weights w;
	char text[512];

	mg_verify_weights_default(&w);
	evaluate(d, &in, &s, "198.18.1.2", "173-66-46-112.wash.fios.verizon.net", "x7k2q.dhl.test");
	assert_int_equal(s.res[MG_CHK_SPF], MG_CR_NONE);
	assert_int_equal(s.res[MG_CHK_SENDER_DOMAIN], MG_CR_FAIL);
	assert_true(s.forged & MG_FORGED_SENDER_UNKNOWN);
	assert_false(s.forged & MG_FORGED_SPF);
	assert_string_equal(mg_forgery_name(s.forged), "sender-unknown");
	/* PTR, its name's A, the HELO's A, the domain's TXT: nothing more for the existence check. */
	assert_int_equal(d->asked, 4);
	/* 3 (sender unknown) + 1 (dynamic PTR) + 1 (not FCrDNS) + 1 (HELO elsewhere) */
	assert_true(mg_verify_score(&s, &w) > 5.9 && mg_verify_score(&s, &w) < 6.1);
	mg_verify_explain(&s, "173-66-46-112.wash.fios.verizon.net", true, text, sizeof(text));
	assert_non_null(strstr(text, "spf=none domain=x7k2q.dhl.test (does not exist)"));
	/* SPF fail names the stronger forgery first. */
	assert_string_equal(mg_forgery_name(MG_FORGED_SPF | MG_FORGED_SENDER_UNKNOWN), "spf-fail");

	/* It exists, without SPF: no evidence either way. */
	evaluate(d, &in, &s, "198.18.1.2", "173-66-46-112.wash.fios.verizon.net", "nospf.test");
	assert_int_equal(s.res[MG_CHK_SPF], MG_CR_NONE);
	assert_int_equal(s.res[MG_CHK_SENDER_DOMAIN], MG_CR_PASS);
	assert_false(s.forged & MG_FORGED_SENDER_UNKNOWN);
	mg_verify_explain(&s, "173-66-46-112.wash.fios.verizon.net", true, text, sizeof(text));
	assert_null(strstr(text, "does not exist"));
	/* An SPF-protected domain exists. */
	evaluate(d, &in, &s, "198.18.1.2", "173-66-46-112.wash.fios.verizon.net", "dhl.test");
	assert_int_equal(s.res[MG_CHK_SENDER_DOMAIN], MG_CR_PASS);

	/* A dead resolver: temperror, no forgery. */
	struct sync_dns dead = { .cache = mg_dns_cache_new(100, 86400, 900), .dead = true };
	evaluate(&dead, &in, &s, "198.18.1.2", "173-66-46-112.wash.fios.verizon.net", "x7k2q.dhl.test");
	assert_int_equal(s.res[MG_CHK_SENDER_DOMAIN], MG_CR_TEMPERROR);
	assert_int_equal(s.forged, 0);
	assert_true(mg_verify_score(&s, &w) < 0.1);
	mg_dns_cache_free(dead.cache);

	/* Offline (the replay without --dns): not-run. */
	struct sync_dns off = { .cache = mg_dns_cache_new(100, 86400, 900) };
	input(&in, "198.18.1.2", "173-66-46-112.wash.fios.verizon.net", "x7k2q.dhl.test");
	in.dns = false;
	eval_all(&off, &in, &s);
	assert_int_equal(s.res[MG_CHK_SENDER_DOMAIN], MG_CR_NOT_RUN);
	assert_int_equal(off.asked, 0);
	mg_dns_cache_free(off.cache);
}

static void test_legitimate_server(void **state)
{
	struct sync_dns *d = *state;
	struct mg_verify_input in;
	struct mg_verify_summary s;
	struct mg_verify_weights w;

	evaluate(d, &in, &s, "198.18.2.25", "mail.example.test", "example.test");
	assert_int_equal(s.res[MG_CHK_SPF], MG_CR_PASS);
	assert_int_equal(s.res[MG_CHK_PTR], MG_CR_PASS);
	assert_int_equal(s.res[MG_CHK_FCRDNS], MG_CR_PASS);
	assert_int_equal(s.res[MG_CHK_PTR_SHAPE], MG_CR_PASS);
	assert_int_equal(s.res[MG_CHK_HELO_ADDR], MG_CR_PASS);
	assert_int_equal(s.res[MG_CHK_HELO_PTR], MG_CR_PASS);
	assert_int_equal(s.forged, 0);
	mg_verify_weights_default(&w);
	assert_true(mg_verify_score(&s, &w) == 0);
	/* The same host for a domain with ~all, and one without SPF. */
	evaluate(d, &in, &s, "198.18.2.25", "mail.example.test", "soft.test");
	assert_int_equal(s.res[MG_CHK_SPF], MG_CR_SOFTFAIL);
	assert_int_equal(s.forged, 0);
	evaluate(d, &in, &s, "198.18.2.25", "mail.example.test", "nospf.test");
	assert_int_equal(s.res[MG_CHK_SPF], MG_CR_NONE);
	/* The null sender: SPF not run. */
	evaluate(d, &in, &s, "198.18.2.25", "mail.example.test", "");
	assert_int_equal(s.res[MG_CHK_SPF], MG_CR_NOT_RUN);
}

static void test_provider_and_literal_forgery(void **state)
{
	struct sync_dns *d = *state;
	struct mg_verify_input in;
	struct mg_verify_summary s;

	evaluate(d, &in, &s, "198.18.3.3", "mail-ed1-f41.google.com", "nospf.test");
	assert_int_equal(s.res[MG_CHK_PTR], MG_CR_FAIL);
	assert_int_equal(s.res[MG_CHK_HELO_PROVIDER], MG_CR_FAIL);
	assert_true(s.forged & MG_FORGED_HELO_PROVIDER);
	assert_string_equal(s.provider, "google.com");
	evaluate(d, &in, &s, "198.18.3.3", "[0.0.0.0]", "");
	assert_int_equal(s.res[MG_CHK_HELO_LITERAL], MG_CR_FAIL);
	assert_true(s.forged & MG_FORGED_HELO_LITERAL);
	evaluate(d, &in, &s, "198.18.3.3", "[198.18.3.3]", "");
	assert_int_equal(s.res[MG_CHK_HELO_LITERAL], MG_CR_PASS);
	assert_int_equal(s.forged, 0);
	/* IPv6: PTR and FCrDNS through ip6.arpa and AAAA. */
	evaluate(d, &in, &s, "2001:db8::", "v6.example.test", "");
	assert_int_equal(s.res[MG_CHK_FCRDNS], MG_CR_PASS);
	assert_int_equal(s.res[MG_CHK_HELO_ADDR], MG_CR_PASS);
}

static void test_dead_resolver_is_no_evidence(void **state)
{
	struct sync_dns *d = *state;
	struct mg_verify_input in;
	struct mg_verify_summary s;
	struct mg_verify_weights w;

	d->dead = true; /* every answer a timeout */
	evaluate(d, &in, &s, "198.18.1.2", "173-66-46-112.wash.fios.verizon.net", "dhl.test");
	assert_int_equal(s.res[MG_CHK_PTR], MG_CR_TEMPERROR);
	assert_int_equal(s.res[MG_CHK_HELO_ADDR], MG_CR_TEMPERROR);
	assert_int_equal(s.res[MG_CHK_SPF], MG_CR_TEMPERROR);
	assert_int_equal(s.forged, 0);
	mg_verify_weights_default(&w);
	assert_true(mg_verify_score(&s, &w) == 0);
}

static void test_offline(void **state)
{
	struct mg_verify_input in;
	struct mg_verify_summary s;
	char text[512];

	(void)state;
	input(&in, "198.18.1.2", "[0.0.0.0]", "dhl.test");
	in.dns = false;
	assert_int_equal(mg_verify_eval(&in, NULL, NULL, &s), 0);
	assert_int_equal(s.res[MG_CHK_SPF], MG_CR_NOT_RUN);
	assert_int_equal(s.res[MG_CHK_PTR], MG_CR_NOT_RUN);
	assert_int_equal(s.res[MG_CHK_HELO_LITERAL], MG_CR_FAIL); /* a shape check: no DNS needed */
	mg_verify_explain(&s, "[0.0.0.0]", false, text, sizeof(text));
	assert_non_null(strstr(text, "spf=not-run domain=dhl.test"));
	assert_non_null(strstr(text, "dns=not-run"));
}

static void test_mail_from_domain(void **state)
{
	char d[MG_VERIFY_NAME];

	(void)state;
	assert_int_equal(mg_mail_from_domain("<jo@DHL.com> SIZE=100", 21, d, sizeof(d)), 1);
	assert_string_equal(d, "dhl.com");
	assert_int_equal(mg_mail_from_domain(" <a@b.example.>", 15, d, sizeof(d)), 1);
	assert_string_equal(d, "b.example");
	assert_int_equal(mg_mail_from_domain("<>", 2, d, sizeof(d)), 0);
	assert_int_equal(mg_mail_from_domain("<nobody>", 8, d, sizeof(d)), -EINVAL);
	assert_int_equal(mg_mail_from_domain("<a@b c>", 7, d, sizeof(d)), -EINVAL);
	/* Cut off by the event's bound: no '>' seen, the domain may be incomplete. */
	assert_int_equal(mg_mail_from_domain("<a@dhl.co", 9, d, sizeof(d)), -EINVAL);
	assert_int_equal(mg_mail_from_domain("<a@x;y.com>", 11, d, sizeof(d)), -EINVAL);
	assert_int_equal(mg_mail_from_domain("a@plain.example\r\n", 17, d, sizeof(d)), 1);
	assert_string_equal(d, "plain.example");
}

/* ---- the wire reader ----------------------------------------------------------------------- */

static size_t put_name(uint8_t *p, const char *name)
{
	size_t n = 0;
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		p[n++] = (uint8_t)l;
		memcpy(p + n, name, l);
		n += l;
		name += l + (dot ? 1 : 0);
	}
	p[n++] = 0;
	return n;
}

static size_t put_rr_head(uint8_t *p, uint16_t type, uint32_t ttl, uint16_t rdlen)
{
	p[0] = 0xc0, p[1] = 12; /* the question's name */
	p[2] = (uint8_t)(type >> 8), p[3] = (uint8_t)type, p[4] = 0, p[5] = 1;
	p[6] = (uint8_t)(ttl >> 24), p[7] = (uint8_t)(ttl >> 16), p[8] = (uint8_t)(ttl >> 8), p[9] = (uint8_t)ttl;
	p[10] = (uint8_t)(rdlen >> 8), p[11] = (uint8_t)rdlen;
	return 12;
}

static void test_wire(void **state)
{
	uint8_t m[512] = { 0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0 };
	struct mg_dns_answer *a;
	size_t n = 12, off = 0, len;

	(void)state;
	n += put_name(m + n, "www.Example.test");
	m[n++] = 0, m[n++] = 1, m[n++] = 0, m[n++] = 1;
	/* A CNAME (ttl 50) then an A (ttl 300): the answer keeps 50. */
	size_t rd = n + 12;
	n += put_rr_head(m + n, 5, 50, 0);
	size_t l = put_name(m + rd, "real.example.test");
	m[rd - 2] = 0, m[rd - 1] = (uint8_t)l;
	n = rd + l;
	n += put_rr_head(m + n, MG_DNS_A, 300, 4);
	memcpy(m + n, "\xc6\x12\x01\x02", 4);
	n += 4;
	assert_int_equal(mg_dns_parse(m, n, MG_DNS_A, &a), 0);
	assert_int_equal(a->status, MG_DNS_OK);
	assert_int_equal(a->n, 1);
	assert_int_equal(a->ttl, 50);
	const uint8_t *p = mg_dns_answer_next(a, &off, &len);
	assert_int_equal(len, 4);
	assert_memory_equal(p, "\xc6\x12\x01\x02", 4);
	free(a);

	/* NXDOMAIN with an SOA: the negative TTL is min(SOA TTL, minimum). */
	uint8_t nx[512] = { 0x12, 0x34, 0x81, 0x83, 0, 1, 0, 0, 0, 1, 0, 0 };
	n = 12;
	n += put_name(nx + n, "nope.test");
	nx[n++] = 0, nx[n++] = 12, nx[n++] = 0, nx[n++] = 1;
	rd = n + 12;
	n += put_rr_head(nx + n, 6, 3600, 0);
	l = put_name(nx + rd, "ns.test");
	l += put_name(nx + rd + l, "admin.test");
	memset(nx + rd + l, 0, 16);
	nx[rd + l + 19] = 120; /* minimum 120 */
	l += 20;
	nx[rd - 2] = 0, nx[rd - 1] = (uint8_t)l;
	n = rd + l;
	assert_int_equal(mg_dns_parse(nx, n, MG_DNS_PTR, &a), 0);
	assert_int_equal(a->status, MG_DNS_NXDOMAIN);
	assert_int_equal(a->ttl, 120);
	free(a);

	/* A compression pointer to itself: unreadable, a temporary failure, never a hang. */
	uint8_t loop[] = { 0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1 };
	assert_int_equal(mg_dns_parse(loop, sizeof(loop), MG_DNS_A, &a), 0);
	assert_int_equal(a->status, MG_DNS_TEMPFAIL);
	free(a);
	/* SERVFAIL; and a truncated header. */
	uint8_t sf[12] = { 0x12, 0x34, 0x81, 0x82 };
	assert_int_equal(mg_dns_parse(sf, sizeof(sf), MG_DNS_A, &a), 0);
	assert_int_equal(a->status, MG_DNS_TEMPFAIL);
	free(a);
	assert_int_equal(mg_dns_parse(sf, 5, MG_DNS_A, &a), 0);
	assert_int_equal(a->status, MG_DNS_TEMPFAIL);
	free(a);

	char rev[80];
	uint8_t v4[16];
	mg_addr_parse("198.18.1.2", v4);
	mg_dns_reverse_name(v4, rev, sizeof(rev));
	assert_string_equal(rev, "2.1.18.198.in-addr.arpa");
}

/* ---- the cache ------------------------------------------------------------------------------ */

static void test_cache(void **state)
{
	struct mg_dns_cache *c = mg_dns_cache_new(3, 3600, 60);
	struct mg_dns_cache_stats st;

	(void)state;
	mg_dns_cache_put(c, "A.test", MG_DNS_A, mg_dns_answer_new(MG_DNS_NODATA, 86400), T0);
	/* Negative: kept 60 s at most, whatever the SOA said; the key is case-blind. */
	assert_non_null(mg_dns_cache_get(c, "a.TEST", MG_DNS_A, T0 + 59 * SEC));
	assert_null(mg_dns_cache_get(c, "a.test", MG_DNS_A, T0 + 60 * SEC));
	/* Positive: its TTL, at least MG_DNS_MIN_TTL, at most max_ttl. */
	mg_dns_cache_put(c, "b.test", MG_DNS_A, mg_dns_answer_new(MG_DNS_OK, 0), T0);
	assert_non_null(mg_dns_cache_get(c, "b.test", MG_DNS_A, T0 + (MG_DNS_MIN_TTL - 1) * SEC));
	assert_null(mg_dns_cache_get(c, "b.test", MG_DNS_A, T0 + MG_DNS_MIN_TTL * SEC));
	mg_dns_cache_put(c, "c.test", MG_DNS_A, mg_dns_answer_new(MG_DNS_OK, 999999), T0);
	assert_null(mg_dns_cache_get(c, "c.test", MG_DNS_A, T0 + 3600 * SEC));
	/* A failure: MG_DNS_FAIL_TTL. */
	mg_dns_cache_put(c, "d.test", MG_DNS_TXT, mg_dns_answer_new(MG_DNS_TEMPFAIL, 0), T0);
	assert_non_null(mg_dns_cache_get(c, "d.test", MG_DNS_TXT, T0 + (MG_DNS_FAIL_TTL - 1) * SEC));
	assert_null(mg_dns_cache_get(c, "d.test", MG_DNS_TXT, T0 + MG_DNS_FAIL_TTL * SEC));
	/* Bounded: the least recently used goes. */
	for (int i = 0; i < 3; i++) {
		char n[16];
		snprintf(n, sizeof(n), "n%d.test", i);
		mg_dns_cache_put(c, n, MG_DNS_A, mg_dns_answer_new(MG_DNS_OK, 300), T0);
	}
	assert_non_null(mg_dns_cache_get(c, "n0.test", MG_DNS_A, T0));
	mg_dns_cache_put(c, "n3.test", MG_DNS_A, mg_dns_answer_new(MG_DNS_OK, 300), T0);
	assert_null(mg_dns_cache_get(c, "n1.test", MG_DNS_A, T0));
	assert_non_null(mg_dns_cache_get(c, "n0.test", MG_DNS_A, T0));
	mg_dns_cache_stats(c, &st);
	assert_int_equal(st.entries, 3);
	assert_true(st.evictions >= 1);
	mg_dns_cache_free(c);
}

/* ---- the runner with a resolver that answers later, never, or at once ----------------------- */

struct fake_resolver {
	struct mg_verifier *v;
	char q[64][MG_DNS_NAME_MAX + 1];
	uint16_t qt[64];
	unsigned nq;
	bool sync, dead;
};

static int fake_query(void *ctx, const char *name, uint16_t type)
{
	struct fake_resolver *r = ctx;

	if (r->sync) {
		mg_verifier_answer(r->v, name, type, script_answer(name, type), T0);
		return 0;
	}
	assert_true(r->nq < 64);
	snprintf(r->q[r->nq], sizeof(r->q[0]), "%s", name);
	r->qt[r->nq++] = type;
	return 0;
}

static const struct mg_resolver_ops fake_ops = { .query = fake_query };

/* Answer every query waiting, last first (a resolver answers in any order). */
static void answer_all(struct fake_resolver *r, uint64_t now)
{
	while (r->nq) {
		unsigned i = --r->nq;
		char name[MG_DNS_NAME_MAX + 1];
		memcpy(name, r->q[i], sizeof(name));
		mg_verifier_answer(r->v, name, r->qt[i], script_answer(name, r->qt[i]), now);
	}
}

static struct mg_verify_summary done_s;
static uint8_t done_who[16];
static unsigned done_n;

static void on_done(void *arg, const uint8_t who[16], const struct mg_verify_summary *s, uint64_t now)
{
	(void)arg, (void)now;
	done_s = *s;
	memcpy(done_who, who, 16);
	done_n++;
}

static void test_runner_async(void **state)
{
	struct fake_resolver r = { 0 };
	struct mg_verifier_config c;
	struct mg_verifier_stats st;
	struct mg_verify_input in;
	uint8_t who[16];

	(void)state;
	mg_verifier_config_default(&c);
	r.v = mg_verifier_new(&c, &fake_ops, &r, on_done, NULL);
	input(&in, "198.18.1.2", "173-66-46-112.wash.fios.verizon.net", "dhl.test");
	memcpy(who, in.addr, 16);
	done_n = 0;
	assert_int_equal(mg_verifier_submit(r.v, who, &in, T0), 0);
	/* The first round asks for the PTR, the HELO's A and the domain's TXT at once. */
	assert_int_equal(r.nq, 3);
	assert_int_equal(done_n, 0);
	for (int round = 0; round < 10 && !done_n; round++)
		answer_all(&r, T0 + SEC);
	assert_int_equal(done_n, 1);
	assert_memory_equal(done_who, who, 16);
	assert_int_equal(done_s.res[MG_CHK_SPF], MG_CR_FAIL);
	assert_int_equal(done_s.res[MG_CHK_FCRDNS], MG_CR_FAIL);
	mg_verifier_stats(r.v, &st);
	assert_int_equal(st.queries_done_jobs, 4);   /* PTR, its A, the HELO's A, TXT */
	assert_int_equal(st.lookups_done_jobs, 4);
	/* The same identity from a second bot a minute later: all from the cache, done before submit returns. */
	assert_int_equal(mg_verifier_submit(r.v, who, &in, T0 + MIN), 0);
	assert_int_equal(done_n, 2);
	assert_int_equal(r.nq, 0);
	mg_verifier_stats(r.v, &st);
	assert_int_equal(st.queries_sent, 4);
	assert_int_equal(st.jobs_pending, 0);
	mg_verifier_free(r.v);

	/* A resolver that answers from within the query call. */
	memset(&r, 0, sizeof(r));
	r.sync = true;
	r.v = mg_verifier_new(&c, &fake_ops, &r, on_done, NULL);
	input(&in, "198.18.2.25", "mail.example.test", "example.test");
	done_n = 0;
	assert_int_equal(mg_verifier_submit(r.v, who, &in, T0), 0);
	assert_int_equal(done_n, 1);
	assert_int_equal(done_s.res[MG_CHK_SPF], MG_CR_PASS);
	mg_verifier_free(r.v);
}

static void test_runner_timeout_and_budget(void **state)
{
	struct fake_resolver r = { 0 };
	struct mg_verifier_config c;
	struct mg_verifier_stats st;
	struct mg_verify_input in;
	uint8_t who[16] = { 0 };

	(void)state;
	mg_verifier_config_default(&c);
	r.v = mg_verifier_new(&c, &fake_ops, &r, on_done, NULL);
	input(&in, "198.18.1.2", "173-66-46-112.wash.fios.verizon.net", "dhl.test");
	done_n = 0;
	mg_verifier_submit(r.v, who, &in, T0);
	assert_int_equal(mg_verifier_next_deadline(r.v), T0 + c.job_timeout_ns);
	/* Nobody answers: at the deadline, temperror for all that lacked, never evidence. */
	mg_verifier_expire(r.v, T0 + c.job_timeout_ns - 1);
	assert_int_equal(done_n, 0);
	mg_verifier_expire(r.v, T0 + c.job_timeout_ns);
	assert_int_equal(done_n, 1);
	assert_int_equal(done_s.res[MG_CHK_PTR], MG_CR_TEMPERROR);
	assert_int_equal(done_s.res[MG_CHK_SPF], MG_CR_TEMPERROR);
	assert_int_equal(done_s.forged, 0);
	assert_int_equal(mg_verifier_next_deadline(r.v), UINT64_MAX);
	/* The late answers still fill the cache and wake nobody. */
	answer_all(&r, T0 + c.job_timeout_ns + SEC);
	mg_verifier_free(r.v);

	/* A budget of 2 queries: the third is refused and the job ends at once, temperror. */
	memset(&r, 0, sizeof(r));
	c.queries_per_sec = 1;
	c.query_burst = 2;
	r.v = mg_verifier_new(&c, &fake_ops, &r, on_done, NULL);
	done_n = 0;
	mg_verifier_submit(r.v, who, &in, T0);
	assert_int_equal(done_n, 1);
	assert_int_equal(r.nq, 2);
	mg_verifier_stats(r.v, &st);
	assert_int_equal(st.queries_refused, 1);
	assert_int_equal(done_s.forged, 0);
	/* Bounded jobs: max_jobs in progress, the next refused. */
	mg_verifier_free(r.v);
	memset(&r, 0, sizeof(r));
	mg_verifier_config_default(&c);
	c.max_jobs = 2;
	r.v = mg_verifier_new(&c, &fake_ops, &r, on_done, NULL);
	assert_int_equal(mg_verifier_submit(r.v, who, &in, T0), 0);
	input(&in, "198.18.2.25", "mail.example.test", "example.test");
	assert_int_equal(mg_verifier_submit(r.v, who, &in, T0), 0);
	assert_int_equal(mg_verifier_submit(r.v, who, &in, T0), -EBUSY);
	mg_verifier_free(r.v);
}

/* ---- the analyzer's verdicts on the outcomes ------------------------------------------------- */

static struct mg_analyzer *an;
static struct mg_an_action acts[64];

struct host {
	uint8_t addr[16];
	struct mg_src_stats s;
};

static void ev_base(struct mg_event *ev, const struct host *h, uint8_t type)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	memcpy(ev->src, h->addr, 16);
	ev->dport = 25;
	ev->proof = MG_PROOF_PAYLOAD;
	mg_addr_parse("198.19.100.1", ev->dst);
}

/* One session to an MX: SYN, EHLO, MAIL FROM:<x@domain>, RCPT, DATA; the kernel's counters as it counts them. */
static void session(struct host *h, const char *helo, const char *from, uint64_t t)
{
	struct mg_event ev;

	ev_base(&ev, h, MG_EV_SYN_MX);
	mg_an_on_event(an, &ev, t);
	ev_base(&ev, h, MG_EV_HELO);
	ev.detail = MG_CMD_EHLO;
	ev.arg_len = (uint8_t)strlen(helo);
	memcpy(ev.u.arg, helo, ev.arg_len);
	ev.helo_hash = mg_helo_hash(helo, ev.arg_len);
	mg_an_on_event(an, &ev, t);
	ev_base(&ev, h, MG_EV_MAIL);
	ev.arg_len = (uint8_t)strlen(from);
	memcpy(ev.u.arg, from, ev.arg_len);
	mg_an_on_event(an, &ev, t);
	h->s.syn_mx++;
	h->s.cmd[MG_CMD_EHLO]++;
	h->s.cmd[MG_CMD_MAIL]++;
	h->s.cmd[MG_CMD_RCPT]++;
	h->s.cmd[MG_CMD_DATA]++;
	h->s.helo_hash = ev.helo_hash;
	h->s.flags |= MG_SRC_F_PAYLOAD;
	if (!h->s.first_seen_ns)
		h->s.first_seen_ns = t;
	h->s.last_seen_ns = t;
}

static size_t tick(struct host *h, uint64_t t)
{
	mg_an_on_counters(an, h->addr, &h->s, t);
	return mg_an_tick(an, t, acts, 64);
}

/* The shell's part: is a verification wanted, then the scripted outcome. */
static bool verify(struct host *h, uint64_t t)
{
	struct sync_dns d = { .cache = mg_dns_cache_new(100, 86400, 900) };
	struct mg_verify_input in;
	struct mg_verify_summary s;

	if (!mg_an_verify_wanted(an, h->addr, t, &in)) {
		mg_dns_cache_free(d.cache);
		return false;
	}
	eval_all(&d, &in, &s);
	mg_an_on_verify(an, h->addr, &s, t);
	mg_dns_cache_free(d.cache);
	return true;
}

static enum mg_role role_of(struct host *h)
{
	struct mg_an_profile_view v;
	assert_true(mg_an_get(an, h->addr, &v));
	return v.role;
}

static const struct mg_an_action *find_act(size_t n, enum mg_an_action_kind k)
{
	for (size_t i = 0; i < n; i++)
		if (acts[i].kind == k)
			return &acts[i];
	return NULL;
}

static void test_forgery_suspect_then_verdict(void **state)
{
	struct mg_an_config c;
	struct host bot = { 0 };
	char text[512];

	(void)state;
	mg_an_config_default(&c);
	an = mg_an_new(&c);
	mg_addr_parse("198.18.1.2", bot.addr);
	uint64_t t = T0;
	/* One session: a suspect (forged sender), not a verdict. */
	session(&bot, "173-66-46-112.wash.fios.verizon.net", "<ab12@dhl.test>", t);
	assert_true(verify(&bot, t));
	size_t n = tick(&bot, t + SEC);
	const struct mg_an_action *al = find_act(n, MG_AN_ALERT);
	assert_non_null(al);
	assert_string_equal(al->ev.rule, "forgery:spf-fail");
	assert_null(find_act(n, MG_AN_BLOCK));
	assert_int_equal(role_of(&bot), MG_ROLE_SUSPECT);
	assert_true(al->ev.verified);
	mg_verify_explain(&al->ev.verify, al->ev.helo, true, text, sizeof(text));
	assert_non_null(strstr(text, "spf=fail domain=dhl.test"));
	/* A second session with the same forged sender within seconds: no new verification (cached identity), a verdict. */
	t += 20 * SEC;
	session(&bot, "173-66-46-112.wash.fios.verizon.net", "<ab12@dhl.test>", t);
	assert_false(verify(&bot, t));
	n = tick(&bot, t + SEC);
	const struct mg_an_action *b = find_act(n, MG_AN_BLOCK);
	assert_non_null(b);
	assert_string_equal(b->ev.rule, "forgery:spf-fail");
	assert_int_equal(b->ev.forged_sessions, 2);
	assert_int_equal(role_of(&bot), MG_ROLE_BLOCKED);
	/* show (and the policy service) name the verdict's rule while it lasts. */
	struct mg_an_profile_view pv;
	assert_true(mg_an_get(an, bot.addr, &pv));
	assert_string_equal(pv.ev.rule, "forgery:spf-fail");
	assert_true(pv.ev.verified);
	/* Blocked: not verified again. */
	t += MIN;
	session(&bot, "173-66-46-112.wash.fios.verizon.net", "<zz@other.test>", t);
	assert_false(verify(&bot, t));
	mg_an_free(an);
}

static void test_legit_and_servers_never_for_forgery(void **state)
{
	struct mg_an_config c;
	struct host good = { 0 }, relay = { 0 }, quiet = { 0 };
	struct mg_prefix p;

	(void)state;
	mg_an_config_default(&c);
	an = mg_an_new(&c);
	mg_addr_parse("198.18.2.25", good.addr);
	uint64_t t = T0;
	session(&good, "mail.example.test", "<news@example.test>", t);
	assert_true(verify(&good, t));
	size_t n = tick(&good, t + SEC);
	assert_null(find_act(n, MG_AN_ALERT));
	assert_null(find_act(n, MG_AN_BLOCK));
	assert_int_not_equal(role_of(&good), MG_ROLE_SUSPECT);

	/* A configured mail server forwarding mail whose SPF fails: never suspect, never verified. */
	mg_addr_parse("198.18.1.2", relay.addr);
	mg_prefix_parse("198.18.1.2/32", &p);
	mg_an_add_mail_server(an, &p);
	session(&relay, "173-66-46-112.wash.fios.verizon.net", "<x@dhl.test>", t);
	assert_false(verify(&relay, t));
	struct mg_verify_input in;
	assert_false(mg_an_verify_wanted(an, relay.addr, t + MIN, &in));
	/* Even handed an outcome, it weighs nothing for a mail server. */
	struct mg_verify_summary s = { 0 };
	s.res[MG_CHK_SPF] = MG_CR_FAIL;
	s.forged = MG_FORGED_SPF;
	mg_an_on_verify(an, relay.addr, &s, t);
	for (int i = 0; i < 3; i++) {
		t += 10 * SEC;
		session(&relay, "173-66-46-112.wash.fios.verizon.net", "<x@dhl.test>", t);
		n = tick(&relay, t);
		assert_null(find_act(n, MG_AN_BLOCK));
	}
	assert_int_equal(role_of(&relay), MG_ROLE_MAIL_SERVER);

	/* A resolver down: temperror everywhere, the source stays what its behaviour says. */
	mg_addr_parse("198.18.3.3", quiet.addr);
	session(&quiet, "mail.quiet.test", "<a@quiet.test>", t);
	assert_true(mg_an_verify_wanted(an, quiet.addr, t, &in));
	memset(&s, 0, sizeof(s));
	for (int k = 0; k < MG_CHK_MAX; k++)
		s.res[k] = MG_CR_TEMPERROR;
	s.res[MG_CHK_HELO_LITERAL] = s.res[MG_CHK_HELO_PROVIDER] = MG_CR_NOT_RUN;
	mg_an_on_verify(an, quiet.addr, &s, t);
	n = tick(&quiet, t + SEC);
	assert_null(find_act(n, MG_AN_ALERT));
	/* Per source: one request per 30 s, and the same identity not again within reverify. */
	session(&quiet, "mail.quiet.test", "<a@other.test>", t + 10 * SEC);
	assert_false(mg_an_verify_wanted(an, quiet.addr, t + 10 * SEC, &in));
	assert_true(mg_an_verify_wanted(an, quiet.addr, t + 31 * SEC, &in));
	assert_string_equal(in.mail_domain, "other.test");
	assert_false(mg_an_verify_wanted(an, quiet.addr, t + 5 * MIN, &in));
	mg_an_free(an);
}

static void test_forgery_reported_after_absurd_helo(void **state)
{
	struct mg_an_config c;
	struct host bot = { 0 };

	(void)state;
	mg_an_config_default(&c);
	an = mg_an_new(&c);
	mg_addr_parse("198.18.1.2", bot.addr);
	session(&bot, "173-66-46-112.wash.fios.verizon.net", "<ab12@dhl.test>", T0);
	size_t n = tick(&bot, T0 + SEC); /* before the DNS answers: the HELO alone */
	assert_string_equal(find_act(n, MG_AN_ALERT)->ev.rule, "helo-absurd:dynamic-pool");
	assert_true(verify(&bot, T0 + 2 * SEC));
	n = tick(&bot, T0 + 3 * SEC);
	assert_non_null(find_act(n, MG_AN_ALERT));
	assert_string_equal(find_act(n, MG_AN_ALERT)->ev.rule, "forgery:spf-fail");
	mg_an_free(an);
}

/* Other evidence plus the checks: still a suspect after one message, a verdict at the second. */
static void test_checks_never_tip_one_message(void **state)
{
	struct mg_an_config c;
	struct host bot = { 0 };

	(void)state;
	mg_an_config_default(&c);
	c.forgery_verdict_sessions = 0; /* the score alone decides here */
	an = mg_an_new(&c);
	mg_addr_parse("198.18.3.3", bot.addr);
	session(&bot, "[0.0.0.0]", "<q@dhl.test>", T0); /* 4 (literal) + 2 (SMTP only): 6 */
	assert_true(verify(&bot, T0));                /* + spf=fail, no PTR, foreign literal: 7 more */
	size_t n = tick(&bot, T0 + SEC);
	assert_null(find_act(n, MG_AN_BLOCK));
	assert_int_equal(role_of(&bot), MG_ROLE_SUSPECT);
	session(&bot, "[0.0.0.0]", "<q@dhl.test>", T0 + 20 * SEC);
	n = tick(&bot, T0 + 21 * SEC);
	assert_non_null(find_act(n, MG_AN_BLOCK));
	mg_an_free(an);
}

static void test_forgery_verdict_configurable(void **state)
{
	struct mg_an_config c;
	struct host bot = { 0 };

	(void)state;
	mg_an_config_default(&c);
	c.forgery_verdict_sessions = 0; /* forgery makes suspects only */
	an = mg_an_new(&c);
	mg_addr_parse("198.18.1.2", bot.addr);
	uint64_t t = T0;
	session(&bot, "173-66-46-112.wash.fios.verizon.net", "<ab12@dhl.test>", t);
	verify(&bot, t);
	for (int i = 0; i < 4; i++) {
		t += 20 * SEC;
		session(&bot, "173-66-46-112.wash.fios.verizon.net", "<ab12@dhl.test>", t);
		assert_null(find_act(tick(&bot, t), MG_AN_BLOCK));
	}
	assert_int_equal(role_of(&bot), MG_ROLE_SUSPECT);
	mg_an_free(an);
}

/* The verify section: read as written, refused with its place when wrong. */
static void test_config(void **state)
{
	struct mg_config c;
	char err[512];

	(void)state;
	mg_config_default(&c);
	assert_true(c.verify_enabled);
	assert_int_equal(c.an.forgery_verdict_sessions, 2);
	assert_int_equal(mg_config_parse("{ \"verify\": { \"resolvers\": \"198.19.0.54:5353\", \"timeout\": \"500ms\",\n"
					 "  \"nat\": [ { \"inside\": \"198.18.0.0/16\", \"public\": \"198.19.7.7\" } ],\n"
					 "  \"off\": [ \"198.18.9.0/24\" ], \"forgery_verdict_sessions\": 0,\n"
					 "  \"weights\": { \"spf_fail\": 6, \"sender_unknown\": 2.5, \"max_total\": 9 } } }",
					 "v.json", &c, err, sizeof(err)),
			 0);
	assert_string_equal(c.verify_resolvers, "198.19.0.54:5353");
	assert_int_equal(c.verify_timeout_ns, 500000000ull);
	assert_int_equal(c.n_verify_nat, 1);
	assert_int_equal(c.n_verify_off, 1);
	assert_int_equal(c.an.forgery_verdict_sessions, 0);
	assert_true(c.an.vw.spf_fail == 6 && c.an.vw.sender_unknown == 2.5 && c.an.vw.max_total == 9);
	mg_config_free(&c);

	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ "{ \"verify\": { \"nat\": [ { \"inside\": \"198.18.0.0/16\" } ] } }", "v.json:1:" },
		{ "{ \"verify\": {\n \"nat\": [ { \"inside\": \"198.18.0.0/16\", \"public\": \"2001:db8::1\" } ] } }",
		  "v.json:2:" },
		{ "{ \"verify\": { \"nat\": [ { \"inside\": \"198.18.0.0/16\", \"public\": \"198.19.0.1\", \"x\": 1 } ] } }",
		  "unknown key \"x\"" },
		{ "{ \"verify\": { \"resolvers\": \"ns1.example.net\" } }", "numeric addresses" },
		{ "{ \"verify\": { \"timeout\": \"0s\" } }", "v.json:1:" },
		{ "{ \"verify\": { \"treshold\": 1 } }", "unknown key" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mg_config_default(&c);
		err[0] = '\0';
		assert_int_not_equal(mg_config_parse(bad[i].text, "v.json", &c, err, sizeof(err)), 0);
		if (!strstr(err, bad[i].msg))
			fail_msg("%s: %s", bad[i].text, err);
		mg_config_free(&c);
	}
}

static int teardown(void **state)
{
	(void)state;
	mg_spf_cleanup();
	return 0;
}

/* A test of the pure evaluation, on a scripted resolver of its own (sync_dns_setup). */
#define sync_dns_test(t) cmocka_unit_test_setup_teardown(t, sync_dns_setup, sync_dns_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		sync_dns_test(test_bot_forging_spf),
		sync_dns_test(test_sender_domain_that_does_not_exist),
		sync_dns_test(test_legitimate_server),
		sync_dns_test(test_provider_and_literal_forgery),
		sync_dns_test(test_dead_resolver_is_no_evidence),
		cmocka_unit_test(test_offline),
		cmocka_unit_test(test_mail_from_domain),
		cmocka_unit_test(test_wire),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_runner_async),
		cmocka_unit_test(test_runner_timeout_and_budget),
		cmocka_unit_test(test_forgery_suspect_then_verdict),
		cmocka_unit_test(test_legit_and_servers_never_for_forgery),
		cmocka_unit_test(test_forgery_reported_after_absurd_helo),
		cmocka_unit_test(test_checks_never_tip_one_message),
		cmocka_unit_test(test_forgery_verdict_configurable),
		cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}
