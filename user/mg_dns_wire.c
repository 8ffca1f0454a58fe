// SPDX-License-Identifier: GPL-2.0-only
/* mg_dns_wire.c - DNS answers: the compact form, and reading a resolver's response into it (see mg_dns.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_addr.h"
#include "mg_dns.h"

/* No negative TTL in the response (no SOA): keep the answer this long, no more. */
#define NEG_TTL_NO_SOA 60
#define MAX_POINTERS 64 /* compression pointers followed per name: a loop ends here */

struct mg_dns_answer *mg_dns_answer_new(enum mg_dns_status status, uint32_t ttl)
{
	struct mg_dns_answer *a = calloc(1, sizeof(*a));

	if (a) {
		a->status = (uint8_t)status;
		a->ttl = ttl;
	}
	return a;
}

size_t mg_dns_answer_size(const struct mg_dns_answer *a)
{
	return sizeof(*a) + a->len;
}

int mg_dns_answer_add(struct mg_dns_answer **ap, const void *rdata, size_t len)
{
	struct mg_dns_answer *a = *ap;

	if (a->n >= MG_DNS_MAX_RR || len > 0xffff || a->len + 2 + len > MG_DNS_MAX_DATA)
		return -E2BIG;
	struct mg_dns_answer *b = realloc(a, sizeof(*a) + a->len + 2 + len);
	if (!b)
		return -ENOMEM;
	uint16_t l = (uint16_t)len;
	memcpy(b->data + b->len, &l, 2);
	memcpy(b->data + b->len + 2, rdata, len);
	b->len = (uint16_t)(b->len + 2 + len);
	b->n++;
	*ap = b;
	return 0;
}

const uint8_t *mg_dns_answer_next(const struct mg_dns_answer *a, size_t *off, size_t *len)
{
	uint16_t l;

	if (*off + 2 > a->len)
		return NULL;
	memcpy(&l, a->data + *off, 2);
	if (*off + 2 + l > a->len)
		return NULL;
	const uint8_t *p = a->data + *off + 2;
	*len = l;
	*off += 2 + (size_t)l;
	return p;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * The name at *pos in dotted text, lower case (NULL out: skip it); *pos moves
 * past it in the message (a pointer ends the name where it stands). False if
 * it runs off the message, loops, or is longer than a name may be.
 */
static bool read_name(const uint8_t *msg, size_t len, size_t *pos, char *out, size_t outlen)
{
	size_t p = *pos, n = 0, end = 0;
	int jumps = 0;

	for (;;) {
		if (p >= len)
			return false;
		uint8_t l = msg[p];
		if ((l & 0xc0) == 0xc0) {
			if (p + 1 >= len || ++jumps > MAX_POINTERS)
				return false;
			if (!end)
				end = p + 2;
			p = (size_t)(l & 0x3f) << 8 | msg[p + 1];
			continue;
		}
		if (l & 0xc0)
			return false; /* the extended label types nobody uses */
		if (l == 0) {
			if (!end)
				end = p + 1;
			break;
		}
		if (p + 1 + l > len || n + l + 1 > MG_DNS_NAME_MAX + 1)
			return false;
		if (out) {
			if (n + l + 1 >= outlen)
				return false;
			if (n)
				out[n++] = '.';
			for (size_t i = 0; i < l; i++) {
				char c = (char)msg[p + 1 + i];
				out[n++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
			}
		} else {
			n += l + 1;
		}
		p += 1 + l;
	}
	if (out)
		out[n] = '\0';
	*pos = end;
	return true;
}

static int add_record(struct mg_dns_answer **a, uint16_t type, const uint8_t *msg, size_t len, size_t rd,
		      uint16_t rdlen)
{
	char name[MG_DNS_NAME_MAX + 2];
	uint8_t txt[MG_DNS_MAX_DATA];
	size_t p = rd, n = 0;

	switch (type) {
	case MG_DNS_A:
		return rdlen == 4 ? mg_dns_answer_add(a, msg + rd, 4) : 0;
	case MG_DNS_AAAA:
		return rdlen == 16 ? mg_dns_answer_add(a, msg + rd, 16) : 0;
	case MG_DNS_MX:
		if (rdlen < 3)
			return 0;
		p += 2;
		/* fall through */
	case MG_DNS_PTR:
		if (!read_name(msg, len, &p, name, sizeof(name)) || p > rd + rdlen)
			return 0;
		return mg_dns_answer_add(a, name, strlen(name));
	case MG_DNS_TXT:
		/* Character-strings joined, as SPF reads a record split into several. */
		while (p < rd + rdlen) {
			uint8_t l = msg[p];
			if (p + 1 + l > rd + rdlen || n + l > sizeof(txt))
				return 0;
			memcpy(txt + n, msg + p + 1, l);
			n += l;
			p += 1 + l;
		}
		return mg_dns_answer_add(a, txt, n);
	}
	return 0;
}

int mg_dns_parse(const uint8_t *msg, size_t len, uint16_t qtype, struct mg_dns_answer **out)
{
	struct mg_dns_answer *a = mg_dns_answer_new(MG_DNS_TEMPFAIL, 0);
	uint32_t ttl = UINT32_MAX, neg_ttl = NEG_TTL_NO_SOA;
	size_t p = 12;

	*out = NULL;
	if (!a)
		return -ENOMEM;
	*out = a;
	if (len < 12 || !(msg[2] & 0x80))
		return 0; /* no response at all */
	unsigned rcode = msg[3] & 0x0f, qd = rd16(msg + 4), an = rd16(msg + 6), ns = rd16(msg + 8);
	if (rcode != 0 && rcode != 3)
		return 0;
	for (unsigned i = 0; i < qd; i++) {
		if (!read_name(msg, len, &p, NULL, 0) || p + 4 > len)
			return 0;
		p += 4;
	}
	bool any = false;
	for (unsigned i = 0; i < an + ns; i++) {
		if (!read_name(msg, len, &p, NULL, 0) || p + 10 > len)
			goto unreadable;
		uint16_t type = rd16(msg + p), rdlen = rd16(msg + p + 8);
		uint32_t rttl = rd32(msg + p + 4);
		size_t rd = p + 10;
		if (rd + rdlen > len)
			goto unreadable;
		if (rttl > 0x7fffffff)
			rttl = 0; /* RFC 2181 8: a TTL with the top bit set is zero */
		if (i < an) {
			if (type == qtype) {
				int r = add_record(&a, type, msg, len, rd, rdlen);
				*out = a;
				if (r == -ENOMEM)
					return r;
				any = true;
				ttl = rttl < ttl ? rttl : ttl;
			} else if (type == 5 /* CNAME */) {
				ttl = rttl < ttl ? rttl : ttl;
			}
		} else if (type == 6 /* SOA */) {
			/* Negative TTL: the smaller of the SOA's own and its minimum field (RFC 2308 5). */
			size_t q = rd;
			if (read_name(msg, len, &q, NULL, 0) && read_name(msg, len, &q, NULL, 0) && q + 20 <= rd + rdlen) {
				uint32_t min = rd32(msg + q + 16);
				neg_ttl = rttl < min ? rttl : min;
			}
		}
		p = rd + rdlen;
	}
	if (any && a->n) {
		a->status = MG_DNS_OK;
		a->ttl = ttl;
	} else {
		/* Records of the type that could not be read count as none. */
		a->status = rcode == 3 ? MG_DNS_NXDOMAIN : MG_DNS_NODATA;
		a->ttl = neg_ttl;
		a->n = 0;
		a->len = 0;
	}
	return 0;
unreadable:
	a->status = MG_DNS_TEMPFAIL;
	a->n = 0;
	a->len = 0;
	a->ttl = 0;
	return 0;
}

const char *mg_dns_type_name(uint16_t type, char *buf, size_t len)
{
	switch (type) {
	case MG_DNS_A: return "A";
	case MG_DNS_AAAA: return "AAAA";
	case MG_DNS_PTR: return "PTR";
	case MG_DNS_MX: return "MX";
	case MG_DNS_TXT: return "TXT";
	}
	snprintf(buf, len, "TYPE%u", type);
	return buf;
}

const char *mg_dns_status_name(enum mg_dns_status s)
{
	static const char *const names[] = { "ok", "nodata", "nxdomain", "tempfail" };
	return (unsigned)s < 4 ? names[s] : "?";
}

void mg_dns_reverse_name(const uint8_t addr[16], char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	if (!len)
		return;
	buf[0] = '\0';
	if (mg_addr_is_v4(addr)) {
		snprintf(buf, len, "%u.%u.%u.%u.in-addr.arpa", addr[15], addr[14], addr[13], addr[12]);
		return;
	}
	for (int i = 15; i >= 0 && n + 4 < len; i--) {
		buf[n++] = hex[addr[i] & 0xf];
		buf[n++] = '.';
		buf[n++] = hex[addr[i] >> 4];
		buf[n++] = '.';
	}
	buf[n] = '\0';
	snprintf(buf + n, len - n, "ip6.arpa");
}
