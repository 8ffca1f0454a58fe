/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_outbreak.h - outbreak detection: many never-seen senders with the same
 * characteristics at once.
 *
 * Pure logic, like the analyzer: the daemon (and mtaguard-replay, and the
 * tests) report the characteristics of each *new sender* (a source whose
 * first port-25 activity ever falls in the window) as they become known: the
 * SYN's fingerprint hash, the HELO argument's hash, its shape with the verb.
 * When at least K distinct new senders share one characteristic within the
 * window W, that characteristic becomes an outbreak signature with a level:
 *
 *   level 2 at K members, 3 at 2K, 4 at 4K, 5 at 8K or more;
 *   one level less per `decay` without a new member; ended at 0.
 *
 * The global threat level (0..5) is the highest outbreak level, one more
 * when two or more signatures are active at once on different hosts; an
 * outbreak counts there only with K proven members (mg_ob_observe), and no
 * higher than they carry it. Fingerprint signatures go
 * into the kernel (containment at the first SYN); all of them feed the
 * relay's quarantine and tighten the analyzer's thresholds.
 */
#ifndef MG_OUTBREAK_H
#define MG_OUTBREAK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "mg_addr.h"

enum mg_sig_kind {
	MG_SIG_FP = 1,    /* SYN fingerprint hash */
	MG_SIG_HELO = 2,  /* HELO/EHLO argument hash (case-folded) */
	MG_SIG_SHAPE = 3, /* HELO shape bits, with the verb: value = shape | (ehlo ? 0x100 : 0) */
};

struct mg_signature {
	uint8_t kind;
	uint32_t value;
};

/* "fp:1a2b3c4d", "helo:0badc0de", "shape:ip-literal,own-octets/ehlo" */
const char *mg_sig_str(const struct mg_signature *s, char *buf, size_t len);
/* Parse the "fp:" and "helo:" forms (hex) and "shape:" forms; 0 or -EINVAL. */
int mg_sig_parse(const char *text, struct mg_signature *out);

struct mg_event;
/* The characteristics an event shows: a SYN's fingerprint; a HELO's hash and (unless a plain FQDN) shape+verb. */
size_t mg_ob_event_signatures(const struct mg_event *ev, struct mg_signature out[2]);

struct mg_ob_config {
	uint32_t min_senders;  /* K (5) */
	uint64_t window_ns;    /* W (10 min) */
	uint64_t decay_ns;     /* one level down per quiet period (30 min) */
};
void mg_ob_config_default(struct mg_ob_config *c);

#define MG_OB_MAX_MEMBERS 256 /* named in an alert; counting goes on past it */

struct mg_ob_member {
	struct mg_prefix src;
	uint8_t mac[6];
	uint16_t vlan_outer, vlan_inner;
	uint64_t joined_ns;
};

enum mg_ob_action_kind {
	MG_OB_DECLARE = 1, /* a new outbreak: alert, and for MG_SIG_FP the kernel map */
	MG_OB_JOIN,        /* one more member of an active outbreak */
	MG_OB_LEVEL,       /* an outbreak's level changed (up with members, down with quiet) */
	MG_OB_END,         /* quiet long enough: remove it everywhere */
};

struct mg_ob_action {
	enum mg_ob_action_kind kind;
	struct mg_signature sig;
	unsigned level;          /* the outbreak's level after this action */
	unsigned threat_level;   /* the global level after this action */
	uint32_t members;        /* distinct members so far, proven or not */
	uint32_t proven;         /* of them, proven (mg_ob_observe); only these are ever named */
	uint64_t since_ns;
	const struct mg_ob_member *member; /* JOIN: the new (proven) one, NULL if past the list's room */
	const struct mg_ob_member *list;   /* DECLARE: the proven members (n_list), valid until the next call */
	uint32_t n_list;
	bool exempted;           /* END: because the operator exempted the signature, not after quiet */
};

struct mg_outbreaks;

struct mg_outbreaks *mg_ob_new(const struct mg_ob_config *c);
void mg_ob_free(struct mg_outbreaks *o);
void mg_ob_set_config(struct mg_outbreaks *o, const struct mg_ob_config *c);

/* Exceptions: never grouped, never declared (a signature), never counted as a member (a prefix). */
void mg_ob_except_sig(struct mg_outbreaks *o, const struct mg_signature *s, bool on);
void mg_ob_except_prefix(struct mg_outbreaks *o, const struct mg_prefix *p, bool on);
void mg_ob_clear_exceptions(struct mg_outbreaks *o);
/* Visit the exceptions (for mtaguardctl except list); fn gets exactly one of sig or prefix. */
void mg_ob_foreach_exception(const struct mg_outbreaks *o,
			     void (*fn)(const struct mg_signature *sig, const struct mg_prefix *pfx, void *arg), void *arg);

/*
 * A new sender shows a characteristic, on evidence that proves the source is
 * who it claims (commands on a connection, enum mg_proof). Writes actions
 * (declarations, joins, level changes) into out, returns how many. Reporting
 * the same source and characteristic twice counts once.
 */
size_t mg_ob_observe(struct mg_outbreaks *o, const struct mg_prefix *src, const uint8_t mac[6], uint16_t vlan_outer,
		     uint16_t vlan_inner, const struct mg_signature *sig, uint64_t now, struct mg_ob_action *out,
		     size_t max);
/*
 * The same on evidence anyone could forge (a SYN): the source counts toward
 * the signature, so it can be declared and contained in the kernel, but it is
 * never named (not in member lists, joins, mg_ob_member_of) and adds nothing
 * to the threat level until the same source is observed proven.
 */
size_t mg_ob_observe_unproven(struct mg_outbreaks *o, const struct mg_prefix *src, const uint8_t mac[6],
			      uint16_t vlan_outer, uint16_t vlan_inner, const struct mg_signature *sig, uint64_t now,
			      struct mg_ob_action *out, size_t max);
/* Decay and end quiet outbreaks; forget stale candidates. */
size_t mg_ob_tick(struct mg_outbreaks *o, uint64_t now, struct mg_ob_action *out, size_t max);

unsigned mg_ob_threat_level(const struct mg_outbreaks *o);
size_t mg_ob_active(const struct mg_outbreaks *o);
/* Is src a member of an active outbreak? Its signature into *sig if so. */
bool mg_ob_member_of(const struct mg_outbreaks *o, const uint8_t addr[16], struct mg_signature *sig);

struct mg_ob_view {
	struct mg_signature sig;
	unsigned level;
	uint32_t members, proven;
	uint64_t since_ns, last_join_ns;
	const struct mg_ob_member *list; /* the proven members */
	uint32_t n_list;
};
void mg_ob_foreach(const struct mg_outbreaks *o, void (*fn)(const struct mg_ob_view *v, void *arg), void *arg);

/*
 * Persistence, so that a restart during an outbreak keeps containment and the
 * threat level. now is the caller's (monotonic) time, wall the wall clock at
 * the same instant, both in ns.
 */
/* Active outbreaks (with their level, member count, member list and times) as JSON for a state file; times as wall-clock ns. */
json_t *mg_ob_save_json(const struct mg_outbreaks *o, uint64_t now, uint64_t wall);
/* Replace the active outbreaks with those saved by mg_ob_save_json (candidates and exceptions untouched). Times are re-based
 * from wall to the caller's timeline; the decay that elapsed in wall time while nobody ran is applied (levels lowered,
 * ended ones dropped). A malformed outbreak (types, signature, level, counts, times, members' prefixes, MACs, VLANs) or a
 * second one for a signature is skipped and counted in *refused (may be NULL). Returns 0; -EINVAL with nothing changed
 * when the document itself is not a saved outbreak list; -ENOMEM. */
int mg_ob_restore_json(struct mg_outbreaks *o, const json_t *j, uint64_t now, uint64_t wall, size_t *refused);

#endif
