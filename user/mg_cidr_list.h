/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_cidr_list.h - reading CIDR lists: one prefix a line, comments after
 * ';' or '#', blank lines ignored (Spamhaus DROP/EDROP, most blocklist
 * feeds, and what `mtaguardctl export --format cidr` writes).
 *
 *   ; Spamhaus DROP List 2026/12/02
 *   198.18.4.0/22 ; SBL123456
 *   2001:db8:bad::/48
 *   198.18.9.7            (an address alone is a host: /32, /128)
 *
 * Strict, so a list is taken whole or not at all: anything but a prefix
 * (and a comment) on a line, a length out of range, or host bits set below
 * the length (198.18.0.1/24: a typo or a misread netmask, never silently
 * widened or narrowed) is an error naming the line and the column.
 *
 * Pure: no I/O. The parser takes the text in pieces of any size (a file
 * read in blocks, a pipe), so a line may straddle two pieces.
 */
#ifndef MG_CIDR_LIST_H
#define MG_CIDR_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mg_addr.h"

/* Longer lines are refused: no prefix and comment of a sane list comes near. */
#define MG_CIDR_LINE_MAX 1024

struct mg_cidr_entry {
	struct mg_prefix prefix;
	uint32_t line; /* 1-based: where it was read, for the daemon's own refusals */
};

struct mg_cidr_error {
	uint32_t line, column; /* 1-based */
	char msg[160];
};

/*
 * One line (without its newline; a trailing '\r' is allowed). Returns 1 with
 * the prefix in *out, 0 for a line with nothing on it (blank, comment), or
 * -EINVAL with the 1-based column of the fault and the reason.
 */
int mg_cidr_parse_line(const char *line, size_t len, struct mg_prefix *out, unsigned *column, char *msg,
		       size_t msglen);

struct mg_cidr_parser {
	char buf[MG_CIDR_LINE_MAX + 1]; /* the line begun in an earlier piece */
	size_t len;
	uint32_t line;                  /* lines finished */
	bool failed;
	struct mg_cidr_entry *v;        /* what was read, in order (duplicates kept) */
	size_t n, cap;
};

void mg_cidr_parser_init(struct mg_cidr_parser *p);
/* The next piece of text. 0, or -EINVAL / -ENOMEM with *err filled; after an error, nothing more is taken. */
int mg_cidr_parser_feed(struct mg_cidr_parser *p, const char *text, size_t len, struct mg_cidr_error *err);
/* The end of the text (a last line without a newline). 0 or -errno as above. */
int mg_cidr_parser_finish(struct mg_cidr_parser *p, struct mg_cidr_error *err);
void mg_cidr_parser_free(struct mg_cidr_parser *p);

/* Order of prefixes (address, then length): what sorted lists and the sync diff go by. */
int mg_prefix_cmp(const struct mg_prefix *a, const struct mg_prefix *b);
/* Sort and drop repeats in place; returns the new count. */
size_t mg_prefix_sort_unique(struct mg_prefix *v, size_t n);

#endif
