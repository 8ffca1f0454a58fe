/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_policy.h - block and allow rules in the mg_blocklist and mg_allowlist
 * LPM tries. The kernel looks up the blocklist for every packet and the
 * allowlist only when a block matched, so an allow rule always wins.
 */
#ifndef MG_POLICY_H
#define MG_POLICY_H

#include <stdint.h>
#include "mtaguard.h"
#include "mg_addr.h"

/* Block `p` with `action` (MG_ACT_*) for ttl_sec seconds (0 = no expiry). Replaces an existing block. */
int mg_policy_block(int block_fd, const struct mg_prefix *p, uint8_t action, uint64_t ttl_sec);
/* Allowlist `p` (never expires). */
int mg_policy_allow(int allow_fd, const struct mg_prefix *p);
/* Remove the rule for exactly `p` from one trie. Returns 0, or -ENOENT. */
int mg_policy_remove(int fd, const struct mg_prefix *p);
/* Read the rule for exactly `p` from one trie. */
int mg_policy_get(int fd, const struct mg_prefix *p, struct mg_rule *out);

/* Visit every rule of one trie; stops and returns the callback's value when nonzero. */
typedef int (*mg_policy_visit_fn)(const struct mg_prefix *p, const struct mg_rule *r, void *arg);
int mg_policy_foreach(int fd, mg_policy_visit_fn fn, void *arg);

void mg_lpm_key_from_prefix(struct mg_lpm_key *k, const struct mg_prefix *p);

#endif
