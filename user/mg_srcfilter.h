/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_srcfilter.h - the profile filter's userspace side (mg_src_filter; see
 * the comment at mg_src_filter_bits in mtaguard.h): setting a key's bit
 * before a profile is moved into a profile map, and the refresh that clears
 * bits of evicted profiles. Works on whatever memory it is given: the
 * kernel's map, mapped, or a plain buffer in a test.
 */
#ifndef MG_SRCFILTER_H
#define MG_SRCFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "mtaguard.h"

struct mg_srcfilter {
	__u64 *w;       /* 2 * words entries, then the selector; NULL: no filter */
	uint32_t bits;  /* filter bits per generation */
	uint32_t words; /* 2^(bits - 6) */
	size_t len;     /* of the mapping */
};

/* Map the filter of an instance (the fd stays the caller's). 0 or -errno. */
int mg_srcfilter_open(struct mg_srcfilter *f, int fd);
void mg_srcfilter_close(struct mg_srcfilter *f);
/* Use `mem` (mg_src_filter_entries(bits) words, zeroed) as the filter: tests. */
void mg_srcfilter_init(struct mg_srcfilter *f, __u64 *mem, uint32_t bits);

/* A profile for key is about to be written into a profile map: its bit, in both generations. */
void mg_srcfilter_note(struct mg_srcfilter *f, const uint8_t key[16]);
/* What the program reads: false means key has no profile, for certain. */
bool mg_srcfilter_may_hold(const struct mg_srcfilter *f, const uint8_t key[16]);

/*
 * A refresh: begin clears the generation the program does not read; then
 * every profile the caller's scan reads goes through mg_srcfilter_note; end
 * selects that generation. The scan must start after begin returns (a
 * profile created while the clearing ran is then seen by it); one that was
 * not complete must not end.
 */
void mg_srcfilter_refresh_begin(struct mg_srcfilter *f);
void mg_srcfilter_refresh_end(struct mg_srcfilter *f);
/* Bits set in the generation the program reads (a refresh's measure). */
uint64_t mg_srcfilter_count(const struct mg_srcfilter *f);

#endif
