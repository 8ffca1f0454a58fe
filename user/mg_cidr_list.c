// SPDX-License-Identifier: GPL-2.0-only
/* mg_cidr_list.c - reading CIDR lists, strictly (see mg_cidr_list.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_cidr_list.h"

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static bool comment(char c)
{
	return c == ';' || c == '#';
}

static int fault(unsigned *column, size_t at, char *msg, size_t msglen, const char *text)
{
	if (column)
		*column = (unsigned)at + 1;
	if (msg && msglen)
		snprintf(msg, msglen, "%s", text);
	return -EINVAL;
}

int mg_cidr_parse_line(const char *line, size_t len, struct mg_prefix *out, unsigned *column, char *msg,
		       size_t msglen)
{
	char tok[MG_ADDRSTRLEN], what[MG_ADDRSTRLEN + 96];
	size_t i = 0, start, end, slash = 0;
	bool has_slash = false;

	if (memchr(line, '\0', len))
		return fault(column, (size_t)((const char *)memchr(line, '\0', len) - line), msg, msglen,
			     "a NUL byte: not a text list");
	while (i < len && blank(line[i]))
		i++;
	if (i == len || comment(line[i]))
		return 0;
	start = i;
	while (i < len && !blank(line[i]) && !comment(line[i])) {
		char c = line[i];
		if (c == '/' && !has_slash) {
			has_slash = true;
			slash = i;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
			     c == '.')) {
			snprintf(what, sizeof(what), "'%c' in a prefix: expected an address, or address/length",
				 c > ' ' && c < 127 ? c : '?');
			return fault(column, i, msg, msglen, what);
		}
		i++;
	}
	end = i;
	while (i < len && blank(line[i]))
		i++;
	if (i < len && !comment(line[i]))
		return fault(column, i, msg, msglen, "text after the prefix: one prefix a line, comments after ';' or '#'");
	if (end - start >= sizeof(tok))
		return fault(column, start, msg, msglen, "too long for a prefix");
	memcpy(tok, line + start, end - start);
	tok[end - start] = '\0';

	size_t alen = has_slash ? slash - start : end - start;
	char addr_text[MG_ADDRSTRLEN];
	memcpy(addr_text, tok, alen);
	addr_text[alen] = '\0';
	if (mg_addr_parse(addr_text, out->addr))
		return fault(column, start, msg, msglen, "not an IPv4 or IPv6 address");
	bool v4 = strchr(addr_text, ':') == NULL;
	unsigned max = v4 ? 32 : 128, plen = max;
	if (has_slash) {
		const char *d = tok + alen + 1;
		if (!*d || strlen(d) > 3)
			return fault(column, slash + 1, msg, msglen, v4 ? "a length is 0 to 32" : "a length is 0 to 128");
		plen = 0;
		for (; *d; d++) {
			if (*d < '0' || *d > '9')
				return fault(column, slash + 1, msg, msglen, "a length is a decimal number");
			plen = plen * 10 + (unsigned)(*d - '0');
		}
		if (plen > max)
			return fault(column, slash + 1, msg, msglen, v4 ? "a length is 0 to 32" : "a length is 0 to 128");
	}
	out->prefixlen = (uint8_t)(v4 ? 96 + plen : plen);
	struct mg_prefix masked = *out;
	mg_addr_mask(masked.addr, masked.prefixlen);
	if (memcmp(masked.addr, out->addr, 16)) {
		char net[MG_ADDRSTRLEN];
		snprintf(what, sizeof(what), "host bits set below /%u (the network is %s)", plen,
			 mg_prefix_str(&masked, net, sizeof(net)));
		return fault(column, start, msg, msglen, what);
	}
	return 1;
}

void mg_cidr_parser_init(struct mg_cidr_parser *p)
{
	memset(p, 0, sizeof(*p));
}

void mg_cidr_parser_free(struct mg_cidr_parser *p)
{
	free(p->v);
	p->v = NULL;
	p->n = p->cap = 0;
}

static int take_line(struct mg_cidr_parser *p, const char *line, size_t len, struct mg_cidr_error *err)
{
	struct mg_prefix pfx;
	unsigned col = 0;
	int r;

	p->line++;
	r = mg_cidr_parse_line(line, len, &pfx, &col, err->msg, sizeof(err->msg));
	if (r < 0) {
		err->line = p->line;
		err->column = col;
		p->failed = true;
		return r;
	}
	if (r == 0)
		return 0;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 1024;
		struct mg_cidr_entry *v = realloc(p->v, cap * sizeof(*v));
		if (!v) {
			err->line = p->line;
			err->column = 0;
			snprintf(err->msg, sizeof(err->msg), "out of memory");
			p->failed = true;
			return -ENOMEM;
		}
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = (struct mg_cidr_entry){ .prefix = pfx, .line = p->line };
	return 0;
}

static int too_long(struct mg_cidr_parser *p, struct mg_cidr_error *err)
{
	err->line = p->line + 1;
	err->column = MG_CIDR_LINE_MAX + 1;
	snprintf(err->msg, sizeof(err->msg), "line longer than %d bytes", MG_CIDR_LINE_MAX);
	p->failed = true;
	return -EINVAL;
}

int mg_cidr_parser_feed(struct mg_cidr_parser *p, const char *text, size_t len, struct mg_cidr_error *err)
{
	size_t i = 0;

	if (p->failed)
		return -EINVAL;
	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t seg = nl ? (size_t)(nl - (text + i)) : len - i;
		int r;
		if (p->len + seg > MG_CIDR_LINE_MAX)
			return too_long(p, err);
		if (!nl) { /* the rest of this piece starts a line the next piece ends */
			memcpy(p->buf + p->len, text + i, seg);
			p->len += seg;
			return 0;
		}
		if (p->len) {
			memcpy(p->buf + p->len, text + i, seg);
			r = take_line(p, p->buf, p->len + seg, err);
			p->len = 0;
		} else {
			r = take_line(p, text + i, seg, err);
		}
		if (r)
			return r;
		i += seg + 1;
	}
	return 0;
}

int mg_cidr_parser_finish(struct mg_cidr_parser *p, struct mg_cidr_error *err)
{
	int r = 0;

	if (p->failed)
		return -EINVAL;
	if (p->len)
		r = take_line(p, p->buf, p->len, err);
	p->len = 0;
	return r;
}

int mg_prefix_cmp(const struct mg_prefix *a, const struct mg_prefix *b)
{
	int c = memcmp(a->addr, b->addr, 16);

	if (c)
		return c < 0 ? -1 : 1;
	return a->prefixlen < b->prefixlen ? -1 : a->prefixlen > b->prefixlen;
}

static int cmp_void(const void *a, const void *b)
{
	return mg_prefix_cmp(a, b);
}

size_t mg_prefix_sort_unique(struct mg_prefix *v, size_t n)
{
	size_t k = 0;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_void);
	for (size_t i = 1; i < n; i++)
		if (mg_prefix_cmp(&v[i], &v[k]))
			v[++k] = v[i];
	return k + 1;
}
