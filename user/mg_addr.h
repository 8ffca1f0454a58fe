/* SPDX-License-Identifier: GPL-2.0-only */
/* mg_addr.h - parsing and printing addresses and prefixes in mtaguard's 16-byte form. */
#ifndef MG_ADDR_H
#define MG_ADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

/* An address or prefix; IPv4 is v4-mapped and its prefixlen counts from bit 0 (so /24 is 120). */
struct mg_prefix {
	uint8_t addr[16];
	uint8_t prefixlen; /* 0..128 over the 16-byte form */
};

#define MG_ADDRSTRLEN 64 /* enough for "ffff:...:ffff/128" */

/* Parse "198.18.0.1", "198.18.0.0/15", "2001:db8::1", "2001:db8::/32".
 * Host bits below the prefix are cleared. Returns 0 or -EINVAL. */
int mg_prefix_parse(const char *text, struct mg_prefix *out);
/*
 * As mg_prefix_parse, but bits set below the length ("198.18.10.5/24") are
 * refused with -EDOM rather than cleared: taken as the network, a rule would
 * cover 256 hosts where the one host was most likely meant. why (when not
 * NULL) then gives both readings, for the person who wrote it.
 */
int mg_prefix_parse_exact(const char *text, struct mg_prefix *out, char *why, size_t whylen);
/* Parse a single address (no "/len"). */
int mg_addr_parse(const char *text, uint8_t addr[16]);

bool mg_addr_is_v4(const uint8_t addr[16]);
/* An IPv4 prefix: v4-mapped and at least /96 of the 16-byte form (0.0.0.0/0 is ::ffff:0:0/96). */
bool mg_prefix_is_v4(const struct mg_prefix *p);
/* The length as its family counts it: 0..32 for IPv4, 0..128 for IPv6 ("/8", not 104). */
unsigned mg_prefix_family_len(const struct mg_prefix *p);
/* The same prefix: same length and same (masked) address. */
bool mg_prefix_eq(const struct mg_prefix *a, const struct mg_prefix *b);
/* Does p cover addr (addr's first prefixlen bits equal p's)? */
bool mg_prefix_covers(const struct mg_prefix *p, const uint8_t addr[16]);
void mg_addr_from_v4(uint8_t addr[16], uint32_t v4_be);
/* Clear the bits of addr beyond prefixlen. */
void mg_addr_mask(uint8_t addr[16], unsigned prefixlen);

/* "198.18.0.1" or "2001:db8::1"; returns buf. */
const char *mg_addr_str(const uint8_t addr[16], char *buf, size_t len);
/* "198.18.0.0/24" (IPv4 length shown as IPv4 bits) or "2001:db8::/64"; a host prefix prints without "/len". */
const char *mg_prefix_str(const struct mg_prefix *p, char *buf, size_t len);
/* "02:00:00:00:00:01" */
const char *mg_mac_str(const uint8_t mac[6], char *buf, size_t len);

#endif
