// SPDX-License-Identifier: GPL-2.0-only
/* mg_ruleindex.c - the rule index's bookkeeping (see mg_ruleindex.h and struct mg_rule_lens). */
#include <string.h>

#include "mg_ruleindex.h"

/*
 * Words are updated with atomic read-modify-writes: the program reads them
 * at the same moment, and each word must go from one consistent value to the
 * next (a bit for a rule is set before anyone could need it, cleared only
 * once no rule needs it).
 */
static void word_or(uint32_t *w, uint32_t bit)
{
	__atomic_fetch_or(w, bit, __ATOMIC_RELAXED);
}

static void entry_or(uint64_t *e, uint64_t bits)
{
	__atomic_fetch_or(e, bits, __ATOMIC_RELAXED);
}

static void entry_andnot(uint64_t *e, uint64_t bits)
{
	__atomic_fetch_and(e, ~bits, __ATOMIC_RELAXED);
}

static uint32_t be32_at(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static bool addr_v4mapped(const uint8_t a[16])
{
	static const uint8_t pre[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	return memcmp(a, pre, 12) == 0;
}

bool mg_ruleindex_covers4(const struct mg_prefix *p)
{
	uint8_t m[16] = { [10] = 0xff, [11] = 0xff };

	if (p->prefixlen >= 96)
		return addr_v4mapped(p->addr);
	/* Shorter: covers v4-mapped space if it agrees with ::ffff:0:0 on its own bits. */
	mg_addr_mask(m, p->prefixlen);
	return memcmp(m, p->addr, 16) == 0;
}

bool mg_ruleindex_covers6(const struct mg_prefix *p)
{
	return p->prefixlen < 96 || !addr_v4mapped(p->addr);
}

static void count_up(struct mg_rule_lens *l, int which, unsigned len)
{
	if (__atomic_fetch_add(&l->count[which][len], 1, __ATOMIC_RELAXED) == 0)
		__atomic_fetch_or(&l->mask[which][len / 64], 1ull << (len % 64), __ATOMIC_RELAXED);
}

static void count_down(struct mg_rule_lens *l, int which, unsigned len)
{
	uint32_t n = __atomic_load_n(&l->count[which][len], __ATOMIC_RELAXED);

	if (n == 0)
		return; /* never counted: nothing to undo */
	if (__atomic_sub_fetch(&l->count[which][len], 1, __ATOMIC_RELAXED) == 0)
		__atomic_fetch_and(&l->mask[which][len / 64], ~(1ull << (len % 64)), __ATOMIC_RELAXED);
}

uint32_t mg_ruleindex_short(const struct mg_rule_lens *l)
{
	uint32_t f = 0;

	/* IPv4 /0 and the v6-shaped prefixes over v4-mapped space; IPv6 shorter than /32. */
	if (__atomic_load_n(&l->mask[MG_LENS_BLOCK4][0], __ATOMIC_RELAXED) ||
	    (__atomic_load_n(&l->mask[MG_LENS_BLOCK4][1], __ATOMIC_RELAXED) & MG_SHORT4_WORD1))
		f |= MG_RULE_SHORT_V4;
	if (__atomic_load_n(&l->mask[MG_LENS_BLOCK6][0], __ATOMIC_RELAXED) & MG_SHORT6_WORD0)
		f |= MG_RULE_SHORT_V6;
	return f;
}

/*
 * Called after every mask change, so the flag follows the mask bit: set
 * after it (a packet the flag sends on to mg_enforce finds the length to
 * probe), cleared after the last one goes (until then, a probe that misses).
 */
void mg_ruleindex_sync_short(struct mg_ruleindex *x)
{
	if (!x->shorts)
		return;
	uint32_t f = mg_ruleindex_short(x->lens);
	if (__atomic_load_n(x->shorts, __ATOMIC_RELAXED) != f)
		__atomic_store_n(x->shorts, f, __ATOMIC_RELAXED);
}

/*
 * The IPv4 buckets a v4 rule of 16-byte length len (97..128) covers: first,
 * and how many; and the bits it sets in each: its length's, and for a rule
 * longer than the bucket the sub-buckets it covers (mtaguard.h).
 */
static void v4_range(const struct mg_ruleindex *x, const struct mg_prefix *p, uint32_t *first, uint32_t *n,
		     uint64_t *bits)
{
	uint32_t v4 = be32_at(p->addr + 12), l4 = p->prefixlen - 96u;

	*bits = 1ull << (l4 - 1);
	if (l4 > x->v4_bits) {
		uint32_t sub = mg_rule_sub4(v4, x->v4_bits), nsub = l4 >= x->v4_bits + 5 ? 1 : 1u << (x->v4_bits + 5 - l4);
		*first = mg_rule_bucket4(v4, x->v4_bits);
		*n = 1;
		*bits |= ((nsub == 32 ? ~0ull : (1ull << nsub) - 1) << sub) << 32;
	} else if (l4 == x->v4_bits) {
		*first = mg_rule_bucket4(v4, x->v4_bits);
		*n = 1;
	} else {
		*first = (v4 >> (32 - l4)) << (x->v4_bits - l4);
		*n = 1u << (x->v4_bits - l4);
	}
}

void mg_ruleindex_add(struct mg_ruleindex *x, const struct mg_prefix *p, bool allow)
{
	unsigned len = p->prefixlen;

	if (len > 128)
		return;
	if (allow) {
		if (mg_ruleindex_covers4(p))
			count_up(x->lens, MG_LENS_ALLOW4, len);
		if (mg_ruleindex_covers6(p))
			count_up(x->lens, MG_LENS_ALLOW6, len);
		return;
	}
	/* Bucket bits first, then the length: the program needs both, and an early bit is only a wasted probe. */
	if (mg_ruleindex_covers4(p)) {
		if (len >= 97) {
			uint32_t first, n;
			uint64_t bits;
			v4_range(x, p, &first, &n, &bits);
			for (uint32_t i = 0; i < n; i++)
				entry_or(&x->v4[first + i], bits);
		}
		count_up(x->lens, MG_LENS_BLOCK4, len);
	}
	if (mg_ruleindex_covers6(p)) {
		if (len >= MG_RULE_V6_MIN_LEN)
			word_or(&x->v6[mg_rule_bucket6(be32_at(p->addr), x->v6_bits)], 1u << mg_rule_class6(len));
		count_up(x->lens, MG_LENS_BLOCK6, len);
	}
	mg_ruleindex_sync_short(x);
}

void mg_ruleindex_del(struct mg_ruleindex *x, const struct mg_prefix *p, bool allow)
{
	unsigned len = p->prefixlen;

	if (len > 128)
		return;
	if (allow) {
		if (mg_ruleindex_covers4(p))
			count_down(x->lens, MG_LENS_ALLOW4, len);
		if (mg_ruleindex_covers6(p))
			count_down(x->lens, MG_LENS_ALLOW6, len);
		return;
	}
	if (mg_ruleindex_covers4(p)) {
		count_down(x->lens, MG_LENS_BLOCK4, len);
		if (len >= 97) {
			uint32_t first, n;
			uint64_t bits;
			v4_range(x, p, &first, &n, &bits);
			/*
			 * A rule no longer than the bucket is the only one of its
			 * length over each bucket it covers: its bit goes with it.
			 * A longer one may share its bucket (and sub-buckets) with
			 * others, which the index does not count: its bits stay.
			 */
			if (len - 96u <= x->v4_bits)
				for (uint32_t i = 0; i < n; i++)
					entry_andnot(&x->v4[first + i], bits);
			else
				__atomic_fetch_add(&x->lens->stale, 1, __ATOMIC_RELAXED);
		}
	}
	if (mg_ruleindex_covers6(p)) {
		count_down(x->lens, MG_LENS_BLOCK6, len);
		/* Buckets are hashed and classes shared: other rules may need the bit. */
		if (len >= MG_RULE_V6_MIN_LEN)
			__atomic_fetch_add(&x->lens->stale, 1, __ATOMIC_RELAXED);
	}
	mg_ruleindex_sync_short(x);
}

static bool mask_has(const __u64 m[3], unsigned len)
{
	return m[len / 64] >> (len % 64) & 1;
}

unsigned mg_ruleindex_lens(const struct mg_ruleindex *x, const uint8_t addr[16], bool allow,
			   uint8_t out[MG_RULE_LENS])
{
	bool v4 = addr_v4mapped(addr);
	unsigned n = 0;

	if (allow) {
		const __u64 *m = x->lens->mask[v4 ? MG_LENS_ALLOW4 : MG_LENS_ALLOW6];
		for (int len = 128; len >= 0; len--)
			if (mask_has(m, (unsigned)len))
				out[n++] = (uint8_t)len;
		return n;
	}
	const __u64 *m = x->lens->mask[v4 ? MG_LENS_BLOCK4 : MG_LENS_BLOCK6];
	uint32_t a4 = be32_at(addr + 12);
	uint32_t cls = v4 ? mg_rule_cls4(x->v4[mg_rule_bucket4(a4, x->v4_bits)], a4, x->v4_bits)
			  : x->v6[mg_rule_bucket6(be32_at(addr), x->v6_bits)];
	for (int len = 128; len >= 0; len--) {
		unsigned l = (unsigned)len;
		if (!mask_has(m, l))
			continue;
		bool bucketed = v4 ? l >= 97 : l >= MG_RULE_V6_MIN_LEN;
		uint32_t bit = v4 ? l - 97 : mg_rule_class6(l);
		if (!bucketed || (cls >> bit & 1))
			out[n++] = (uint8_t)l;
	}
	return n;
}

uint64_t mg_ruleindex_blocks(const struct mg_ruleindex *x)
{
	uint64_t n = 0;

	for (unsigned l = 0; l < MG_RULE_LENS; l++)
		n += x->lens->count[MG_LENS_BLOCK4][l] + x->lens->count[MG_LENS_BLOCK6][l];
	return n;
}
