/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_flowspec.h - ExaBGP API lines for mtaguard's blocks: a BGP FlowSpec
 * route (RFC 8955 for IPv4, RFC 8956 for IPv6) per blocked prefix, so
 * routers that do not run mtaguard drop what it blocks; and, only when asked
 * for, a remotely triggered black hole route (RFC 7999).
 *
 *   announce flow route { match { source 198.18.0.66/32; destination-port =25; protocol tcp; } then { discard; } }
 *   announce flow route { match { source 2001:db8:1::/64; destination-port =25; next-header tcp; } then { discard; } }
 *   withdraw flow route { match { source 198.18.0.66/32; destination-port =25; protocol tcp; } }
 *
 * A block of action "smtp" matches TCP to the configured ports; "all"
 * matches the source alone. Pure: text in, text out.
 */
#ifndef MG_FLOWSPEC_H
#define MG_FLOWSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mg_addr.h"

/* What a FlowSpec route tells a router to do with matching traffic. */
enum mg_fs_then {
	MG_FS_DISCARD = 0,  /* drop it (ExaBGP shows it as rate-limit 0) */
	MG_FS_RATE_LIMIT,   /* police it to rate_limit bytes per second */
	MG_FS_REDIRECT,     /* into a VRF, by route target ASN:NN */
	MG_FS_THEN_MAX,
};
/* "discard", "rate-limit", "redirect" - the helper's --then. */
const char *mg_fs_then_name(enum mg_fs_then t);

#define MG_FS_PORTS_MAX 8

struct mg_fs_config {
	enum mg_fs_then then;
	uint32_t rate_limit;                 /* MG_FS_RATE_LIMIT: bytes per second */
	char redirect[32];                   /* MG_FS_REDIRECT: "65000:666" */
	uint16_t ports[MG_FS_PORTS_MAX];     /* destination ports of an "smtp" block (default 25) */
	unsigned n_ports;
	char rtbh_next_hop[48];              /* "": no RTBH routes (the default) */
	char tag[16];                        /* "ASN:NN": a community on every FlowSpec route (this node's own); "": none */
};

/*
 * --then's value: "discard", "rate-limit:BYTES_PER_S", "redirect:ASN:NN".
 * 0, or -EINVAL with the reason in err.
 */
int mg_fs_parse_then(const char *s, struct mg_fs_config *c, char *err, size_t errlen);
/* --ports: "25" or "25,465,587". 0 or -EINVAL. */
int mg_fs_parse_ports(const char *s, struct mg_fs_config *c, char *err, size_t errlen);

/*
 * The FlowSpec route of one block: announce (with its "then") or withdraw.
 * action: MG_ACT_*. Returns the line's length (no newline), or -ENOSPC if
 * buf is too small (256 bytes always do).
 */
int mg_fs_flow_line(char *buf, size_t len, bool announce, const struct mg_prefix *p, uint8_t action,
		    const struct mg_fs_config *c);
/* The RTBH route (next hop and the BLACKHOLE and NO_EXPORT communities), when rtbh_next_hop is set. */
int mg_fs_rtbh_line(char *buf, size_t len, bool announce, const struct mg_prefix *p, const struct mg_fs_config *c);

#endif
