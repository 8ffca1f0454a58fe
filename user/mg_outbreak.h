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
 * when two or more signatures are active at once, counting only the
 * outbreaks that are specific enough to act on (below), each only with K
 * proven members (mg_ob_observe) and no higher than they carry it.
 *
 * Which sources: with protected networks configured, a source inside them is
 * one of ours (outbound: kernel containment is for these), a source outside
 * is an outside sender (inbound mail to our relay, most of the time). The two
 * are grouped apart. An inbound outbreak is never contained in the kernel and
 * never raises the threat level that lowers our own hosts' thresholds; it is
 * declared only when specific enough, and then only the relay acts on it
 * (HOLD through the policy service). Without protected networks every source
 * is taken as one of ours.
 *
 * Specificity: how few legitimate hosts would share a signature (enum
 * mg_sig_class has the scores). An outbreak's specificity is its own score
 * plus the best score of another active outbreak of the same direction among
 * the same hosts (one kit shows its fingerprint, HELO and shape together).
 *   - at MG_OB_SPEC_ACT (2) or more: counted in the threat level (outbound),
 *     its members held at the relay;
 *   - at MG_OB_SPEC_CONTAIN (3) or more, a fingerprint, outbound: contained
 *     in the kernel (its SYNs to MX ports dropped at the first SYN);
 *   - an outbreak whose hosts all greet with one identical proper FQDN
 *     (its own signature, or one among the same hosts) is an application on
 *     many hosts (a scanner-to-mail, a monitoring agent), not a campaign:
 *     an alert, nothing more. Each host is still judged by the analyzer, at
 *     its ordinary thresholds.
 * So a bare stock OS fingerprint (1) is an alert only; with a bot-like HELO
 * shape among the same hosts (1 + 2) it is contained.
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

/*
 * Why a signature is (not) specific: its class, with a score. A signature's
 * identity is kind and value; the class comes with it from the event that
 * showed it (the SYN's layout, the HELO's shape).
 */
enum mg_sig_class {
	MG_SIGCLASS_BY_KIND = 0, /* not told: by its kind (a fingerprint: rare; a HELO: same-helo; a shape: helo-shape) */
	MG_SIGCLASS_STOCK_OS_FP, /* 1: a stock OS SYN fingerprint (mg_osfp.h): most of the world's hosts */
	MG_SIGCLASS_RARE_FP,     /* 3: any other fingerprint: a tool's or a kit's own stack */
	MG_SIGCLASS_HELO_SHAPE,  /* 2: a HELO shape no mail server uses (IP literal, bare word, own octets, empty) */
	MG_SIGCLASS_SAME_HELO,   /* 3: one identical HELO argument that is no proper FQDN */
	MG_SIGCLASS_APP_HELO,    /* 0: one identical proper-FQDN HELO: an application on many hosts */
	MG_SIGCLASS_MAX,
};
/* "by-kind", "stock-os-fingerprint", "rare-fingerprint", "helo-shape", "same-helo", "application-helo"; NULL-safe "?" */
const char *mg_sig_class_name(enum mg_sig_class c);
/* The class's score; MG_SIGCLASS_BY_KIND scores 0 (the module resolves it by kind when it groups). */
unsigned mg_sig_class_score(enum mg_sig_class c);

#define MG_OB_SPEC_ACT 2     /* counted in the threat level, members held at the relay */
#define MG_OB_SPEC_CONTAIN 3 /* a fingerprint contained in the kernel (outbound only) */

struct mg_signature {
	uint8_t kind;
	uint32_t value;
	uint8_t spec_class; /* enum mg_sig_class; not part of its identity */
};

/* Where an outbreak's senders are, as the protected networks tell. */
enum mg_ob_direction {
	MG_OB_OUTBOUND = 0, /* our own hosts (inside the protected networks, or none configured) */
	MG_OB_INBOUND,      /* outside senders: mail to us, handled at the relay */
	MG_OB_DIRECTION_MAX,
};
const char *mg_ob_direction_name(enum mg_ob_direction d); /* "outbound", "inbound" */

/* What is done about an active outbreak, and why. */
enum mg_ob_decision {
	MG_OB_ALERT_ONLY = 0, /* below MG_OB_SPEC_ACT: too common a signature to act on */
	MG_OB_APPLICATION,    /* one identical proper-FQDN HELO: an application, alert only */
	MG_OB_COUNTED,        /* counted in the threat level, members held at the relay; not contained */
	MG_OB_CONTAINED,      /* as COUNTED, and the fingerprint contained in the kernel */
	MG_OB_INBOUND_HOLD,   /* inbound: members held at the relay only */
	MG_OB_DECISION_MAX,
};
/* "alert-only", "application", "counted", "contained", "inbound-hold" */
const char *mg_ob_decision_name(enum mg_ob_decision d);

/* "fp:1a2b3c4d", "helo:0badc0de", "shape:ip-literal,own-octets/ehlo" */
const char *mg_sig_str(const struct mg_signature *s, char *buf, size_t len);
/*
 * Parse the "fp:" (hex), "helo:" and "shape:" forms; 0 or -EINVAL. "helo:"
 * takes the hash (exactly 8 hex digits, as mg_sig_str writes it) or the HELO's
 * text, hashed as the data plane does ("helo:mail.example.net"; quoted when
 * it is 8 hex digits itself: helo:"deadbeef").
 */
int mg_sig_parse(const char *text, struct mg_signature *out);

struct mg_event;
/* The characteristics an event shows, with their classes: a SYN's fingerprint; a HELO's hash and (unless a plain
 * FQDN) shape+verb. */
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
	MG_OB_DECIDE,      /* its decision changed (a co-signature came or went): contain or release, count or not */
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
	enum mg_ob_direction direction;
	enum mg_ob_decision decision; /* DECLARE, JOIN, LEVEL, DECIDE: what is done about it now */
	unsigned specificity;    /* its own score plus the best co-signature's */
	struct mg_signature with; /* the co-signature counted in (kind 0: none) */
};

struct mg_outbreaks;

struct mg_outbreaks *mg_ob_new(const struct mg_ob_config *c);
void mg_ob_free(struct mg_outbreaks *o);
void mg_ob_set_config(struct mg_outbreaks *o, const struct mg_ob_config *c);

/*
 * The protected networks (copied): sources inside are ours, outside inbound.
 * None: every source is ours. Outbreaks already active keep their direction.
 */
int mg_ob_set_protected(struct mg_outbreaks *o, const struct mg_prefix *v, size_t n);

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
/* Is src a member of an active outbreak specific enough to hold its mail (decision COUNTED, CONTAINED or
 * INBOUND_HOLD)? Its signature into *sig if so. */
bool mg_ob_member_of(const struct mg_outbreaks *o, const uint8_t addr[16], struct mg_signature *sig);

/*
 * Why: a sentence for operators on what is done about an outbreak and what its
 * specificity is made of ("specificity 3 (stock-os-fingerprint 1 + shape:...
 * helo-shape 2): contained in the kernel").
 */
const char *mg_ob_explain(const struct mg_signature *sig, enum mg_ob_direction dir, enum mg_ob_decision d,
			  unsigned specificity, const struct mg_signature *with, char *buf, size_t len);

struct mg_ob_view {
	struct mg_signature sig;
	enum mg_ob_direction direction;
	enum mg_ob_decision decision;
	unsigned specificity;
	struct mg_signature with; /* the co-signature counted in (kind 0: none) */
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
