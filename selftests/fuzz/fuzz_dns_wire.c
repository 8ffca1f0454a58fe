// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_dns_wire.c - the reader of resolver responses (user/mg_dns_wire.c) on
 * any bytes, as a resolver (or anyone who can spoof one) could send them. The
 * first byte picks the type asked. Whatever comes in: an answer, every record
 * within its bounds and walkable to its end, names in dotted text that fit,
 * and the cache takes it.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mg_dns.h"
#include "mg_dns_cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t types[] = { MG_DNS_A, MG_DNS_AAAA, MG_DNS_PTR, MG_DNS_MX, MG_DNS_TXT };
	static struct mg_dns_cache *cache;
	struct mg_dns_answer *a = NULL;

	if (!size)
		return 0;
	if (!cache)
		cache = mg_dns_cache_new(64, 3600, 900);
	uint16_t type = types[data[0] % 5];
	assert(mg_dns_parse(data + 1, size - 1, type, &a) == 0 || !a);
	if (!a)
		return 0;
	assert(a->status <= MG_DNS_TEMPFAIL);
	assert(a->n <= MG_DNS_MAX_RR && a->len <= MG_DNS_MAX_DATA);
	assert(a->status == MG_DNS_OK || (a->n == 0 && a->len == 0));
	size_t off = 0, len, n = 0;
	const uint8_t *p;
	while ((p = mg_dns_answer_next(a, &off, &len))) {
		n++;
		if (type == MG_DNS_A)
			assert(len == 4);
		else if (type == MG_DNS_AAAA)
			assert(len == 16);
		else if (type != MG_DNS_TXT)
			assert(len <= MG_DNS_NAME_MAX && !memchr(p, '\0', len));
	}
	assert(n == a->n && off == a->len);
	mg_dns_cache_put(cache, "fuzz.test", type, a, 1000000000ull);
	return 0;
}
