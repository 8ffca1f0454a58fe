/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_engine.h - everything between "an event or a scanned profile arrives"
 * and "a kernel map changes", for mtaguardd and mtaguard-replay alike.
 *
 * The engine owns the analyzer, outbreak detection, the operator's rules and
 * exceptions, and the rule ledger (mg_ruleset), which is the only writer of
 * the kernel's rule maps. A shell (the daemon, the replay, a test) gives it:
 *   - a sink: where rules are written and where kernel profiles are read
 *     (real BPF maps, a private instance, or a fake);
 *   - an observer: told of every verdict, alert, outbreak action, threat
 *     level change and notice, so the engine never logs by itself;
 *   - time: `now` on a monotonic timeline of the shell's choosing and `wall`
 *     (CLOCK_REALTIME ns) for the same instant. The daemon's timeline is
 *     CLOCK_MONOTONIC shifted by MG_TIMELINE_ORIGIN, so times restored from
 *     before this boot stay representable; the replay's is the capture's own.
 *
 * No syscalls but the state files' reads and writes (mg_engine_save and
 * _restore) and what the sink does.
 */
#ifndef MG_ENGINE_H
#define MG_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "mtaguard.h"
#include "mg_analyzer.h"
#include "mg_cluster_codec.h"
#include "mg_cluster_recv.h"
#include "mg_config.h"
#include "mg_feeds.h"
#include "mg_histogram.h"
#include "mg_log_gate.h"
#include "mg_oprules.h"
#include "mg_outbreak.h"
#include "mg_ruleset.h"
#include "mg_statefile.h"

/*
 * The daemon's timeline: CLOCK_MONOTONIC plus this. Monotonic time starts
 * near 0 at boot; state restored after a reboot holds instants from before
 * it, which must stay ordinary numbers (a learning period begun six days
 * ago, an outbreak's last member). 2^60 ns is 36 years.
 */
#define MG_TIMELINE_ORIGIN (1ull << 60)

/* The kernel side: the ledger's writes, plus what else the engine reads or sets there. */
struct mg_engine_sink {
	struct mg_rule_sink rules;
	/* Every kernel profile (mg_sources, then mg_servers), in batches; -errno on failure. */
	int (*scan)(void *ctx, void (*fn)(const uint8_t (*keys)[16], const struct mg_src_stats *s, size_t n, void *arg),
		    void *arg);
	/* One kernel profile by its key (mg_servers, then mg_sources): 0 or -ENOENT (optional; NULL: none). */
	int (*read_one)(void *ctx, const uint8_t key[16], struct mg_src_stats *out);
	int (*set_monitor)(void *ctx, bool on);
	int (*set_outbreak_count)(void *ctx, uint32_t n);
	/* The protected addresses' activity records, refreshed for this scan (optional; NULL: none). */
	const struct mg_act_view *(*activity)(void *ctx);
};

enum mg_note_kind {
	MG_NOTE_ACTION = 1, /* an analyzer action (verdict, end of one, alert, learned server) */
	MG_NOTE_OUTBREAK,   /* an outbreak action (declared, member, level, end) */
	MG_NOTE_THREAT,     /* the threat level changed */
	MG_NOTE_NOTICE,     /* anything else the operator should read */
};

struct mg_engine_note {
	enum mg_note_kind kind;
	uint64_t now, wall;
	const struct mg_an_action *action;  /* ACTION */
	const struct mg_ob_action *ob;      /* OUTBREAK */
	bool contained;                     /* OUTBREAK: a fingerprint contained in the kernel */
	unsigned threat_from, threat_to;    /* THREAT */
	const char *event;                  /* NOTICE: the log's event name; NULL: a readable line only */
	const char *text;                   /* NOTICE */
	bool warning;                       /* NOTICE: something failed or was refused */
};
typedef void (*mg_engine_observer)(const struct mg_engine_note *n, void *arg);

/* What a new configuration cannot change until a restart (mg_engine_configure's result). */
enum mg_engine_restart {
	MG_RESTART_V6_AGGREGATION = 1 << 0, /* the kernel keys profiles at the running length */
};

/*
 * The shell's verifier: check `in` (the public address already put in for
 * NATed hosts) and later hand the outcome to mg_engine_verified() with the
 * same `who`. Called from mg_engine_event() for a MAIL event the analyzer
 * wants verified; must not block.
 */
typedef void (*mg_engine_verify_fn)(void *arg, const uint8_t who[16], const struct mg_verify_input *in);

/*
 * A state file handed over as it is made (mg_state_writer.h does it beside
 * the daemon's loop). put takes buf unless it says -EAGAIN: no room now,
 * the engine keeps the piece and tries again at its next step.
 */
struct mg_state_stream {
	int (*open)(void *ctx, const char *path);
	int (*put)(void *ctx, uint8_t *buf, size_t len);
	void (*close)(void *ctx);   /* every piece was put */
	void (*abort)(void *ctx);   /* given up: the file stays as it was */
};

struct mg_engine {
	/* Running settings: the engine's copy of what it uses from the configuration. */
	struct mg_an_config an_cfg;
	struct mg_ob_config ob_cfg;
	bool contain;
	/*
	 * Where the analyzer's state goes as it is serialized: NULL, written
	 * here (compressed in the caller's thread); else handed over piece by
	 * piece (the daemon's state writer, mg_state_writer.h, which reports
	 * the outcome itself).
	 */
	const struct mg_state_stream *state_stream;
	void *state_stream_ctx;
	/*
	 * Called after each piece of a save written here (without
	 * state_stream: mg_engine_save's), with the bytes serialized so far:
	 * the daemon's last save at a stop tells the service manager it is
	 * still making progress (minutes, for ten million profiles). NULL:
	 * nothing.
	 */
	void (*save_progress)(void *ctx, size_t bytes);
	void *save_progress_ctx;
	uint64_t save_serialize_ns;  /* the last save's serialization, in the caller's thread, all slices */
	uint64_t save_slice_max_ns;  /* its longest slice (mg_engine_save_step) */
	struct mg_an_saver saver;    /* a sliced save under way (saving) */
	bool saving;
	bool save_via_stream;        /* it goes to state_stream (else to save_out) */
	bool save_last;              /* the analyzer's part is all serialized */
	struct mg_state_out *save_out;
	uint8_t *save_piece;         /* a piece the stream had no room for yet, handed over first (mg_engine_save_waiting) */
	size_t save_piece_len;
	size_t save_bytes;           /* its size before compression */
	size_t n_protected;          /* protected networks configured (0: every source is ours) */
	struct mg_prefix *protected_v; /* the n_protected of them (received blocks may not cover one whole) */
	uint8_t v6_key_len;          /* the kernel's (fixed at load) */
	uint8_t n_v6_nets;           /* the kernel's per-network IPv6 aggregation (fixed at load) */
	struct mg_v6_net v6_nets[MG_V6_NETS_MAX];
	uint64_t scan_interval;      /* timer scans */
	uint64_t default_block_ns;   /* an operator block without a duration */
	char state_file[256];        /* "" = no persistence (the replay) */

	struct mg_analyzer *an;
	struct mg_outbreaks *ob;
	struct mg_ruleset *rules;
	struct mg_oprules oprules;   /* the operator's rules with comments, wall-clock times */
	char op_except[MG_CONFIG_MAX_EXCEPTIONS][64]; /* mtaguardctl except add, canonical text */
	size_t n_op_except;
	struct mg_signature cfg_except_sig[MG_CONFIG_MAX_EXCEPTIONS];
	size_t n_cfg_except_sig;
	struct mg_prefix cfg_except_pfx[MG_CONFIG_MAX_EXCEPTIONS];
	size_t n_cfg_except_pfx;

	unsigned threat_level;
	uint64_t verdicts_issued, alerts_issued, write_failures;
	/* Failed rule writes are retried at every sync, all of them: logged a line a minute at most. */
	struct mg_log_gate write_fail_gate;
	uint64_t write_failures_said;   /* write_failures when the last such line was logged */
	/* Failed reads of the kernel's profiles (one a tick while it lasts): a line a minute at most, with the count. */
	struct mg_log_gate scan_fail_gate;
	uint64_t scan_failures, scan_failures_said;
	/* Feed expiries put off for want of queue room (retried at every tick): a line a minute at most. */
	struct mg_log_gate feed_expiry_gate;
	uint64_t feed_expiry_deferred;
	/*
	 * Time to block: from a source's first SMTP evidence (the analyzer's
	 * first_evidence) to its verdict's block written into the kernel, in
	 * seconds, for the analyzer's verdicts (the others have no evidence of
	 * their own here). ttb: verdicts claimed, waiting for their write.
	 */
	struct mg_histogram time_to_block;
#define MG_ENGINE_TTB_MAX 64
	struct mg_ttb {
		struct mg_prefix prefix;
		uint64_t first_evidence;
	} ttb[MG_ENGINE_TTB_MAX];
	size_t n_ttb;
	uint64_t last_scan, scan_duration_ns;
	bool scanned_once, news;     /* news: events since the last scan */
	/*
	 * Sources whose events since the last settle can change their verdict
	 * (a new MX destination, a HELO): judged at once by mg_engine_settle,
	 * not at the next scan. Bounded: past the bound, the scan judges the
	 * rest (hot_missed counts them), so a flood of events costs no more
	 * than this many profile reads per settle.
	 */
#define MG_ENGINE_HOT_MAX 256
	uint8_t hot[MG_ENGINE_HOT_MAX][16];
	uint32_t nhot;
	uint64_t hot_missed, settles;
	bool rules_dirty;            /* the rules file needs writing */
	int rules_save_err;          /* the last write of the rules file: 0 or -errno */
	bool outbreak_count_set;     /* outbreak_count is what the kernel's mg_settings holds */
	uint32_t outbreak_count;

	/*
	 * Imported lists (mg_feeds.h). An import changes the lists at once and
	 * queues the prefixes whose claim may change; mg_engine_feed_step
	 * carries a bounded number of them into the ledger and the kernel per
	 * call, so a list of 100 000 never holds the daemon's loop for long.
	 */
	struct mg_feeds feeds;
	struct mg_prefix *feedq;     /* prefixes to carry into the ledger, from feedq_head on */
	size_t feedq_n, feedq_head, feedq_cap;
	uint64_t feed_queued, feed_applied; /* ever queued and carried: an import is in force once applied reaches its ticket */
	bool feeds_dirty;            /* the feeds file needs writing */
	int feeds_save_err;
	uint64_t feeds_save_ns;      /* how long the last write of the feeds file held the caller (the daemon's loop) */
	uint64_t feed_step_max_ns;   /* the longest step of the last import (reset when a queue starts): map writes' cost */
	uint64_t ob_generation;      /* outbreak actions seen: members joined or left (DNSBL zone) */
	/*
	 * Other nodes' rules, received (mg_engine_cluster_apply): what each
	 * origin holds, added up per prefix into the "cluster" owners' claims.
	 */
	struct mg_clrecv *clrecv;
	char cl_node[MG_CL_NODE_MAX]; /* this node: its own entries come back from the bucket, and are not taken */
	unsigned cl_accept;           /* bits of enum mg_cl_kind */
	uint32_t cl_max_per_min;      /* new received verdicts taken per minute */
	uint64_t cl_minute_start;     /* the current minute of that count, on the timeline */
	uint32_t cl_minute_count;
	uint64_t cl_received, cl_refused, cl_removed;
	uint32_t cl_min_v4, cl_min_v6; /* limits.min_prefix_v4/v6: nothing wider is taken */
	/*
	 * FlowSpec routes received from BGP peers (mg_engine_bgp_apply): per
	 * prefix, each peer's route kept apart (the "node" of an entry is the
	 * peer), added up into the "bgp" owner's claim.
	 */
	struct mg_clrecv *bgprecv;
	uint32_t bgp_max_per_min;     /* bgp.max_accept_per_minute: routes new here taken per minute */
	uint64_t bgp_minute_start;
	uint32_t bgp_minute_count;
	uint64_t bgp_received, bgp_refused, bgp_removed;
	/*
	 * Outbreaks other nodes count in their threat level: the network-wide
	 * threat level derives from them (this node's own, or theirs capped at
	 * MG_CL_THREAT_MAX, whichever is higher).
	 */
#define MG_CL_OUTBREAKS_MAX 256
#define MG_CL_THREAT_MAX 3
	struct mg_cl_outbreak {
		char node[MG_CL_NODE_MAX];
		struct mg_signature sig;
		uint8_t level;
		uint32_t members;
		uint64_t expires;       /* on this timeline */
	} cl_ob[MG_CL_OUTBREAKS_MAX];
	size_t n_cl_ob;
	unsigned cl_threat, local_threat;

	const struct mg_engine_sink *sink;
	void *sink_ctx;
	mg_engine_observer observe;
	void *observe_arg;

	/* Source verification: the configuration's part, and the shell's verifier (NULL: none). */
	bool verify_enabled;
	struct mg_config_nat verify_nat[MG_CONFIG_MAX_EXCEPTIONS];
	size_t n_verify_nat;
	struct mg_prefix verify_off[MG_CONFIG_MAX_EXCEPTIONS];
	size_t n_verify_off;
	mg_engine_verify_fn verify;
	void *verify_arg;
	uint64_t verify_requests;
};

/*
 * Set up with the configuration (the kernel's IPv6 key length comes from
 * its tunables) and the shell's sink and observer. 0 or -ENOMEM.
 */
int mg_engine_init(struct mg_engine *e, const struct mg_config *c, const struct mg_engine_sink *sink, void *sink_ctx,
		   mg_engine_observer observe, void *observe_arg);
void mg_engine_free(struct mg_engine *e);

/*
 * Take a new configuration (SIGHUP): thresholds, lists, exceptions,
 * containment, monitor mode. Returns enum mg_engine_restart bits for what it
 * keeps as running until a restart.
 */
unsigned mg_engine_configure(struct mg_engine *e, const struct mg_config *c, uint64_t now, uint64_t wall);

/*
 * Start-up, after init: restore the state files if there are any (verdicts,
 * operator rules, exceptions, outbreaks), keep what the kernel already holds
 * and nobody accounts for as "pinned" (pass it with mg_engine_adopt_* first),
 * and write what differs. The replay calls it too, with no state file.
 */
void mg_engine_start(struct mg_engine *e, uint64_t now, uint64_t wall);
/* The bytes of the state files mg_engine_start() would restore (0: none, or no state file): what its time grows with. */
uint64_t mg_engine_state_bytes(const struct mg_engine *e);
/* A rule the kernel held at start; `expires` on the engine's timeline (MG_TIME_NEVER for none). */
void mg_engine_adopt_rule(struct mg_engine *e, const struct mg_prefix *p, bool allow, uint8_t action, uint64_t expires);
void mg_engine_adopt_outbreak(struct mg_engine *e, uint32_t fp, unsigned level, uint64_t since);
/* Write the state file and the rules file (atomically). 0 or -errno. */
int mg_engine_save(struct mg_engine *e, uint64_t now, uint64_t wall);
/*
 * The same save in slices, for a loop that must go on between them: begin
 * (nothing if one is under way), then a step of at most `max` profiles at a
 * time until it returns true. What is serialized goes out in pieces of
 * about MG_ENGINE_SAVE_PIECE as it is made (to state_stream, or written
 * here); once the last is out, the rules file and changed lists are
 * written. While the stream has no room (mg_engine_save_waiting), a step serializes
 * nothing. mg_engine_save meanwhile replaces the sliced one.
 */
#define MG_ENGINE_SAVE_PIECE ((size_t)4 << 20)
int mg_engine_save_begin(struct mg_engine *e, uint64_t now, uint64_t wall);
bool mg_engine_save_step(struct mg_engine *e, uint32_t max, uint64_t now, uint64_t wall);
/* The stream had no room for the last piece: the next step hands it over before it serializes more. */
static inline bool mg_engine_save_waiting(const struct mg_engine *e)
{
	return e->save_piece != NULL;
}

/* Inputs. */
void mg_engine_event(struct mg_engine *e, const struct mg_event *ev, uint64_t now, uint64_t wall);
/*
 * After a batch of events (the daemon: every slice it takes from the ring
 * buffer; the replay: after every frame): read the kernel profiles of the
 * sources those events concern, judge them, and write any verdict now, so a
 * block lands within milliseconds of the evidence that decides it instead of
 * at the next scan. Nothing to do when no such event came.
 */
void mg_engine_settle(struct mg_engine *e, uint64_t now, uint64_t wall);
/* Give the engine a verifier (the daemon's, the replay's); NULL: no verification. */
void mg_engine_set_verifier(struct mg_engine *e, mg_engine_verify_fn fn, void *arg);
/* A verification's outcome for `who` (the full source address the request named). */
void mg_engine_verified(struct mg_engine *e, const uint8_t who[16], const struct mg_verify_summary *s, uint64_t now,
			uint64_t wall);
/* Is a scan due: news waiting and the gap since the last scan passed, or the timer interval passed? */
bool mg_engine_scan_due(const struct mg_engine *e, uint64_t now);
/* When the next scan falls due: the last scan plus 100 ms after news, plus the scan interval otherwise. */
uint64_t mg_engine_next_scan(const struct mg_engine *e);
/*
 * Everything the daemon's timer does: outbreak decay, the operator's rules
 * that ended, a scan of every kernel profile through the sink, the analyzer's
 * tick, its actions carried out, and the ledger written.
 */
void mg_engine_tick(struct mg_engine *e, uint64_t now, uint64_t wall);

/*
 * The operator. Each returns 0, or -errno with a message in err. A change
 * that is made (in the kernel) but could not be saved to the rules file
 * (a full disk, say) returns the write's -errno, and the message says that
 * it is in force, not saved, and why; the write is retried at every tick.
 * block: ttl_ns 0 = until removed; unblock ends the operator's block and the
 * analyzer's verdict on exactly p; allow: ttl_ns 0 = until removed.
 */
int mg_engine_block(struct mg_engine *e, const struct mg_prefix *p, uint8_t action, uint64_t ttl_ns,
		    const char *comment, uint64_t now, uint64_t wall, char *err, size_t errlen);
int mg_engine_unblock(struct mg_engine *e, const struct mg_prefix *p, uint64_t now, uint64_t wall, char *err,
		      size_t errlen);
int mg_engine_allow(struct mg_engine *e, const struct mg_prefix *p, uint64_t ttl_ns, const char *comment,
		    uint64_t now, uint64_t wall, char *err, size_t errlen);
int mg_engine_disallow(struct mg_engine *e, const struct mg_prefix *p, uint64_t now, uint64_t wall, char *err,
		       size_t errlen);
/* what: a signature ("fp:1a2b3c4d", …) or a prefix. */
int mg_engine_except(struct mg_engine *e, bool add, const char *what, uint64_t now, uint64_t wall, char *err,
		     size_t errlen);
void mg_engine_set_monitor(struct mg_engine *e, bool on, uint64_t now, uint64_t wall);

/*
 * Feeds. Import `v` (sorted without repeats, each prefix checked by the
 * caller: limits, family) into `origin`; ttl_ns 0 = until removed. The lists
 * change at once; the ledger and the kernel follow through
 * mg_engine_feed_step, which saves the lists when it has carried everything.
 * *ticket: in force once mg_engine_feed_applied() reaches it. 0 or -errno
 * with a message in err (too many origins, out of memory: nothing changed).
 */
int mg_engine_import(struct mg_engine *e, const char *origin, uint8_t action, const struct mg_prefix *v, size_t n,
		     uint64_t ttl_ns, bool sync, uint64_t now, uint64_t wall, struct mg_feed_change *ch,
		     uint64_t *ticket, char *err, size_t errlen);
/* 0 when the lists are saved, else -errno and a message saying `what` is in force but not saved, and why. */
int mg_engine_feeds_unsaved(struct mg_engine *e, const char *what, char *err, size_t errlen);
/* Forget an origin and its prefixes (their blocks end through the steps). */
int mg_engine_feed_drop(struct mg_engine *e, const char *origin, uint64_t now, uint64_t wall, uint64_t *ticket,
			char *err, size_t errlen);
/* Carry at most `budget` queued prefixes into the ledger and write the kernel. Returns how many are left. */
size_t mg_engine_feed_step(struct mg_engine *e, size_t budget, uint64_t now, uint64_t wall);
static inline uint64_t mg_engine_feed_applied(const struct mg_engine *e)
{
	return e->feed_applied;
}
/* What became of a received entry (mg_engine_cluster_apply); mg_cl_outcome_name() names it. */
enum mg_cl_outcome {
	MG_CL_TAKEN = 0,    /* "taken": in the ledger as the cluster's claim */
	MG_CL_REMOVED,      /* "removed": a deletion, or an entry that has expired */
	MG_CL_OWN,          /* "own": this node's own entry, come back */
	MG_CL_NOT_ACCEPTED, /* "not-accepted": a kind this node does not take (cluster.accept) */
	MG_CL_TOO_WIDE,     /* "too-wide": wider than limits.min_prefix_v4/v6 */
	MG_CL_BREAKER,      /* "breaker": over cluster.max_accept_per_minute new verdicts this minute */
	MG_CL_FULL,         /* "full": other nodes' outbreaks past MG_CL_OUTBREAKS_MAX, or no memory */
	MG_CL_PROTECTED,    /* "protected": a block covering one of this node's protected networks whole */
	MG_CL_OUTCOME_MAX,
};
const char *mg_cl_outcome_name(enum mg_cl_outcome o);

/*
 * A received entry (deleted: its key was deleted or purged at the origin),
 * under the rules of receipt: this node's allowlist and mail servers win
 * (the ledger's precedence), its own decisions stand over received ones,
 * monitor mode applies as to anything (the kernel's), entries expire on
 * their own time with no word from their origin (wall-clock expiry moved to
 * this timeline), and at most cluster.max_accept_per_minute verdicts new to
 * this node and written in the last minute are taken per minute, so a
 * runaway node cannot make all its peers block the world; a resync of older
 * entries is not held back.
 */
enum mg_cl_outcome mg_engine_cluster_apply(struct mg_engine *e, const struct mg_cl_entry *ent, bool deleted,
					   uint64_t now, uint64_t wall);

/*
 * A FlowSpec route received from a BGP peer (the helper mtaguard-flowspec
 * hands it over): announced (withdraw false) it becomes or refreshes the
 * peer's block on p with `action`, expiring ttl_ns from now unless
 * announced again; withdrawn, the peer's block on p goes. The rules of
 * receipt are the cluster's: allowlist and mail servers win (the ledger's
 * precedence), monitor mode applies, nothing wider than
 * limits.min_prefix_v4/v6 is taken, and at most bgp.max_accept_per_minute
 * routes new here are taken per minute (a refresh is not new).
 * Returns MG_CL_TAKEN, _REMOVED, _TOO_WIDE, _BREAKER or _FULL.
 */
enum mg_cl_outcome mg_engine_bgp_apply(struct mg_engine *e, const char *peer, const struct mg_prefix *p,
				       uint8_t action, uint64_t ttl_ns, bool withdraw, uint64_t now, uint64_t wall);

/* Reading. */
/* The operator's rule of that kind on exactly p, with its comment, or NULL. */
const struct mg_oprule *mg_engine_oprule(const struct mg_engine *e, const struct mg_prefix *p, uint8_t kind);
/* Signatures and prefixes excepted from outbreak grouping: the configuration's and the operator's. */
json_t *mg_engine_exceptions_json(const struct mg_engine *e);

#endif
