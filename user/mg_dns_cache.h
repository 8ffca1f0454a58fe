/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_dns_cache.h - the verifier's DNS cache: bounded, honouring TTLs,
 * negative answers cached too.
 *
 * Keyed by (type, name in lower case). An answer is kept for its TTL,
 * bounded: positive answers MG_DNS_MIN_TTL..max_ttl, negative ones (NXDOMAIN,
 * NODATA) up to max_neg_ttl, a failure (timeout, SERVFAIL, rate limit)
 * MG_DNS_FAIL_TTL, so that a resolver that is down is asked again soon but
 * not once per source. Past max_entries the least recently used entry goes.
 * Pure: time is passed in (seconds or ns, the caller's timeline).
 */
#ifndef MG_DNS_CACHE_H
#define MG_DNS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mg_dns.h"

#define MG_DNS_MIN_TTL 5    /* s: a TTL of 0 would ask again for every check of one job */
#define MG_DNS_FAIL_TTL 30  /* s */

struct mg_dns_cache_stats {
	uint64_t hits, misses, inserts, evictions, expired;
	size_t entries, bytes; /* bytes: entries' memory, headers, keys and answers (malloc's own overhead aside) */
};

struct mg_dns_cache;

/* max_entries >= 1; TTL bounds in seconds. */
struct mg_dns_cache *mg_dns_cache_new(size_t max_entries, uint32_t max_ttl, uint32_t max_neg_ttl);
void mg_dns_cache_free(struct mg_dns_cache *c);
/* The answer if cached and not expired at now_ns (valid until the next put or free), else NULL. */
const struct mg_dns_answer *mg_dns_cache_get(struct mg_dns_cache *c, const char *name, uint16_t type,
					     uint64_t now_ns);
/* Keep ans (the cache owns it from here, also on failure). 0 or -ENOMEM / -EINVAL. */
int mg_dns_cache_put(struct mg_dns_cache *c, const char *name, uint16_t type, struct mg_dns_answer *ans,
		     uint64_t now_ns);
void mg_dns_cache_stats(const struct mg_dns_cache *c, struct mg_dns_cache_stats *s);
/* The per-entry header, without key and answer: for the README's memory figure. */
size_t mg_dns_cache_entry_overhead(void);

#endif
