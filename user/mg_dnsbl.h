/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_dnsbl.h - mtaguard's blocks as a DNSBL zone: rbldnsd datasets
 * (ip4trie for IPv4, ip6trie for IPv6) that mail servers query, so relays
 * and MX hosts that do not run mtaguard refuse what it blocks.
 *
 * Return codes (the A record; the TXT says the same in words):
 *   127.0.0.2  an analyzer verdict, this node's or another node's received over
 *              the cluster (which also carries their operators' blocks), and a
 *              block the kernel held that no record accounts for ("pinned": most
 *              are verdicts whose state was lost)
 *   127.0.0.3  a proven member of an active outbreak (not blocked, or not yet)
 *   127.0.0.4  an operator's block (mtaguardctl block)
 *   127.0.0.5  an imported list (mtaguardctl import), when dnsbl.feeds is on
 * Allowed prefixes (configured, mail servers, the operator's) are written
 * as exclusions ("!P"): an allow wins in the zone as in the kernel.
 *
 * Rendering is pure; writing goes through mg_atomic_file (temp + rename),
 * so rbldnsd, which re-reads a dataset when its mtime changes, never reads
 * half a file.
 */
#ifndef MG_DNSBL_H
#define MG_DNSBL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mg_addr.h"

enum mg_dnsbl_code {
	MG_DNSBL_EXCLUDED = 0, /* "!P": allowed */
	MG_DNSBL_VERDICT = 2,
	MG_DNSBL_OUTBREAK = 3,
	MG_DNSBL_OPERATOR = 4,
	MG_DNSBL_FEED = 5,
};

struct mg_dnsbl_entry {
	struct mg_prefix prefix;
	uint8_t code; /* enum mg_dnsbl_code */
};

/*
 * One dataset's text: the entries of one family (v6: IPv6, else IPv4; the
 * others are skipped), sorted, one line per prefix (a prefix listed twice
 * keeps its first entry in `v`'s order: put exclusions first, then blocks,
 * then outbreak members). ttl_s: the records' TTL. malloc'd, NUL-ended,
 * *len without the NUL; NULL when out of memory.
 */
char *mg_dnsbl_render(const struct mg_dnsbl_entry *v, size_t n, bool v6, unsigned ttl_s, size_t *len);
/*
 * The allowed prefixes, to ask of each block whether one covers it (rbldnsd
 * answers the longest match, so a block inside an allow would be listed
 * over the exclusion: it is left out instead). Sorted once by length and
 * address: a question is one binary search per length in use, not a pass
 * over every allow.
 */
struct mg_dnsbl_allows {
	struct mg_prefix *v; /* by prefixlen, then address */
	size_t n;
	unsigned nlens;
	struct {
		uint8_t len;
		size_t lo, hi; /* v[lo..hi): the allows of this length */
	} runs[256];
};
/* From the prefixes of v[0..n) (their codes ignored). 0 or -ENOMEM. */
int mg_dnsbl_allows_init(struct mg_dnsbl_allows *a, const struct mg_dnsbl_entry *v, size_t n);
/* Is p inside an allow (one as long or shorter whose prefix is p's address's)? */
bool mg_dnsbl_allowed(const struct mg_dnsbl_allows *a, const struct mg_prefix *p);
void mg_dnsbl_allows_free(struct mg_dnsbl_allows *a);

/* Write a dataset atomically, mode 0644 (rbldnsd runs as its own user). 0 or -errno. */
int mg_dnsbl_write(const char *path, const char *text, size_t len);

#endif
