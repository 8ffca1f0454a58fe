/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_dns.h - one DNS answer as the verifier keeps it: what a resolver said
 * for (name, type), in one compact allocation, and the reader of resolver
 * responses (wire format) that makes one.
 *
 * An answer is its status, the TTL it may be kept for, and up to
 * MG_DNS_MAX_RR records of the asked type, packed: an A record is its 4
 * bytes, AAAA 16, PTR and MX a name in dotted text (MX without its
 * preference: no check here needs it), TXT its character-strings joined (as
 * SPF reads them, RFC 7208 3.3). No pointers inside: a cache entry costs
 * its header plus these bytes (README: memory per cached name).
 */
#ifndef MG_DNS_H
#define MG_DNS_H

#include <stddef.h>
#include <stdint.h>

#define MG_DNS_NAME_MAX 255   /* a domain name in text, without the final dot */
#define MG_DNS_MAX_RR 16      /* records kept per answer; more are left off */
#define MG_DNS_MAX_DATA 2048  /* bytes of records kept per answer */

/* Query types the verifier asks (the wire values). */
enum mg_dns_type {
	MG_DNS_A = 1,
	MG_DNS_PTR = 12,
	MG_DNS_MX = 15,
	MG_DNS_TXT = 16,
	MG_DNS_AAAA = 28,
};

enum mg_dns_status {
	MG_DNS_OK = 0,     /* records of the type asked */
	MG_DNS_NODATA,     /* the name exists, no record of that type */
	MG_DNS_NXDOMAIN,   /* no such name */
	MG_DNS_TEMPFAIL,   /* SERVFAIL, timeout, refused, rate-limited, unreadable: no evidence */
};

struct mg_dns_answer {
	uint8_t status;    /* enum mg_dns_status */
	uint8_t n;         /* records in data */
	uint16_t len;      /* bytes used in data */
	uint32_t ttl;      /* seconds, as the resolver gave it (the cache bounds it) */
	/* n records, each a 2-byte length (host order) then that many bytes (an address, or text, no NUL) */
	uint8_t data[];
};

/* A new answer with no records (malloc'd), or NULL. */
struct mg_dns_answer *mg_dns_answer_new(enum mg_dns_status status, uint32_t ttl);
/* Add a record (text for PTR/MX/TXT, 4 or 16 bytes for A/AAAA); the answer may move. -E2BIG when full. */
int mg_dns_answer_add(struct mg_dns_answer **a, const void *rdata, size_t len);
size_t mg_dns_answer_size(const struct mg_dns_answer *a);
/* Walk the records: start with *off = 0; NULL at the end. */
const uint8_t *mg_dns_answer_next(const struct mg_dns_answer *a, size_t *off, size_t *len);

/*
 * Read a resolver's response to (qname, qtype) into a new answer (*out,
 * malloc'd). Records of qtype anywhere in the answer section count (a
 * CNAME chain's target included); the TTL is the smallest of them and
 * of the CNAMEs; a negative answer takes min(SOA TTL, SOA minimum) from the
 * authority section (RFC 2308), 60 s without one. A response that cannot be
 * read, or SERVFAIL/REFUSED, is MG_DNS_TEMPFAIL. 0, or -ENOMEM.
 * Every length and pointer is checked against the message (fuzzed:
 * selftests/fuzz/fuzz_dns_wire.c).
 */
int mg_dns_parse(const uint8_t *msg, size_t len, uint16_t qtype, struct mg_dns_answer **out);

/* "A", "AAAA", "PTR", "MX", "TXT", or "TYPEn" into buf. */
const char *mg_dns_type_name(uint16_t type, char *buf, size_t len);
/* "ok", "nodata", "nxdomain", "tempfail". */
const char *mg_dns_status_name(enum mg_dns_status s);

/* The reverse-lookup name of a 16-byte address (v4-mapped: in-addr.arpa; else ip6.arpa). */
void mg_dns_reverse_name(const uint8_t addr[16], char *buf, size_t len);

#endif
