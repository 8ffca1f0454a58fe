/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_spf.h - SPF (RFC 7208) of a MAIL FROM domain, by libspf2, with its DNS
 * answered from the verifier's lookups.
 *
 * libspf2's own DNS layer calls res_query() and blocks. We give it a layer
 * of our own instead (a handful of callbacks) that answers from the lookup
 * function, never from the network: what is not known yet is answered
 * TRY_AGAIN and counted as lacking, the runner fetches it asynchronously and
 * evaluates again. So SPF runs in the daemon's loop like every other
 * check, never waits on a socket, and shares the cache and the query rate
 * bound. The price is re-evaluating a record per round (microseconds; a
 * policy has at most 10 DNS mechanisms, so at most about a dozen rounds).
 *
 * Single-threaded: one libspf2 server kept for the process, like the
 * daemon's loop and the replay that use it.
 */
#ifndef MG_SPF_H
#define MG_SPF_H

#include <stdint.h>

#include "mg_verify.h"

/*
 * check_host(addr, domain) with helo for the macros; *res gets pass, fail,
 * softfail, neutral, none, temperror or permerror. Returns how many lookups
 * lacked an answer (then *res is not meaningful).
 */
unsigned mg_spf_check(const uint8_t addr[16], const char *domain, const char *helo, mg_verify_lookup lookup,
		      void *ctx, enum mg_check_result *res);
/* Free what libspf2 holds (at exit, so leak checkers see none). */
void mg_spf_cleanup(void);

#endif
