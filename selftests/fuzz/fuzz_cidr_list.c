// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_cidr_list.c - the CIDR list reader (user/mg_cidr_list.c), as
 * mtaguardctl import feeds it a file: any bytes, cut into pieces of a size
 * the first byte chooses. Whatever comes in, it is read whole or refused
 * with a line (within the text) and a column; every prefix it takes prints
 * and reads back as itself, has no host bits set, and its line is one
 * that was read; nothing is taken after a refusal.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mg_cidr_list.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_cidr_parser p;
	struct mg_cidr_error e;
	size_t piece = size ? (size_t)data[0] % 64 + 1 : 1, at = size ? 1 : 0;
	int r = 0;

	mg_cidr_parser_init(&p);
	for (; at < size && !r; at += piece) {
		size_t n = size - at < piece ? size - at : piece;
		r = mg_cidr_parser_feed(&p, (const char *)data + at, n, &e);
	}
	if (!r)
		r = mg_cidr_parser_finish(&p, &e);
	size_t newlines = 0;
	for (size_t i = 1; i < size; i++)
		newlines += data[i] == '\n';
	if (r) {
		assert(r == -EINVAL || r == -ENOMEM);
		assert(e.line >= 1 && e.line <= newlines + 1);
		assert(e.column >= 1 || r == -ENOMEM);
		assert(memchr(e.msg, '\0', sizeof(e.msg)));
		/* Refused: nothing more is taken. */
		size_t n = p.n;
		assert(mg_cidr_parser_feed(&p, "198.18.0.0/24\n", 14, &e) == -EINVAL);
		assert(p.n == n);
	}
	for (size_t i = 0; i < p.n; i++) {
		char text[MG_ADDRSTRLEN];
		struct mg_prefix back, masked = p.v[i].prefix;
		unsigned col;
		mg_addr_mask(masked.addr, masked.prefixlen);
		assert(!memcmp(masked.addr, p.v[i].prefix.addr, 16));
		assert(p.v[i].line >= 1 && p.v[i].line <= p.line);
		mg_prefix_str(&p.v[i].prefix, text, sizeof(text));
		assert(mg_cidr_parse_line(text, strlen(text), &back, &col, NULL, 0) == 1);
		assert(mg_prefix_eq(&back, &p.v[i].prefix));
	}
	mg_cidr_parser_free(&p);
	return 0;
}
