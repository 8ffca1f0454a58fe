/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_relay_decision.h - the relay's quarantine decision for one Postfix policy
 * request, from facts the daemon has already gathered (kernel rules, the
 * analyzer's role, outbreak membership, the threat level).
 *
 * Pure: no syscalls, no globals, so every branch of what Postfix is told can
 * be tested without a data plane. mg_daemon_policy.c does the lookups, calls
 * this, and keeps the counters and the quarantine record.
 */
#ifndef MG_RELAY_DECISION_H
#define MG_RELAY_DECISION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mg_addr.h"
#include "mg_analyzer.h"

/* The quarantine exceptions (quarantine.except in the config). The element
 * sizes are mg_config's, so its arrays can be passed as they are. */
struct mg_relay_exceptions {
	const struct mg_prefix *client;
	size_t n_client;
	const char (*domain)[128];        /* sender domains, compared case-insensitively */
	size_t n_domain;
	const char (*rcpt)[256];          /* recipient addresses, compared case-insensitively */
	size_t n_rcpt;
};

/* Is this request exempt from the quarantine? By client prefix (addr in the
 * 16-byte form), by the sender's domain (after its last '@'; an empty or
 * domainless sender, the null sender of a bounce, matches none), or by the
 * recipient. sender and recipient may be NULL, meaning empty. */
bool mg_relay_excepted(const struct mg_relay_exceptions *x, const uint8_t addr[16], const char *sender,
		       const char *recipient);

/* Does a kernel block rule found for the client still count? A rule past its
 * expiry is only waiting for the daemon to remove it; the kernel ignores it. */
bool mg_relay_block_in_force(bool found, uint64_t expires_ns, uint64_t now_ns);

struct mg_relay_facts {
	const char *client;        /* client_address as Postfix sent it; named in a REJECT */
	bool parsed;               /* client is an address (if not, nothing else is looked at) */
	bool excepted;             /* mg_relay_excepted() */
	bool allowlisted;          /* a kernel allow rule covers the client */
	bool kernel_block;         /* a kernel block rule in force (mg_relay_block_in_force()) */
	bool known;                /* the analyzer has a profile for the client */
	enum mg_role role;         /* its role, if known */
	const char *verdict_rule;  /* its evidence's rule ("role-change:direct-to-mx"), if known */
	const char *checks;        /* source verification's line when it found something ("spf=fail domain=…"), or NULL */
	bool outbreak_member;      /* a member of an active outbreak */
	const char *signature;     /* that outbreak's signature ("fp:68812a4c"), if a member */
	unsigned threat_level;     /* the global level, 0..5 */
	unsigned quarantine_level; /* quarantine.threshold: suspects are held from this level on */
};

enum mg_relay_action {
	MG_RELAY_DUNNO = 0,
	MG_RELAY_REJECT,
	MG_RELAY_HOLD,
};

/*
 * The decision. Writes the action for Postfix (without "action=") into
 * action, and for a HOLD sets *reason to "outbreak" or "suspect" (NULL
 * otherwise; reason may be NULL if the caller does not want it).
 *
 * Order: an unparseable client, an exception or an allow rule gives DUNNO;
 * then a block (a kernel rule in force, or the analyzer's verdict) gives
 * REJECT 5.7.1; then an outbreak member, or a suspect at the quarantine
 * threshold, gives HOLD; anything else DUNNO.
 */
enum mg_relay_action mg_relay_decide(const struct mg_relay_facts *f, char *action, size_t len, const char **reason);

#endif
