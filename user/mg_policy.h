/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_policy.h - allow and block rules in the mg_policy LPM trie.
 *
 * One trie holds both kinds so an ordinary packet costs one lookup. The
 * kernel lets an allow rule that covers a block rule win; these helpers only
 * write entries and keep prefixlen in the value consistent with the key.
 */
#ifndef MG_POLICY_H
#define MG_POLICY_H

#include <stdint.h>
#include "mtaguard.h"
#include "mg_addr.h"

/* Block `p` with `action` (MG_ACT_*) for ttl_sec seconds (0 = no expiry). Replaces an existing rule. */
int mg_policy_block(int policy_fd, const struct mg_prefix *p, uint8_t action, uint64_t ttl_sec);
/* Allowlist `p` (never expires). Replaces an existing rule. */
int mg_policy_allow(int policy_fd, const struct mg_prefix *p);
/* Remove the rule for exactly `p`. Returns 0, or -ENOENT. */
int mg_policy_remove(int policy_fd, const struct mg_prefix *p);
/* Read the rule for exactly `p`. */
int mg_policy_get(int policy_fd, const struct mg_prefix *p, struct mg_rule *out);

/* Visit every rule; stops and returns the callback's value when nonzero. */
typedef int (*mg_policy_visit_fn)(const struct mg_prefix *p, const struct mg_rule *r, void *arg);
int mg_policy_foreach(int policy_fd, mg_policy_visit_fn fn, void *arg);

void mg_lpm_key_from_prefix(struct mg_lpm_key *k, const struct mg_prefix *p);

#endif
