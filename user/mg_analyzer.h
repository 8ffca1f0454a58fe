/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_analyzer.h - the analyzer: role profiles, role-change detection, verdicts.
 *
 * Pure logic, no syscalls: the daemon (and mtaguard-replay, and the unit tests)
 * feed it kernel events and counter snapshots stamped with a time, call
 * mg_an_tick() and carry out the actions it returns. Time is whatever the
 * caller says it is (CLOCK_MONOTONIC ns live, capture time in a replay), so a
 * scripted timeline in a test behaves exactly as the same traffic would live.
 *
 * Roles:
 *   UNKNOWN      seen, too little to judge
 *   END_HOST     an ordinary host: uses the network for other things
 *                (SYNs to other ports, submission to its relay) and does not
 *                deliver mail to MX hosts itself
 *   MAIL_SERVER  configured, or learned: steady direct-to-MX sending over the
 *                learning period with a stable, well-formed HELO, or it serves
 *                SMTP itself
 *   SUSPECT      scored above the alert threshold, not (yet) blocked
 *   BLOCKED      a verdict is in force
 *
 * Safety invariants the implementation keeps (and the tests check):
 *   - an allowlisted or configured mail-server address never gets a verdict;
 *   - a learned mail server is never blocked for volume alone;
 *   - no verdict without evidence from completed sessions: SMTP commands in
 *     payload (cmd counts > 0), never SYNs alone (spoofable);
 *   - at most max_new_blocks_per_min new blocks per minute (circuit breaker);
 *     past it, verdicts become MG_ACT_ALERT actions for the operator;
 *   - every block has an expiry; repeat offenders get longer ones.
 */
#ifndef MG_ANALYZER_H
#define MG_ANALYZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "mtaguard.h"
#include "mg_activity.h"
#include "mg_addr.h"
#include "mg_helo_shape.h"
#include "mg_verify.h"

enum mg_role {
	MG_ROLE_UNKNOWN = 0,
	MG_ROLE_END_HOST,
	MG_ROLE_MAIL_SERVER,
	MG_ROLE_SUSPECT,
	MG_ROLE_BLOCKED,
	MG_ROLE_MAX,
};
const char *mg_role_name(enum mg_role r); /* "unknown", "end_host", "mail_server", "suspect", "blocked" */

/* Tunables; mg_an_config_default() fills in the defaults the README justifies. */
struct mg_an_config {
	uint8_t v6_prefix;                 /* profiles aggregate IPv6 to this prefix (64) ... */
	uint8_t n_v6_nets;                 /* ... but inside these protected networks to theirs */
	struct mg_v6_net v6_nets[MG_V6_NETS_MAX]; /* the kernel's table (mg_tunables.v6_nets), the same rule */
	uint64_t window_ns;                /* sliding window for rates and distinct counts (10 min) */
	uint64_t learning_ns;              /* how long steady sending must last to learn a mail server (7 days) */
	uint32_t learn_min_active_days;    /* days with port-25 sending within the learning period (3) */
	/* Scoring: score = sum of weight * feature; verdict at >= block_score, alert at >= alert_score. */
	double block_score;                /* 10 */
	double alert_score;                /* 5 */
	double w_distinct_mx;              /* per distinct MX destination in the window beyond free_distinct_mx */
	uint32_t free_distinct_mx;         /* an end host may reach this many MXes without score (2) */
	double w_syn_rate;                 /* per port-25 SYN per minute beyond free_syn_per_min */
	uint32_t free_syn_per_min;         /* (3) */
	double w_helo_ip_literal, w_helo_bare_word, w_helo_own_octets, w_helo_varies;
	double w_rcpt_per_session;         /* per RCPT per session beyond 10 */
	double w_reject_ratio;             /* times the 4xx+5xx share of replies */
	double w_no_other_activity;        /* the source does nothing but SMTP */
	/* Longer memory: new MX destinations decayed with this half-life (2 h); weight 0 turns it off. */
	uint64_t long_half_life_ns;
	double free_long_mx;               /* that many in the memory are free (3) */
	double w_long_mx;                  /* per one beyond (1.5) */
	/* Verdicts */
	uint8_t block_action;              /* MG_ACT_DROP_SMTP */
	uint64_t block_ns;                 /* first block (1 h) */
	uint32_t repeat_factor;            /* each repeat multiplies the duration (4) */
	uint64_t max_block_ns;             /* cap (7 days) */
	uint32_t max_new_blocks_per_min;   /* circuit breaker (10) */
	bool monitor;                      /* verdicts become MG_ACT_ALERT with would_block set */
	/* Source verification (mg_verify.h): the checks' weights, and forgery's own verdict. */
	struct mg_verify_weights vw;
	uint32_t forgery_verdict_sessions; /* sessions with a forged identity that make a verdict (2; 0: never) */
	uint64_t reverify_ns;              /* the same HELO and domain are checked again after this (1 h) */
	/*
	 * HELO names kept as text: those of the helo_texts sources that sent a
	 * new one most recently (65536; 0: that default), and always those of
	 * suspects and blocked sources. Every other source keeps its last
	 * name's hash and shape only, until its next HELO brings the text back.
	 */
	uint32_t helo_texts;
};
void mg_an_config_default(struct mg_an_config *c);
/*
 * The length an IPv6 source is keyed by: the aggregation of the longest
 * network in c->v6_nets that covers it, else c->v6_prefix; 128 for IPv4.
 * The kernel's mg_src_key_of() decides alike.
 */
unsigned mg_an_key_len(const struct mg_an_config *c, const uint8_t addr[16]);

enum mg_an_action_kind {
	MG_AN_BLOCK = 1,    /* write a block rule */
	MG_AN_UNBLOCK,      /* a verdict expired: remove its rule */
	MG_AN_ALERT,        /* tell the operator (breaker open, monitor mode, suspect) */
	MG_AN_PROMOTE,      /* learned mail server: move the profile to mg_servers */
};

/*
 * A host seen inside a profile keyed by a prefix (IPv6 aggregated to /64, or
 * what its protected network says): who spoke SMTP from it, so the operator
 * knows whom a verdict on the whole prefix concerns, and where it sits.
 */
#define MG_AN_HOSTS 8 /* the most recent ones kept per profile */
struct mg_an_host {
	uint8_t addr[16];
	uint64_t first_seen_ns, last_seen_ns;
	uint32_t sessions;      /* HELO/EHLO commands from it */
	uint8_t mac[6];
	uint16_t vlan_outer;
};
struct mg_an_hosts {
	uint32_t more;          /* hosts seen beyond the ones listed (the least recent were let go) */
	uint8_t n;              /* listed in host[] */
	struct mg_an_host host[MG_AN_HOSTS]; /* most recent first */
};

/* Why: the rule that fired and the figures behind it. */
struct mg_an_evidence {
	char rule[48];              /* e.g. "role-change:direct-to-mx", "helo-absurd:dynamic-pool" */
	double score;
	uint32_t distinct_mx;       /* in the window */
	uint32_t syn_mx_per_min;
	uint32_t sessions;          /* MAIL commands in the window */
	uint32_t rcpts;
	uint32_t replies_2xx, replies_4xx, replies_5xx;
	unsigned helo_shape;        /* enum mg_helo_shape bits of the last HELO */
	uint32_t distinct_helos;    /* in the window */
	enum mg_helo_absurd helo_absurd; /* an absurd HELO identity in the window (MG_ABSURD_NONE if none) */
	double long_mx, long_sessions;   /* new MX destinations and sessions in the longer memory, decayed */
	char helo[MG_HELO_ARG_MAX + 1];
	/*
	 * The last HELO's hash (mg_helo_hash, 0: none seen), and whether its
	 * text was let go (helo is then "", helo_shape still the name's own:
	 * see mg_an_config.helo_texts).
	 */
	uint32_t helo_hash;
	bool helo_text_dropped;
	uint64_t first_evidence_ns; /* first port-25 activity that counted */
	uint8_t mac[6];
	uint16_t vlan_outer, vlan_inner;
	enum mg_role role_before;
	struct mg_an_hosts hosts;   /* a profile keyed by a prefix: the hosts seen in it (n = 0 otherwise) */
	/* Source verification: the last outcome in the window, if any. */
	bool verified;
	struct mg_verify_summary verify;
	double verify_score;        /* its part of score */
	uint32_t forged_sessions;   /* sessions with a forged identity in a row */
};

struct mg_an_action {
	enum mg_an_action_kind kind;
	struct mg_prefix prefix;    /* the profile's key as a prefix (/32 or /64 by default) */
	uint8_t block_action;       /* MG_ACT_* for BLOCK */
	uint64_t expires_ns;        /* for BLOCK */
	uint32_t offence;           /* 1 for a first block, 2 for the second ... */
	bool would_block;           /* ALERT instead of a BLOCK (monitor mode or breaker) */
	struct mg_an_evidence ev;
};

struct mg_analyzer;

struct mg_analyzer *mg_an_new(const struct mg_an_config *c);
void mg_an_free(struct mg_analyzer *a);
/* Replace the configuration (SIGHUP); profiles are kept. */
void mg_an_set_config(struct mg_analyzer *a, const struct mg_an_config *c);

/* Configured knowledge: these always win. */
void mg_an_add_mail_server(struct mg_analyzer *a, const struct mg_prefix *p);
void mg_an_add_allow(struct mg_analyzer *a, const struct mg_prefix *p);
void mg_an_remove_allow(struct mg_analyzer *a, const struct mg_prefix *p); /* mtaguardctl disallow */
void mg_an_clear_configured(struct mg_analyzer *a); /* before re-adding on reload */

/*
 * The protected addresses' activity records (NULL: none), read where the
 * shell keeps them: the analyzer holds the pointer, the shell refreshes the
 * view in place each scan. A source whose record shows ordinary use (web,
 * other TCP) is an end host before it ever speaks SMTP, and never gets
 * no_other_activity's points. Its cost: no profile and no copy per address.
 */
void mg_an_set_activity(struct mg_analyzer *a, const struct mg_act_view *v);

/* Inputs. Addresses are the kernel's (full; the analyzer aggregates). */
void mg_an_on_event(struct mg_analyzer *a, const struct mg_event *ev, uint64_t now);
/*
 * A counter snapshot of one kernel profile (key as the kernel keys it). The
 * analyzer keeps the previous snapshot and counts the growth since, so the
 * kernel and the analyzer must aggregate IPv6 alike (ipv6_aggregation and the
 * protected networks' own set both: mg_an_key_len()).
 */
void mg_an_on_counters(struct mg_analyzer *a, const uint8_t key[16], const struct mg_src_stats *s, uint64_t now);
/* The same for n snapshots at once, as a batched map read delivers them: faster on big tables. */
void mg_an_on_counters_batch(struct mg_analyzer *a, const uint8_t (*keys)[16], const struct mg_src_stats *s,
			     size_t n, uint64_t now);
/*
 * Source verification. mg_an_verify_wanted: should the shell verify the
 * source that sent this MAIL event now? True (and *in filled in: its full
 * address, last HELO, MAIL FROM domain) for a source that is no configured,
 * learned or allowlisted mail source, is not blocked, and sent a HELO and
 * domain not checked within reverify_ns, and at most once per 30 s per
 * source (so random senders cannot make it a query generator).
 * mg_an_on_verify: the outcome, for the full address it was asked for.
 */
bool mg_an_verify_wanted(struct mg_analyzer *a, const uint8_t addr[16], uint64_t now, struct mg_verify_input *in);
void mg_an_on_verify(struct mg_analyzer *a, const uint8_t addr[16], const struct mg_verify_summary *s, uint64_t now);
/* Verification records held (memory figures). */
size_t mg_an_verify_records(const struct mg_analyzer *a);

/*
 * The operator lifted a block (mtaguardctl unblock) of exactly this profile:
 * the verdict ends and the evidence behind it is cleared, so the next tick
 * does not block it again on old figures. False if it was not blocked.
 */
bool mg_an_pardon(struct mg_analyzer *a, const struct mg_prefix *p, uint64_t now);

/*
 * The global threat level (0..5, from outbreak detection): for hosts, the
 * block and alert scores are lowered by 10 % per level; servers keep theirs.
 */
void mg_an_set_threat(struct mg_analyzer *a, unsigned level);
/*
 * Is addr a new sender: its first port-25 activity ever is within the
 * window, and it is no configured, learned or allowlisted mail source?
 * (Outbreak detection groups new senders.)
 */
bool mg_an_new_sender(const struct mg_analyzer *a, const uint8_t addr[16], uint64_t now);

/* Evaluate; writes up to `max` actions, returns how many. Call every second or so. */
size_t mg_an_tick(struct mg_analyzer *a, uint64_t now, struct mg_an_action *out, size_t max);
/*
 * Only the part of a tick that judges the profiles with news (events or
 * counters since they were last judged): no expiries, no idle sweep. Cheap
 * enough to call after every batch of events, so a verdict need not wait
 * for the next tick; what does not fit in `max` waits for the next call.
 */
size_t mg_an_evaluate(struct mg_analyzer *a, uint64_t now, struct mg_an_action *out, size_t max);

/*
 * Persistence: every profile and verdict into a versioned byte buffer (the
 * daemon compresses it into the state file) and back. restore() replaces the
 * profiles but keeps the configuration and configured addresses. Both take
 * the monotonic and the wall-clock time: monotonic time starts again at boot,
 * so restore re-bases every saved time and counts the wall time passed since
 * the save (a block keeps its remaining time across a restart or a reboot).
 *
 * A degradation, on purpose: a saved time that falls before this timeline's 0
 * (e.g. restored at 3 s of uptime, an episode that began an hour ago) is
 * clamped to 1, since these times are unsigned and 0 means "never". Such a
 * time then looks younger than it is: a learning period or a repeat
 * offender's clean record counts from the restore (both err on the side of
 * caution), a source active before the reboot may pass for a new sender for
 * one window, and an episode's rate is taken over a shorter span. Windowed
 * figures are aged to the restore moment before the shift, so evidence that
 * expired during the downtime never comes back. The daemon feeds these
 * modules a timeline that starts far from 0 (so it never clamps); the logic
 * itself is correct for any now, small ones included.
 */
int mg_an_save(const struct mg_analyzer *a, uint64_t now, uint64_t wall, uint8_t **buf, size_t *len); /* *buf from malloc */
/*
 * The same save in slices, so a caller's loop goes on between them (ten
 * million profiles take seconds to serialize), and in pieces, so that the
 * caller can write what is done (mg_state_out) instead of holding all of it
 * (7.5 GB for ten million profiles speaking SMTP): begin, then steps of at
 * most `max` profile slots each until one returns 1, taking what is done
 * with take whenever the caller likes, then finish for the rest. The save
 * is as of begin's time: a record saved by a later step may carry times
 * after it, by at most the save's duration, which the restore moves by the
 * same shift (the restore's checks allow a day). Between steps the
 * analyzer may change: a profile is saved as it is when its step reaches
 * it; one created behind the cursor waits for the next save, one freed
 * before it is not saved. A profile freed behind the cursor and made again
 * ahead of it would be saved twice: the restore keeps the first and refuses
 * the second ("a second record for one source"), as it refuses any repeated
 * record. An abandoned save is freed with mg_an_saver_free.
 */
struct mg_an_saver {
	uint8_t *b;
	size_t len, cap;
	uint32_t next;   /* the next profile slot */
	uint32_t count;  /* records written */
};
/* now, wall: the save's start. 0 or -ENOMEM. */
int mg_an_save_begin(const struct mg_analyzer *a, struct mg_an_saver *s, uint64_t now, uint64_t wall);
/* 1 when every slot is done, 0 when more remain, -ENOMEM (the save abandoned and freed). now: the step's time. */
int mg_an_save_step(const struct mg_analyzer *a, struct mg_an_saver *s, uint32_t max, uint64_t now);
/* What is serialized and not yet taken (*buf from malloc, NULL with *len 0 when nothing is). */
void mg_an_save_take(struct mg_an_saver *s, uint8_t **buf, size_t *len);
/* After the last step: the rest, with the end of the save (*buf from malloc), the saver emptied. 0 or -ENOMEM (freed). */
int mg_an_save_finish(struct mg_an_saver *s, uint8_t **buf, size_t *len);
void mg_an_saver_free(struct mg_an_saver *s);
/* What a restore took and what it refused. */
struct mg_an_restore_report {
	size_t restored, refused;
	char first_refusal[160]; /* "198.18.0.66: HELO length over 64": the first refused record and why */
};
/*
 * A restore is for a start: it replaces the analyzer's profiles with the
 * saved ones. -EINVAL when the state as a whole cannot be used: not a saved
 * state, another version, or times that cannot be carried over (seen in its
 * header: nothing changes), or cut short, too long, a record whose length
 * cannot be told (seen part-way: the analyzer is left without profiles, as
 * if the file had been refused at once). Otherwise the profiles are replaced
 * by every record that passes all checks (lengths, counts, roles and other
 * enumerations, flags, times, the key's aggregation, VLAN IDs); a record
 * that fails one is skipped and counted in *rep (may be NULL), so one bad
 * record never stops the others nor the daemon. -ENOMEM part-way leaves no
 * profile either. *rep counts nothing after a failure.
 */
int mg_an_restore(struct mg_analyzer *a, const uint8_t *buf, size_t len, uint64_t now, uint64_t wall,
		  struct mg_an_restore_report *rep);
/*
 * The same restore as the state arrives, so that it never needs the whole
 * of it in memory (7.5 GB for ten million profiles speaking SMTP): begin
 * (NULL without memory), feed its bytes in pieces of any size and bounds,
 * then end for mg_an_restore's outcome. feed returns 0 or the failure that
 * ended the restore (the same every call after; end gives it too). A
 * caller whose source fails (a file whose checksum does not match at its
 * end) calls abort instead: whatever was restored goes. end and abort free
 * the restorer.
 */
struct mg_an_restorer;
struct mg_an_restorer *mg_an_restore_begin(struct mg_analyzer *a, uint64_t now, uint64_t wall,
					   struct mg_an_restore_report *rep);
int mg_an_restore_feed(struct mg_an_restorer *r, const uint8_t *buf, size_t len);
int mg_an_restore_end(struct mg_an_restorer *r);
void mg_an_restore_abort(struct mg_an_restorer *r);

/* Read access for status and show. */
#define MG_AN_HISTORY 4 /* role changes kept per source that spoke SMTP */
struct mg_an_profile_view {
	struct mg_prefix prefix;
	enum mg_role role;
	double score;
	uint64_t first_seen_ns, last_seen_ns;
	uint64_t blocked_until_ns;   /* 0 if not blocked */
	uint32_t offences;
	struct mg_an_evidence ev;    /* current figures */
	bool configured_server, allowlisted;
	bool learned;                /* learned as a mail server (its profile lives in mg_servers) */
	/* Since first seen: what else it does (SYNs to submission and other ports), and SYN-ACKs it
	 * sent from its own SMTP ports (it serves mail itself). */
	uint32_t submission_syns, other_syns, serves_smtp;
	struct {
		uint64_t at_ns;
		enum mg_role from, to;
	} history[MG_AN_HISTORY];    /* oldest first */
	unsigned n_history;
	/* Its protected address's activity record, if it has one (activity_only: and no profile at all). */
	bool has_activity, activity_only;
	struct mg_activity activity;
};
bool mg_an_get(const struct mg_analyzer *a, const uint8_t addr[16], struct mg_an_profile_view *out);
size_t mg_an_count(const struct mg_analyzer *a, size_t by_role[MG_ROLE_MAX]);
/* Visit every profile; stop when fn returns nonzero. */
void mg_an_foreach(const struct mg_analyzer *a, int (*fn)(const struct mg_an_profile_view *v, void *arg), void *arg);
/*
 * Visit every protected address (IPv6: /64) without a profile that was
 * active within the idle horizon of hosts (30 days), as its activity record
 * tells it: end_host when it shows ordinary use, unknown otherwise.
 */
void mg_an_foreach_activity_only(const struct mg_analyzer *a,
				 int (*fn)(const struct mg_an_profile_view *v, void *arg), void *arg);
/* The same view for one address (IPv6: its /64), if it is one of those. */
bool mg_an_get_activity_only(const struct mg_analyzer *a, const uint8_t addr[16], struct mg_an_profile_view *out);
/* How many of those, added to by_role. */
size_t mg_an_count_activity_only(const struct mg_analyzer *a, size_t by_role[MG_ROLE_MAX]);

#endif
