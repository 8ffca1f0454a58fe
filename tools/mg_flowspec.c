// SPDX-License-Identifier: GPL-2.0-only
/* mg_flowspec.c - ExaBGP API lines for FlowSpec and RTBH routes (see mg_flowspec.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtaguard.h"
#include "mg_flowspec.h"

static const char *const then_names[MG_FS_THEN_MAX] = {
	[MG_FS_DISCARD] = "discard",
	[MG_FS_RATE_LIMIT] = "rate-limit",
	[MG_FS_REDIRECT] = "redirect",
};

const char *mg_fs_then_name(enum mg_fs_then t)
{
	return (unsigned)t < MG_FS_THEN_MAX ? then_names[t] : "?";
}

static int say(char *err, size_t errlen, const char *what)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", what);
	return -EINVAL;
}

/* A decimal number up to max, the whole string. */
static bool number(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return !errno && !*end && *out <= max;
}

int mg_fs_parse_then(const char *s, struct mg_fs_config *c, char *err, size_t errlen)
{
	unsigned long v, asn, nn;

	if (!strcmp(s, "discard")) {
		c->then = MG_FS_DISCARD;
		return 0;
	}
	if (!strncmp(s, "rate-limit:", 11)) {
		/* RFC 8955's rate is a 32-bit float of bytes/s; more than 2^32-1 is no limit worth a route. */
		if (!number(s + 11, 0xffffffffUL, &v))
			return say(err, errlen, "rate-limit:BYTES_PER_SECOND (0 to 4294967295)");
		c->then = MG_FS_RATE_LIMIT;
		c->rate_limit = (uint32_t)v;
		return 0;
	}
	if (!strncmp(s, "redirect:", 9)) {
		char a[16], b[16];
		const char *colon = strchr(s + 9, ':');
		if (!colon || (size_t)(colon - (s + 9)) >= sizeof(a) || strlen(colon + 1) >= sizeof(b))
			return say(err, errlen, "redirect:ASN:NN (a route target, e.g. redirect:65000:666)");
		memcpy(a, s + 9, (size_t)(colon - (s + 9)));
		a[colon - (s + 9)] = '\0';
		snprintf(b, sizeof(b), "%s", colon + 1);
		/* The 2-octet-AS form of the redirect extended community: ASN 16 bits, value 32 bits. */
		if (!number(a, 65535, &asn) || !number(b, 0xffffffffUL, &nn))
			return say(err, errlen, "redirect:ASN:NN with ASN 0-65535 and NN 0-4294967295");
		c->then = MG_FS_REDIRECT;
		snprintf(c->redirect, sizeof(c->redirect), "%lu:%lu", asn, nn);
		return 0;
	}
	return say(err, errlen, "--then is discard, rate-limit:BYTES_PER_SECOND or redirect:ASN:NN");
}

int mg_fs_parse_ports(const char *s, struct mg_fs_config *c, char *err, size_t errlen)
{
	char buf[128], *save = NULL;
	unsigned n = 0;

	/* strtok_r would skip empty items: "25,,587" and a trailing comma are typos, refused. */
	if (!s || !*s || strlen(s) >= sizeof(buf) || s[0] == ',' || s[strlen(s) - 1] == ',' || strstr(s, ",,"))
		return say(err, errlen, "--ports: a list like 25 or 25,465,587");
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		unsigned long v;
		if (!number(t, 65535, &v) || v == 0)
			return say(err, errlen, "--ports: ports are 1 to 65535, separated by commas");
		if (n == MG_FS_PORTS_MAX)
			return say(err, errlen, "--ports: at most 8 ports");
		c->ports[n++] = (uint16_t)v;
	}
	if (!n)
		return say(err, errlen, "--ports: a list like 25 or 25,465,587");
	c->n_ports = n;
	return 0;
}

/* "198.18.0.0/24", "198.18.0.66/32", "2001:db8::/64": always with the length. */
static void cidr(const struct mg_prefix *p, char *buf, size_t len)
{
	char a[MG_ADDRSTRLEN];

	snprintf(buf, len, "%s/%u", mg_addr_str(p->addr, a, sizeof(a)), mg_prefix_family_len(p));
}

int mg_fs_flow_line(char *buf, size_t len, bool announce, const struct mg_prefix *p, uint8_t action,
		    const struct mg_fs_config *c)
{
	char src[MG_ADDRSTRLEN + 8], ports[8 * MG_FS_PORTS_MAX + 8] = "", then[64] = "";
	bool v4 = mg_prefix_is_v4(p);
	int n;

	cidr(p, src, sizeof(src));
	if (action != MG_ACT_DROP_ALL) {
		unsigned np = c->n_ports ? c->n_ports : 1;
		size_t at = 0;
		/* One port as "=25"; several as a list, which matches any of them. */
		if (np > 1)
			at += (size_t)snprintf(ports + at, sizeof(ports) - at, "[ ");
		for (unsigned i = 0; i < np; i++)
			at += (size_t)snprintf(ports + at, sizeof(ports) - at, "=%u%s", c->n_ports ? c->ports[i] : 25,
					       np > 1 ? " " : "");
		if (np > 1)
			snprintf(ports + at, sizeof(ports) - at, "]");
	}
	if (announce) {
		char tag[40] = "";
		/* The node's own community: its peers' helpers ignore nothing for it, its own helper knows it back. */
		if (c->tag[0])
			snprintf(tag, sizeof(tag), " community [ %s ];", c->tag);
		if (c->then == MG_FS_RATE_LIMIT)
			snprintf(then, sizeof(then), " then { rate-limit %u;%s }", c->rate_limit, tag);
		else if (c->then == MG_FS_REDIRECT)
			snprintf(then, sizeof(then), " then { redirect %s;%s }", c->redirect, tag);
		else
			snprintf(then, sizeof(then), " then { discard;%s }", tag);
	}
	if (action == MG_ACT_DROP_ALL)
		n = snprintf(buf, len, "%s flow route { match { source %s; }%s }", announce ? "announce" : "withdraw", src,
			     then);
	else
		n = snprintf(buf, len, "%s flow route { match { source %s; destination-port %s; %s tcp; }%s }",
			     announce ? "announce" : "withdraw", src, ports, v4 ? "protocol" : "next-header", then);
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

int mg_fs_rtbh_line(char *buf, size_t len, bool announce, const struct mg_prefix *p, const struct mg_fs_config *c)
{
	char dst[MG_ADDRSTRLEN + 8];
	int n;

	if (!c->rtbh_next_hop[0])
		return -EINVAL;
	cidr(p, dst, sizeof(dst));
	/* 65535:666 is BLACKHOLE (RFC 7999), 65535:65281 NO_EXPORT: the black hole stays in this AS. */
	if (announce)
		n = snprintf(buf, len, "announce route %s next-hop %s community [ 65535:666 65535:65281 ]", dst,
			     c->rtbh_next_hop);
	else
		n = snprintf(buf, len, "withdraw route %s next-hop %s", dst, c->rtbh_next_hop);
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}
