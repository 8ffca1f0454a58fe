// SPDX-License-Identifier: GPL-2.0-only
/* mg_addr.c - addresses and prefixes in the 16-byte (v4-mapped) form the maps use. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_addr.h"
#include "mtaguard.h"

static const uint8_t v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

bool mg_prefix_eq(const struct mg_prefix *a, const struct mg_prefix *b)
{
	return a->prefixlen == b->prefixlen && !memcmp(a->addr, b->addr, 16);
}

bool mg_addr_is_v4(const uint8_t addr[16])
{
	return memcmp(addr, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0;
}

bool mg_prefix_is_v4(const struct mg_prefix *p)
{
	return mg_addr_is_v4(p->addr) && p->prefixlen >= 96;
}

unsigned mg_prefix_family_len(const struct mg_prefix *p)
{
	return mg_prefix_is_v4(p) ? p->prefixlen - 96u : p->prefixlen;
}

void mg_addr_from_v4(uint8_t addr[16], uint32_t v4_be)
{
	memcpy(addr, v4_mapped_prefix, sizeof(v4_mapped_prefix));
	memcpy(addr + 12, &v4_be, 4);
}

bool mg_prefix_covers(const struct mg_prefix *p, const uint8_t addr[16])
{
	uint8_t m[16];

	memcpy(m, addr, 16);
	mg_addr_mask(m, p->prefixlen);
	return !memcmp(m, p->addr, 16);
}

void mg_addr_mask(uint8_t addr[16], unsigned prefixlen)
{
	mg_mask_prefix(addr, prefixlen);
}

int mg_addr_parse(const char *text, uint8_t addr[16])
{
	struct in_addr v4;
	struct in6_addr v6;

	if (!text)
		return -EINVAL;
	if (inet_pton(AF_INET, text, &v4) == 1) {
		mg_addr_from_v4(addr, v4.s_addr);
		return 0;
	}
	if (inet_pton(AF_INET6, text, &v6) == 1) {
		memcpy(addr, &v6, 16);
		return 0;
	}
	return -EINVAL;
}

int mg_prefix_parse(const char *text, struct mg_prefix *out)
{
	char buf[MG_ADDRSTRLEN];
	const char *slash;
	long len = -1;

	if (!text || strlen(text) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, text);
	slash = strchr(text, '/');
	if (slash) {
		char *end;
		buf[slash - text] = '\0';
		errno = 0;
		len = strtol(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end != '\0' || len < 0)
			return -EINVAL;
	}
	if (mg_addr_parse(buf, out->addr))
		return -EINVAL;
	if (mg_addr_is_v4(out->addr) && strchr(buf, '.')) {
		if (len > 32)
			return -EINVAL;
		out->prefixlen = len < 0 ? 128 : (uint8_t)(96 + len);
	} else {
		if (len > 128)
			return -EINVAL;
		out->prefixlen = len < 0 ? 128 : (uint8_t)len;
	}
	mg_addr_mask(out->addr, out->prefixlen);
	return 0;
}

int mg_prefix_parse_exact(const char *text, struct mg_prefix *out, char *why, size_t whylen)
{
	char addr[MG_ADDRSTRLEN], net[MG_ADDRSTRLEN], host_s[MG_ADDRSTRLEN];
	const char *slash;
	uint8_t host[16];

	if (mg_prefix_parse(text, out))
		return -EINVAL;
	slash = strchr(text, '/');
	if (!slash)
		return 0;
	/* mg_prefix_parse cleared the host bits: the address as written is compared with the network. */
	snprintf(addr, sizeof(addr), "%.*s", (int)(slash - text), text);
	if (mg_addr_parse(addr, host) || !memcmp(out->addr, host, sizeof(host)))
		return 0;
	if (why)
		snprintf(why, whylen, "%s has host bits set: write %s for the network, or %s for the one host", text,
			 mg_prefix_str(out, net, sizeof(net)), mg_addr_str(host, host_s, sizeof(host_s)));
	return -EDOM;
}

const char *mg_addr_str(const uint8_t addr[16], char *buf, size_t len)
{
	if (mg_addr_is_v4(addr))
		inet_ntop(AF_INET, addr + 12, buf, len);
	else
		inet_ntop(AF_INET6, addr, buf, len);
	return buf;
}

const char *mg_prefix_str(const struct mg_prefix *p, char *buf, size_t len)
{
	char a[MG_ADDRSTRLEN];

	mg_addr_str(p->addr, a, sizeof(a));
	if (p->prefixlen == 128)
		snprintf(buf, len, "%s", a);
	else
		snprintf(buf, len, "%s/%u", a, mg_prefix_family_len(p));
	return buf;
}

const char *mg_mac_str(const uint8_t mac[6], char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	return buf;
}
