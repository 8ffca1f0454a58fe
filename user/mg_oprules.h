/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_oprules.h - the operator's own rules (mtaguardctl block and allow):
 * what the kernel's tries cannot hold. A trie entry has an action and an
 * expiry but no comment, no creation time, and nothing that tells an
 * operator's allow from a configured one; and it is gone after a reboot.
 * This table keeps those, in wall-clock time so it means the same after a
 * reboot, and (de)serialises itself as JSON for the daemon's rules file.
 *
 * Pure logic: no syscalls, so it is unit-tested on its own.
 */
#ifndef MG_OPRULES_H
#define MG_OPRULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "mtaguard.h"
#include "mg_addr.h"

#define MG_OPRULE_COMMENT_MAX 160

struct mg_oprule {
	struct mg_prefix prefix;
	uint8_t kind;                 /* enum mg_rule_kind (mtaguard.h): MG_RULE_BLOCK or MG_RULE_ALLOW */
	uint8_t action;               /* MG_ACT_* for blocks */
	uint64_t created_ns;          /* wall clock (CLOCK_REALTIME) */
	uint64_t expires_ns;          /* wall clock; 0 = until removed */
	char comment[MG_OPRULE_COMMENT_MAX + 1];
};

struct mg_oprules {
	struct mg_oprule *v;
	size_t n, cap;
};

void mg_oprules_init(struct mg_oprules *t);
void mg_oprules_free(struct mg_oprules *t);
/* Add, or replace the rule of the same kind for exactly that prefix. 0 or -ENOMEM. */
int mg_oprules_set(struct mg_oprules *t, const struct mg_oprule *r);
/* Remove the rule of that kind for exactly that prefix; false if there was none. */
bool mg_oprules_remove(struct mg_oprules *t, const struct mg_prefix *p, uint8_t kind);
const struct mg_oprule *mg_oprules_find(const struct mg_oprules *t, const struct mg_prefix *p, uint8_t kind);
/*
 * Take out every rule expired at wall time `now` (expires_ns <= now), copying
 * up to `max` of them to `out` (the caller undoes them in the kernel and the
 * analyzer). Returns how many were taken; the rest wait for the next call.
 */
size_t mg_oprules_expire(struct mg_oprules *t, uint64_t now, struct mg_oprule *out, size_t max);

/* {"version":1,"rules":[{"prefix","kind","action","created","expires","comment"}]}, times in ns. */
json_t *mg_oprules_to_json(const struct mg_oprules *t);
/*
 * Replaces the table's content with every well-formed rule; a malformed one
 * (types, prefix, kind, action, times, comment length) or a second rule of
 * one kind for one prefix is skipped and counted in *refused (may be NULL).
 * -EINVAL (and the table unchanged) when the document itself is not a rules
 * table; -ENOMEM.
 */
int mg_oprules_from_json(struct mg_oprules *t, const json_t *j, size_t *refused);

#endif
