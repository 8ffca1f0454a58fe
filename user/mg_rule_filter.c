// SPDX-License-Identifier: GPL-2.0-only
/* mg_rule_filter.c - which blocks a filtered listing shows (see mg_rule_filter.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mtaguard.h"
#include "mg_cover.h"
#include "mg_rule_filter.h"
#include "mg_ruleset.h"

/* The owners that hold blocks: the only ones --by can name. */
static const enum mg_owner block_owners[] = { MG_OWNER_OPERATOR_BLOCK, MG_OWNER_VERDICT, MG_OWNER_CLUSTER_BLOCK,
					      MG_OWNER_FEED, MG_OWNER_PINNED_BLOCK };
#define N_BLOCK_OWNERS (sizeof(block_owners) / sizeof(block_owners[0]))

int mg_rule_filter_parse(struct mg_rule_filter *f, const char *by, const char *origin, const char *source, char *err,
			 size_t errlen)
{
	memset(f, 0, sizeof(*f));
	if (by && *by) {
		bool known = false;
		for (size_t i = 0; i < N_BLOCK_OWNERS; i++)
			known |= !strcmp(by, mg_owner_name(block_owners[i]));
		if (!known || strlen(by) >= sizeof(f->by)) {
			char names[128] = "";
			size_t at = 0;
			for (size_t i = 0; i < N_BLOCK_OWNERS && at < sizeof(names); i++)
				at += (size_t)snprintf(names + at, sizeof(names) - at, "%s%s", i ? ", " : "",
						       mg_owner_name(block_owners[i]));
			snprintf(err, errlen, "--by '%s': blocks are by %s", by, names);
			return -EINVAL;
		}
		snprintf(f->by, sizeof(f->by), "%s", by);
	}
	if (origin && *origin) {
		if (strlen(origin) >= sizeof(f->origin) || strpbrk(origin, ", ")) {
			snprintf(err, errlen, "--origin '%s': a node's or an imported list's name", origin);
			return -EINVAL;
		}
		snprintf(f->origin, sizeof(f->origin), "%s", origin);
	}
	if (source && *source) {
		if (mg_prefix_parse(source, &f->source)) {
			snprintf(err, errlen, "--source '%s': an address or a prefix", source);
			return -EINVAL;
		}
		f->has_source = true;
	}
	return 0;
}

bool mg_rule_filter_any(const struct mg_rule_filter *f)
{
	return f->by[0] || f->origin[0] || f->has_source;
}

bool mg_origin_listed(const char *origins, const char *name)
{
	size_t n = strlen(name);
	const char *s = origins;

	if (!origins || !n)
		return false;
	while (*s) {
		while (*s == ' ' || *s == ',')
			s++;
		size_t w = strcspn(s, " ,");
		if (w == n && !strncmp(s, name, n))
			return true;
		s += w;
		s += strcspn(s, ","); /* past the rest of the item ("verdict", "block") */
	}
	return false;
}

bool mg_rule_filter_match(const struct mg_rule_filter *f, const struct mg_prefix *p, const char *by,
			  const char *origins)
{
	if (f->by[0] && (!by || strcmp(f->by, by)))
		return false;
	if (f->origin[0] && !mg_origin_listed(origins, f->origin))
		return false;
	/* The rule holds the address asked about, or lies inside the prefix asked about. */
	if (f->has_source && !mg_prefix_contains(p, &f->source) && !mg_prefix_contains(&f->source, p))
		return false;
	return true;
}
