/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_keyhash.h - the hash of a 16-byte address key (and a prefix length) for
 * the daemon's own open-addressing tables (profiles, verification records,
 * prefix sets).
 *
 * Tables take a slot from the hash's low bits, so every byte of the key must
 * reach them: an IPv4 key (::ffff:a.b.c.d) differs from its neighbours only
 * in its last bytes, and a bare multiply carries a byte's difference up,
 * never down. The final xor-shift-multiply brings the high bits down. (A hash
 * without it put every source of a /16 in one slot of a table of up to 65 536:
 * lookups walked the whole cluster, and a flood of spoofed MAIL commands made
 * each `roles` request take a second.)
 */
#ifndef MG_KEYHASH_H
#define MG_KEYHASH_H

#include <stdint.h>
#include <string.h>

static inline uint64_t mg_key_hash(const uint8_t key[16], unsigned plen)
{
	uint64_t a, b;

	memcpy(&a, key, 8);
	memcpy(&b, key + 8, 8);
	uint64_t h = a * 0x9e3779b97f4a7c15ull ^ (b + plen) * 0xc2b2ae3d27d4eb4full;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

#endif
