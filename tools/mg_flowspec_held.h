/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_flowspec_held.h - the FlowSpec routes mtaguard-flowspec holds from
 * its BGP peers, and what they add up to for the daemon.
 *
 * A peer may announce several routes for one source (TCP to port 25, and
 * the source alone); the daemon keeps one block per peer and prefix. So the
 * routes are kept by their identity (peer and match), and per peer and
 * prefix they add up to the strongest action ("all" over "smtp"); each
 * change of that sum is an operation for the daemon (announce with the
 * action, or withdraw). Bounded: past max_routes a new route is refused.
 * Pure.
 */
#ifndef MG_FLOWSPEC_HELD_H
#define MG_FLOWSPEC_HELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mg_flowspec_recv.h"

struct mg_fsh_op {
	bool withdraw;
	char peer[MG_FSR_PEER_MAX];
	struct mg_prefix prefix;
	uint8_t action; /* announce: MG_ACT_DROP_SMTP or MG_ACT_DROP_ALL */
};
typedef void (*mg_fsh_op_fn)(const struct mg_fsh_op *op, void *arg);

struct mg_fsh;

struct mg_fsh *mg_fsh_new(size_t max_routes);
void mg_fsh_free(struct mg_fsh *h);

/*
 * One received route from peer: a usable announcement is kept (replacing
 * the route of the same match), a withdrawal or a route of the same match
 * that is no longer usable drops it. fn gets every change of a (peer,
 * prefix) sum. 0, or -ENOSPC (over max_routes) / -ENOMEM: not kept.
 */
int mg_fsh_route(struct mg_fsh *h, const char *peer, const struct mg_fsr_route *r, mg_fsh_op_fn fn, void *arg);
/* The session with peer ended: all its routes go (a withdraw each to fn). Returns how many sums went. */
size_t mg_fsh_peer_down(struct mg_fsh *h, const char *peer, mg_fsh_op_fn fn, void *arg);
/* Every sum held, as an announcement (the helper's refresh). */
void mg_fsh_foreach(const struct mg_fsh *h, mg_fsh_op_fn fn, void *arg);
/* Routes and sums held. */
size_t mg_fsh_routes(const struct mg_fsh *h);
size_t mg_fsh_sums(const struct mg_fsh *h);

#endif
