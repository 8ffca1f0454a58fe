/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_flowspec_recv.h - FlowSpec routes received from BGP peers, read from
 * ExaBGP's JSON (process `encoder json`, api `receive { parsed; update; }`,
 * `neighbor-changes`): one line a message, e.g.
 *
 *   {"type":"update","neighbor":{"address":{"local":..,"peer":"198.18.100.2"},..,
 *    "message":{"update":{"attribute":{"extended-community":[{"string":"rate-limit:0",..}],
 *                                      "community":[[65000,4242]]},
 *                         "announce":{"ipv4 flow":{"no-nexthop":[{"source-ipv4":["198.18.7.7/32"],
 *                                     "protocol":["=tcp"],"destination-port":["=25"],"string":"flow .."}]}}}}}}
 *   ... "withdraw":{"ipv6 flow":[{"source-ipv6":["2001:db8:7::/64/0"],..}]} ...
 *   {"type":"state","neighbor":{"address":{..,"peer":".."},"state":"down",..}}
 *
 * What mtaguard can enforce from such a route: a source prefix, alone (the
 * "all" action) or with TCP to SMTP ports (the "smtp" action), and a
 * discard (ExaBGP shows it as rate-limit:0). Anything else in the match (a
 * destination, other ports, packet lengths...) would make the kernel drop
 * more than the route asks for: such a route is "unsupported", counted and
 * ignored; another action (a rate limit, a redirect) is "not-discard".
 * Pure: text in, routes out.
 */
#ifndef MG_FLOWSPEC_RECV_H
#define MG_FLOWSPEC_RECV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mg_addr.h"

/* What one received route is to mtaguard; mg_fsr_status_name() names it. */
enum mg_fsr_status {
	MG_FSR_USABLE = 0,   /* "usable": a source prefix, discard */
	MG_FSR_NOT_DISCARD,  /* "not-discard": another action (rate-limit N > 0, redirect, none) */
	MG_FSR_UNSUPPORTED,  /* "unsupported": a match mtaguard cannot enforce as asked */
	MG_FSR_OWN,          /* "own": carries this node's own community (its own route, come back) */
	MG_FSR_MALFORMED,    /* "malformed": not the shape ExaBGP writes */
	MG_FSR_STATUS_MAX,
};
const char *mg_fsr_status_name(enum mg_fsr_status s);

/* What one message is. */
enum mg_fsr_kind {
	MG_FSR_IGNORED = 0, /* something else (end-of-RIB, keepalive, a session coming up, ...) */
	MG_FSR_ROUTES,      /* an UPDATE with FlowSpec routes (announced or withdrawn) */
	MG_FSR_PEER_DOWN,   /* the session with `peer` ended: its routes are gone */
	MG_FSR_SHUTDOWN,    /* ExaBGP is ending */
	MG_FSR_BAD,         /* not JSON, or not ExaBGP's shape */
};

#define MG_FSR_MATCH_MAX 200
#define MG_FSR_PEER_MAX 64

struct mg_fsr_route {
	bool withdraw;
	enum mg_fsr_status status;
	struct mg_prefix prefix;     /* USABLE, and withdrawals with a readable source */
	uint8_t action;              /* MG_ACT_DROP_SMTP or MG_ACT_DROP_ALL (USABLE announcements) */
	char match[MG_FSR_MATCH_MAX]; /* the route's identity: ExaBGP's text of its match */
};

struct mg_fsr_msg {
	enum mg_fsr_kind kind;
	char peer[MG_FSR_PEER_MAX];  /* the neighbor's address */
	size_t n;                    /* routes written to the caller's array */
	size_t dropped;              /* routes past its capacity (counted, not returned) */
};

/* A community [ASN, VALUE] this node tags its own announcements with; none when !set. */
struct mg_fsr_opts {
	bool own_set;
	uint32_t own_asn, own_value;
};

/*
 * Read one line of ExaBGP's output (without its newline) into *out and up
 * to cap routes into v. Never fails on input: a message it cannot read is
 * MG_FSR_BAD, a route it cannot use has its status.
 */
void mg_fsr_parse(const char *line, size_t len, const struct mg_fsr_opts *o, struct mg_fsr_msg *out,
		  struct mg_fsr_route *v, size_t cap);

/*
 * mg_fsr_parse() with no route left out: when the line has more routes than
 * *cap, *v (malloc'd, or NULL with *cap 0) grows to hold them all and the
 * line is read again. 0, or -ENOMEM: *v and *cap unchanged, out->dropped
 * routes not returned.
 */
int mg_fsr_parse_all(const char *line, size_t len, const struct mg_fsr_opts *o, struct mg_fsr_msg *out,
		     struct mg_fsr_route **v, size_t *cap);

/* "ASN:VALUE" (--tag): 0 or -EINVAL. */
int mg_fsr_parse_community(const char *s, struct mg_fsr_opts *o);

#endif
