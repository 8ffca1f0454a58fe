// SPDX-License-Identifier: GPL-2.0-only
/* mg_flowspec_held.c - received FlowSpec routes and their sums per peer and prefix (see the header). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "mtaguard.h"
#include "mg_flowspec_held.h"

/*
 * Two jansson objects as hash tables: routes, "PEER\x1fMATCH" -> {"p": prefix, "a": action};
 * sums, "PEER\x1fPREFIX" -> {"smtp": n, "all": n}. A peer's address has no \x1f.
 */
struct mg_fsh {
	json_t *routes, *sums;
	size_t max_routes;
};

struct mg_fsh *mg_fsh_new(size_t max_routes)
{
	struct mg_fsh *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->routes = json_object();
	h->sums = json_object();
	h->max_routes = max_routes;
	if (!h->routes || !h->sums) {
		mg_fsh_free(h);
		return NULL;
	}
	return h;
}

void mg_fsh_free(struct mg_fsh *h)
{
	if (!h)
		return;
	json_decref(h->routes);
	json_decref(h->sums);
	free(h);
}

static void key_of(char *buf, size_t len, const char *peer, const char *rest)
{
	snprintf(buf, len, "%s\x1f%s", peer, rest);
}

/* The sum's action: "all" if any route drops all, else "smtp"; 0 when no route is left. */
static uint8_t sum_action(const json_t *s)
{
	if (json_integer_value(json_object_get(s, "all")) > 0)
		return MG_ACT_DROP_ALL;
	if (json_integer_value(json_object_get(s, "smtp")) > 0)
		return MG_ACT_DROP_SMTP;
	return 0;
}

/* Count a route in (+1) or out (-1) of its sum, and tell fn when the sum's action changes. */
static int count(struct mg_fsh *h, const char *peer, const struct mg_prefix *p, uint8_t action, int delta,
		 mg_fsh_op_fn fn, void *arg)
{
	char pfx[MG_ADDRSTRLEN], key[MG_FSR_PEER_MAX + MG_ADDRSTRLEN + 2];
	const char *field = action == MG_ACT_DROP_ALL ? "all" : "smtp";

	key_of(key, sizeof(key), peer, mg_prefix_str(p, pfx, sizeof(pfx)));
	json_t *s = json_object_get(h->sums, key);
	if (!s) {
		if (delta < 0)
			return 0;
		s = json_pack("{s:i,s:i}", "smtp", 0, "all", 0);
		if (!s || json_object_set_new(h->sums, key, s))
			return -ENOMEM;
	}
	uint8_t before = sum_action(s);
	json_object_set_new(s, field, json_integer(json_integer_value(json_object_get(s, field)) + delta));
	uint8_t after = sum_action(s);
	if (before == after)
		return 0;
	struct mg_fsh_op op = { .withdraw = !after, .prefix = *p, .action = after };
	snprintf(op.peer, sizeof(op.peer), "%s", peer);
	if (!after)
		json_object_del(h->sums, key);
	fn(&op, arg);
	return 0;
}

static void drop_route(struct mg_fsh *h, const char *peer, const char *key, json_t *row, mg_fsh_op_fn fn, void *arg)
{
	struct mg_prefix p;

	if (mg_prefix_parse(json_string_value(json_object_get(row, "p")), &p) == 0)
		count(h, peer, &p, (uint8_t)json_integer_value(json_object_get(row, "a")), -1, fn, arg);
	json_object_del(h->routes, key);
}

int mg_fsh_route(struct mg_fsh *h, const char *peer, const struct mg_fsr_route *r, mg_fsh_op_fn fn, void *arg)
{
	char key[MG_FSR_PEER_MAX + MG_FSR_MATCH_MAX + 2], pfx[MG_ADDRSTRLEN];

	key_of(key, sizeof(key), peer, r->match);
	json_t *row = json_object_get(h->routes, key);
	bool keep = !r->withdraw && r->status == MG_FSR_USABLE;
	if (row) {
		struct mg_prefix old;
		/* The same route announced again, unchanged: nothing to tell. */
		if (keep && mg_prefix_parse(json_string_value(json_object_get(row, "p")), &old) == 0 &&
		    mg_prefix_eq(&old, &r->prefix) && json_integer_value(json_object_get(row, "a")) == r->action)
			return 0;
		/* Counted in before out: a route whose action changes never leaves the sum empty for a moment. */
		if (keep && count(h, peer, &r->prefix, r->action, +1, fn, arg))
			return -ENOMEM;
		drop_route(h, peer, key, row, fn, arg);
		if (!keep)
			return 0;
	} else {
		if (!keep)
			return 0;
		if (json_object_size(h->routes) >= h->max_routes)
			return -ENOSPC;
		if (count(h, peer, &r->prefix, r->action, +1, fn, arg))
			return -ENOMEM;
	}
	row = json_pack("{s:s,s:i}", "p", mg_prefix_str(&r->prefix, pfx, sizeof(pfx)), "a", (int)r->action);
	if (!row || json_object_set_new(h->routes, key, row)) {
		count(h, peer, &r->prefix, r->action, -1, fn, arg);
		return -ENOMEM;
	}
	return 0;
}

size_t mg_fsh_peer_down(struct mg_fsh *h, const char *peer, mg_fsh_op_fn fn, void *arg)
{
	size_t plen = strlen(peer), before = json_object_size(h->sums);
	const char *key;
	json_t *row;
	void *next;

	json_object_foreach_safe(h->routes, next, key, row)
		if (!strncmp(key, peer, plen) && key[plen] == '\x1f')
			drop_route(h, peer, key, row, fn, arg);
	return before - json_object_size(h->sums);
}

void mg_fsh_foreach(const struct mg_fsh *h, mg_fsh_op_fn fn, void *arg)
{
	const char *key;
	json_t *s;

	json_object_foreach(h->sums, key, s) {
		const char *sep = strchr(key, '\x1f');
		struct mg_fsh_op op = { .action = sum_action(s) };
		if (!sep || (size_t)(sep - key) >= sizeof(op.peer) || mg_prefix_parse(sep + 1, &op.prefix) || !op.action)
			continue;
		memcpy(op.peer, key, (size_t)(sep - key));
		op.peer[sep - key] = '\0';
		fn(&op, (void *)arg);
	}
}

size_t mg_fsh_routes(const struct mg_fsh *h)
{
	return json_object_size(h->routes);
}

size_t mg_fsh_sums(const struct mg_fsh *h)
{
	return json_object_size(h->sums);
}
