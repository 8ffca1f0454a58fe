/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_ruleset.h - the ledger of who wants what in the kernel's rule maps.
 *
 * Several parties want rules for a prefix: the configuration (allowlist,
 * known mail servers), the analyzer (verdicts, learned mail servers), the
 * operator (mtaguardctl block and allow), and outbreak detection
 * (fingerprints contained at the first SYN). Each is an *owner*; the ledger
 * records per prefix which owners hold a claim there, each with its action
 * and expiry. What the kernel must then hold follows from one pure function,
 * mg_rules_resolve(), and mg_ruleset_sync() writes only the difference
 * between that and what it wrote before, through a sink (the real BPF maps
 * in mtaguardd, a private instance in mtaguard-replay, a fake in the tests).
 *
 * Nothing else writes the rule maps (mg_blocklist, mg_allowlist and their
 * IPv4 twins), mg_servers or mg_outbreaks: a new source of rules (a peer
 * node, a feed) is a new owner here, never a new write site.
 *
 * Times are on the caller's timeline (see mg_engine.h); MG_TIME_NEVER means
 * "no expiry", so 0 is an ordinary instant like any other.
 */
#ifndef MG_RULESET_H
#define MG_RULESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mg_addr.h"

#define MG_TIME_NEVER UINT64_MAX

/*
 * Owners, in no particular order: precedence is mg_rules_resolve()'s job.
 * One name table (mg_owner_name) serves logs, listings and the state file.
 */
enum mg_owner {
	MG_OWNER_CONFIG_ALLOW = 0, /* "config:allowlist" */
	MG_OWNER_CONFIG_SERVER,    /* "config:mail_servers" */
	MG_OWNER_LEARNED_SERVER,   /* "analyzer:learned" - a mail server the analyzer learned */
	MG_OWNER_OPERATOR_ALLOW,   /* "operator" - mtaguardctl allow */
	MG_OWNER_OPERATOR_BLOCK,   /* "operator" - mtaguardctl block */
	MG_OWNER_VERDICT,          /* "analyzer" - a verdict in force */
	MG_OWNER_PINNED_BLOCK,     /* "pinned" - a block found in the kernel at start that no record accounts for */
	MG_OWNER_PINNED_ALLOW,     /* "pinned" - likewise an allow, kept only when the rules file was damaged */
	MG_OWNER_CLUSTER_BLOCK,    /* "cluster" - other nodes' verdicts and blocks, received (mg_cluster_recv) */
	MG_OWNER_CLUSTER_ALLOW,    /* "cluster" - other nodes' operator allows, received */
	MG_OWNER_CLUSTER_SERVER,   /* "cluster:mail_servers" - mail servers other nodes learned, received */
	MG_OWNER_FEED,             /* "feed" - an imported list (mtaguardctl import; mg_feeds.h), all origins in one claim */
	MG_OWNER_BGP_BLOCK,        /* "bgp" - FlowSpec discard routes received from BGP peers (mtaguard-flowspec --accept) */
	MG_OWNER_MAX,
};
const char *mg_owner_name(enum mg_owner o);
/* Is o one of the owners whose claims are blocks (operator, analyzer, cluster, feed, pinned, bgp)? */
bool mg_owner_blocks(enum mg_owner o);

struct mg_claim {
	bool present;
	uint8_t action;   /* MG_ACT_* for block owners */
	uint64_t expires; /* MG_TIME_NEVER: until released */
};

/* What one prefix must look like in the kernel and in the analyzer's configured sets. */
struct mg_rule_want {
	bool allow;             /* an mg_allowlist entry */
	bool block;             /* an mg_blocklist entry (never together with allow: allow wins) */
	uint8_t action;         /* MG_ACT_* of the block */
	uint64_t block_expires; /* MG_TIME_NEVER or an instant */
	enum mg_owner block_by; /* whose block it is */
	enum mg_owner allow_by; /* whose allow it is (the first in listing order) */
	bool server;            /* an mg_servers entry (only for a prefix shaped like a kernel profile key) */
	bool an_allow;          /* in the analyzer's allow set */
	bool an_server;         /* in the analyzer's configured mail-server set */
};

/*
 * The precedence, as a pure function of the claims on one prefix at `now`:
 *   - a claim whose expiry has passed counts as absent;
 *   - allow = configured allowlist, configured mail server or operator allow
 *     (or a pinned allow); an allow always wins: no block is written beside it;
 *   - block = the operator's block if any, else the analyzer's verdict, else
 *     one received from other nodes, else an imported list's, else a pinned
 *     block: an operator's block stands over a verdict and hands back to it
 *     when it ends; what this network decided stands over what it received,
 *     and over third parties' lists; a FlowSpec route received over BGP
 *     comes after other nodes' entries and before imported lists;
 *   - a received allow is an allow (a network-wide decision of an operator),
 *     listed after this node's own; a mail server another node learned is
 *     one here too (an allow, in mg_servers, in the analyzer's mail-server
 *     set): a mail server always wins;
 *   - mg_servers = a configured or learned mail server, when `profile_key`
 *     (the prefix is exactly what the kernel keys a profile by);
 *   - the analyzer's allow set = configured allowlist, operator allows and received allows;
 *     its mail-server set = configured mail servers.
 */
void mg_rules_resolve(const struct mg_claim claims[MG_OWNER_MAX], bool profile_key, uint64_t now,
		      struct mg_rule_want *out);
/* Is there a block in w that the kernel enforces at `now` (present and not expired)? */
bool mg_rule_block_in_force(const struct mg_rule_want *w, uint64_t now);

/* Where the ledger's writes go. Every call returns 0 or -errno. Times are on the caller's timeline. */
struct mg_rule_sink {
	int (*put_block)(void *ctx, const struct mg_prefix *p, uint8_t action, uint64_t expires);
	int (*del_block)(void *ctx, const struct mg_prefix *p);
	int (*put_allow)(void *ctx, const struct mg_prefix *p);
	int (*del_allow)(void *ctx, const struct mg_prefix *p);
	/* A profile key into mg_servers (its counters move from mg_sources) and back. */
	int (*put_server)(void *ctx, const uint8_t key[16]);
	int (*del_server)(void *ctx, const uint8_t key[16]);
	int (*put_outbreak)(void *ctx, uint32_t fp, unsigned level, uint64_t since);
	int (*del_outbreak)(void *ctx, uint32_t fp);
};

struct mg_ruleset;

/* v6_key_len: the length the kernel keys IPv6 profiles by (its v6_src_prefix); IPv4 profiles are /128. */
struct mg_ruleset *mg_ruleset_new(uint8_t v6_key_len);
/* The protected IPv6 networks keyed at their own length inside (the kernel's table, fixed at load). */
void mg_ruleset_set_v6_nets(struct mg_ruleset *rs, const struct mg_v6_net *nets, unsigned n);
void mg_ruleset_free(struct mg_ruleset *rs);

/* Add or replace owner's claim on exactly p. 0 or -ENOMEM. */
int mg_ruleset_claim(struct mg_ruleset *rs, const struct mg_prefix *p, enum mg_owner o, uint8_t action,
		     uint64_t expires);
/* Drop owner's claim on exactly p; false if it had none. */
bool mg_ruleset_release(struct mg_ruleset *rs, const struct mg_prefix *p, enum mg_owner o);
/* Drop every claim of one owner (a reload re-claims the configured lists). */
void mg_ruleset_release_all(struct mg_ruleset *rs, enum mg_owner o);
/* Owner's claim on exactly p, or NULL. */
const struct mg_claim *mg_ruleset_get(const struct mg_ruleset *rs, const struct mg_prefix *p, enum mg_owner o);

/* Outbreak containment: a fingerprint in mg_outbreaks, with its level and since. */
int mg_ruleset_contain(struct mg_ruleset *rs, uint32_t fp, unsigned level, uint64_t since);
bool mg_ruleset_uncontain(struct mg_ruleset *rs, uint32_t fp);
void mg_ruleset_uncontain_all(struct mg_ruleset *rs);
size_t mg_ruleset_contained(const struct mg_ruleset *rs); /* fingerprints wanted in the kernel */

/*
 * What the kernel holds already (read at start, from pins a previous run
 * left): the next sync writes only what differs, and removes what nobody
 * claims. Blocks and allows; fingerprints with mg_ruleset_adopt_outbreak.
 */
int mg_ruleset_adopt(struct mg_ruleset *rs, const struct mg_prefix *p, bool allow, uint8_t action,
		     uint64_t expires);
int mg_ruleset_adopt_outbreak(struct mg_ruleset *rs, uint32_t fp, unsigned level, uint64_t since);

/*
 * Write the difference between what the claims want at `now` and what was
 * written, for every prefix changed since the last sync. Returns the number of
 * failed writes (each also reported through `fail`, which may be NULL); a
 * prefix whose write failed is tried again at the next sync.
 * *an_sets_changed tells the caller to rebuild the analyzer's sets
 * (mg_ruleset_foreach).
 */
size_t mg_ruleset_sync(struct mg_ruleset *rs, const struct mg_rule_sink *sink, void *ctx, uint64_t now,
		       bool *an_sets_changed,
		       void (*fail)(const char *what, const struct mg_prefix *p, int err, void *arg), void *arg);

/* Visit every prefix with a claim or a rule written: its claims and what is written now. */
struct mg_rule_entry {
	struct mg_prefix prefix;
	const struct mg_claim *claims; /* MG_OWNER_MAX of them */
	const struct mg_rule_want *written;
};
void mg_ruleset_foreach(const struct mg_ruleset *rs, void (*fn)(const struct mg_rule_entry *e, void *arg), void *arg);
/* The entry of exactly p, if any. */
bool mg_ruleset_find(const struct mg_ruleset *rs, const struct mg_prefix *p, struct mg_rule_entry *out);
size_t mg_ruleset_size(const struct mg_ruleset *rs);
/* Counts the writes into the sink that succeeded: what the kernel holds changed when it moved (DNSBL zone). */
uint64_t mg_ruleset_generation(const struct mg_ruleset *rs);
/*
 * Blocks written into the kernel where it held none for the prefix, by the
 * owner whose claim the precedence chose (a block handed from one owner to
 * another is not new), and fingerprints contained likewise: the metrics'
 * verdicts by origin. A write that failed counts when a later sync makes it.
 */
uint64_t mg_ruleset_blocks_new(const struct mg_ruleset *rs, enum mg_owner o);
uint64_t mg_ruleset_contained_new(const struct mg_ruleset *rs);

#endif
