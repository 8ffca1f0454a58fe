/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_human.h - times and counts as an operator reads them in mtaguardctl's
 * tables: "1h59m", "in 1h59m", "3m ago", "2.11 GB", "1 verdict" / "2 verdicts". The
 * daemon's answers carry exact values (ISO times, seconds); only the text a
 * person reads is rounded here.
 *
 * Pure: no clock is read; the caller passes the instant it compares with.
 */
#ifndef MG_HUMAN_H
#define MG_HUMAN_H

#include <stddef.h>
#include <stdint.h>

/*
 * A length of time in its two largest units, rounded down: "0s", "45s",
 * "3m", "3m20s", "1h59m", "2d", "2d3h". Rounded down so "in 1h59m" never
 * promises more than is left.
 */
const char *mg_human_duration(uint64_t seconds, char *buf, size_t len);
/*
 * A size in decimal units, three figures at most, rounded down: "0 bytes",
 * "999 bytes", "1.2 kB", "46 MB", "2.11 GB" (as the README's sizing
 * speaks: 10^3, 10^6, 10^9).
 */
const char *mg_human_bytes(uint64_t bytes, char *buf, size_t len);
/* An instant `delta` seconds from now: "in 1h59m", "3m ago", or "now" within a second. */
const char *mg_human_when(int64_t delta, char *buf, size_t len);
/* The daemon's "2026-12-02T10:00:00Z" into seconds since the epoch; 0 or -EINVAL. */
int mg_iso_parse(const char *text, int64_t *epoch_s);
/* The word that goes with n: one when n is 1 (or -1), else many. */
const char *mg_plural(long long n, const char *one, const char *many);

#endif
