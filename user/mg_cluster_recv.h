/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_cluster_recv.h - what the other nodes hold, per prefix, and the one
 * claim it adds up to here.
 *
 * Several nodes may share a rule on one prefix (two edges saw the same bot);
 * each origin's entry is kept apart, so one origin's removal leaves the
 * others' in force. Per prefix the received entries add up to at most one
 * block claim (the strongest action, the latest expiry) and one allow claim,
 * which the engine puts in its ledger as the owners "cluster". Pure: times
 * are the caller's timeline.
 */
#ifndef MG_CLUSTER_RECV_H
#define MG_CLUSTER_RECV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mg_cluster_codec.h"

/* What the received entries on one prefix want here. */
struct mg_cl_want {
	bool block;
	uint8_t action;          /* MG_ACT_DROP_ALL if any origin drops all, else MG_ACT_DROP_SMTP */
	uint64_t block_expires;  /* the latest, or MG_TIME_NEVER */
	bool allow;
	uint64_t allow_expires;
	bool server;             /* a mail server another node learned */
	uint64_t server_expires;
	unsigned origins;        /* entries on the prefix */
};

struct mg_clrecv;

struct mg_clrecv *mg_clrecv_new(void);
void mg_clrecv_free(struct mg_clrecv *r);

/*
 * Keep e (replacing the entry of the same kind and origin on its prefix),
 * expiring at `expires` on the caller's timeline (MG_TIME_NEVER: none), and
 * say what the prefix now wants. 0 or -ENOMEM. Entries per prefix are not
 * capped: they are at most the nodes (or peers) times the kinds, and one
 * refused would stay missing (an entry is not sent again while unchanged).
 */
int mg_clrecv_put(struct mg_clrecv *r, const struct mg_cl_entry *e, uint64_t expires, struct mg_cl_want *out);
/* Forget that entry; false if it was not kept. *out as for put. */
bool mg_clrecv_del(struct mg_clrecv *r, enum mg_cl_kind kind, const char *node, const struct mg_prefix *p,
		   struct mg_cl_want *out);
/* Is the entry of that kind and origin on p kept? */
bool mg_clrecv_has(const struct mg_clrecv *r, enum mg_cl_kind kind, const char *node, const struct mg_prefix *p);
/*
 * Forget every entry whose time is up at `now` (no word from its origin is
 * needed), calling fn with each prefix that changed and what it now wants.
 * Returns how many entries went.
 */
size_t mg_clrecv_expire(struct mg_clrecv *r, uint64_t now,
			void (*fn)(const struct mg_prefix *p, const struct mg_cl_want *w, void *arg), void *arg);
/* What the prefix wants now (nothing if no entry). */
void mg_clrecv_want(const struct mg_clrecv *r, const struct mg_prefix *p, struct mg_cl_want *out);
/* The origins of the entries on p, "edge-a verdict, edge-b block", into buf; "" if none. */
const char *mg_clrecv_origins(const struct mg_clrecv *r, const struct mg_prefix *p, char *buf, size_t len);
/* The origins alone, "198.18.100.2, 198.18.100.3" (the peers of BGP routes, all of one kind). */
const char *mg_clrecv_nodes(const struct mg_clrecv *r, const struct mg_prefix *p, char *buf, size_t len);
/* Entries kept, by kind (may be NULL). */
size_t mg_clrecv_count(const struct mg_clrecv *r, size_t by_kind[MG_CL_KIND_MAX]);

#endif
