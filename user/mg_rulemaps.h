/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_rulemaps.h - block and allow rules in the mg_blocklist and mg_allowlist
 * LPM tries. The kernel looks up the blocklist for every packet and the
 * allowlist only when a block matched, so an allow rule always wins.
 */
#ifndef MG_POLICY_H
#define MG_POLICY_H

#include <stdint.h>
#include "mtaguard.h"
#include "mg_addr.h"

/*
 * Block `p` with `action` (MG_ACT_*) until expires_ns on the kernel's clock
 * (coarse CLOCK_MONOTONIC). 0 is the ABI's "no expiry": a real expiry is
 * always later than the moment it is written, so it is never 0. Replaces an
 * existing block.
 */
int mg_rulemap_block_until(int block_fd, const struct mg_prefix *p, uint8_t action, uint64_t expires_ns);
/* The same for ttl_sec seconds from now (0 = no expiry). */
int mg_rulemap_block(int block_fd, const struct mg_prefix *p, uint8_t action, uint64_t ttl_sec);
/* Allowlist `p` (never expires). */
int mg_rulemap_allow(int allow_fd, const struct mg_prefix *p);
/* Remove the rule for exactly `p` from one trie. Returns 0, or -ENOENT. */
int mg_rulemap_remove(int fd, const struct mg_prefix *p);
/* Read the rule for exactly `p` from one trie. */
int mg_rulemap_get(int fd, const struct mg_prefix *p, struct mg_rule *out);

/* Visit every rule of one trie; stops and returns the callback's value when nonzero. */
typedef int (*mg_rulemap_visit_fn)(const struct mg_prefix *p, const struct mg_rule *r, void *arg);
int mg_rulemap_foreach(int fd, mg_rulemap_visit_fn fn, void *arg);

void mg_lpm_key_from_prefix(struct mg_lpm_key *k, const struct mg_prefix *p);

#endif
