/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_cover.h - what an operator's block would reach that should not be
 * blocked: a protected network it covers whole, a mail server or an
 * allowlisted prefix it covers or lies inside. The daemon feeds it its
 * configuration and its ledger, and refuses the block without --force,
 * naming what it meets (mtaguardctl block 198.18.0.0/15 on a LAN of
 * 198.18.0.0/16 is a typo far more often than a wish).
 *
 * Pure: no syscalls.
 */
#ifndef MG_COVER_H
#define MG_COVER_H

#include <stdbool.h>
#include <stddef.h>

#include "mg_addr.h"

/* One vocabulary, one name table (mg_cover_kind_name): "protected network", "mail server", "allowlisted". */
enum mg_cover_kind {
	MG_COVER_PROTECTED = 0, /* protected_networks: reached only when covered whole */
	MG_COVER_MAIL_SERVER,   /* configured, learned or received mail servers */
	MG_COVER_ALLOW,         /* any allow rule: inside one, the block would drop nothing */
	MG_COVER_KIND_MAX,
};
const char *mg_cover_kind_name(enum mg_cover_kind k);

#define MG_COVER_NAMED 4 /* named in the refusal; the rest counted */

struct mg_cover_hit {
	struct mg_prefix p;
	enum mg_cover_kind kind;
	bool inside;     /* the block lies inside p (p does not lie inside the block) */
	char whose[32];  /* the owner that holds p ("config:mail_servers", "operator"), "" if none */
};

struct mg_cover {
	struct mg_prefix block;
	size_t n;        /* everything the block meets */
	struct mg_cover_hit named[MG_COVER_NAMED];
};

/* Does a cover b (b's address inside a, a no longer than b)? */
bool mg_prefix_contains(const struct mg_prefix *a, const struct mg_prefix *b);

void mg_cover_init(struct mg_cover *c, const struct mg_prefix *block);
/* Note p (of kind k; whose may be NULL) if the block meets it; true if it does. */
bool mg_cover_add(struct mg_cover *c, enum mg_cover_kind k, const struct mg_prefix *p, const char *whose);
/*
 * "covers protected network 198.18.0.0/16, covers mail server 198.18.1.10
 * (config:mail_servers), lies inside allowlisted 198.18.5.0/24 (operator),
 * which wins: the block would drop nothing there, and 2 more"; "" if nothing.
 */
const char *mg_cover_str(const struct mg_cover *c, char *buf, size_t len);

#endif
