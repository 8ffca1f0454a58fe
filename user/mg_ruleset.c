// SPDX-License-Identifier: GPL-2.0-only
/* mg_ruleset.c - the ledger of rule owners per prefix and its one writer (see mg_ruleset.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mtaguard.h"
#include "mg_ruleset.h"

static const char *const owner_names[MG_OWNER_MAX] = {
	[MG_OWNER_CONFIG_ALLOW] = "config:allowlist",
	[MG_OWNER_CONFIG_SERVER] = "config:mail_servers",
	[MG_OWNER_LEARNED_SERVER] = "analyzer:learned",
	[MG_OWNER_OPERATOR_ALLOW] = "operator",
	[MG_OWNER_OPERATOR_BLOCK] = "operator",
	[MG_OWNER_VERDICT] = "analyzer",
	[MG_OWNER_PINNED_BLOCK] = "pinned",
	[MG_OWNER_PINNED_ALLOW] = "pinned",
	[MG_OWNER_CLUSTER_BLOCK] = "cluster",
	[MG_OWNER_CLUSTER_ALLOW] = "cluster",
	[MG_OWNER_CLUSTER_SERVER] = "cluster:mail_servers",
	[MG_OWNER_FEED] = "feed",
	[MG_OWNER_BGP_BLOCK] = "bgp",
};

const char *mg_owner_name(enum mg_owner o)
{
	return (unsigned)o < MG_OWNER_MAX ? owner_names[o] : "?";
}

bool mg_owner_blocks(enum mg_owner o)
{
	return o == MG_OWNER_OPERATOR_BLOCK || o == MG_OWNER_VERDICT || o == MG_OWNER_CLUSTER_BLOCK ||
	       o == MG_OWNER_FEED || o == MG_OWNER_PINNED_BLOCK || o == MG_OWNER_BGP_BLOCK;
}

/* ---- the precedence ------------------------------------------------------------------ */

static bool live(const struct mg_claim *c, uint64_t now)
{
	return c->present && (c->expires == MG_TIME_NEVER || c->expires > now);
}

void mg_rules_resolve(const struct mg_claim claims[MG_OWNER_MAX], bool profile_key, uint64_t now,
		      struct mg_rule_want *out)
{
	/* Listing order for "who allows it": the most specific statement first. */
	static const enum mg_owner allow_order[] = { MG_OWNER_OPERATOR_ALLOW, MG_OWNER_CONFIG_SERVER,
						     MG_OWNER_CONFIG_ALLOW, MG_OWNER_CLUSTER_SERVER, MG_OWNER_CLUSTER_ALLOW,
						     MG_OWNER_PINNED_ALLOW };
	/*
	 * The operator's block stands over a verdict, this node's over a received
	 * one; both over an imported list (third parties' word, where `verdicts`
	 * explains the others); a route from a BGP peer is a router's word
	 * without evidence here, before a list's; a pinned block is the last resort.
	 */
	static const enum mg_owner block_order[] = { MG_OWNER_OPERATOR_BLOCK, MG_OWNER_VERDICT, MG_OWNER_CLUSTER_BLOCK,
						     MG_OWNER_BGP_BLOCK, MG_OWNER_FEED, MG_OWNER_PINNED_BLOCK };

	memset(out, 0, sizeof(*out));
	out->block_expires = MG_TIME_NEVER;
	out->block_by = out->allow_by = MG_OWNER_MAX;
	for (size_t i = 0; i < sizeof(allow_order) / sizeof(allow_order[0]); i++)
		if (live(&claims[allow_order[i]], now)) {
			out->allow = true;
			out->allow_by = allow_order[i];
			break;
		}
	if (!out->allow)
		for (size_t i = 0; i < sizeof(block_order) / sizeof(block_order[0]); i++) {
			const struct mg_claim *c = &claims[block_order[i]];
			if (!live(c, now))
				continue;
			out->block = true;
			out->action = c->action == MG_ACT_DROP_ALL ? MG_ACT_DROP_ALL : MG_ACT_DROP_SMTP;
			out->block_expires = c->expires;
			out->block_by = block_order[i];
			break;
		}
	out->server = profile_key && (live(&claims[MG_OWNER_CONFIG_SERVER], now) ||
				      live(&claims[MG_OWNER_LEARNED_SERVER], now) ||
				      live(&claims[MG_OWNER_CLUSTER_SERVER], now));
	out->an_allow = live(&claims[MG_OWNER_CONFIG_ALLOW], now) || live(&claims[MG_OWNER_OPERATOR_ALLOW], now) ||
			live(&claims[MG_OWNER_CLUSTER_ALLOW], now);
	out->an_server = live(&claims[MG_OWNER_CONFIG_SERVER], now) || live(&claims[MG_OWNER_CLUSTER_SERVER], now);
}

bool mg_rule_block_in_force(const struct mg_rule_want *w, uint64_t now)
{
	return w->block && (w->block_expires == MG_TIME_NEVER || w->block_expires > now);
}

/* ---- the ledger ------------------------------------------------------------------------ */

struct entry {
	struct mg_prefix prefix;
	struct mg_claim claims[MG_OWNER_MAX];
	struct mg_rule_want written;
	bool dirty;
	uint32_t dirty_pos; /* where in the dirty list, while dirty: an entry moved keeps its place there */
};

struct fp_entry {
	uint32_t fp;
	bool want, written, dirty;
	unsigned level, w_level;
	uint64_t since, w_since;
};

struct mg_ruleset {
	uint8_t v6_key_len;
	uint8_t n_v6_nets;                        /* protected networks keyed otherwise (mg_tunables.v6_nets) */
	struct mg_v6_net v6_nets[MG_V6_NETS_MAX];
	struct entry *e;
	size_t n, cap;
	uint32_t *slot; /* open addressing, linear probing: entry index + 1, 0 = empty */
	size_t nslot;   /* a power of two, at least twice n */
	uint32_t *dirty;
	size_t ndirty, capdirty;
	size_t nretry, retry_from; /* dirty[0, nretry): writes refused before, tried from retry_from on (a ring) */
	struct fp_entry *fp;
	size_t nfp, capfp;
	uint64_t generation; /* successful sink writes */
	uint64_t blocks_new[MG_OWNER_MAX]; /* blocks written where the kernel held none, by whose */
	uint64_t contained_new;            /* fingerprints written where the kernel held none */
};

struct mg_ruleset *mg_ruleset_new(uint8_t v6_key_len)
{
	struct mg_ruleset *rs = calloc(1, sizeof(*rs));

	if (!rs)
		return NULL;
	rs->v6_key_len = v6_key_len;
	rs->nslot = 64;
	rs->slot = calloc(rs->nslot, sizeof(*rs->slot));
	if (!rs->slot) {
		free(rs);
		return NULL;
	}
	return rs;
}

void mg_ruleset_free(struct mg_ruleset *rs)
{
	if (!rs)
		return;
	free(rs->e);
	free(rs->slot);
	free(rs->dirty);
	free(rs->fp);
	free(rs);
}

static size_t hash_prefix(const struct mg_prefix *p)
{
	uint64_t h = 1469598103934665603ull;

	for (int i = 0; i < 16; i++)
		h = (h ^ p->addr[i]) * 1099511628211ull;
	h = (h ^ p->prefixlen) * 1099511628211ull;
	return (size_t)(h ^ (h >> 29));
}

/* The slot holding p, or the empty slot where it would go. */
static size_t probe(const struct mg_ruleset *rs, const struct mg_prefix *p)
{
	size_t mask = rs->nslot - 1, i = hash_prefix(p) & mask;

	while (rs->slot[i] && !mg_prefix_eq(&rs->e[rs->slot[i] - 1].prefix, p))
		i = (i + 1) & mask;
	return i;
}

static int rehash(struct mg_ruleset *rs, size_t nslot)
{
	uint32_t *slot = calloc(nslot, sizeof(*slot));

	if (!slot)
		return -ENOMEM;
	free(rs->slot);
	rs->slot = slot;
	rs->nslot = nslot;
	for (size_t k = 0; k < rs->n; k++)
		rs->slot[probe(rs, &rs->e[k].prefix)] = (uint32_t)(k + 1);
	return 0;
}

static struct entry *find(const struct mg_ruleset *rs, const struct mg_prefix *p)
{
	uint32_t s = rs->slot[probe(rs, p)];
	return s ? &rs->e[s - 1] : NULL;
}

static void mark_dirty(struct mg_ruleset *rs, struct entry *e)
{
	if (e->dirty)
		return;
	if (rs->ndirty == rs->capdirty) {
		size_t cap = rs->capdirty ? rs->capdirty * 2 : 64;
		uint32_t *v = realloc(rs->dirty, cap * sizeof(*v));
		if (!v)
			return; /* stays clean: the next change of the same prefix retries */
		rs->dirty = v;
		rs->capdirty = cap;
	}
	e->dirty_pos = (uint32_t)rs->ndirty;
	rs->dirty[rs->ndirty++] = (uint32_t)(e - rs->e);
	e->dirty = true;
}

static struct entry *get(struct mg_ruleset *rs, const struct mg_prefix *p)
{
	struct mg_prefix key = *p;
	struct entry *e;

	mg_addr_mask(key.addr, key.prefixlen);
	if ((e = find(rs, &key)))
		return e;
	if (2 * (rs->n + 1) > rs->nslot && rehash(rs, rs->nslot * 2))
		return NULL;
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 64;
		struct entry *v = realloc(rs->e, cap * sizeof(*v));
		if (!v)
			return NULL;
		rs->e = v;
		rs->cap = cap;
	}
	e = &rs->e[rs->n];
	memset(e, 0, sizeof(*e));
	e->prefix = key;
	e->written.block_expires = MG_TIME_NEVER;
	e->written.block_by = e->written.allow_by = MG_OWNER_MAX;
	rs->slot[probe(rs, &key)] = (uint32_t)(rs->n + 1);
	rs->n++;
	return e;
}

/* Take an entry out (it has no claim and nothing written). Backward-shift deletion keeps probing right. */
static void remove_entry(struct mg_ruleset *rs, size_t idx)
{
	size_t mask = rs->nslot - 1, i = probe(rs, &rs->e[idx].prefix);

	rs->slot[i] = 0;
	for (size_t j = (i + 1) & mask; rs->slot[j]; j = (j + 1) & mask) {
		size_t home = hash_prefix(&rs->e[rs->slot[j] - 1].prefix) & mask;
		/* Move j back into the hole at i unless its home lies cyclically in (i, j]. */
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!stays) {
			rs->slot[i] = rs->slot[j];
			rs->slot[j] = 0;
			i = j;
		}
	}
	size_t last = rs->n - 1;
	if (idx != last) {
		rs->e[idx] = rs->e[last];
		rs->slot[probe(rs, &rs->e[idx].prefix)] = (uint32_t)(idx + 1);
		if (rs->e[idx].dirty) /* a write to try again: the list follows it to its new place */
			rs->dirty[rs->e[idx].dirty_pos] = (uint32_t)idx;
	}
	rs->n--;
}

int mg_ruleset_claim(struct mg_ruleset *rs, const struct mg_prefix *p, enum mg_owner o, uint8_t action,
		     uint64_t expires)
{
	struct entry *e;

	if ((unsigned)o >= MG_OWNER_MAX)
		return -EINVAL;
	if (!(e = get(rs, p)))
		return -ENOMEM;
	e->claims[o] = (struct mg_claim){ .present = true, .action = action, .expires = expires };
	mark_dirty(rs, e);
	return 0;
}

bool mg_ruleset_release(struct mg_ruleset *rs, const struct mg_prefix *p, enum mg_owner o)
{
	struct mg_prefix key = *p;
	struct entry *e;

	mg_addr_mask(key.addr, key.prefixlen);
	if ((unsigned)o >= MG_OWNER_MAX || !(e = find(rs, &key)) || !e->claims[o].present)
		return false;
	memset(&e->claims[o], 0, sizeof(e->claims[o]));
	mark_dirty(rs, e);
	return true;
}

void mg_ruleset_release_all(struct mg_ruleset *rs, enum mg_owner o)
{
	for (size_t i = 0; i < rs->n; i++)
		if (rs->e[i].claims[o].present) {
			memset(&rs->e[i].claims[o], 0, sizeof(rs->e[i].claims[o]));
			mark_dirty(rs, &rs->e[i]);
		}
}

const struct mg_claim *mg_ruleset_get(const struct mg_ruleset *rs, const struct mg_prefix *p, enum mg_owner o)
{
	struct mg_prefix key = *p;
	const struct entry *e;

	mg_addr_mask(key.addr, key.prefixlen);
	if ((unsigned)o >= MG_OWNER_MAX || !(e = find(rs, &key)) || !e->claims[o].present)
		return NULL;
	return &e->claims[o];
}

int mg_ruleset_adopt(struct mg_ruleset *rs, const struct mg_prefix *p, bool allow, uint8_t action,
		     uint64_t expires)
{
	struct entry *e = get(rs, p);

	if (!e)
		return -ENOMEM;
	if (allow) {
		e->written.allow = true;
	} else {
		e->written.block = true;
		e->written.action = action;
		e->written.block_expires = expires;
	}
	mark_dirty(rs, e);
	return 0;
}

/* ---- fingerprints ------------------------------------------------------------------------ */

static struct fp_entry *fp_get(struct mg_ruleset *rs, uint32_t fp, bool create)
{
	for (size_t i = 0; i < rs->nfp; i++)
		if (rs->fp[i].fp == fp)
			return &rs->fp[i];
	if (!create)
		return NULL;
	if (rs->nfp == rs->capfp) {
		size_t cap = rs->capfp ? rs->capfp * 2 : 16;
		struct fp_entry *v = realloc(rs->fp, cap * sizeof(*v));
		if (!v)
			return NULL;
		rs->fp = v;
		rs->capfp = cap;
	}
	struct fp_entry *f = &rs->fp[rs->nfp++];
	memset(f, 0, sizeof(*f));
	f->fp = fp;
	return f;
}

int mg_ruleset_contain(struct mg_ruleset *rs, uint32_t fp, unsigned level, uint64_t since)
{
	struct fp_entry *f = fp_get(rs, fp, true);

	if (!f)
		return -ENOMEM;
	f->want = f->dirty = true;
	f->level = level;
	f->since = since;
	return 0;
}

bool mg_ruleset_uncontain(struct mg_ruleset *rs, uint32_t fp)
{
	struct fp_entry *f = fp_get(rs, fp, false);

	if (!f || !f->want)
		return false;
	f->want = false;
	f->dirty = true;
	return true;
}

void mg_ruleset_uncontain_all(struct mg_ruleset *rs)
{
	for (size_t i = 0; i < rs->nfp; i++)
		if (rs->fp[i].want) {
			rs->fp[i].want = false;
			rs->fp[i].dirty = true;
		}
}

size_t mg_ruleset_contained(const struct mg_ruleset *rs)
{
	size_t n = 0;

	for (size_t i = 0; i < rs->nfp; i++)
		n += rs->fp[i].want;
	return n;
}

int mg_ruleset_adopt_outbreak(struct mg_ruleset *rs, uint32_t fp, unsigned level, uint64_t since)
{
	struct fp_entry *f = fp_get(rs, fp, true);

	if (!f)
		return -ENOMEM;
	f->written = f->dirty = true;
	f->w_level = level;
	f->w_since = since;
	return 0;
}

/* ---- the one writer ------------------------------------------------------------------------ */

static bool is_profile_key(const struct mg_ruleset *rs, const struct mg_prefix *p)
{
	return mg_addr_is_v4(p->addr) ? p->prefixlen == 128
				       : p->prefixlen == mg_v6_key_len(rs->v6_key_len, rs->v6_nets, rs->n_v6_nets, p->addr);
}

void mg_ruleset_set_v6_nets(struct mg_ruleset *rs, const struct mg_v6_net *nets, unsigned n)
{
	rs->n_v6_nets = n < MG_V6_NETS_MAX ? (uint8_t)n : MG_V6_NETS_MAX;
	memcpy(rs->v6_nets, nets, rs->n_v6_nets * sizeof(*nets));
}

static bool entry_empty(const struct entry *e)
{
	for (int o = 0; o < MG_OWNER_MAX; o++)
		if (e->claims[o].present)
			return false;
	return !e->written.allow && !e->written.block && !e->written.server && !e->written.an_allow &&
	       !e->written.an_server;
}

static int cmp_desc(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* Refused writes tried again per sync: a few milliseconds of refused system calls at most. */
#define RETRY_PER_SYNC 4096

typedef void (*fail_fn)(const char *what, const struct mg_prefix *p, int err, void *arg);

/* A write that failed: counted, and told to whoever asked. */
static void report(size_t *failed, fail_fn fail, void *arg, const char *what, const struct mg_prefix *p, int err)
{
	(*failed)++;
	if (fail)
		fail(what, p, err, arg);
}

static size_t sync_entry(struct mg_ruleset *rs, struct entry *e, const struct mg_rule_sink *sink, void *ctx,
			 uint64_t now, bool *an_changed, fail_fn fail, void *arg)
{
	struct mg_rule_want want, *w = &e->written;
	size_t failed = 0;
	int err;

	mg_rules_resolve(e->claims, is_profile_key(rs, &e->prefix), now, &want);
	/* Allow first, block removal before allow removal: at no moment is a wanted allow missing. */
	if (want.allow && !w->allow) {
		if ((err = sink->put_allow(ctx, &e->prefix)))
			report(&failed, fail, arg, "writing an allow rule", &e->prefix, err);
		else {
			w->allow = true;
			rs->generation++;
		}
	}
	if (want.block && (!w->block || w->action != want.action || w->block_expires != want.block_expires)) {
		if ((err = sink->put_block(ctx, &e->prefix, want.action, want.block_expires)))
			report(&failed, fail, arg, "writing a block rule", &e->prefix, err);
		else {
			if (!w->block)
				rs->blocks_new[want.block_by]++;
			w->block = true;
			w->action = want.action;
			w->block_expires = want.block_expires;
			rs->generation++;
		}
	} else if (!want.block && w->block) {
		err = sink->del_block(ctx, &e->prefix);
		if (err && err != -ENOENT)
			report(&failed, fail, arg, "removing a block rule", &e->prefix, err);
		else {
			w->block = false;
			rs->generation++;
		}
	}
	if (!want.allow && w->allow) {
		err = sink->del_allow(ctx, &e->prefix);
		if (err && err != -ENOENT)
			report(&failed, fail, arg, "removing an allow rule", &e->prefix, err);
		else {
			w->allow = false;
			rs->generation++;
		}
	}
	if (want.server != w->server) {
		err = want.server ? sink->put_server(ctx, e->prefix.addr) : sink->del_server(ctx, e->prefix.addr);
		if (err && !(err == -ENOENT && !want.server))
			report(&failed, fail, arg, want.server ? "moving a profile to mg_servers" : "moving a profile out of mg_servers",
			       &e->prefix, err);
		else
			w->server = want.server;
	}
	if (want.an_allow != w->an_allow || want.an_server != w->an_server)
		*an_changed = true;
	w->an_allow = want.an_allow;
	w->an_server = want.an_server;
	w->block_by = want.block ? want.block_by : MG_OWNER_MAX;
	w->allow_by = want.allow ? want.allow_by : MG_OWNER_MAX;
	return failed;
}

size_t mg_ruleset_sync(struct mg_ruleset *rs, const struct mg_rule_sink *sink, void *ctx, uint64_t now,
		       bool *an_sets_changed,
		       void (*fail)(const char *what, const struct mg_prefix *p, int err, void *arg), void *arg)
{
	size_t failed = 0, nkept = 0, nretry = 0, old = rs->nretry;
	/* The first retry after this sync's turn, by its entry: where the next sync's turn begins. */
	size_t turn_end = old > RETRY_PER_SYNC ? (rs->retry_from + RETRY_PER_SYNC) % old : SIZE_MAX;
	uint32_t next_from = UINT32_MAX;
	bool an_changed = false;

	/*
	 * The list is reused, in place: an entry whose write failed stays dirty
	 * (tried again, every one of them: a full map can refuse thousands), an
	 * emptied one is removed below, the rest leave it. The retries at its
	 * start take turns, RETRY_PER_SYNC a sync, so that a full map costs
	 * every sync (one after every batch of events) a bounded number of
	 * refused writes, and every retry comes round.
	 */
	for (size_t i = 0; i < rs->ndirty; i++) {
		struct entry *e = &rs->e[rs->dirty[i]];
		if (i < old && old > RETRY_PER_SYNC && (i + old - rs->retry_from) % old >= RETRY_PER_SYNC) {
			if (i == turn_end)
				next_from = rs->dirty[i];
			rs->dirty[nkept++] = rs->dirty[i]; /* not its turn: stays dirty */
			continue;
		}
		size_t f = sync_entry(rs, e, sink, ctx, now, &an_changed, fail, arg);
		failed += f;
		e->dirty = f != 0;
		if (f || entry_empty(e))
			rs->dirty[nkept++] = rs->dirty[i];
	}
	/* The retries first, in their order, where they stay; the emptied ones after them. */
	for (size_t i = 0; i < nkept; i++) {
		uint32_t idx = rs->dirty[i];
		if (rs->e[idx].dirty) {
			rs->dirty[i] = rs->dirty[nretry];
			rs->dirty[nretry] = idx;
			rs->e[idx].dirty_pos = (uint32_t)nretry++;
		}
	}
	rs->ndirty = rs->nretry = nretry;
	rs->retry_from = next_from != UINT32_MAX && rs->e[next_from].dirty_pos < nretry ? rs->e[next_from].dirty_pos : 0;
	/*
	 * Highest index first: removing one moves the last entry into its place
	 * (a retry among them keeps its place in the list: remove_entry).
	 * Only with something to sort: the list is NULL before the first change,
	 * and qsort of a NULL array is undefined even for 0 elements.
	 */
	uint32_t *empty = rs->dirty ? rs->dirty + nretry : NULL;
	size_t nempty = nkept - nretry;
	if (nempty)
		qsort(empty, nempty, sizeof(*empty), cmp_desc);
	for (size_t i = 0; i < nempty; i++)
		remove_entry(rs, empty[i]);

	for (size_t i = 0; i < rs->nfp;) {
		struct fp_entry *f = &rs->fp[i];
		int err = 0;
		if (f->dirty) {
			f->dirty = false;
			err = 0;
			if (f->want && (!f->written || f->w_level != f->level || f->w_since != f->since)) {
				if ((err = sink->put_outbreak(ctx, f->fp, f->level, f->since)) == 0) {
					if (!f->written)
						rs->contained_new++;
					f->written = true;
					f->w_level = f->level;
					f->w_since = f->since;
				}
			} else if (!f->want && f->written) {
				err = sink->del_outbreak(ctx, f->fp);
				if (!err || err == -ENOENT) {
					f->written = false;
					err = 0;
				}
			}
			if (err) {
				f->dirty = true; /* again at the next sync */
				report(&failed, fail, arg, "writing an outbreak signature", NULL, err);
			}
		}
		if (!f->want && !f->written) {
			rs->fp[i] = rs->fp[--rs->nfp];
			continue;
		}
		i++;
	}
	if (an_sets_changed)
		*an_sets_changed = an_changed;
	return failed;
}

void mg_ruleset_foreach(const struct mg_ruleset *rs, void (*fn)(const struct mg_rule_entry *e, void *arg), void *arg)
{
	for (size_t i = 0; i < rs->n; i++) {
		struct mg_rule_entry v = { .prefix = rs->e[i].prefix, .claims = rs->e[i].claims,
					   .written = &rs->e[i].written };
		fn(&v, arg);
	}
}

bool mg_ruleset_find(const struct mg_ruleset *rs, const struct mg_prefix *p, struct mg_rule_entry *out)
{
	struct mg_prefix key = *p;
	const struct entry *e;

	mg_addr_mask(key.addr, key.prefixlen);
	if (!(e = find(rs, &key)))
		return false;
	*out = (struct mg_rule_entry){ .prefix = e->prefix, .claims = e->claims, .written = &e->written };
	return true;
}

size_t mg_ruleset_size(const struct mg_ruleset *rs)
{
	return rs->n;
}

uint64_t mg_ruleset_blocks_new(const struct mg_ruleset *rs, enum mg_owner o)
{
	return (unsigned)o < MG_OWNER_MAX ? rs->blocks_new[o] : 0;
}

uint64_t mg_ruleset_contained_new(const struct mg_ruleset *rs)
{
	return rs->contained_new;
}

uint64_t mg_ruleset_generation(const struct mg_ruleset *rs)
{
	return rs->generation;
}
