/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_ruleindex.h - the rule index's bookkeeping (struct mg_rule_lens in
 * mtaguard.h says what the program reads): which bits a rule sets, which a
 * deletion may clear, and which lengths a lookup of an address probes. Pure:
 * it works on whatever memory it is given, the kernel's maps mapped by
 * mg_rulemaps.c or plain buffers in a test or a rebuild.
 */
#ifndef MG_RULEINDEX_H
#define MG_RULEINDEX_H

#include <stdbool.h>
#include <stdint.h>
#include "mtaguard.h"
#include "mg_addr.h"

struct mg_ruleindex {
	uint64_t *v4;  /* 2^v4_bits entries: length word, sub-bucket word (mtaguard.h) */
	uint32_t *v6;  /* 2^v6_bits words */
	struct mg_rule_lens *lens;
	/*
	 * mg_rule_short (mtaguard.h), kept by add, del and mg_ruleindex_sync_short;
	 * NULL where there is none to keep (a plain index: a test's, a rebuild's;
	 * the pins of a program from before it existed, which does not read it).
	 */
	uint32_t *shorts;
	uint32_t v4_bits, v6_bits;
};

/* Does a rule for p (masked) cover some v4-mapped address? Some other address? */
bool mg_ruleindex_covers4(const struct mg_prefix *p);
bool mg_ruleindex_covers6(const struct mg_prefix *p);

/* Note a rule for p (masked), added or removed. Call once per rule that enters or leaves the map. */
void mg_ruleindex_add(struct mg_ruleindex *x, const struct mg_prefix *p, bool allow);
void mg_ruleindex_del(struct mg_ruleindex *x, const struct mg_prefix *p, bool allow);

/*
 * The lengths a lookup of addr probes, longest first, as the program
 * computes them (bpf/policy.h): for blocks (allow false) or allows. Returns
 * how many were written to out.
 */
unsigned mg_ruleindex_lens(const struct mg_ruleindex *x, const uint8_t addr[16], bool allow,
			   uint8_t out[MG_RULE_LENS]);

/* mg_rule_short's value as the block masks stand: MG_RULE_SHORT_V4 | MG_RULE_SHORT_V6, or fewer. */
uint32_t mg_ruleindex_short(const struct mg_rule_lens *lens);
/* Write it to x->shorts (if any), as the masks stand: after add and del, and once on opening. */
void mg_ruleindex_sync_short(struct mg_ruleindex *x);

/* Rules counted behind the block masks (a rule covering both families counts twice). */
uint64_t mg_ruleindex_blocks(const struct mg_ruleindex *x);

#endif
