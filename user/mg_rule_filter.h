/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_rule_filter.h - which blocks `mtaguardctl verdicts --by OWNER --origin
 * NODE --source PREFIX` lists: whose block it is, where it came from (the
 * cluster node or imported list named, or this node), and whether its prefix
 * meets the one asked for (holds it, or lies inside it). The daemon filters,
 * so every client gets the same rows and counts.
 *
 * Pure: no syscalls.
 */
#ifndef MG_RULE_FILTER_H
#define MG_RULE_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "mg_addr.h"

struct mg_rule_filter {
	char by[32];           /* a block owner's name (mg_owner_name); "" for any */
	char origin[64];       /* a node or an imported list's origin; "" for any */
	bool has_source;
	struct mg_prefix source;
};

/*
 * Any of by, origin, source may be NULL (not asked). 0, or -EINVAL with a
 * message in err: an owner that holds no blocks, an unreadable prefix.
 */
int mg_rule_filter_parse(struct mg_rule_filter *f, const char *by, const char *origin, const char *source, char *err,
			 size_t errlen);
/* Was anything asked for? */
bool mg_rule_filter_any(const struct mg_rule_filter *f);
/*
 * Does a block on p, by `by` (its owner's name), coming from `origins`
 * ("edge-a verdict, edge-b block" or "drop,edrop": the listings' own text),
 * pass the filter?
 */
bool mg_rule_filter_match(const struct mg_rule_filter *f, const struct mg_prefix *p, const char *by,
			  const char *origins);
/* Does a list of origins as the listings write it name `name` (each item's first word)? */
bool mg_origin_listed(const char *origins, const char *name);

#endif
