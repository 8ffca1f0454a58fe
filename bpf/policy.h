/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * policy.h - the allow/block decision for a source address.
 *
 * Rules are exact entries in hashes keyed by prefix length and masked
 * address: IPv4 rules in mg_blocklist4 and mg_allowlist4 (8-byte keys, the
 * cheap hash a listed IPv4 source meets on every packet), the rest in
 * mg_blocklist and mg_allowlist (20-byte keys); the rule index (mg_rule_index4,
 * mg_rule_index6, mg_rule_lens: see struct mg_rule_lens in mtaguard.h) says
 * which lengths can match an address. So an unlisted source costs two array
 * reads the verifier inlines, whatever the number of rules, and a listed one
 * an exact probe per length its bucket holds, longest first:
 *  - the first block in force wins: an expired block is skipped, so a longer
 *    expired block never hides a shorter one in force (the daemon removes
 *    expired rules promptly; the kernel does not rely on it);
 *  - then every allow length in use is probed, and any allow rule covering
 *    the address wins, whatever the two lengths. Allows cost nothing unless
 *    a block in force matched.
 * Only userspace writes these maps (mg_rulemaps.c, for the engine, which
 * picks the map by family).
 */
#ifndef MG_BPF_POLICY_H
#define MG_BPF_POLICY_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "mtaguard.h"
#include "parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct mg_lpm_key);
	__type(value, struct mg_rule);
	__uint(max_entries, MG_DEFAULT_MAX_POLICY);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} mg_blocklist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct mg_lpm_key);
	__type(value, struct mg_rule);
	__uint(max_entries, MG_DEFAULT_MAX_ALLOW);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} mg_allowlist SEC(".maps");

/* The IPv4 rules (struct mg_rule_key4); sized by the loader with the maps above. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct mg_rule_key4);
	__type(value, struct mg_rule);
	__uint(max_entries, MG_DEFAULT_MAX_POLICY);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} mg_blocklist4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct mg_rule_key4);
	__type(value, struct mg_rule);
	__uint(max_entries, MG_DEFAULT_MAX_ALLOW);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} mg_allowlist4 SEC(".maps");

/*
 * 2^rule_v4_bits 8-byte entries (length word and sub-bucket word, read as
 * one), and 2^rule_v6_bits 32-bit words two to an entry (an array's entries
 * are 8 bytes apart whatever the value size: 32-bit values would double the
 * memory); mmapable, so the writer sets bits in place. Sized by the loader
 * (mg_rule_entries4/6).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, mg_rule_entries4(MG_RULE_V4_BITS_DEFAULT));
	__uint(map_flags, BPF_F_MMAPABLE);
} mg_rule_index4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, mg_rule_entries6(MG_RULE_V6_BITS_DEFAULT));
	__uint(map_flags, BPF_F_MMAPABLE);
} mg_rule_index6 SEC(".maps");

/* Index word `b` of mg_rule_index6 (0 when out of range: the loader sized it, so never). */
static __always_inline __u32 mg_index_word6(__u32 b)
{
	__u32 entry = b >> 1;
	__u32 *pair = bpf_map_lookup_elem(&mg_rule_index6, &entry);

	return pair ? pair[b & 1] : 0;
}

/* The IPv4 lengths (bit k: length k + 1) bucket entry and sub-bucket leave to probe for v4 (host order). */
static __always_inline __u32 mg_index_cls4(__u32 v4, __u32 bits)
{
	__u32 b = mg_rule_bucket4(v4, bits);
	__u64 *e = bpf_map_lookup_elem(&mg_rule_index4, &b);

	return e ? mg_rule_cls4(*e, v4, bits) : 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct mg_rule_lens);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
} mg_rule_lens SEC(".maps");

/*
 * mg_rule_short (mtaguard.h): read on every packet of an unlisted source,
 * as one load from an address the verifier fixes; a lookup in mg_rule_lens
 * is a bounds-checked sequence, 0.4 ns of the fast path's 5.2 above a bare
 * XDP_PASS (make bench). The program's one writable global: its .data map
 * (mg_xdp.data) is pinned as mg_rule_short and kept across loads
 * (mg_loader.c), so a global that is not this state needs a section of its own.
 */
__u32 mg_rule_short SEC(".data");

static __always_inline int mg_addr_v4mapped(const union mg_addr *a)
{
	return a->w[0] == 0 && a->w[1] == 0 && a->w[2] == bpf_htonl(0xffff);
}

/*
 * The index of the highest set bit of x (nonzero). The BPF backend has no
 * count-leading-zeros: smear the top bit down, then count the ones, with no
 * branch (branches would multiply the verifier's paths in the probe loops).
 */
static __always_inline __u32 mg_fls64(__u64 x)
{
	x |= x >> 1;
	x |= x >> 2;
	x |= x >> 4;
	x |= x >> 8;
	x |= x >> 16;
	x |= x >> 32;
	x = x - ((x >> 1) & 0x5555555555555555ull);
	x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
	return (__u32)((x * 0x0101010101010101ull) >> 56) - 1;
}

/*
 * The source's index word, read once per packet: for IPv4 the lengths its
 * bucket and sub-bucket leave (mg_index_cls4), for IPv6 its bucket's
 * classes. Zero for an unlisted source but where a block too short for a
 * bucket exists. v4: mg_addr_v4mapped(a), which the caller keeps for mg_short_blocks too;
 * bits4/bits6: the index geometry (mg_rule_bits4/6 of the tunables).
 */
static __always_inline __u32 mg_rule_word(const union mg_addr *a, int v4, __u32 bits4, __u32 bits6)
{
	if (v4)
		return mg_index_cls4(bpf_ntohl(a->w[3]), bits4);
	return mg_index_word6(mg_rule_bucket6(bpf_ntohl(a->w[0]), bits6));
}

/*
 * The lengths a lookup of `a` must probe for a block, as a 129-bit mask
 * (bit L of c[L / 64]), from its index word `cls` (mg_rule_word); all zero
 * for an unlisted source, the common case.
 */
static __always_inline void mg_block_lens(const union mg_addr *a, const struct mg_rule_lens *lens, __u32 cls,
					  __u64 c[3])
{
	if (mg_addr_v4mapped(a)) {
		const __u64 *m = lens->mask[MG_LENS_BLOCK4];
		/* Bucket bit k is IPv4 length k + 1, 16-byte length 97 + k; shorter lengths are probed for all. */
		c[0] = m[0];
		c[1] = m[1] & (((__u64)cls << 33) | MG_SHORT4_WORD1);
		c[2] = m[2] & (cls >> 31);
		return;
	}
	const __u64 *m = lens->mask[MG_LENS_BLOCK6];
	c[0] = m[0] & MG_SHORT6_WORD0; /* below /32: probed for every IPv6 address */
	c[1] = 0;
	c[2] = 0;
	/* Each class bit stands for three lengths (the last for four): spread it, then keep the lengths in use. */
	for (int i = 0; i < 32 && cls; i++) {
		__u32 k = mg_fls64(cls);
		cls &= ~(1u << k);
		__u32 lo = MG_RULE_V6_MIN_LEN + 3 * k, n = k == 31 ? 4 : 3;
		__u64 bits = (1ull << n) - 1;
		/* lo is 32..125: the run may straddle words 0/1 and 1/2. */
		if (lo < 64)
			c[0] |= bits << lo;
		if (lo + n > 64 && lo < 128)
			c[1] |= lo >= 64 ? bits << (lo - 64) : bits >> (64 - lo);
		if (lo + n > 128)
			c[2] |= bits >> (128 - lo);
	}
	c[0] &= m[0];
	c[1] &= m[1];
	c[2] &= m[2];
}

/* The IPv4 rule for exactly `a` (v4-mapped) masked to the 16-byte length `len` (96..128), if any. */
static __always_inline struct mg_rule *mg_rule_probe4(void *map4, const union mg_addr *a, __u32 len)
{
	struct mg_rule_key4 k = { .prefixlen = len, .addr = a->w[3] & bpf_htonl(mg_rule_mask4(len)) };

	return bpf_map_lookup_elem(map4, &k);
}

/* The rule for exactly `a` masked to `len`, if any, in a 20-byte-keyed map. */
static __always_inline struct mg_rule *mg_rule_probe(void *map, const union mg_addr *a, __u32 len)
{
	struct mg_lpm_key k;

	k.prefixlen = len;
#pragma unroll
	for (int i = 0; i < 4; i++) {
		__u32 w = a->w[i], lo = 32 * i;
		if (len <= lo)
			w = 0;
		else if (len < lo + 32)
			w &= bpf_htonl(~0u << (lo + 32 - len));
		__builtin_memcpy(&k.addr[4 * i], &w, 4);
	}
	return bpf_map_lookup_elem(map, &k);
}

/*
 * For an IPv4 source (v4), move the lengths /96../128 from c to c4: they
 * are probed in the 8-byte maps, in a loop of their own (a choice of map
 * inside one loop multiplies the verifier's paths). c4 is empty otherwise.
 */
static __always_inline void mg_lens_split4(__u64 c[3], __u64 c4[3], int v4)
{
	__u64 hi = v4 ? ~0xffffffffull : 0; /* bits 32..63 of word 1: lengths 96..127 */

	c4[0] = 0;
	c4[1] = c[1] & hi;
	c4[2] = v4 ? c[2] : 0;
	c[1] &= ~hi;
	c[2] = v4 ? 0 : c[2];
}

/* Take the longest length left in c (nonzero): its value, cleared from c. */
static __always_inline __u32 mg_lens_pop(__u64 c[3])
{
	if (c[2]) {
		c[2] = 0; /* only bit 0 (/128) exists in the last word */
		return 128;
	}
	if (c[1]) {
		__u32 b = mg_fls64(c[1]);
		c[1] &= ~(1ull << b);
		return 64 + b;
	}
	__u32 b = mg_fls64(c[0]);
	c[0] &= ~(1ull << b);
	return b;
}

/*
 * r if it is in force, else NULL, an expired one counted. The clock is read
 * only for a rule that expires (a helper call, where most blocks a drop
 * meets are permanent list entries).
 */
static __always_inline struct mg_rule *mg_block_in_force(struct mg_rule *r, struct mg_global_stats *st)
{
	if (!r)
		return NULL;
	if (r->expires_ns == 0 || bpf_ktime_get_coarse_ns() < r->expires_ns)
		return r;
	st->expired_rules++;
	return NULL;
}

/*
 * The longest block in force among the lengths in c, or NULL; expired ones
 * passed over are counted (an expired block never hides a shorter one).
 */
static __always_inline struct mg_rule *mg_block_find(const union mg_addr *a, __u64 c[3], struct mg_global_stats *st)
{
	struct mg_rule *r;
	__u64 c4[3];

	/* The IPv4 lengths are the longest: probed first, so the longest block in force still wins. */
	mg_lens_split4(c, c4, mg_addr_v4mapped(a));
	for (int i = 0; i < 33 && (c4[1] | c4[2]); i++)
		if ((r = mg_block_in_force(mg_rule_probe4(&mg_blocklist4, a, mg_lens_pop(c4)), st)))
			return r;
	for (int i = 0; i < MG_RULE_LENS && (c[0] | c[1] | c[2]); i++)
		if ((r = mg_block_in_force(mg_rule_probe(&mg_blocklist, a, mg_lens_pop(c)), st)))
			return r;
	return NULL;
}

/*
 * Does an allow rule of any length cover `a`? count: a block in force was
 * overridden, which the longest allow's hits count (not a containment spared).
 */
static __always_inline int mg_allowed(const union mg_addr *a, const struct mg_rule_lens *lens, int count)
{
	int v4 = mg_addr_v4mapped(a);
	const __u64 *m = lens->mask[v4 ? MG_LENS_ALLOW4 : MG_LENS_ALLOW6];
	__u64 c[3] = { m[0], m[1], m[2] }, c4[3];
	struct mg_rule *r = NULL;

	mg_lens_split4(c, c4, v4);
	for (int i = 0; i < 33 && !r && (c4[1] | c4[2]); i++)
		r = mg_rule_probe4(&mg_allowlist4, a, mg_lens_pop(c4));
	for (int i = 0; i < MG_RULE_LENS && !r && (c[0] | c[1] | c[2]); i++)
		r = mg_rule_probe(&mg_allowlist, a, mg_lens_pop(c));
	/* Plain, as a block's hits (mg_enforce): an allowlisted server inside a blocked range pays this on every packet. */
	if (r && count)
		r->hits++;
	return r != NULL;
}

#endif
