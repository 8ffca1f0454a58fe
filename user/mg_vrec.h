/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_vrec.h - the analyzer's verification records: per profile key, what the
 * source claimed (its last MAIL FROM domain), when it was last verified and
 * what the checks found, and how many sessions it went on with a forged
 * identity.
 *
 * Kept beside the profiles, not in them: only sources that sent MAIL to an
 * MX and could be verified have one, and the saved state's layout stays as
 * it is. Not saved: after a restart a source is verified again at its next
 * session (its verdict, if it had one, is saved with the profile).
 * Open addressing on the key; a record costs sizeof(struct mg_vrec) plus a
 * slot's share of the table.
 */
#ifndef MG_VREC_H
#define MG_VREC_H

#include <stddef.h>
#include <stdint.h>

#include "mg_verify.h"

struct mg_vrec {
	uint8_t key[16];
	uint8_t used;
	uint8_t has_result;         /* s holds a verification's outcome */
	uint16_t forged_sessions;   /* sessions with a forged identity in a row (the verified one included) */
	uint8_t verdict_forgery;    /* enum mg_forgery bits of the verdict in force, if forgery made it */
	uint8_t pad[3];
	uint32_t ident;             /* hash of the HELO and domain last sent for verification */
	uint64_t requested;         /* when it was last sent for verification (valid once ident != 0) */
	uint64_t at;                /* when the outcome came (valid with has_result) */
	char mail_domain[MG_VERIFY_NAME]; /* the last MAIL FROM domain seen ("" : none or null sender) */
	struct mg_verify_summary s;
};

struct mg_vrecs {
	struct mg_vrec *v;
	uint32_t cap, n; /* cap: a power of two, or 0 */
};

/* The record of key, or NULL. */
struct mg_vrec *mg_vrec_find(const struct mg_vrecs *t, const uint8_t key[16]);
/* The record of key, made (zeroed) if absent; NULL when out of memory. */
struct mg_vrec *mg_vrec_get(struct mg_vrecs *t, const uint8_t key[16]);
void mg_vrec_del(struct mg_vrecs *t, const uint8_t key[16]);
void mg_vrec_clear(struct mg_vrecs *t);

#endif
