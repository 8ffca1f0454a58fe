// SPDX-License-Identifier: GPL-2.0-only
/* mg_cluster_recv.c - received entries per prefix, added up into one claim (see the header). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtaguard.h"
#include "mg_cluster_recv.h"
#include "mg_ruleset.h"

struct origin {
	enum mg_cl_kind kind;
	char node[MG_CL_NODE_MAX];
	uint8_t action;
	uint64_t expires;
};

struct slot {
	bool used;
	struct mg_prefix prefix;
	struct origin *o;
	unsigned n;
};

struct mg_clrecv {
	struct slot *s;
	size_t nslots, live, entries;
	size_t by_kind[MG_CL_KIND_MAX];
};

static uint64_t prefix_hash(const struct mg_prefix *p)
{
	uint64_t h = 1469598103934665603ull;

	for (int i = 0; i < 16; i++)
		h = (h ^ p->addr[i]) * 1099511628211ull;
	return (h ^ p->prefixlen) * 1099511628211ull;
}

struct mg_clrecv *mg_clrecv_new(void)
{
	struct mg_clrecv *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->nslots = 256;
	r->s = calloc(r->nslots, sizeof(*r->s));
	if (!r->s) {
		free(r);
		return NULL;
	}
	return r;
}

void mg_clrecv_free(struct mg_clrecv *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nslots; i++)
		free(r->s[i].o);
	free(r->s);
	free(r);
}

/* The slot holding p, or the empty one where it would go (linear probing). */
static struct slot *find(const struct mg_clrecv *r, const struct mg_prefix *p)
{
	size_t mask = r->nslots - 1, i = (size_t)prefix_hash(p) & mask;

	while (r->s[i].used && !mg_prefix_eq(&r->s[i].prefix, p))
		i = (i + 1) & mask;
	return &r->s[i];
}

static int grow(struct mg_clrecv *r)
{
	struct mg_clrecv n = { .nslots = r->nslots * 2 };

	n.s = calloc(n.nslots, sizeof(*n.s));
	if (!n.s)
		return -ENOMEM;
	for (size_t i = 0; i < r->nslots; i++)
		if (r->s[i].used)
			*find(&n, &r->s[i].prefix) = r->s[i];
	free(r->s);
	r->s = n.s;
	r->nslots = n.nslots;
	return 0;
}

static void want_of(const struct slot *s, struct mg_cl_want *out)
{
	memset(out, 0, sizeof(*out));
	if (!s || !s->used)
		return;
	out->origins = s->n;
	for (unsigned i = 0; i < s->n; i++) {
		const struct origin *o = &s->o[i];
		if (o->kind == MG_CL_ALLOW) {
			if (!out->allow || o->expires > out->allow_expires)
				out->allow_expires = o->expires;
			out->allow = true;
			continue;
		}
		if (o->kind == MG_CL_SERVER) {
			if (!out->server || o->expires > out->server_expires)
				out->server_expires = o->expires;
			out->server = true;
			continue;
		}
		if (!out->block || o->expires > out->block_expires)
			out->block_expires = o->expires;
		if (!out->block || o->action == MG_ACT_DROP_ALL)
			out->action = o->action == MG_ACT_DROP_ALL ? MG_ACT_DROP_ALL : MG_ACT_DROP_SMTP;
		out->block = true;
	}
}

int mg_clrecv_put(struct mg_clrecv *r, const struct mg_cl_entry *e, uint64_t expires, struct mg_cl_want *out)
{
	if ((r->live + 1) * 2 > r->nslots && grow(r))
		return -ENOMEM;
	struct slot *s = find(r, &e->prefix);
	unsigned i;

	if (!s->used) {
		s->used = true;
		s->prefix = e->prefix;
		r->live++;
	}
	for (i = 0; i < s->n; i++)
		if (s->o[i].kind == e->kind && !strcmp(s->o[i].node, e->node))
			break;
	if (i == s->n) {
		struct origin *o = realloc(s->o, (s->n + 1) * sizeof(*o));
		if (!o)
			return -ENOMEM;
		s->o = o;
		s->n++;
		r->entries++;
		r->by_kind[e->kind]++;
	}
	s->o[i] = (struct origin){ .kind = e->kind, .action = e->action, .expires = expires };
	snprintf(s->o[i].node, sizeof(s->o[i].node), "%s", e->node);
	want_of(s, out);
	return 0;
}

/* A prefix left without entries goes: backward-shift deletion keeps the probing correct without tombstones. */
static void drop_slot(struct mg_clrecv *r, struct slot *s)
{
	size_t mask = r->nslots - 1, i = (size_t)(s - r->s);

	free(s->o);
	memset(s, 0, sizeof(*s));
	r->live--;
	for (size_t j = (i + 1) & mask; r->s[j].used; j = (j + 1) & mask) {
		size_t home = (size_t)prefix_hash(&r->s[j].prefix) & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			r->s[i] = r->s[j];
			memset(&r->s[j], 0, sizeof(r->s[j]));
			i = j;
		}
	}
}

bool mg_clrecv_del(struct mg_clrecv *r, enum mg_cl_kind kind, const char *node, const struct mg_prefix *p,
		   struct mg_cl_want *out)
{
	struct slot *s = find(r, p);

	memset(out, 0, sizeof(*out));
	if (!s->used)
		return false;
	for (unsigned i = 0; i < s->n; i++)
		if (s->o[i].kind == kind && !strcmp(s->o[i].node, node)) {
			s->o[i] = s->o[--s->n];
			r->entries--;
			r->by_kind[kind]--;
			want_of(s, out);
			if (!s->n)
				drop_slot(r, s);
			return true;
		}
	want_of(s, out);
	return false;
}

size_t mg_clrecv_expire(struct mg_clrecv *r, uint64_t now,
			void (*fn)(const struct mg_prefix *p, const struct mg_cl_want *w, void *arg), void *arg)
{
	size_t gone = 0;

	for (size_t i = 0; i < r->nslots; i++) {
		struct slot *s = &r->s[i];
		unsigned before = s->n;
		if (!s->used)
			continue;
		for (unsigned k = 0; k < s->n;)
			if (s->o[k].expires != MG_TIME_NEVER && s->o[k].expires <= now) {
				r->by_kind[s->o[k].kind]--;
				r->entries--;
				s->o[k] = s->o[--s->n];
			} else {
				k++;
			}
		if (s->n == before)
			continue;
		gone += before - s->n;
		struct mg_cl_want w;
		struct mg_prefix p = s->prefix;
		want_of(s, &w);
		if (!s->n) {
			/* The shift may move a later slot into this one: look at i again. */
			drop_slot(r, s);
			i--;
		}
		fn(&p, &w, arg);
	}
	return gone;
}

bool mg_clrecv_has(const struct mg_clrecv *r, enum mg_cl_kind kind, const char *node, const struct mg_prefix *p)
{
	const struct slot *s = find(r, p);

	for (unsigned i = 0; s->used && i < s->n; i++)
		if (s->o[i].kind == kind && !strcmp(s->o[i].node, node))
			return true;
	return false;
}

void mg_clrecv_want(const struct mg_clrecv *r, const struct mg_prefix *p, struct mg_cl_want *out)
{
	want_of(find(r, p), out);
}

const char *mg_clrecv_origins(const struct mg_clrecv *r, const struct mg_prefix *p, char *buf, size_t len)
{
	const struct slot *s = find(r, p);
	size_t o = 0;

	if (len)
		buf[0] = '\0';
	for (unsigned i = 0; s->used && i < s->n && o < len; i++) {
		int n = snprintf(buf + o, len - o, "%s%s %s", i ? ", " : "", s->o[i].node, mg_cl_kind_name(s->o[i].kind));
		if (n < 0)
			break;
		o += (size_t)n;
	}
	return buf;
}

const char *mg_clrecv_nodes(const struct mg_clrecv *r, const struct mg_prefix *p, char *buf, size_t len)
{
	const struct slot *s = find(r, p);
	size_t o = 0;

	if (len)
		buf[0] = '\0';
	for (unsigned i = 0; s->used && i < s->n && o < len; i++) {
		int n = snprintf(buf + o, len - o, "%s%s", i ? ", " : "", s->o[i].node);
		if (n < 0)
			break;
		o += (size_t)n;
	}
	return buf;
}

size_t mg_clrecv_count(const struct mg_clrecv *r, size_t by_kind[MG_CL_KIND_MAX])
{
	if (by_kind)
		memcpy(by_kind, r->by_kind, sizeof(r->by_kind));
	return r->entries;
}
