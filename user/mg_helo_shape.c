// SPDX-License-Identifier: GPL-2.0-only
/* mg_helo_shape.c - HELO argument shapes, dynamic-pool names, absurd identities (see mg_helo_shape.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mg_addr.h"
#include "mg_helo_shape.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* The argument without the line end and trailing blanks a client may leave on it. */
static size_t trimmed_len(const char *arg, size_t len)
{
	while (len && (arg[len - 1] == ' ' || arg[len - 1] == '\r' || arg[len - 1] == '\n'))
		len--;
	return len;
}

/* ---- shapes -------------------------------------------------------------------------- */

static bool is_dotted_quad(const char *s, size_t n)
{
	int dots = 0, digits = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (!digits)
				return false;
			dots++;
			digits = 0;
		} else if (is_digit(s[i])) {
			if (++digits > 3)
				return false;
		} else {
			return false;
		}
	}
	return dots == 3 && digits;
}

static bool is_v6_literal(const char *s, size_t n)
{
	int colons = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == ':')
			colons++;
		else if (!(is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.'))
			return false;
	}
	return colons >= 2;
}

/*
 * Does the argument spell the source's IPv4 octets, forwards or backwards, as
 * four consecutive decimal runs ("198-18-0-2.dsl.example", "2.0.18.198")?
 * Dynamic-pool reverse names and bots that derive their HELO from their own
 * address both look like this; a mail server's name rarely does.
 */
static bool has_own_octets(const char *s, size_t n, const uint8_t src[16])
{
	int runs[64], nr = 0;

	if (!mg_addr_is_v4(src))
		return false;
	for (size_t i = 0; i < n && nr < 64;) {
		if (!is_digit(s[i])) {
			i++;
			continue;
		}
		int v = 0, len = 0;
		while (i < n && is_digit(s[i])) {
			if (len < 4)
				v = v * 10 + (s[i] - '0');
			len++;
			i++;
		}
		runs[nr++] = len <= 3 ? v : -1;
	}
	const uint8_t *o = src + 12;
	for (int i = 0; i + 4 <= nr; i++) {
		bool fwd = true, rev = true;
		for (int k = 0; k < 4; k++) {
			fwd &= runs[i + k] == o[k];
			rev &= runs[i + k] == o[3 - k];
		}
		if (fwd || rev)
			return true;
	}
	return false;
}

unsigned mg_helo_shape(const char *arg, size_t len, const uint8_t src[16])
{
	unsigned shape = 0;

	len = trimmed_len(arg, len);
	if (len == 0)
		return MG_HELO_EMPTY;
	if (arg[0] == '[' && arg[len - 1] == ']') {
		shape |= MG_HELO_IP_LITERAL;
	} else if (is_dotted_quad(arg, len) || is_v6_literal(arg, len)) {
		shape |= MG_HELO_IP_LITERAL;
	} else if (memchr(arg, '.', len)) {
		shape |= MG_HELO_FQDN;
	} else {
		shape |= MG_HELO_BARE_WORD;
	}
	if (has_own_octets(arg, len, src))
		shape |= MG_HELO_OWN_OCTETS;
	return shape;
}

static const char *const shape_names[] = { "fqdn", "ip-literal", "bare-word", "own-octets", "empty" };
_Static_assert(1u << N_OF(shape_names) == (MG_HELO_SHAPES_ALL + 1u), "a name for every HELO shape");

void mg_helo_shape_names(unsigned shape, char *buf, size_t len)
{
	size_t o = 0;

	if (len)
		buf[0] = '\0';
	for (unsigned i = 0; i < N_OF(shape_names); i++)
		if (shape & (1u << i)) {
			int w = snprintf(buf + o, len > o ? len - o : 0, "%s%s", o ? "," : "", shape_names[i]);
			if (w > 0)
				o += (size_t)w;
		}
}

int mg_helo_shape_parse(const char *names)
{
	int bits = 0;
	const char *p = names;

	while (*p) {
		size_t n = strcspn(p, ",");
		unsigned i;
		for (i = 0; i < N_OF(shape_names); i++)
			if (strlen(shape_names[i]) == n && !strncmp(p, shape_names[i], n))
				break;
		if (i == N_OF(shape_names))
			return -EINVAL;
		bits |= 1 << i;
		p += n;
		if (*p == ',')
			p++;
	}
	return bits ? bits : -EINVAL;
}

/* ---- dynamic-pool names -------------------------------------------------------------- */

/*
 * Words ISPs put into the reverse names of their subscriber pools. Only
 * together with an embedded address do they count: "host" or "client"
 * alone names plenty of real servers.
 */
static const char *const pool_words[MG_POOL_WORD_MAX] = {
	[MG_POOL_NONE] = "",
	[MG_POOL_DSL] = "dsl",
	[MG_POOL_ADSL] = "adsl",
	[MG_POOL_CABLE] = "cable",
	[MG_POOL_DYN] = "dyn",
	[MG_POOL_DYNAMIC] = "dynamic",
	[MG_POOL_DHCP] = "dhcp",
	[MG_POOL_POOL] = "pool",
	[MG_POOL_PPP] = "ppp",
	[MG_POOL_PPPOE] = "pppoe",
	[MG_POOL_FIOS] = "fios",
	[MG_POOL_CLIENT] = "client",
	[MG_POOL_HOST] = "host",
	[MG_POOL_CUSTOMER] = "customer",
	[MG_POOL_CUST] = "cust",
	[MG_POOL_BROADBAND] = "broadband",
	[MG_POOL_RESIDENTIAL] = "residential",
	[MG_POOL_HSD] = "hsd",
	[MG_POOL_FTTH] = "ftth",
	[MG_POOL_USER] = "user",
};

const char *mg_pool_word_name(enum mg_pool_word w)
{
	return (unsigned)w < MG_POOL_WORD_MAX && pool_words[w] ? pool_words[w] : "?";
}

/* A decimal run of 1 to 3 digits worth at most 255 starting at s[i]; its end in *end. */
static bool octet_at(const char *s, size_t n, size_t i, size_t *end)
{
	unsigned v = 0;
	size_t j = i;

	while (j < n && is_digit(s[j]) && j - i < 4)
		v = v * 10 + (unsigned)(s[j++] - '0');
	if (j == i || j - i > 3 || (j < n && is_digit(s[j])) || v > 255)
		return false;
	*end = j;
	return true;
}

/* Four octets joined by '-' or '.', standing alone among the digits ("c-198-18-5-7.hsd1"). */
static bool has_embedded_address(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]) || (i && is_digit(s[i - 1])))
			continue;
		size_t at = i, end;
		int k;
		for (k = 0; k < 4; k++) {
			if (!octet_at(s, n, at, &end))
				break;
			if (k < 3) {
				if (end + 1 >= n || (s[end] != '-' && s[end] != '.'))
					break;
				at = end + 1;
			}
		}
		if (k == 4)
			return true;
	}
	return false;
}

/* The table's word spelled by the letters s[0..n), case aside. */
static enum mg_pool_word pool_word_of(const char *s, size_t n)
{
	for (unsigned w = MG_POOL_NONE + 1; w < MG_POOL_WORD_MAX; w++) {
		const char *p = pool_words[w];
		size_t k;
		if (strlen(p) != n)
			continue;
		for (k = 0; k < n && lower(s[k]) == p[k]; k++)
			;
		if (k == n)
			return (enum mg_pool_word)w;
	}
	return MG_POOL_NONE;
}

enum mg_pool_word mg_helo_dynamic_pool(const char *arg, size_t len)
{
	len = trimmed_len(arg, len);
	if (!has_embedded_address(arg, len))
		return MG_POOL_NONE;
	/* Words are the runs of letters: "hsd1" gives "hsd", "example-cable" gives "cable". */
	for (size_t i = 0; i < len;) {
		size_t j = i;
		while (j < len && ((arg[j] >= 'a' && arg[j] <= 'z') || (arg[j] >= 'A' && arg[j] <= 'Z')))
			j++;
		if (j > i) {
			enum mg_pool_word w = pool_word_of(arg + i, j - i);
			if (w != MG_POOL_NONE)
				return w;
			i = j;
		} else {
			i++;
		}
	}
	return MG_POOL_NONE;
}

/* ---- absurd identities --------------------------------------------------------------- */

static const char *const absurd_names[MG_ABSURD_MAX] = {
	[MG_ABSURD_NONE] = "",
	[MG_ABSURD_UNSPECIFIED_LITERAL] = "unspecified-literal",
	[MG_ABSURD_FOREIGN_LITERAL] = "foreign-literal",
	[MG_ABSURD_DYNAMIC_POOL] = "dynamic-pool",
};

const char *mg_helo_absurd_name(enum mg_helo_absurd r)
{
	return (unsigned)r < MG_ABSURD_MAX ? absurd_names[r] : "?";
}

/* The address an address literal names ("[198.18.0.2]", "[IPv6:2001:db8::1]", "198.18.0.2"); false if none. */
static bool literal_address(const char *arg, size_t len, uint8_t addr[16])
{
	char buf[64];

	if (len >= 2 && arg[0] == '[' && arg[len - 1] == ']') {
		arg++;
		len -= 2;
	}
	if (len >= 5 && !strncasecmp(arg, "IPv6:", 5)) {
		arg += 5;
		len -= 5;
	}
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, arg, len);
	buf[len] = '\0';
	return mg_addr_parse(buf, addr) == 0;
}

enum mg_helo_absurd mg_helo_absurd(const char *arg, size_t len, const uint8_t src[16])
{
	static const uint8_t v4_any[16] = { [10] = 0xff, [11] = 0xff }, v6_any[16];
	uint8_t lit[16];

	len = trimmed_len(arg, len);
	if (mg_helo_shape(arg, len, src) & MG_HELO_IP_LITERAL) {
		/* A literal that does not even parse names no address, let alone the source's. */
		if (!literal_address(arg, len, lit))
			return MG_ABSURD_FOREIGN_LITERAL;
		if (!memcmp(lit, v4_any, 16) || !memcmp(lit, v6_any, 16))
			return MG_ABSURD_UNSPECIFIED_LITERAL;
		return memcmp(lit, src, 16) ? MG_ABSURD_FOREIGN_LITERAL : MG_ABSURD_NONE;
	}
	return mg_helo_dynamic_pool(arg, len) != MG_POOL_NONE ? MG_ABSURD_DYNAMIC_POOL : MG_ABSURD_NONE;
}

/* ---- big providers ------------------------------------------------------------------- */

/*
 * The providers whose names bots borrow most, because receivers trust them.
 * Their outbound hosts have forward-confirmed reverse DNS inside these
 * domains, so a claim that does not confirm is a forgery.
 */
static const char *const providers[] = {
	"google.com",   "gmail.com",    "googlemail.com", "outlook.com",   "hotmail.com", "live.com",
	"microsoft.com", "yahoo.com",   "yahoodns.net",   "aol.com",       "icloud.com",  "apple.com",
	"amazonses.com", "amazon.com",  "mail.ru",        "yandex.ru",     "yandex.net",  "gmx.net",
	"web.de",       "zoho.com",     "protonmail.ch",  "sendgrid.net",  "facebook.com", "paypal.com",
};

const char *mg_helo_provider(const char *name, size_t len)
{
	len = trimmed_len(name, len);
	if (len && name[len - 1] == '.')
		len--;
	for (size_t i = 0; i < N_OF(providers); i++) {
		size_t n = strlen(providers[i]);
		if (len < n || strncasecmp(name + len - n, providers[i], n))
			continue;
		if (len == n || name[len - n - 1] == '.')
			return providers[i];
	}
	return NULL;
}
