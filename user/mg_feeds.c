// SPDX-License-Identifier: GPL-2.0-only
/* mg_feeds.c - imported prefix lists by origin (see mg_feeds.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtaguard.h"
#include "mg_cidr_list.h"
#include "mg_feeds.h"
#include "mg_names.h"

#define NS 1000000000ull

bool mg_feed_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (!n || n > MG_FEED_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return false;
	}
	return true;
}

void mg_feeds_init(struct mg_feeds *f)
{
	memset(f, 0, sizeof(*f));
}

void mg_feeds_free(struct mg_feeds *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->o[i].v);
	memset(f, 0, sizeof(*f));
}

struct mg_feed_origin *mg_feeds_find(struct mg_feeds *f, const char *name)
{
	for (size_t i = 0; name && i < f->n; i++)
		if (!strcmp(f->o[i].name, name))
			return &f->o[i];
	return NULL;
}

size_t mg_feeds_total(const struct mg_feeds *f)
{
	size_t t = 0;

	for (size_t i = 0; i < f->n; i++)
		t += f->o[i].n;
	return t;
}

size_t mg_feed_diff(const struct mg_prefix *old, size_t nold, const struct mg_prefix *new, size_t nnew,
		    size_t *gone, size_t *added)
{
	size_t i = 0, j = 0, ng = 0, na = 0;

	while (i < nold || j < nnew) {
		int c = i == nold ? 1 : j == nnew ? -1 : mg_prefix_cmp(&old[i], &new[j]);
		if (c < 0)
			gone[ng++] = i++;
		else if (c > 0)
			na++, j++;
		else
			i++, j++;
	}
	if (added)
		*added = na;
	return ng;
}

static uint64_t earliest(const struct mg_feed_item *v, size_t n)
{
	uint64_t e = MG_TIME_NEVER;

	for (size_t i = 0; i < n; i++)
		if (v[i].expires < e)
			e = v[i].expires;
	return e;
}

int mg_feeds_import(struct mg_feeds *f, const char *origin, uint8_t action, const struct mg_prefix *v, size_t n,
		    uint64_t expires, bool sync, uint64_t wall, struct mg_feed_change *ch)
{
	struct mg_feed_origin *o = mg_feeds_find(f, origin);
	const struct mg_feed_item *old = o ? o->v : NULL;
	size_t nold = o ? o->n : 0, i = 0, j = 0, k = 0, t = 0;

	memset(ch, 0, sizeof(*ch));
	if (!o && f->n == MG_FEED_ORIGINS_MAX)
		return -ENOSPC;
	/* The new array and the touched list: at most everything old and new. */
	struct mg_feed_item *nv = malloc((nold + n + 1) * sizeof(*nv));
	struct mg_prefix *touched = malloc((nold + n + 1) * sizeof(*touched));
	if (!nv || !touched) {
		free(nv);
		free(touched);
		return -ENOMEM;
	}
	/* A merge walk of two sorted arrays: old items kept (merge) or dropped (sync), new ones in. */
	while (i < nold || j < n) {
		int c = i == nold ? 1 : j == n ? -1 : mg_prefix_cmp(&old[i].prefix, &v[j]);
		if (c < 0) {
			if (!sync)
				nv[k++] = old[i];
			else
				ch->removed++;
			/* An action change reaches the prefixes kept as they were too. */
			if (sync || !o || o->action != action)
				touched[t++] = old[i].prefix;
			i++;
		} else {
			nv[k++] = (struct mg_feed_item){ .prefix = v[j], .expires = expires };
			if (c > 0) {
				ch->added++;
			} else {
				ch->kept++;
				i++;
			}
			touched[t++] = v[j];
			j++;
		}
	}
	if (!o) {
		o = &f->o[f->n++];
		memset(o, 0, sizeof(*o));
		snprintf(o->name, sizeof(o->name), "%s", origin);
	}
	free(o->v);
	o->v = nv;
	o->n = k;
	o->action = action;
	o->updated = wall;
	o->next_expiry = earliest(nv, k);
	ch->total = k;
	ch->touched = touched;
	ch->ntouched = t;
	return 0;
}

int mg_feeds_drop(struct mg_feeds *f, const char *origin, struct mg_prefix **touched, size_t *ntouched)
{
	struct mg_feed_origin *o = mg_feeds_find(f, origin);

	*touched = NULL;
	*ntouched = 0;
	if (!o)
		return -ENOENT;
	struct mg_prefix *t = malloc((o->n + 1) * sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < o->n; i++)
		t[i] = o->v[i].prefix;
	*touched = t;
	*ntouched = o->n;
	free(o->v);
	size_t idx = (size_t)(o - f->o);
	memmove(&f->o[idx], &f->o[idx + 1], (f->n - idx - 1) * sizeof(f->o[0]));
	f->n--;
	return 0;
}

size_t mg_feeds_expiring(const struct mg_feeds *f, uint64_t wall)
{
	size_t n = 0;

	for (size_t oi = 0; oi < f->n; oi++) {
		const struct mg_feed_origin *o = &f->o[oi];
		if (o->next_expiry > wall)
			continue;
		for (size_t i = 0; i < o->n; i++)
			n += o->v[i].expires <= wall;
	}
	return n;
}

size_t mg_feeds_expire(struct mg_feeds *f, uint64_t wall, struct mg_prefix **touched)
{
	struct mg_prefix *t = NULL;
	size_t nt = 0, cap = 0;

	*touched = NULL;
	for (size_t oi = 0; oi < f->n; oi++) {
		struct mg_feed_origin *o = &f->o[oi];
		size_t k = 0;
		if (o->next_expiry > wall)
			continue;
		for (size_t i = 0; i < o->n; i++) {
			if (o->v[i].expires > wall) {
				o->v[k++] = o->v[i];
				continue;
			}
			if (nt == cap) {
				size_t nc = cap ? cap * 2 : 256;
				struct mg_prefix *nv = realloc(t, nc * sizeof(*nv));
				if (!nv) { /* kept for the next sweep */
					o->v[k++] = o->v[i];
					continue;
				}
				t = nv;
				cap = nc;
			}
			t[nt++] = o->v[i].prefix;
		}
		o->n = k;
		o->next_expiry = earliest(o->v, k);
	}
	*touched = t;
	return nt;
}

static const struct mg_feed_item *lookup(const struct mg_feed_origin *o, const struct mg_prefix *p)
{
	size_t lo = 0, hi = o->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = mg_prefix_cmp(&o->v[mid].prefix, p);
		if (!c)
			return &o->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

bool mg_feeds_want(const struct mg_feeds *f, const struct mg_prefix *p, uint64_t wall, uint8_t *action,
		   uint64_t *expires)
{
	bool any = false;

	*action = MG_ACT_DROP_SMTP;
	*expires = 0;
	for (size_t i = 0; i < f->n; i++) {
		const struct mg_feed_item *it = lookup(&f->o[i], p);
		if (!it || it->expires <= wall)
			continue;
		any = true;
		if (f->o[i].action == MG_ACT_DROP_ALL)
			*action = MG_ACT_DROP_ALL;
		if (it->expires > *expires)
			*expires = it->expires;
	}
	return any;
}

void mg_feeds_origins_of(const struct mg_feeds *f, const struct mg_prefix *p, char *buf, size_t len)
{
	size_t at = 0;

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < f->n && at < len; i++)
		if (lookup(&f->o[i], p)) {
			int w = snprintf(buf + at, len - at, "%s%s", at ? "," : "", f->o[i].name);
			if (w < 0)
				break;
			at += (size_t)w;
		}
}

/* ---- the feeds file -------------------------------------------------------------------- */

json_t *mg_feeds_save_json(const struct mg_feeds *f)
{
	json_t *arr = json_array();
	char buf[MG_ADDRSTRLEN + 24], p[MG_ADDRSTRLEN];

	for (size_t i = 0; arr && i < f->n; i++) {
		const struct mg_feed_origin *o = &f->o[i];
		json_t *list = json_array();
		for (size_t k = 0; list && k < o->n; k++) {
			mg_prefix_str(&o->v[k].prefix, p, sizeof(p));
			if (o->v[k].expires == MG_TIME_NEVER)
				json_array_append_new(list, json_string(p));
			else {
				snprintf(buf, sizeof(buf), "%s@%llu", p, (unsigned long long)(o->v[k].expires / NS));
				json_array_append_new(list, json_string(buf));
			}
		}
		json_array_append_new(arr, json_pack("{s:s,s:s,s:I,s:o}", "name", o->name, "action",
						     mg_action_name(o->action), "updated", (json_int_t)(o->updated / NS),
						     "prefixes", list ? list : json_array()));
	}
	return json_pack("{s:i,s:o}", "version", 1, "origins", arr ? arr : json_array());
}

char *mg_feeds_save_text(const struct mg_feeds *f, size_t *len)
{
	/* Per item at most a full IPv6 prefix, '@', 20 digits, quotes and a comma; per origin its header. */
	size_t cap = 64, at = 0;
	char p[MG_ADDRSTRLEN];

	for (size_t i = 0; i < f->n; i++)
		cap += 160 + f->o[i].n * (MG_ADDRSTRLEN + 26);
	char *out = malloc(cap);
	if (!out)
		return NULL;
	/* Names are [A-Za-z0-9._-] (mg_feed_name_ok) and prefixes digits, dots and colons: nothing to escape. */
	at += (size_t)snprintf(out + at, cap - at, "{\"version\":1,\"origins\":[");
	for (size_t i = 0; i < f->n; i++) {
		const struct mg_feed_origin *o = &f->o[i];
		at += (size_t)snprintf(out + at, cap - at, "%s{\"name\":\"%s\",\"action\":\"%s\",\"updated\":%llu,\"prefixes\":[",
				       i ? "," : "", o->name, mg_action_name(o->action), (unsigned long long)(o->updated / NS));
		for (size_t k = 0; k < o->n; k++) {
			mg_prefix_str(&o->v[k].prefix, p, sizeof(p));
			if (o->v[k].expires == MG_TIME_NEVER)
				at += (size_t)snprintf(out + at, cap - at, "%s\"%s\"", k ? "," : "", p);
			else
				at += (size_t)snprintf(out + at, cap - at, "%s\"%s@%llu\"", k ? "," : "", p,
						       (unsigned long long)(o->v[k].expires / NS));
		}
		at += (size_t)snprintf(out + at, cap - at, "]}");
	}
	at += (size_t)snprintf(out + at, cap - at, "]}");
	*len = at;
	return out;
}

/* "198.18.0.0/24" or "198.18.0.0/24@1767312000": 0 with the item, or -EINVAL. */
static int item_parse(const char *s, struct mg_feed_item *it)
{
	char buf[MG_ADDRSTRLEN + 24];
	unsigned col;
	const char *at;

	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", s);
	at = strchr(buf, '@');
	it->expires = MG_TIME_NEVER;
	if (at) {
		char *end;
		errno = 0;
		unsigned long long sec = strtoull(at + 1, &end, 10);
		/* Seconds since 1970, before 2^63 ns: anything else is not a time this wrote. */
		if (errno || end == at + 1 || *end || at[1] < '0' || at[1] > '9' || sec >= (1ull << 63) / NS)
			return -EINVAL;
		it->expires = sec * NS;
		buf[at - buf] = '\0';
	}
	return mg_cidr_parse_line(buf, strlen(buf), &it->prefix, &col, NULL, 0) == 1 ? 0 : -EINVAL;
}

static int cmp_item(const void *a, const void *b)
{
	return mg_prefix_cmp(&((const struct mg_feed_item *)a)->prefix, &((const struct mg_feed_item *)b)->prefix);
}

int mg_feeds_restore_json(struct mg_feeds *f, const json_t *j, uint64_t wall, size_t *refused)
{
	const json_t *arr = json_object_get(j, "origins"), *o;
	size_t i;

	*refused = 0;
	if (json_integer_value(json_object_get(j, "version")) != 1 || !json_is_array(arr))
		return -EINVAL;
	json_array_foreach(arr, i, o) {
		const char *name = json_string_value(json_object_get(o, "name"));
		const json_t *list = json_object_get(o, "prefixes"), *x;
		json_int_t upd = json_integer_value(json_object_get(o, "updated"));
		uint8_t action;
		size_t k;
		if (!mg_feed_name_ok(name) || mg_feeds_find(f, name) || f->n == MG_FEED_ORIGINS_MAX ||
		    mg_action_parse(json_string_value(json_object_get(o, "action")), &action) || !json_is_array(list) ||
		    upd < 0 || (uint64_t)upd >= (1ull << 63) / NS) {
			(*refused)++;
			continue;
		}
		struct mg_feed_item *v = malloc((json_array_size(list) + 1) * sizeof(*v));
		size_t n = 0;
		if (!v)
			return -ENOMEM;
		json_array_foreach(list, k, x) {
			if (item_parse(json_string_value(x), &v[n]))
				(*refused)++;
			else if (v[n].expires > wall) /* what ended while nobody ran is simply gone */
				n++;
		}
		if (n)
			qsort(v, n, sizeof(*v), cmp_item);
		size_t u = 0; /* repeats: the file was edited; the first stays */
		for (size_t m = 0; m < n; m++)
			if (!u || mg_prefix_cmp(&v[m].prefix, &v[u - 1].prefix))
				v[u++] = v[m];
			else
				(*refused)++;
		struct mg_feed_origin *no = &f->o[f->n++];
		memset(no, 0, sizeof(*no));
		snprintf(no->name, sizeof(no->name), "%s", name);
		no->action = action;
		no->updated = (uint64_t)upd * NS;
		no->v = v;
		no->n = u;
		no->next_expiry = earliest(v, u);
	}
	return 0;
}
