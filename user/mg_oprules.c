// SPDX-License-Identifier: GPL-2.0-only
/* mg_oprules.c - the operator's rules with their comments and times (see mg_oprules.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mtaguard.h"
#include "mg_names.h"
#include "mg_oprules.h"

void mg_oprules_init(struct mg_oprules *t)
{
	memset(t, 0, sizeof(*t));
}

void mg_oprules_free(struct mg_oprules *t)
{
	free(t->v);
	mg_oprules_init(t);
}

static bool same(const struct mg_oprule *r, const struct mg_prefix *p, uint8_t kind)
{
	return r->kind == kind && mg_prefix_eq(&r->prefix, p);
}

static struct mg_oprule *find(const struct mg_oprules *t, const struct mg_prefix *p, uint8_t kind)
{
	for (size_t i = 0; i < t->n; i++)
		if (same(&t->v[i], p, kind))
			return &t->v[i];
	return NULL;
}

const struct mg_oprule *mg_oprules_find(const struct mg_oprules *t, const struct mg_prefix *p, uint8_t kind)
{
	return find(t, p, kind);
}

int mg_oprules_set(struct mg_oprules *t, const struct mg_oprule *r)
{
	struct mg_oprule *slot = find(t, &r->prefix, r->kind);

	if (!slot) {
		if (t->n == t->cap) {
			size_t cap = t->cap ? 2 * t->cap : 16;
			struct mg_oprule *v = realloc(t->v, cap * sizeof(*v));
			if (!v)
				return -ENOMEM;
			t->v = v;
			t->cap = cap;
		}
		slot = &t->v[t->n++];
	}
	*slot = *r;
	slot->comment[MG_OPRULE_COMMENT_MAX] = '\0';
	return 0;
}

/* Order does not matter to anyone: the last rule fills the hole. */
static void take_out(struct mg_oprules *t, size_t i)
{
	t->v[i] = t->v[--t->n];
}

bool mg_oprules_remove(struct mg_oprules *t, const struct mg_prefix *p, uint8_t kind)
{
	struct mg_oprule *r = find(t, p, kind);

	if (!r)
		return false;
	take_out(t, (size_t)(r - t->v));
	return true;
}

size_t mg_oprules_expire(struct mg_oprules *t, uint64_t now, struct mg_oprule *out, size_t max)
{
	size_t taken = 0;

	for (size_t i = 0; i < t->n && taken < max;) {
		if (t->v[i].expires_ns && t->v[i].expires_ns <= now) {
			out[taken++] = t->v[i];
			take_out(t, i);
		} else {
			i++;
		}
	}
	return taken;
}

json_t *mg_oprules_to_json(const struct mg_oprules *t)
{
	json_t *arr = json_array();
	char buf[MG_ADDRSTRLEN];

	for (size_t i = 0; arr && i < t->n; i++) {
		const struct mg_oprule *r = &t->v[i];
		if (json_array_append_new(
			arr, json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "prefix",
				       mg_prefix_str(&r->prefix, buf, sizeof(buf)), "kind",
				       mg_rule_kind_name(r->kind), "action",
				       r->kind == MG_RULE_BLOCK ? mg_action_name(r->action) : "none", "created", (json_int_t)r->created_ns,
				       "expires", (json_int_t)r->expires_ns, "comment", r->comment))) {
			json_decref(arr); /* out of memory: no list short of a rule */
			return NULL;
		}
	}
	return arr ? json_pack("{s:i, s:o}", "version", 1, "rules", arr) : NULL;
}

#define OPRULE_TIME_MAX ((json_int_t)1 << 62)

static int rule_from_json(const json_t *o, struct mg_oprule *r)
{
	const char *prefix, *kind, *action, *comment;
	json_int_t created, expires;

	memset(r, 0, sizeof(*r));
	if (json_unpack((json_t *)o, "{s:s, s:s, s:s, s:I, s:I, s:s}", "prefix", &prefix, "kind", &kind, "action",
			&action, "created", &created, "expires", &expires, "comment", &comment))
		return -EINVAL;
	/*
	 * Wall-clock ns below 2^62 (the year 2116): later arithmetic on them
	 * cannot overflow. A rule cannot end before it was made.
	 */
	if (mg_prefix_parse(prefix, &r->prefix) || created < 0 || expires < 0 || created >= OPRULE_TIME_MAX ||
	    expires >= OPRULE_TIME_MAX || (expires && expires < created) || strlen(comment) > MG_OPRULE_COMMENT_MAX)
		return -EINVAL;
	/* An allow has no action ("none"; files before 2026-12 wrote "smtp" there). */
	if (mg_rule_kind_parse(kind, &r->kind) || (r->kind == MG_RULE_BLOCK && mg_action_parse(action, &r->action)))
		return -EINVAL;
	r->created_ns = (uint64_t)created;
	r->expires_ns = (uint64_t)expires;
	strcpy(r->comment, comment);
	return 0;
}

int mg_oprules_from_json(struct mg_oprules *t, const json_t *j, size_t *refused)
{
	const json_t *arr = json_object_get(j, "rules");
	json_t *ver = json_object_get(j, "version");
	struct mg_oprules fresh;
	struct mg_oprule r;
	const json_t *o;
	size_t i, bad = 0;

	if (refused)
		*refused = 0;
	if (!json_is_integer(ver) || json_integer_value(ver) != 1 || !json_is_array(arr))
		return -EINVAL;
	mg_oprules_init(&fresh);
	json_array_foreach(arr, i, o) {
		/* A malformed rule, or a second one of a kind for one prefix, is refused alone. */
		if (rule_from_json(o, &r) || mg_oprules_find(&fresh, &r.prefix, r.kind)) {
			bad++;
			continue;
		}
		if (mg_oprules_set(&fresh, &r)) {
			mg_oprules_free(&fresh);
			return -ENOMEM;
		}
	}
	mg_oprules_free(t);
	*t = fresh;
	if (refused)
		*refused = bad;
	return 0;
}
