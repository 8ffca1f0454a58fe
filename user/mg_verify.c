// SPDX-License-Identifier: GPL-2.0-only
/* mg_verify.c - the source-verification checks, evaluated from DNS answers (see mg_verify.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mg_addr.h"
#include "mg_helo_shape.h"
#include "mg_spf.h"
#include "mg_verify.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_PTR_NAMES 3 /* PTR names followed forward: more is a misconfiguration, not a host */

static const char *const check_names[MG_CHK_MAX] = {
	[MG_CHK_PTR] = "ptr",
	[MG_CHK_FCRDNS] = "fcrdns",
	[MG_CHK_PTR_SHAPE] = "ptr_shape",
	[MG_CHK_HELO_RESOLVES] = "helo_resolves",
	[MG_CHK_HELO_ADDR] = "helo_addr",
	[MG_CHK_HELO_PTR] = "helo_ptr",
	[MG_CHK_HELO_PROVIDER] = "helo_provider",
	[MG_CHK_HELO_LITERAL] = "helo_literal",
	[MG_CHK_SPF] = "spf",
	[MG_CHK_SENDER_DOMAIN] = "sender_domain",
};

static const char *const result_names[MG_CR_MAX] = {
	[MG_CR_NOT_RUN] = "not-run", [MG_CR_PASS] = "pass",         [MG_CR_FAIL] = "fail",
	[MG_CR_SOFTFAIL] = "softfail", [MG_CR_NEUTRAL] = "neutral", [MG_CR_NONE] = "none",
	[MG_CR_TEMPERROR] = "temperror", [MG_CR_PERMERROR] = "permerror",
};

const char *mg_check_name(enum mg_check c)
{
	return (unsigned)c < MG_CHK_MAX ? check_names[c] : "?";
}

const char *mg_check_result_name(enum mg_check_result r)
{
	return (unsigned)r < MG_CR_MAX ? result_names[r] : "?";
}

int mg_check_result_parse(const char *s)
{
	for (int i = 0; i < MG_CR_MAX; i++)
		if (!strcmp(s, result_names[i]))
			return i;
	return -EINVAL;
}

const char *mg_forgery_name(unsigned forged)
{
	if (forged & MG_FORGED_SPF)
		return "spf-fail";
	if (forged & MG_FORGED_SENDER_UNKNOWN)
		return "sender-unknown";
	if (forged & MG_FORGED_HELO_PROVIDER)
		return "helo-provider";
	if (forged & MG_FORGED_HELO_LITERAL)
		return "helo-literal";
	return "";
}

/* ---- the MAIL FROM domain ----------------------------------------------------------------- */

static bool domain_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
	       c == '_';
}

int mg_mail_from_domain(const char *arg, size_t len, char *out, size_t outlen)
{
	size_t i = 0, at = 0;
	bool found = false;

	if (!outlen)
		return -EINVAL;
	out[0] = '\0';
	while (i < len && arg[i] == ' ')
		i++;
	if (i + 1 < len && arg[i] == '<' && arg[i + 1] == '>')
		return 0;
	/* The last '@' before the address ends ('>', a space before parameters, the line's end). */
	size_t end = i;
	while (end < len && arg[end] != '>' && arg[end] != ' ' && arg[end] != '\r' && arg[end] != '\n') {
		if (arg[end] == '@') {
			at = end;
			found = true;
		}
		end++;
	}
	if (!found)
		return -EINVAL;
	/* Cut off by the event's bound before the address ended: the domain may be incomplete. */
	if (end == len && (i < len && arg[i] == '<'))
		return -EINVAL;
	size_t n = end - at - 1;
	if (n == 0 || n >= outlen || n > MG_DNS_NAME_MAX)
		return -EINVAL;
	for (size_t k = 0; k < n; k++) {
		char c = arg[at + 1 + k];
		if (!domain_char(c))
			return -EINVAL;
		out[k] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	out[n] = '\0';
	if (out[n - 1] == '.')
		out[n - 1] = '\0';
	if (!out[0] || out[0] == '.' || !strchr(out, '.'))
		return -EINVAL;
	return 1;
}

/* ---- evaluation --------------------------------------------------------------------------- */

struct ctx {
	mg_verify_lookup lookup;
	void *arg;
	bool dns;
	unsigned lacking;
};

/* An answer, or NULL when it lacks (counted) or there is no DNS. */
static const struct mg_dns_answer *ask(struct ctx *c, const char *name, uint16_t type)
{
	if (!c->dns)
		return NULL;
	const struct mg_dns_answer *a = c->lookup(c->arg, name, type);
	if (!a)
		c->lacking++;
	return a;
}

static bool answer_has_addr(const struct mg_dns_answer *a, const uint8_t addr[16])
{
	size_t off = 0, len;
	const uint8_t *p;

	while ((p = mg_dns_answer_next(a, &off, &len)))
		if ((len == 4 && mg_addr_is_v4(addr) && !memcmp(p, addr + 12, 4)) || (len == 16 && !memcmp(p, addr, 16)))
			return true;
	return false;
}

/* Forward lookup of name for addr's family: pass (has addr), fail (resolves elsewhere or not), temperror, or not-run (lacking). */
static enum mg_check_result forward(struct ctx *c, const char *name, const uint8_t addr[16], bool *resolves)
{
	const struct mg_dns_answer *a = ask(c, name, mg_addr_is_v4(addr) ? MG_DNS_A : MG_DNS_AAAA);

	*resolves = false;
	if (!a)
		return MG_CR_NOT_RUN;
	if (a->status == MG_DNS_TEMPFAIL)
		return MG_CR_TEMPERROR;
	if (a->status != MG_DNS_OK)
		return MG_CR_FAIL;
	*resolves = true;
	return answer_has_addr(a, addr) ? MG_CR_PASS : MG_CR_FAIL;
}

static void copy_name(char *dst, size_t dlen, const void *src, size_t len);
static void copy_str(char *dst, size_t dlen, const char *src)
{
	copy_name(dst, dlen, src, strlen(src));
}

static void copy_name(char *dst, size_t dlen, const void *src, size_t len)
{
	size_t n = len < dlen - 1 ? len : dlen - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* A literal's address: "[198.18.0.2]", "[IPv6:2001:db8::1]", bare "198.18.0.2". */
static bool literal_addr(const char *s, uint8_t out[16])
{
	char buf[80];
	size_t n = strlen(s);

	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n >= 5 && !strncasecmp(s, "IPv6:", 5)) {
		s += 5;
		n -= 5;
	}
	if (!n || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return mg_addr_parse(buf, out) == 0;
}

static bool under(const char *name, const char *domain)
{
	size_t n = strlen(name), d = strlen(domain);
	return n >= d && !strcasecmp(name + n - d, domain) && (n == d || name[n - d - 1] == '.');
}

unsigned mg_verify_eval(const struct mg_verify_input *in, mg_verify_lookup lookup, void *arg,
			struct mg_verify_summary *out)
{
	struct ctx c = { .lookup = lookup, .arg = arg, .dns = in->dns };
	char ptrs[MAX_PTR_NAMES][MG_DNS_NAME_MAX + 1], rev[80], helo[MG_VERIFY_NAME + 1];
	unsigned nptr = 0;
	bool ptr_confirmed = false;

	memset(out, 0, sizeof(*out));
	memcpy(out->public_addr, in->addr, 16);
	out->dns = in->dns;
	copy_str(out->mail_domain, sizeof(out->mail_domain), in->mail_domain);
	/* The HELO name without the blanks and final dot a client may add. */
	copy_str(helo, sizeof(helo), in->helo);
	size_t hl = strlen(helo);
	while (hl && (helo[hl - 1] == ' ' || helo[hl - 1] == '\r' || helo[hl - 1] == '\n'))
		helo[--hl] = '\0';
	if (hl && helo[hl - 1] == '.')
		helo[--hl] = '\0';

	/* PTR, FCrDNS, the PTR name's shape. */
	mg_dns_reverse_name(in->addr, rev, sizeof(rev));
	const struct mg_dns_answer *pa = ask(&c, rev, MG_DNS_PTR);
	if (pa) {
		if (pa->status == MG_DNS_TEMPFAIL) {
			out->res[MG_CHK_PTR] = MG_CR_TEMPERROR;
		} else if (pa->status != MG_DNS_OK) {
			out->res[MG_CHK_PTR] = MG_CR_FAIL;
		} else {
			size_t off = 0, len;
			const uint8_t *p;
			out->res[MG_CHK_PTR] = MG_CR_PASS;
			while (nptr < MAX_PTR_NAMES && (p = mg_dns_answer_next(pa, &off, &len)))
				copy_name(ptrs[nptr++], sizeof(ptrs[0]), p, len);
		}
	}
	if (nptr) {
		enum mg_check_result f = MG_CR_FAIL;
		unsigned confirmed = 0;
		bool lacking = false, temp = false;
		for (unsigned i = 0; i < nptr; i++) {
			bool resolves;
			enum mg_check_result r = forward(&c, ptrs[i], in->addr, &resolves);
			if (r == MG_CR_PASS) {
				f = MG_CR_PASS;
				confirmed = i;
				break;
			}
			lacking |= r == MG_CR_NOT_RUN;
			temp |= r == MG_CR_TEMPERROR;
		}
		if (f != MG_CR_PASS)
			f = lacking ? MG_CR_NOT_RUN : temp ? MG_CR_TEMPERROR : MG_CR_FAIL;
		out->res[MG_CHK_FCRDNS] = (uint8_t)f;
		ptr_confirmed = f == MG_CR_PASS;
		/* The name explained and shaped: the confirmed one if any, else the first. */
		copy_str(out->ptr, sizeof(out->ptr), ptrs[confirmed]);
		out->res[MG_CHK_PTR_SHAPE] = mg_helo_dynamic_pool(ptrs[confirmed], strlen(ptrs[confirmed])) != MG_POOL_NONE
						     ? MG_CR_FAIL
						     : MG_CR_PASS;
	}

	/* The HELO name. */
	unsigned shape = mg_helo_shape(helo, hl, in->addr);
	uint8_t lit[16];
	if (shape & MG_HELO_IP_LITERAL) {
		out->res[MG_CHK_HELO_LITERAL] = literal_addr(helo, lit) && !memcmp(lit, in->addr, 16) ? MG_CR_PASS : MG_CR_FAIL;
		if (out->res[MG_CHK_HELO_LITERAL] == MG_CR_FAIL)
			out->forged |= MG_FORGED_HELO_LITERAL;
	} else if (shape & MG_HELO_FQDN) {
		bool resolves;
		enum mg_check_result r = forward(&c, helo, in->addr, &resolves);
		if (r == MG_CR_TEMPERROR) {
			out->res[MG_CHK_HELO_RESOLVES] = out->res[MG_CHK_HELO_ADDR] = MG_CR_TEMPERROR;
		} else if (r != MG_CR_NOT_RUN) {
			out->res[MG_CHK_HELO_RESOLVES] = resolves ? MG_CR_PASS : MG_CR_FAIL;
			out->res[MG_CHK_HELO_ADDR] = (uint8_t)r;
		}
		if (out->res[MG_CHK_PTR] == MG_CR_PASS) {
			bool same = false;
			for (unsigned i = 0; i < nptr; i++)
				same |= !strcasecmp(ptrs[i], helo);
			out->res[MG_CHK_HELO_PTR] = same ? MG_CR_PASS : MG_CR_FAIL;
		} else if (out->res[MG_CHK_PTR] == MG_CR_FAIL) {
			out->res[MG_CHK_HELO_PTR] = MG_CR_FAIL;
		} else if (out->res[MG_CHK_PTR] == MG_CR_TEMPERROR) {
			out->res[MG_CHK_HELO_PTR] = MG_CR_TEMPERROR;
		}
		/* A provider's name: confirmed if it resolves to the source, or the source's confirmed PTR is in it. */
		const char *prov = mg_helo_provider(helo, hl);
		if (prov && in->dns) {
			copy_str(out->provider, sizeof(out->provider), prov);
			uint8_t ha = out->res[MG_CHK_HELO_ADDR], fc = out->res[MG_CHK_FCRDNS];
			bool in_prov = ptr_confirmed && under(out->ptr, prov);
			if (ha == MG_CR_PASS || in_prov)
				out->res[MG_CHK_HELO_PROVIDER] = MG_CR_PASS;
			else if (ha == MG_CR_TEMPERROR || fc == MG_CR_TEMPERROR || out->res[MG_CHK_PTR] == MG_CR_TEMPERROR)
				out->res[MG_CHK_HELO_PROVIDER] = MG_CR_TEMPERROR;
			else if (ha != MG_CR_NOT_RUN && out->res[MG_CHK_PTR] != MG_CR_NOT_RUN &&
				 (out->res[MG_CHK_PTR] == MG_CR_FAIL || fc != MG_CR_NOT_RUN))
				out->res[MG_CHK_HELO_PROVIDER] = MG_CR_FAIL;
			if (out->res[MG_CHK_HELO_PROVIDER] == MG_CR_FAIL)
				out->forged |= MG_FORGED_HELO_PROVIDER;
		}
	}

	/* SPF of the MAIL FROM domain. */
	if (in->mail_domain[0] && in->dns) {
		enum mg_check_result r;
		unsigned l = mg_spf_check(in->addr, in->mail_domain, helo, lookup, arg, &r);
		if (l)
			c.lacking += l;
		else
			out->res[MG_CHK_SPF] = (uint8_t)r;
		if (!l && r == MG_CR_FAIL)
			out->forged |= MG_FORGED_SPF;
		/*
		 * Does the domain exist? SPF asked for its TXT records already, so
		 * the answer is in the cache: no query of its own. NXDOMAIN is the
		 * only failure (a domain with no TXT, MX or A exists all the same):
		 * the forgers' trick of random subdomains under a protected domain
		 * (which have no SPF record, so spf=none) ends here.
		 */
		const struct mg_dns_answer *t = ask(&c, in->mail_domain, MG_DNS_TXT);
		if (t) {
			out->res[MG_CHK_SENDER_DOMAIN] = t->status == MG_DNS_TEMPFAIL  ? MG_CR_TEMPERROR
							 : t->status == MG_DNS_NXDOMAIN ? MG_CR_FAIL
											: MG_CR_PASS;
			if (t->status == MG_DNS_NXDOMAIN)
				out->forged |= MG_FORGED_SENDER_UNKNOWN;
		}
	}
	return c.lacking;
}

/* ---- explanation and score ---------------------------------------------------------------- */

static size_t add(char *buf, size_t len, size_t n, const char *fmt, const char *a, const char *b)
{
	if (n >= len)
		return n;
	int k = snprintf(buf + n, len - n, fmt, n ? ", " : "", a, b);
	return k < 0 ? n : n + (size_t)k;
}

void mg_verify_explain(const struct mg_verify_summary *s, const char *helo, bool helo_dynamic, char *buf,
		       size_t len)
{
	const uint8_t *r = s->res;
	char note[96];
	size_t n = 0;

	if (!len)
		return;
	buf[0] = '\0';
	if (s->mail_domain[0]) {
		snprintf(note, sizeof(note), "%s%s", s->mail_domain,
			 r[MG_CHK_SENDER_DOMAIN] == MG_CR_FAIL ? " (does not exist)" : "");
		n = add(buf, len, n, "%sspf=%s domain=%s", mg_check_result_name(r[MG_CHK_SPF]), note);
	}
	/* The PTR: its name, and what is wrong with it. */
	if (r[MG_CHK_PTR] == MG_CR_PASS) {
		snprintf(note, sizeof(note), "%s (%s%s)", s->ptr, r[MG_CHK_PTR_SHAPE] == MG_CR_FAIL ? "dynamic, " : "",
			 r[MG_CHK_FCRDNS] == MG_CR_PASS ? "FCrDNS" : r[MG_CHK_FCRDNS] == MG_CR_FAIL ? "not FCrDNS"
										  : "FCrDNS unknown");
		n = add(buf, len, n, "%sptr=%s%s", "", note);
	} else {
		n = add(buf, len, n, "%sptr=%s%s", mg_check_result_name(r[MG_CHK_PTR]), "");
	}
	/* The HELO: the name, its shape, whether it confirms. */
	const char *conf = r[MG_CHK_HELO_LITERAL] == MG_CR_FAIL    ? "not the source's address"
			   : r[MG_CHK_HELO_LITERAL] == MG_CR_PASS  ? "its own address"
			   : r[MG_CHK_HELO_ADDR] == MG_CR_PASS     ? "FCrDNS"
			   : r[MG_CHK_HELO_RESOLVES] == MG_CR_FAIL ? "does not resolve, not FCrDNS"
			   : r[MG_CHK_HELO_ADDR] == MG_CR_FAIL     ? "not FCrDNS"
			   : r[MG_CHK_HELO_ADDR] == MG_CR_TEMPERROR ? "temperror"
								   : "not checked";
	snprintf(note, sizeof(note), "%.64s (%s%s%s%s)", helo && *helo ? helo : "", helo_dynamic ? "dynamic, " : "",
		 conf, r[MG_CHK_HELO_PTR] == MG_CR_PASS ? ", is the PTR" : "",
		 r[MG_CHK_HELO_PROVIDER] == MG_CR_FAIL ? ", claims a provider it is not in" : "");
	n = add(buf, len, n, "%shelo=%s%s", note, "");
	if (!s->dns)
		add(buf, len, n, "%s%sdns=%s", "", "not-run");
}

void mg_verify_weights_default(struct mg_verify_weights *w)
{
	*w = (struct mg_verify_weights){
		.spf_fail = 4,
		.spf_softfail = 1.5,
		.sender_unknown = 3,
		.helo_forged = 3,
		.no_ptr = 1,
		.not_fcrdns = 1,
		.ptr_dynamic = 1,
		.helo_unresolved = 1,
		.helo_not_source = 1,
		.max_total = 7,
	};
}

double mg_verify_score(const struct mg_verify_summary *s, const struct mg_verify_weights *w)
{
	const uint8_t *r = s->res;
	double x = 0;

	/* temperror and not-run weigh nothing: no answer is no evidence. */
	if (r[MG_CHK_SPF] == MG_CR_FAIL)
		x += w->spf_fail;
	else if (r[MG_CHK_SPF] == MG_CR_SOFTFAIL)
		x += w->spf_softfail;
	if (r[MG_CHK_SENDER_DOMAIN] == MG_CR_FAIL)
		x += w->sender_unknown;
	if (s->forged & (MG_FORGED_HELO_PROVIDER | MG_FORGED_HELO_LITERAL))
		x += w->helo_forged;
	if (r[MG_CHK_PTR] == MG_CR_FAIL)
		x += w->no_ptr;
	if (r[MG_CHK_FCRDNS] == MG_CR_FAIL)
		x += w->not_fcrdns;
	if (r[MG_CHK_PTR_SHAPE] == MG_CR_FAIL)
		x += w->ptr_dynamic;
	if (r[MG_CHK_HELO_RESOLVES] == MG_CR_FAIL)
		x += w->helo_unresolved;
	else if (r[MG_CHK_HELO_ADDR] == MG_CR_FAIL && r[MG_CHK_HELO_PTR] != MG_CR_PASS)
		x += w->helo_not_source;
	return x > w->max_total ? w->max_total : x;
}
