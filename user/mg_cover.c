// SPDX-License-Identifier: GPL-2.0-only
/* mg_cover.c - what a block would reach that should not be blocked (see mg_cover.h). */
#include <stdio.h>
#include <string.h>

#include "mg_cover.h"

const char *mg_cover_kind_name(enum mg_cover_kind k)
{
	static const char *const names[MG_COVER_KIND_MAX] = {
		[MG_COVER_PROTECTED] = "protected network",
		[MG_COVER_MAIL_SERVER] = "mail server",
		[MG_COVER_ALLOW] = "allowlisted",
	};
	return (unsigned)k < MG_COVER_KIND_MAX ? names[k] : "?";
}

bool mg_prefix_contains(const struct mg_prefix *a, const struct mg_prefix *b)
{
	return a->prefixlen <= b->prefixlen && mg_prefix_covers(a, b->addr);
}

void mg_cover_init(struct mg_cover *c, const struct mg_prefix *block)
{
	memset(c, 0, sizeof(*c));
	c->block = *block;
}

bool mg_cover_add(struct mg_cover *c, enum mg_cover_kind k, const struct mg_prefix *p, const char *whose)
{
	bool covers = mg_prefix_contains(&c->block, p);
	/* Blocking inside one's own LAN is the ordinary case: a protected network counts only covered whole. */
	bool inside = !covers && k != MG_COVER_PROTECTED && mg_prefix_contains(p, &c->block);

	if (!covers && !inside)
		return false;
	if (c->n < MG_COVER_NAMED) {
		struct mg_cover_hit *h = &c->named[c->n];
		h->p = *p;
		h->kind = k;
		h->inside = inside;
		snprintf(h->whose, sizeof(h->whose), "%s", whose ? whose : "");
	}
	c->n++;
	return true;
}

const char *mg_cover_str(const struct mg_cover *c, char *buf, size_t len)
{
	size_t at = 0, shown = c->n < MG_COVER_NAMED ? c->n : MG_COVER_NAMED;
	char p[MG_ADDRSTRLEN];

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < shown && at < len; i++) {
		const struct mg_cover_hit *h = &c->named[i];
		int w = snprintf(buf + at, len - at, "%s%s %s %s%s%s%s%s", i ? ", " : "", h->inside ? "lies inside" : "covers",
				 mg_cover_kind_name(h->kind), mg_prefix_str(&h->p, p, sizeof(p)), h->whose[0] ? " (" : "",
				 h->whose, h->whose[0] ? ")" : "",
				 h->inside ? ", which wins: the block would drop nothing there" : "");
		if (w < 0)
			break;
		at += (size_t)w;
	}
	if (c->n > shown && at < len)
		snprintf(buf + at, len - at, ", and %zu more", c->n - shown);
	return buf;
}
