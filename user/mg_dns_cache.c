// SPDX-License-Identifier: GPL-2.0-only
/* mg_dns_cache.c - bounded TTL cache of DNS answers (see mg_dns_cache.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mg_dns_cache.h"

#define NS 1000000000ull

struct entry {
	struct entry *hnext;            /* hash chain */
	struct entry *older, *newer;    /* LRU list */
	struct mg_dns_answer *ans;
	uint64_t expires;               /* ns, caller's timeline */
	uint32_t hash;
	uint16_t type;
	char name[];                    /* lower case */
};

struct mg_dns_cache {
	struct entry **buckets;
	size_t nbuckets, max_entries;
	uint32_t max_ttl, max_neg_ttl;
	struct entry *oldest, *newest;
	struct mg_dns_cache_stats st;
};

static uint32_t key_hash(const char *name, uint16_t type)
{
	uint32_t h = 2166136261u ^ type;

	for (const char *p = name; *p; p++) {
		char c = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
		h = (h ^ (uint8_t)c) * 16777619u;
	}
	return h;
}

static bool key_eq(const struct entry *e, const char *name, uint16_t type)
{
	if (e->type != type)
		return false;
	const char *a = e->name;
	for (; *a && *name; a++, name++) {
		char c = *name >= 'A' && *name <= 'Z' ? (char)(*name - 'A' + 'a') : *name;
		if (*a != c)
			return false;
	}
	return !*a && !*name;
}

struct mg_dns_cache *mg_dns_cache_new(size_t max_entries, uint32_t max_ttl, uint32_t max_neg_ttl)
{
	struct mg_dns_cache *c = calloc(1, sizeof(*c));

	if (!c || !max_entries) {
		free(c);
		return NULL;
	}
	c->nbuckets = 64;
	while (c->nbuckets < max_entries && c->nbuckets < (1u << 24))
		c->nbuckets *= 2;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return NULL;
	}
	c->max_entries = max_entries;
	c->max_ttl = max_ttl < MG_DNS_MIN_TTL ? MG_DNS_MIN_TTL : max_ttl;
	c->max_neg_ttl = max_neg_ttl;
	return c;
}

static void lru_unlink(struct mg_dns_cache *c, struct entry *e)
{
	if (e->older)
		e->older->newer = e->newer;
	else
		c->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		c->newest = e->older;
	e->older = e->newer = NULL;
}

static void lru_push(struct mg_dns_cache *c, struct entry *e)
{
	e->older = c->newest;
	e->newer = NULL;
	if (c->newest)
		c->newest->newer = e;
	else
		c->oldest = e;
	c->newest = e;
}

static size_t entry_bytes(const struct entry *e)
{
	return sizeof(*e) + strlen(e->name) + 1 + mg_dns_answer_size(e->ans);
}

static void drop(struct mg_dns_cache *c, struct entry *e)
{
	struct entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(c, e);
	c->st.entries--;
	c->st.bytes -= entry_bytes(e);
	free(e->ans);
	free(e);
}

void mg_dns_cache_free(struct mg_dns_cache *c)
{
	if (!c)
		return;
	while (c->oldest)
		drop(c, c->oldest);
	free(c->buckets);
	free(c);
}

static struct entry *find(const struct mg_dns_cache *c, const char *name, uint16_t type, uint32_t h)
{
	for (struct entry *e = c->buckets[h & (c->nbuckets - 1)]; e; e = e->hnext)
		if (e->hash == h && key_eq(e, name, type))
			return e;
	return NULL;
}

const struct mg_dns_answer *mg_dns_cache_get(struct mg_dns_cache *c, const char *name, uint16_t type,
					     uint64_t now_ns)
{
	uint32_t h = key_hash(name, type);
	struct entry *e = find(c, name, type, h);

	if (e && now_ns >= e->expires) {
		c->st.expired++;
		drop(c, e);
		e = NULL;
	}
	if (!e) {
		c->st.misses++;
		return NULL;
	}
	c->st.hits++;
	lru_unlink(c, e);
	lru_push(c, e);
	return e->ans;
}

/* How long an answer may be kept: its TTL within the bounds its kind has. */
static uint32_t keep_for(const struct mg_dns_cache *c, const struct mg_dns_answer *a)
{
	uint32_t t = a->ttl;

	switch (a->status) {
	case MG_DNS_OK:
		return t < MG_DNS_MIN_TTL ? MG_DNS_MIN_TTL : t > c->max_ttl ? c->max_ttl : t;
	case MG_DNS_NODATA:
	case MG_DNS_NXDOMAIN:
		t = t > c->max_neg_ttl ? c->max_neg_ttl : t;
		return t < MG_DNS_MIN_TTL ? MG_DNS_MIN_TTL : t;
	}
	return MG_DNS_FAIL_TTL;
}

int mg_dns_cache_put(struct mg_dns_cache *c, const char *name, uint16_t type, struct mg_dns_answer *ans,
		     uint64_t now_ns)
{
	size_t nl = strlen(name);

	if (!ans || nl > MG_DNS_NAME_MAX) {
		free(ans);
		return -EINVAL;
	}
	uint32_t h = key_hash(name, type);
	struct entry *old = find(c, name, type, h);
	if (old)
		drop(c, old);
	while (c->st.entries >= c->max_entries && c->oldest) {
		drop(c, c->oldest);
		c->st.evictions++;
	}
	struct entry *e = malloc(sizeof(*e) + nl + 1);
	if (!e) {
		free(ans);
		return -ENOMEM;
	}
	memset(e, 0, sizeof(*e));
	for (size_t i = 0; i <= nl; i++)
		e->name[i] = name[i] >= 'A' && name[i] <= 'Z' ? (char)(name[i] - 'A' + 'a') : name[i];
	e->type = type;
	e->hash = h;
	e->ans = ans;
	e->expires = now_ns + (uint64_t)keep_for(c, ans) * NS;
	struct entry **b = &c->buckets[h & (c->nbuckets - 1)];
	e->hnext = *b;
	*b = e;
	lru_push(c, e);
	c->st.entries++;
	c->st.inserts++;
	c->st.bytes += entry_bytes(e);
	return 0;
}

void mg_dns_cache_stats(const struct mg_dns_cache *c, struct mg_dns_cache_stats *s)
{
	*s = c->st;
}

size_t mg_dns_cache_entry_overhead(void)
{
	return sizeof(struct entry);
}
