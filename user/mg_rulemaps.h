/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_rulemaps.h - block and allow rules in the kernel's maps: one exact
 * entry per rule in a hash keyed by prefix (IPv4 rules in mg_blocklist4 or
 * mg_allowlist4, 8-byte keys; the rest in mg_blocklist or mg_allowlist),
 * and the rule index the program consults first (mg_rule_index4,
 * mg_rule_index6, mg_rule_lens; see struct mg_rule_lens in mtaguard.h). The
 * layout is this file's alone: every write goes through here, for the engine
 * (mg_kernel_sink.c); readers use mg_rulemap_get/foreach/find.
 */
#ifndef MG_POLICY_H
#define MG_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "mtaguard.h"
#include "mg_addr.h"
#include "mg_ruleindex.h"

/* The descriptors of an instance's rule maps (they stay the caller's). */
struct mg_rulemap_fds {
	int block4, block, allow4, allow; /* per kind, the IPv4 rules' hash (8-byte keys) and the others' */
	int index4, index6, lens;         /* the rule index */
	int shorts;                       /* mg_rule_short; -1: the program has none (one from before it) */
};

/* The maps of one instance, the index mapped into this process. */
struct mg_rulemaps {
	struct mg_rulemap_fds fds;
	struct mg_ruleindex ix; /* pointers into the kernel's maps; NULL when not open */
	size_t len4, len6, lens_len, shorts_len;
};

/* Map the index of an instance (the fds of its rule maps), mg_rule_short brought in line with the masks. 0 or -errno. */
int mg_rulemaps_open(struct mg_rulemaps *m, const struct mg_rulemap_fds *fds);
void mg_rulemaps_close(struct mg_rulemaps *m);

/*
 * Block `p` with `action` (MG_ACT_*) until expires_ns on the kernel's clock
 * (coarse CLOCK_MONOTONIC). 0 is the ABI's "no expiry": a real expiry is
 * always later than the moment it is written, so it is never 0. Replaces an
 * existing block.
 */
int mg_rulemap_block_until(struct mg_rulemaps *m, const struct mg_prefix *p, uint8_t action, uint64_t expires_ns);
/* The same for ttl_sec seconds from now (0 = no expiry). */
int mg_rulemap_block(struct mg_rulemaps *m, const struct mg_prefix *p, uint8_t action, uint64_t ttl_sec);
/* Allowlist `p` (never expires). */
int mg_rulemap_allow(struct mg_rulemaps *m, const struct mg_prefix *p);
/* Remove the block (or allow) rule for exactly `p`. Returns 0, or -ENOENT. */
int mg_rulemap_unblock(struct mg_rulemaps *m, const struct mg_prefix *p);
int mg_rulemap_unallow(struct mg_rulemaps *m, const struct mg_prefix *p);

/*
 * Recompute the index from the rules (bits left over deleted rules go).
 * Done by mg_rulemap_unblock once such bits pile up; 0 or -errno.
 */
int mg_rulemaps_rebuild(struct mg_rulemaps *m);

/* Read the rule for exactly `p` from one kind's maps (fd4: its IPv4 map, fd: the other). */
int mg_rulemap_get(int fd4, int fd, const struct mg_prefix *p, struct mg_rule *out);

/*
 * The rule the program would apply to `addr`, found as it finds it: for
 * blocks, the longest in force at `now` (kernel clock); for allows, the
 * longest. 0 (with its prefix in *pfx if not NULL), or -ENOENT.
 */
int mg_rulemap_find(const struct mg_rulemaps *m, bool allow, const uint8_t addr[16], uint64_t now,
		    struct mg_prefix *pfx, struct mg_rule *out);

/*
 * Visit every rule of one kind (fd4: its IPv4 map, first; fd: the other);
 * stops and returns the callback's value when nonzero, or -errno.
 */
typedef int (*mg_rulemap_visit_fn)(const struct mg_prefix *p, const struct mg_rule *r, void *arg);
int mg_rulemap_foreach(int fd4, int fd, mg_rulemap_visit_fn fn, void *arg);

void mg_lpm_key_from_prefix(struct mg_lpm_key *k, const struct mg_prefix *p);

#endif
