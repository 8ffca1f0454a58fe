// SPDX-License-Identifier: GPL-2.0-only
/*
 * bench_verify.c - what source verification costs: DNS queries per checked
 * source, how many lookups the cache answers, the memory per cached name,
 * and the CPU per check, on a synthetic edge whose facts a resolver answers
 * at once (pure userspace: the runner of the daemon with a scripted
 * resolver, so the figures are the verifier's own, not a network's).
 *
 *   bench-verify [SOURCES [DOMAINS]]
 *
 * SOURCES (default 2000) bots in one ISP pool, each with its own dynamic PTR
 * name (which does not resolve back) and a HELO copied from one of 20
 * names; each forges a sender from DOMAINS (default 50) SPF-protected
 * domains (each "v=spf1 include:_spf.DOMAIN -all"). Then as many legitimate
 * servers of 20 providers (FCrDNS, SPF pass through a:).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include "mg_addr.h"
#include "mg_spf.h"
#include "mg_verifier.h"

#define SEC 1000000000ull

static struct mg_verifier *v;
static unsigned done, forged, passed;
static uint64_t cur; /* the script's clock: a source every second */

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static struct mg_dns_answer *txt(const char *t)
{
	struct mg_dns_answer *a = mg_dns_answer_new(MG_DNS_OK, 3600);
	mg_dns_answer_add(&a, t, strlen(t));
	return a;
}

/* The synthetic Internet: names are read back from their own text. */
static struct mg_dns_answer *answer(const char *name, uint16_t type)
{
	unsigned a, b, c, d;
	char buf[300];

	if (type == MG_DNS_PTR && sscanf(name, "%u.%u.%u.%u.in-addr.arpa", &d, &c, &b, &a) == 4) {
		if (c >= 128) /* the providers' servers: 198.18.128.0/17 */
			snprintf(buf, sizeof(buf), "mail%u-%u.provider%u.example", c, d, c % 20);
		else
			snprintf(buf, sizeof(buf), "%u-%u-%u-%u.dyn.pool.example", a, b, c, d);
		struct mg_dns_answer *r = mg_dns_answer_new(MG_DNS_OK, 3600);
		mg_dns_answer_add(&r, buf, strlen(buf));
		return r;
	}
	if (type == MG_DNS_A && sscanf(name, "mail%u-%u.provider", &c, &d) == 2) {
		uint8_t ip[4] = { 198, 18, (uint8_t)c, (uint8_t)d };
		struct mg_dns_answer *r = mg_dns_answer_new(MG_DNS_OK, 3600);
		mg_dns_answer_add(&r, ip, 4);
		return r;
	}
	if (type == MG_DNS_TXT && !strncmp(name, "_spf.", 5))
		return txt("v=spf1 ip4:198.19.0.0/16 -all");
	if (type == MG_DNS_TXT && !strncmp(name, "brand", 5)) {
		snprintf(buf, sizeof(buf), "v=spf1 include:_spf.%s -all", name);
		return txt(buf);
	}
	if (type == MG_DNS_TXT && !strncmp(name, "provider", 8))
		return txt("v=spf1 ip4:198.18.128.0/17 -all");
	if (type == MG_DNS_A && strstr(name, ".helo.example")) {
		uint8_t ip[4] = { 198, 19, 77, 7 };
		struct mg_dns_answer *r = mg_dns_answer_new(MG_DNS_OK, 3600);
		mg_dns_answer_add(&r, ip, 4);
		return r;
	}
	return mg_dns_answer_new(MG_DNS_NXDOMAIN, 900);
}

static int query(void *ctx, const char *name, uint16_t type)
{
	(void)ctx;
	mg_verifier_answer(v, name, type, answer(name, type), cur);
	return 0;
}

static void on_done(void *arg, const uint8_t who[16], const struct mg_verify_summary *s, uint64_t now)
{
	(void)arg, (void)who, (void)now;
	done++;
	forged += s->forged != 0;
	passed += s->res[MG_CHK_SPF] == MG_CR_PASS;
}

static const struct mg_resolver_ops ops = { .query = query };

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 2000, ndom = argc > 2 ? (unsigned)atoi(argv[2]) : 50;
	struct mg_verifier_config c;
	struct mg_verifier_stats st;
	struct mg_verify_input in;

	if (!n || n > 30000 || !ndom) {
		fprintf(stderr, "usage: bench-verify [SOURCES (1..30000) [DOMAINS]]\n");
		return 2;
	}
	mg_verifier_config_default(&c);
	c.queries_per_sec = c.query_burst = 100000000; /* the rate bound is not what is measured */
	v = mg_verifier_new(&c, &ops, NULL, on_done, NULL);
	double t0 = now_ms();
	for (unsigned i = 0; i < n; i++) {
		memset(&in, 0, sizeof(in));
		mg_addr_from_v4(in.addr, htonl(0xc6120000u | (i % 32768))); /* 198.18.0.0/17: the pool */
		snprintf(in.helo, sizeof(in.helo), "host%u.helo.example", i % 20);
		snprintf(in.mail_domain, sizeof(in.mail_domain), "brand%u.example", (i * 7) % ndom);
		in.dns = true;
		cur = (uint64_t)(i + 1) * SEC;
		mg_verifier_submit(v, in.addr, &in, cur);
	}
	double t1 = now_ms();
	mg_verifier_stats(v, &st);
	printf("bots:    %u checked in %.1f ms (%.1f us each), %u forged; %.2f queries each, %.0f %% of lookups from the "
	       "cache\n", done, t1 - t0, (t1 - t0) * 1000 / done, forged, (double)st.queries_done_jobs / done,
	       100.0 * (1 - (double)st.queries_done_jobs / (double)st.lookups_done_jobs));
	uint64_t q0 = st.queries_done_jobs, l0 = st.lookups_done_jobs;
	unsigned d0 = done;
	for (unsigned i = 0; i < n; i++) {
		memset(&in, 0, sizeof(in));
		unsigned p = i % 20;
		mg_addr_from_v4(in.addr, htonl(0xc6128000u | (p << 8) | (1 + i % 200)));
		snprintf(in.helo, sizeof(in.helo), "mail%u-%u.provider%u.example", 128 + p, 1 + i % 200, (128 + p) % 20);
		snprintf(in.mail_domain, sizeof(in.mail_domain), "provider%u.example", (128 + p) % 20);
		in.dns = true;
		cur = (uint64_t)(n + i + 1) * SEC;
		mg_verifier_submit(v, in.addr, &in, cur);
	}
	double t2 = now_ms();
	mg_verifier_stats(v, &st);
	printf("servers: %u checked in %.1f ms, %u SPF pass; %.2f queries each, %.0f %% of lookups from the cache\n",
	       done - d0, t2 - t1, passed, (double)(st.queries_done_jobs - q0) / (done - d0),
	       100.0 * (1 - (double)(st.queries_done_jobs - q0) / (double)(st.lookups_done_jobs - l0)));
	printf("cache:   %zu names, %zu bytes: %.0f bytes per cached name (%zu of them the entry's header), "
	       "plus the allocator's own\n",
	       st.cache.entries, st.cache.bytes, (double)st.cache.bytes / (double)st.cache.entries,
	       mg_dns_cache_entry_overhead());
	mg_verifier_free(v);
	mg_spf_cleanup();
	return 0;
}
