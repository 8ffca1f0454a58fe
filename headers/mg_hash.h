/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * mg_hash.h - hashes computed in the kernel and recomputed in userspace.
 *
 * The XDP program stores hashes (HELO argument, SYN fingerprint) and indexes
 * fixed-size structures (sketch, destination bitmap) by hash. Userspace must
 * get the same numbers to compare a HELO it sees in an event with the one in a
 * profile, or to query the sketch, so both sides use these inline functions.
 * Words at a time where the kernel reads packet bytes: a multiply per word,
 * not per byte.
 */
#ifndef MG_HASH_H
#define MG_HASH_H

#include <linux/types.h>

/* ASCII case fold of one byte: 'A'-'Z' become 'a'-'z', nothing else changes (what mg_fold8 does to eight). */
static inline __u8 mg_fold(__u8 c)
{
	return (c >= 'A' && c <= 'Z') ? (__u8)(c | 0x20) : c;
}

/*
 * Hash of a HELO/EHLO argument, case-folded, a word at a time: the name's
 * bytes in 8-byte little-endian words (the last one zero-padded), each
 * folded to lower case (mg_fold8) and mixed in with one multiply, then the
 * length. The kernel computes it straight from the frame's words (smtp.h
 * mg_helo_arg_hash), so a name costs a multiply per word instead of one per
 * byte, as byte-wise FNV did. Never 0: 0 is "no HELO seen". The kernel
 * hashes at most MG_HELO_ARG_MAX bytes.
 */
#define MG_HELO_SEED 0x6a09e667f3bcc908ull
#define MG_HELO_MUL  0xff51afd7ed558ccdull

/* ASCII upper-case letters to lower case in all eight bytes of w, nothing else changes (mg_fold per byte). */
static inline __u64 mg_fold8(__u64 w)
{
	const __u64 hi = 0x8080808080808080ull;
	__u64 low7 = w & ~hi;
	/* Per byte, without carries between bytes: bit 7 set if the low 7 bits are >= 'A', and if they are > 'Z'. */
	__u64 ge_a = low7 + 0x3f3f3f3f3f3f3f3full;   /* 0x80 - 'A' */
	__u64 gt_z = low7 + 0x2525252525252525ull;   /* 0x80 - 'Z' - 1 */
	__u64 upper = ge_a & ~gt_z & ~w & hi;         /* and the byte itself below 0x80 */
	return w | upper >> 2;                        /* 0x80 >> 2 is the case bit 0x20 */
}

static inline __u64 mg_helo_mix(__u64 h, __u64 word)
{
	h = (h ^ mg_fold8(word)) * MG_HELO_MUL;
	return h ^ (h >> 32);
}

static inline __u32 mg_helo_final(__u64 h, __u32 len)
{
	h = (h ^ len) * 0x9e3779b97f4a7c15ull;
	__u32 r = (__u32)(h ^ (h >> 29) ^ (h >> 32));
	return r ? r : 1;
}

static inline __u32 mg_helo_hash(const char *arg, __u32 len)
{
	__u64 h = MG_HELO_SEED;

	for (__u32 i = 0; i < len; i += 8) {
		__u64 w = 0;
		for (__u32 j = 0; j < 8 && i + j < len; j++)
			w |= (__u64)(__u8)arg[i + j] << (8 * j);
		h = mg_helo_mix(h, w);
	}
	return mg_helo_final(h, len);
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
