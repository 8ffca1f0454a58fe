/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * mg_hash.h - hashes computed in the kernel and recomputed in userspace.
 *
 * The XDP program stores hashes (HELO argument, SYN fingerprint) and indexes
 * fixed-size structures (sketch, destination bitmap) by hash. Userspace must
 * get the same numbers to compare a HELO it sees in an event with the one in a
 * profile, or to query the sketch, so both sides use these inline functions.
 * FNV-1a, 32 bit: simple, byte-at-a-time (the kernel side feeds it while it
 * scans packet bytes), good enough spread for bucket selection.
 */
#ifndef MG_HASH_H
#define MG_HASH_H

#include <linux/types.h>

#define MG_FNV_INIT  0x811c9dc5u
#define MG_FNV_PRIME 0x01000193u

static inline __u32 mg_fnv_step(__u32 h, __u8 byte)
{
	return (h ^ byte) * MG_FNV_PRIME;
}

/* ASCII case fold for hashing names: 'A'-'Z' become 'a'-'z', nothing else changes. */
static inline __u8 mg_fold(__u8 c)
{
	return (c >= 'A' && c <= 'Z') ? (__u8)(c | 0x20) : c;
}

static inline __u32 mg_fnv_bytes(__u32 h, const void *p, __u32 len)
{
	const __u8 *b = (const __u8 *)p;
	for (__u32 i = 0; i < len; i++)
		h = mg_fnv_step(h, b[i]);
	return h;
}

/* Hash of a HELO/EHLO argument, case-folded (the kernel hashes at most MG_HELO_ARG_MAX bytes). */
static inline __u32 mg_helo_hash(const char *arg, __u32 len)
{
	__u32 h = MG_FNV_INIT;
	for (__u32 i = 0; i < len; i++)
		h = mg_fnv_step(h, mg_fold((__u8)arg[i]));
	return h;
}

/*
 * Word-at-a-time hash: cheaper than FNV over the bytes, which matters on the
 * SYN path, where floods happen. Multiply-xorshift per word, then a final mix.
 */
static inline __u32 mg_words_hash(const __u32 *w, int n, __u32 seed)
{
	__u32 h = seed;
	for (int i = 0; i < n; i++) {
		h ^= w[i];
		h *= 0x9e3779b1u;
		h ^= h >> 15;
	}
	h *= 0x85ebca6bu;
	return h ^ (h >> 13);
}

/* Hash of a SYN fingerprint (struct mg_syn_fp, 24 bytes, padding zeroed) as six native-endian words. */
static inline __u32 mg_fp_hash_words(const __u32 w[6])
{
	return mg_words_hash(w, 6, 0x3c6ef372u);
}

/* Hash of a 16-byte address given as four native-endian words. */
static inline __u32 mg_addr_hash(const __u32 w[4], __u32 seed)
{
	return mg_words_hash(w, 4, seed);
}

/* Bit (0..63) a destination sets in mg_src_stats.mx_dst_bits. */
static inline __u32 mg_dst_bit(const __u32 w[4])
{
	return mg_addr_hash(w, 0x5bd1e995u) & 63;
}

/*
 * Hash of a 16-byte address with the four words multiplied independently,
 * then mixed: on the flood path, where the cells' updates wait for it, a
 * few cycles instead of mg_addr_hash's chain of four dependent multiplies.
 * With seed 0 it is the profile filter's (mg_src_filter_bit).
 */
static inline __u32 mg_addr_mix(const __u32 w[4], __u32 seed)
{
	__u32 h = seed ^ (w[0] * 0x9e3779b1u) ^ (w[1] * 0x85ebca77u) ^ (w[2] * 0xc2b2ae3du) ^ (w[3] * 0x27d4eb2fu);

	h ^= h >> 15;
	h *= 0x2c1b3c6du;
	return h ^ (h >> 12);
}

/*
 * Sketch cells of a source: one hash, then double hashing gives a column per
 * row. `klass` keeps SYNs to SMTP ports (1) apart from other SYNs (0).
 */
static inline __u32 mg_sketch_hash(const __u32 w[4], __u8 klass)
{
	return mg_addr_mix(w, 0x27d4eb2fu + klass);
}

static inline __u32 mg_sketch_col(__u32 h, __u32 row)
{
	return (h + row * ((h >> 16) | 1)) & (MG_SKETCH_COLS - 1);
}

#endif /* MG_HASH_H */
