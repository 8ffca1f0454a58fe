// SPDX-License-Identifier: GPL-2.0-only
/*
 * mg_daemon_dnsbl.c - mtaguardd's DNSBL datasets (dnsbl.ip4trie,
 * dnsbl.ip6trie): rewritten whole when what the kernel holds changed, an
 * outbreak gained or lost members, or a listed block reached its expiry;
 * at most once a second (an import writes thousands of rules in a second:
 * one file, not one per slice). See mg_dnsbl.h for the return codes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mg_clock.h"
#include "mg_daemon.h"
#include "mg_dnsbl.h"
#include "mg_statefile.h"

#define DNSBL_GAP_NS (1000ull * 1000000ull)

struct gather {
	struct mg_dnsbl_entry *v;
	size_t n, cap;
	size_t nallow;          /* v[0..nallow) are the exclusions */
	struct mg_dnsbl_allows allows; /* the same, sorted to look up */
	bool ok, feeds, blocks; /* blocks: this pass takes blocks (else allows) */
	uint64_t now, next_expiry;
};

static void push(struct gather *g, const struct mg_prefix *p, uint8_t code)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 1024;
		struct mg_dnsbl_entry *v = realloc(g->v, cap * sizeof(*v));
		if (!v) {
			g->ok = false;
			return;
		}
		g->v = v;
		g->cap = cap;
	}
	g->v[g->n++] = (struct mg_dnsbl_entry){ .prefix = *p, .code = code };
}

/*
 * Inside an allowed prefix? rbldnsd answers the longest match, so a /32
 * block inside an allowed /24 would be listed over the /24's exclusion: it is
 * left out instead, as the kernel lets it pass (the allowlist wins whatever
 * the lengths). The allows are sorted once per rewrite (mg_dnsbl_allows):
 * big allowlists and feeds cost a binary search per length in use, not
 * allows x blocks compares.
 */
static bool allowed(const struct gather *g, const struct mg_prefix *p)
{
	return mg_dnsbl_allowed(&g->allows, p);
}

static void from_ledger(const struct mg_rule_entry *r, void *arg)
{
	struct gather *g = arg;
	const struct mg_rule_want *w = r->written;

	if (!g->blocks) {
		if (w->allow)
			push(g, &r->prefix, MG_DNSBL_EXCLUDED);
		return;
	}
	if (!mg_rule_block_in_force(w, g->now))
		return;
	uint8_t code = w->block_by == MG_OWNER_OPERATOR_BLOCK ? MG_DNSBL_OPERATOR
		     : w->block_by == MG_OWNER_FEED	  ? MG_DNSBL_FEED
							  : MG_DNSBL_VERDICT;
	if ((code == MG_DNSBL_FEED && !g->feeds) || allowed(g, &r->prefix))
		return;
	push(g, &r->prefix, code);
	if (w->block_expires < g->next_expiry)
		g->next_expiry = w->block_expires;
}

static void from_outbreak(const struct mg_ob_view *v, void *arg)
{
	struct gather *g = arg;

	for (uint32_t i = 0; i < v->n_list; i++)
		if (!allowed(g, &v->list[i].src))
			push(g, &v->list[i].src, MG_DNSBL_OUTBREAK);
}

static int write_one(const char *path, const struct gather *g, bool v6, unsigned ttl_s)
{
	size_t len;
	char *text = mg_dnsbl_render(g->v, g->n, v6, ttl_s, &len);
	int err;

	if (!text)
		return -ENOMEM;
	mg_make_parent_dirs(path);
	err = mg_dnsbl_write(path, text, len);
	free(text);
	return err;
}

void mg_daemon_dnsbl(struct mg_daemon *d, uint64_t mono)
{
	uint64_t now = mg_daemon_timeline(mono), gen = mg_ruleset_generation(d->eng.rules);
	char sig[sizeof(d->cfg.dnsbl_ip4) + sizeof(d->cfg.dnsbl_ip6) + 32];

	if (!d->cfg.dnsbl_ip4[0] && !d->cfg.dnsbl_ip6[0])
		return;
	/* What the configuration asks for (a reload may change it): a change rewrites too. */
	snprintf(sig, sizeof(sig), "%s|%s|%llu|%d", d->cfg.dnsbl_ip4, d->cfg.dnsbl_ip6,
		 (unsigned long long)d->cfg.dnsbl_ttl_ns, d->cfg.dnsbl_feeds);
	bool changed = !d->dnsbl.written || gen != d->dnsbl.gen || d->eng.ob_generation != d->dnsbl.ob_gen ||
		       now >= d->dnsbl.next_expiry || strcmp(sig, d->dnsbl.cfg);
	if (!changed || (d->dnsbl.written && mono - d->dnsbl.last_ns < DNSBL_GAP_NS))
		return;

	struct gather g = { .ok = true, .feeds = d->cfg.dnsbl_feeds, .now = now, .next_expiry = MG_TIME_NEVER };
	mg_ruleset_foreach(d->eng.rules, from_ledger, &g); /* exclusions first: an allow wins */
	g.nallow = g.n;
	g.blocks = true;
	if (g.ok && mg_dnsbl_allows_init(&g.allows, g.v, g.nallow))
		g.ok = false;
	if (g.ok) {
		mg_ruleset_foreach(d->eng.rules, from_ledger, &g);
		mg_ob_foreach(d->eng.ob, from_outbreak, &g);
	}
	mg_dnsbl_allows_free(&g.allows);
	unsigned ttl_s = (unsigned)(d->cfg.dnsbl_ttl_ns / MG_NSEC_PER_SEC);
	int err = g.ok ? 0 : -ENOMEM;
	const char *failed = NULL;
	if (!err && d->cfg.dnsbl_ip4[0] && (err = write_one(d->cfg.dnsbl_ip4, &g, false, ttl_s)))
		failed = d->cfg.dnsbl_ip4;
	if (!err && d->cfg.dnsbl_ip6[0] && (err = write_one(d->cfg.dnsbl_ip6, &g, true, ttl_s)))
		failed = d->cfg.dnsbl_ip6;
	free(g.v);
	d->dnsbl.last_ns = mono;
	/* A failure is said once per cause, and retried a second later; what it was rendered from stays as it was. */
	if (err) {
		if (err != d->dnsbl.err)
			mg_eventlog_warning(&d->log, "notice", "writing the DNSBL data to %s failed: %s (retried every second)",
					    failed ? failed : "its files", strerror(-err));
		d->dnsbl.err = err;
		return;
	}
	if (d->dnsbl.err)
		mg_eventlog_notice(&d->log, "notice", "the DNSBL data is written again");
	d->dnsbl.err = 0;
	d->dnsbl.written = true;
	d->dnsbl.gen = gen;
	d->dnsbl.ob_gen = d->eng.ob_generation;
	d->dnsbl.next_expiry = g.next_expiry;
	snprintf(d->dnsbl.cfg, sizeof(d->dnsbl.cfg), "%s", sig);
	d->dnsbl.writes++;
}
