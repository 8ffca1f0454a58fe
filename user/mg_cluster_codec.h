/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_cluster_codec.h - what mtaguard nodes share, as NATS key-value entries.
 *
 * Every node writes its own entries into one JetStream key-value bucket and
 * watches everybody's. One entry is one rule a node holds in force:
 *
 *   key    KIND.NODE.PREFIX      "verdict.edge-a.198.18.2.2/32",
 *                                "block.edge-b.2001-db8-1-2--/64"
 *          outbreak.NODE.SIG     "outbreak.edge-a.fp-68812a4c" (SIG: fp, helo or shape, 8 hex digits)
 *   value  {"v":1, "action":"smtp", "expires":1800003600000000000,
 *           "at":1800000000000000000, "why":"direct-to-mx:new-sender score 10.0"}
 *
 * KIND says whose rule it is on the origin (an analyzer's verdict, an
 * operator's block or allow); NODE is the origin, so two nodes' rules on one
 * prefix are two entries and each origin removes only its own. Key-value
 * keys allow [-/_=.a-zA-Z0-9]: IPv6 colons are written as '-', which no
 * address text otherwise holds, and the length is always spelled out.
 * "expires" is wall-clock nanoseconds (UNIX epoch; nodes share no monotonic
 * clock), null for a rule without an end; "at" is when the origin wrote it
 * (the receiver's lag). Everything here is pure: parsing takes bytes from
 * the network and refuses, with a reason, anything it cannot use.
 */
#ifndef MG_CLUSTER_CODEC_H
#define MG_CLUSTER_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mg_addr.h"
#include "mg_outbreak.h"

/* What a shared entry is on its origin (one vocabulary: mg_cl_kind_name). */
enum mg_cl_kind {
	MG_CL_VERDICT = 0, /* "verdict": the analyzer's */
	MG_CL_BLOCK,       /* "block": an operator's block */
	MG_CL_ALLOW,       /* "allow": an operator's allow */
	MG_CL_SERVER,      /* "server": a mail server the analyzer learned */
	MG_CL_OUTBREAK,    /* "outbreak": an outbreak that counts in its origin's threat level */
	MG_CL_KIND_MAX,
};
const char *mg_cl_kind_name(enum mg_cl_kind k);
int mg_cl_kind_parse(const char *s, enum mg_cl_kind *k);

#define MG_CL_NODE_MAX 64   /* a node name: [A-Za-z0-9_-], 1..63 characters */
#define MG_CL_WHY_MAX 128   /* the evidence summary carried along */
#define MG_CL_KEY_MAX 160   /* kind + node + the longest prefix text, with room */
#define MG_CL_VALUE_MAX 1024 /* a value longer than this is refused unread */
#define MG_CL_NO_EXPIRY UINT64_MAX

struct mg_cl_entry {
	enum mg_cl_kind kind;
	char node[MG_CL_NODE_MAX];
	struct mg_prefix prefix;
	uint8_t action;        /* MG_ACT_* for verdicts and blocks; 0 for an allow */
	uint64_t expires_wall; /* ns since the epoch, or MG_CL_NO_EXPIRY */
	uint64_t at_wall;      /* when the origin wrote it */
	char why[MG_CL_WHY_MAX];
	/* Outbreaks only (no prefix): the signature, its level there, its members. */
	struct mg_signature sig;
	uint8_t level;         /* 1..5 */
	uint32_t members;
};

/* Does an entry of this kind carry an action (verdicts and blocks do; allows and servers do not)? */
static inline bool mg_cl_kind_blocks(enum mg_cl_kind k)
{
	return k == MG_CL_VERDICT || k == MG_CL_BLOCK;
}

/* Is s a usable node name? */
bool mg_cl_node_valid(const char *s);

/* The entry's key into buf; -ENOSPC if it does not fit. */
int mg_cl_key(const struct mg_cl_entry *e, char *buf, size_t len);
/* Its value (JSON text) into buf; -ENOSPC if it does not fit, -EINVAL for an impossible entry. */
int mg_cl_value(const struct mg_cl_entry *e, char *buf, size_t len);

/*
 * A key as it came from the bucket into e (kind, node, prefix); -EINVAL with
 * the reason in err otherwise. Enough for a deletion, which has no value.
 */
int mg_cl_parse_key(const char *key, struct mg_cl_entry *e, char *err, size_t errlen);
/* The value of a put, into e (after mg_cl_parse_key); -EINVAL with the reason otherwise. */
int mg_cl_parse_value(const void *value, size_t len, struct mg_cl_entry *e, char *err, size_t errlen);

#endif
