/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_helo_shape.h - what a HELO/EHLO argument looks like, and whether it is
 * an identity no real mail host would give.
 *
 * Pure string work, no state: the analyzer (scoring, first-session
 * suspicion), outbreak detection (shape signatures) and, later, source
 * verification all ask the same questions here.
 */
#ifndef MG_HELO_SHAPE_H
#define MG_HELO_SHAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* HELO argument shapes (a bit set: an argument can be several). */
enum mg_helo_shape {
	MG_HELO_FQDN = 1 << 0,        /* has a dot, is not an address literal */
	MG_HELO_IP_LITERAL = 1 << 1,  /* "[198.18.0.2]" or a bare dotted quad / IPv6 literal */
	MG_HELO_BARE_WORD = 1 << 2,   /* no dot at all ("localhost", "DESKTOP-4F3K") */
	MG_HELO_OWN_OCTETS = 1 << 3,  /* contains the source's own address octets ("198-18-0-2.dsl...") */
	MG_HELO_EMPTY = 1 << 4,
};
#define MG_HELO_SHAPES_ALL (MG_HELO_FQDN | MG_HELO_IP_LITERAL | MG_HELO_BARE_WORD | MG_HELO_OWN_OCTETS | MG_HELO_EMPTY)
/* Classify a HELO argument sent by `src`. */
unsigned mg_helo_shape(const char *arg, size_t len, const uint8_t src[16]);
/* "ip-literal,own-octets" and back (-EINVAL for an unknown name). */
void mg_helo_shape_names(unsigned shape, char *buf, size_t len);
int mg_helo_shape_parse(const char *names);

/*
 * The words that mark an ISP's dynamic-pool reverse-DNS names: one table,
 * tested name by name. A name is of a dynamic pool when it embeds an IPv4
 * address as four octets joined by dashes or dots and also carries one of
 * these words as a label or a part of one ("c-198-18-5-7.hsd1.example-cable.net",
 * "173-66-46-112.wash.fios.verizon.net", "dsl-198-18-1-2.pool.example.net").
 */
enum mg_pool_word {
	MG_POOL_NONE = 0,
	MG_POOL_DSL,
	MG_POOL_ADSL,
	MG_POOL_CABLE,
	MG_POOL_DYN,
	MG_POOL_DYNAMIC,
	MG_POOL_DHCP,
	MG_POOL_POOL,
	MG_POOL_PPP,
	MG_POOL_PPPOE,
	MG_POOL_FIOS,
	MG_POOL_CLIENT,
	MG_POOL_HOST,
	MG_POOL_CUSTOMER,
	MG_POOL_CUST,
	MG_POOL_BROADBAND,
	MG_POOL_RESIDENTIAL,
	MG_POOL_HSD,
	MG_POOL_FTTH,
	MG_POOL_USER,
	MG_POOL_WORD_MAX,
};
const char *mg_pool_word_name(enum mg_pool_word w); /* "dsl", "cable", ...; "" for MG_POOL_NONE */
/* The pool word that makes arg a dynamic-pool name, or MG_POOL_NONE. */
enum mg_pool_word mg_helo_dynamic_pool(const char *arg, size_t len);

/*
 * An identity no mail host gives: reason enough to suspect a source from its
 * very first session. The names are the evidence ("helo-absurd:dynamic-pool").
 */
enum mg_helo_absurd {
	MG_ABSURD_NONE = 0,
	MG_ABSURD_UNSPECIFIED_LITERAL, /* "[0.0.0.0]", "[IPv6:::]": the address of no host */
	MG_ABSURD_FOREIGN_LITERAL,     /* an address literal that is not the source's own */
	MG_ABSURD_DYNAMIC_POOL,        /* a residential reverse-DNS name (mg_helo_dynamic_pool) */
	MG_ABSURD_MAX,
};
const char *mg_helo_absurd_name(enum mg_helo_absurd r); /* "unspecified-literal", ...; "" for none */
/* Is the HELO argument `arg`, sent by `src` (its full address), absurd, and why? */
enum mg_helo_absurd mg_helo_absurd(const char *arg, size_t len, const uint8_t src[16]);

/*
 * Big mail providers' domains, one table: a HELO (or PTR) name that is one
 * of them or under one ("mail-ed1-f41.google.com") claims to be that
 * provider's host, which source verification can confirm or refute. The
 * provider's domain, or NULL if the name claims none.
 */
const char *mg_helo_provider(const char *name, size_t len);

#endif
