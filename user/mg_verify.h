/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_verify.h - source verification: the checks, their outcomes, and the
 * pure evaluation of them from DNS answers.
 *
 * A source is checked against what it claims: its public address's PTR
 * name (and whether that name resolves back: FCrDNS; whether it is shaped
 * like a residential pool), its HELO name (resolves? to the source? the
 * PTR name? a big provider's name it is not in? an address literal not its
 * own?) and the SPF policy of its MAIL FROM domain. Each check is a named
 * piece of evidence with its outcome; the analyzer weighs them.
 *
 * mg_verify_eval() is a pure function of the input and a lookup function:
 * it asks for every (name, type) it needs and gets an answer or NULL (not
 * known yet). It returns how many it lacked; the runner (mg_verifier.c)
 * fetches those and evaluates again, until nothing lacks. Every round
 * starts from scratch, so no DNS state lives between rounds but the cache,
 * and the unit tests script answers with a table.
 *
 * Outcomes: a timeout or a resolver failure is `temperror`, which is never
 * evidence; `not-run` is a check that did not apply or had no DNS (the
 * replay offline: shape and literal checks still apply).
 */
#ifndef MG_VERIFY_H
#define MG_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mg_dns.h"

enum mg_check {
	MG_CHK_PTR = 0,       /* the public address has a PTR name */
	MG_CHK_FCRDNS,        /* a PTR name resolves back to the address */
	MG_CHK_PTR_SHAPE,     /* fail: the PTR name is shaped like a dynamic pool (mg_helo_dynamic_pool) */
	MG_CHK_HELO_RESOLVES, /* the HELO name has an address (of the source's family) */
	MG_CHK_HELO_ADDR,     /* ... and one of them is the source's */
	MG_CHK_HELO_PTR,      /* the HELO name is one of the PTR names */
	MG_CHK_HELO_PROVIDER, /* a big provider's name in the HELO: confirmed (pass) or claimed falsely (fail) */
	MG_CHK_HELO_LITERAL,  /* an address literal: the source's own public address (pass) or not (fail) */
	MG_CHK_SPF,           /* SPF of the MAIL FROM domain for the public address (RFC 7208 results) */
	MG_CHK_SENDER_DOMAIN, /* the MAIL FROM domain exists (fail: NXDOMAIN, read from SPF's own TXT query) */
	MG_CHK_MAX,
};

enum mg_check_result {
	MG_CR_NOT_RUN = 0,
	MG_CR_PASS,
	MG_CR_FAIL,
	MG_CR_SOFTFAIL,
	MG_CR_NEUTRAL,
	MG_CR_NONE,
	MG_CR_TEMPERROR,
	MG_CR_PERMERROR,
	MG_CR_MAX,
};

/* Kinds of forged identity (mg_verify_summary.forged bits): each one reason to suspect at the first session. */
enum mg_forgery {
	MG_FORGED_SPF = 1 << 0,           /* spf=fail: the sender domain says this address may not use it */
	MG_FORGED_HELO_PROVIDER = 1 << 1, /* a big provider's name the source is not in */
	MG_FORGED_HELO_LITERAL = 1 << 2,  /* an address literal that is not the source's public address */
	MG_FORGED_SENDER_UNKNOWN = 1 << 3, /* a sender domain that does not exist: no mail system sends as one */
};
/* "spf-fail", "sender-unknown", "helo-provider", "helo-literal": the rule names the strongest one (forgery:spf-fail). */
const char *mg_forgery_name(unsigned forged);

#define MG_VERIFY_NAME 64 /* bytes of a PTR name or domain kept for explanations (cut beyond) */

/* What the analyzer keeps and explains. Fixed size, no pointers. */
struct mg_verify_summary {
	uint8_t res[MG_CHK_MAX];         /* enum mg_check_result */
	uint8_t forged;                  /* enum mg_forgery bits */
	uint8_t dns;                     /* the checks had DNS (0: offline) */
	uint8_t public_addr[16];         /* the address checked (the NAT's public one for inside hosts) */
	char ptr[MG_VERIFY_NAME];        /* the first PTR name ("" if none) */
	char mail_domain[MG_VERIFY_NAME];/* the MAIL FROM domain checked ("" for none / null sender) */
	char provider[24];               /* the provider the HELO claims ("" if none) */
};

struct mg_verify_input {
	uint8_t addr[16];               /* the public address to check */
	char helo[MG_VERIFY_NAME + 1];  /* the HELO/EHLO argument as sent */
	char mail_domain[MG_VERIFY_NAME];     /* "" for the null sender */
	bool dns;                       /* false: offline, DNS checks not-run */
};

/* The answer to (name, type) if known, else NULL (the evaluation counts it as lacking). */
typedef const struct mg_dns_answer *(*mg_verify_lookup)(void *ctx, const char *name, uint16_t type);

/* Evaluate every check; returns how many lookups lacked an answer (0: out is complete). */
unsigned mg_verify_eval(const struct mg_verify_input *in, mg_verify_lookup lookup, void *ctx,
			struct mg_verify_summary *out);

/*
 * The domain of a MAIL FROM argument ("<user@Example.COM> SIZE=12" gives
 * "example.com"), lower case, in out (size outlen). Returns 1 for a domain,
 * 0 for the null sender "<>", -EINVAL when there is none to read (no '@',
 * cut off before its end, characters no domain has).
 */
int mg_mail_from_domain(const char *arg, size_t len, char *out, size_t outlen);

/* Names: "ptr", "fcrdns", ...; "not-run", "pass", ... (-EINVAL from the parsers for unknown words). */
const char *mg_check_name(enum mg_check c);
const char *mg_check_result_name(enum mg_check_result r);
int mg_check_result_parse(const char *s);

/*
 * The checks as one readable line, each name=result with what it is about:
 * "spf=fail domain=dhl.com, ptr=pass 198-18-1-2.dyn.example.net (dynamic), fcrdns=pass, helo=... (dynamic, not FCrDNS)".
 * helo_dynamic: the analyzer's shape verdict on the HELO name.
 */
void mg_verify_explain(const struct mg_verify_summary *s, const char *helo, bool helo_dynamic, char *buf,
		       size_t len);

/* Score weights (the config's verify.weights) and the score of a summary. */
struct mg_verify_weights {
	double spf_fail, spf_softfail, sender_unknown, helo_forged, no_ptr, not_fcrdns, ptr_dynamic,
		helo_unresolved, helo_not_source;
	double max_total; /* the checks together add at most this: one session is never a verdict by them alone */
};
void mg_verify_weights_default(struct mg_verify_weights *w);
double mg_verify_score(const struct mg_verify_summary *s, const struct mg_verify_weights *w);

#endif
