// SPDX-License-Identifier: GPL-2.0-only
/* mg_dnsbl.c - rbldnsd ip4trie/ip6trie datasets of mtaguard's blocks (see mg_dnsbl.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_atomic_file.h"
#include "mg_cidr_list.h"
#include "mg_dnsbl.h"
#include "mg_names.h"

struct idx {
	const struct mg_dnsbl_entry *e;
	size_t order; /* in v: the first of a prefix wins */
};

static int cmp_idx(const void *a, const void *b)
{
	const struct idx *x = a, *y = b;
	int c = mg_prefix_cmp(&x->e->prefix, &y->e->prefix);

	return c ? c : x->order < y->order ? -1 : x->order > y->order;
}

/* "198.18.0.0/24", "198.18.0.2/32", "2001:db8::/64": always with the length (rbldnsd reads "a.b.c" as a /24). */
static void cidr(const struct mg_prefix *p, char *buf, size_t len)
{
	char a[MG_ADDRSTRLEN];

	snprintf(buf, len, "%s/%u", mg_addr_str(p->addr, a, sizeof(a)), mg_prefix_family_len(p));
}

char *mg_dnsbl_render(const struct mg_dnsbl_entry *v, size_t n, bool v6, unsigned ttl_s, size_t *len)
{
	struct idx *ix = malloc((n + 1) * sizeof(*ix));
	/* A line is at most about 90 bytes (a full IPv6 address, its length, the longest code's words). */
	size_t m = 0, cap = 512 + n * 128, at = 0;
	char *out = malloc(cap), p[MG_ADDRSTRLEN + 8];

	if (!ix || !out) {
		free(ix);
		free(out);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (mg_prefix_is_v4(&v[i].prefix) != v6)
			ix[m++] = (struct idx){ &v[i], i };
	if (m)
		qsort(ix, m, sizeof(*ix), cmp_idx);
	at += (size_t)snprintf(out + at, cap - at,
			       "; mtaguard DNSBL data (rbldnsd %s), rewritten whole on every change: do not edit\n"
			       "; 127.0.0.2 verdict, .3 outbreak member, .4 operator block, .5 imported list; ! allowed\n"
			       "$TTL %u\n",
			       v6 ? "ip6trie" : "ip4trie", ttl_s);
	for (size_t i = 0; i < m; i++) {
		const struct mg_dnsbl_entry *e = ix[i].e;
		if (i && mg_prefix_eq(&ix[i - 1].e->prefix, &e->prefix))
			continue;
		cidr(&e->prefix, p, sizeof(p));
		if (e->code == MG_DNSBL_EXCLUDED)
			at += (size_t)snprintf(out + at, cap - at, "!%s\n", p);
		else
			at += (size_t)snprintf(out + at, cap - at, "%s :127.0.0.%u:mtaguard: %s $\n", p, e->code,
					       mg_dnsbl_code_name(e->code));
	}
	free(ix);
	*len = at;
	return out;
}

int mg_dnsbl_write(const char *path, const char *text, size_t len)
{
	return mg_atomic_write(path, text, len, 0644);
}

static int cmp_len_addr(const void *a, const void *b)
{
	const struct mg_prefix *x = a, *y = b;

	if (x->prefixlen != y->prefixlen)
		return x->prefixlen < y->prefixlen ? -1 : 1;
	return memcmp(x->addr, y->addr, sizeof(x->addr));
}

int mg_dnsbl_allows_init(struct mg_dnsbl_allows *a, const struct mg_dnsbl_entry *v, size_t n)
{
	memset(a, 0, sizeof(*a));
	if (!n)
		return 0;
	a->v = malloc(n * sizeof(*a->v));
	if (!a->v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		a->v[i] = v[i].prefix;
	a->n = n;
	qsort(a->v, n, sizeof(*a->v), cmp_len_addr);
	for (size_t i = 0; i < n; i++) {
		if (!a->nlens || a->runs[a->nlens - 1].len != a->v[i].prefixlen) {
			a->runs[a->nlens].len = a->v[i].prefixlen;
			a->runs[a->nlens].lo = i;
			a->nlens++;
		}
		a->runs[a->nlens - 1].hi = i + 1;
	}
	return 0;
}

bool mg_dnsbl_allowed(const struct mg_dnsbl_allows *a, const struct mg_prefix *p)
{
	/* An allow of length L covers p when L <= p's and p's address cut to L bits is the allow's (as mg_prefix_covers). */
	for (unsigned r = 0; r < a->nlens && a->runs[r].len <= p->prefixlen; r++) {
		struct mg_prefix k = { .prefixlen = a->runs[r].len };
		memcpy(k.addr, p->addr, sizeof(k.addr));
		mg_addr_mask(k.addr, k.prefixlen);
		if (bsearch(&k, a->v + a->runs[r].lo, a->runs[r].hi - a->runs[r].lo, sizeof(*a->v), cmp_len_addr))
			return true;
	}
	return false;
}

void mg_dnsbl_allows_free(struct mg_dnsbl_allows *a)
{
	free(a->v);
	memset(a, 0, sizeof(*a));
}
