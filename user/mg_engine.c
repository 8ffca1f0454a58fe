// SPDX-License-Identifier: GPL-2.0-only
/* mg_engine.c - from events and profiles to kernel rules, for every shell (see mg_engine.h). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mg_atomic_file.h"
#include "mg_clock.h"
#include "mg_engine.h"
#include "mg_names.h"
#include "mg_statefile.h"

#define MAX_ACTIONS 4096
#define MAX_OB_ACTIONS 64
/*
 * News (ring-buffer events) makes a scan due at once, but at most one per
 * gap: an event storm must not turn into back-to-back full scans. News that
 * arrives inside the gap is scanned at its end.
 */
#define NEWS_SCAN_GAP_NS (100 * 1000000ull)

/* ---- telling the shell ---------------------------------------------------------------- */

static void note(struct mg_engine *e, const struct mg_engine_note *n)
{
	if (e->observe)
		e->observe(n, e->observe_arg);
}

static void notice(struct mg_engine *e, uint64_t now, uint64_t wall, bool warning, const char *event,
		   const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void notice(struct mg_engine *e, uint64_t now, uint64_t wall, bool warning, const char *event,
		   const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	note(e, &(struct mg_engine_note){ .kind = MG_NOTE_NOTICE, .now = now, .wall = wall, .event = event,
					  .text = text, .warning = warning });
}

static void err_msg(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void err_msg(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- the ledger into the kernel -------------------------------------------------------- */

/* A full map refuses every retry at every sync: one line a minute says so, not one per rule per sync. */
#define WRITE_FAIL_LOG_EVERY_NS (60ull * 1000000000ull)

struct fail_ctx {
	struct mg_engine *e;
	size_t n;
	char first[160]; /* the first failure of this sync, for the log */
};

static void write_failed(const char *what, const struct mg_prefix *p, int err, void *arg)
{
	struct fail_ctx *f = arg;
	char buf[MG_ADDRSTRLEN] = "";

	if (p)
		mg_prefix_str(p, buf, sizeof(buf));
	f->e->write_failures++;
	if (!f->n++)
		snprintf(f->first, sizeof(f->first), "%s%s%s failed: %s", what, p ? " for " : "", buf, strerror(-err));
}

static void say_write_failures(struct mg_engine *e, const struct fail_ctx *f, uint64_t now, uint64_t wall)
{
	if (!f->n || !mg_log_gate_pass(&e->write_fail_gate, now, WRITE_FAIL_LOG_EVERY_NS))
		return;
	uint64_t more = e->write_failures - e->write_failures_said - 1;
	if (more)
		notice(e, now, wall, true, "notice", "%s (and %llu more rule writes failed since the last such line; "
		       "all are retried at every scan, this is said once a minute at most)", f->first,
		       (unsigned long long)more);
	else
		notice(e, now, wall, true, "notice", "%s", f->first);
	e->write_failures_said = e->write_failures;
}

static void an_set_one(const struct mg_rule_entry *r, void *arg)
{
	struct mg_analyzer *an = arg;

	if (r->written->an_allow)
		mg_an_add_allow(an, &r->prefix);
	if (r->written->an_server)
		mg_an_add_mail_server(an, &r->prefix);
}

/* Time to block: 0.5 s to 2 h (a patient bot's verdict takes 15-20 min; README, detection.long_half_life). */
static const double ttb_bounds[] = { 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200 };

/*
 * The analyzer's verdicts claimed since the last sync, counted into the
 * time-to-block histogram once their block is in the kernel (a write that
 * failed is not a block; it is counted at the retry that makes it, if one
 * comes before the bound pushes it out).
 */
static void time_to_block(struct mg_engine *e, uint64_t now)
{
	size_t keep = 0;

	for (size_t i = 0; i < e->n_ttb; i++) {
		struct mg_rule_entry re;
		if (mg_ruleset_find(e->rules, &e->ttb[i].prefix, &re) && re.written->block) {
			uint64_t first = e->ttb[i].first_evidence;
			mg_histogram_observe(&e->time_to_block, now > first ? (double)(now - first) / 1e9 : 0);
		} else if (mg_ruleset_get(e->rules, &e->ttb[i].prefix, MG_OWNER_VERDICT)) {
			e->ttb[keep++] = e->ttb[i]; /* claimed, not yet written: the next sync */
		}
	}
	e->n_ttb = keep;
}

static void ttb_pending(struct mg_engine *e, const struct mg_an_action *a, uint64_t now)
{
	uint64_t first = a->ev.first_evidence_ns;

	if (!first)
		return;
	if (e->n_ttb < MG_ENGINE_TTB_MAX)
		e->ttb[e->n_ttb++] = (struct mg_ttb){ .prefix = a->prefix, .first_evidence = first };
	else /* a wave of verdicts in one scan: the sync that ends this step writes them, at this same `now` */
		mg_histogram_observe(&e->time_to_block, now > first ? (double)(now - first) / 1e9 : 0);
}

/* Write what the ledger wants; keep the analyzer's configured sets and the outbreak count in step. */
static void sync(struct mg_engine *e, uint64_t now, uint64_t wall)
{
	struct fail_ctx f = { .e = e };
	bool an_changed = false;

	mg_ruleset_sync(e->rules, &e->sink->rules, e->sink_ctx, now, &an_changed, write_failed, &f);
	say_write_failures(e, &f, now, wall);
	time_to_block(e, now);
	if (an_changed) {
		mg_an_clear_configured(e->an);
		mg_ruleset_foreach(e->rules, an_set_one, e->an);
	}
	/* The program's cheap gate in front of the fingerprint lookup: written when it changes. */
	uint32_t n = (uint32_t)mg_ruleset_contained(e->rules);
	if (e->sink->set_outbreak_count && (!e->outbreak_count_set || n != e->outbreak_count) &&
	    e->sink->set_outbreak_count(e->sink_ctx, n) == 0) {
		e->outbreak_count = n;
		e->outbreak_count_set = true;
	}
}

/* ---- analyzer actions -------------------------------------------------------------------- */

static void apply_actions(struct mg_engine *e, const struct mg_an_action *a, size_t n, uint64_t now, uint64_t wall)
{
	for (size_t i = 0; i < n; i++) {
		switch (a[i].kind) {
		case MG_AN_BLOCK:
			mg_ruleset_claim(e->rules, &a[i].prefix, MG_OWNER_VERDICT, a[i].block_action, a[i].expires_ns);
			e->verdicts_issued++;
			ttb_pending(e, &a[i], now);
			break;
		case MG_AN_UNBLOCK:
			mg_ruleset_release(e->rules, &a[i].prefix, MG_OWNER_VERDICT);
			break;
		case MG_AN_ALERT:
			e->alerts_issued++;
			break;
		case MG_AN_PROMOTE:
			/* A learned mail server's profile moves where no flood can evict it. */
			mg_ruleset_claim(e->rules, &a[i].prefix, MG_OWNER_LEARNED_SERVER, 0, MG_TIME_NEVER);
			break;
		}
		note(e, &(struct mg_engine_note){ .kind = MG_NOTE_ACTION, .now = now, .wall = wall, .action = &a[i] });
	}
}

/* ---- outbreaks ------------------------------------------------------------------------------ */

static void set_threat(struct mg_engine *e, uint64_t now, uint64_t wall)
{
	unsigned level = e->local_threat = mg_ob_threat_level(e->ob);

	/* Other nodes' outbreaks raise it, but only so far: the highest levels need evidence seen here. */
	if (e->cl_threat > level)
		level = e->cl_threat;
	if (level == e->threat_level)
		return;
	note(e, &(struct mg_engine_note){ .kind = MG_NOTE_THREAT, .now = now, .wall = wall,
					  .threat_from = e->threat_level, .threat_to = level });
	e->threat_level = level;
	mg_an_set_threat(e->an, level);
}

/* Which fingerprints the kernel must contain follows from the active outbreaks and what is decided about each. */
static void contain_from_outbreaks_one(const struct mg_ob_view *v, void *arg)
{
	struct mg_engine *e = arg;

	if (v->sig.kind == MG_SIG_FP && v->decision == MG_OB_CONTAINED && e->contain)
		mg_ruleset_contain(e->rules, v->sig.value, v->level, v->since_ns);
}

/*
 * Recomputed whole after every change: one outbreak's decision depends on
 * the others (a co-signature among the same hosts makes a fingerprint
 * specific enough; its end makes it common again). The ledger writes only
 * what differs.
 */
static void contain_from_outbreaks(struct mg_engine *e)
{
	mg_ruleset_uncontain_all(e->rules);
	mg_ob_foreach(e->ob, contain_from_outbreaks_one, e);
}

static void apply_outbreak(struct mg_engine *e, const struct mg_ob_action *a, size_t n, uint64_t now, uint64_t wall)
{
	if (!n)
		return;
	e->ob_generation++;
	contain_from_outbreaks(e);
	for (size_t i = 0; i < n; i++) {
		bool kernel = a[i].sig.kind == MG_SIG_FP && e->contain && a[i].kind != MG_OB_END &&
			      a[i].decision == MG_OB_CONTAINED;
		if (a[i].kind != MG_OB_JOIN)
			e->rules_dirty = true; /* the saved outbreaks change */
		note(e, &(struct mg_engine_note){ .kind = MG_NOTE_OUTBREAK, .now = now, .wall = wall, .ob = &a[i],
						  .contained = kernel });
	}
	sync(e, now, wall);
	set_threat(e, now, wall);
}

static void push_exceptions(struct mg_engine *e)
{
	mg_ob_clear_exceptions(e->ob);
	for (size_t i = 0; i < e->n_cfg_except_sig; i++)
		mg_ob_except_sig(e->ob, &e->cfg_except_sig[i], true);
	for (size_t i = 0; i < e->n_cfg_except_pfx; i++)
		mg_ob_except_prefix(e->ob, &e->cfg_except_pfx[i], true);
	/* The operator's own (mtaguardctl except add) outlive a reload, as the file's do. */
	for (size_t i = 0; i < e->n_op_except; i++) {
		struct mg_signature sig;
		struct mg_prefix p;
		if (mg_sig_parse(e->op_except[i], &sig) == 0)
			mg_ob_except_sig(e->ob, &sig, true);
		else if (mg_prefix_parse(e->op_except[i], &p) == 0)
			mg_ob_except_prefix(e->ob, &p, true);
	}
}

/* ---- configuration ---------------------------------------------------------------------------- */

static void claim_list(struct mg_engine *e, const struct mg_prefix_list *l, enum mg_owner o)
{
	mg_ruleset_release_all(e->rules, o);
	for (size_t i = 0; i < l->n; i++)
		mg_ruleset_claim(e->rules, &l->v[i], o, 0, MG_TIME_NEVER);
}

/* What the engine takes from a configuration, at start and at every reload. */
/* The protected networks, copied; false (the old ones kept) without memory. */
static bool take_protected(struct mg_engine *e, const struct mg_config *c)
{
	size_t n = c->protected_nets.n;
	struct mg_prefix *v = n ? malloc(n * sizeof(*v)) : NULL;

	if ((n && !v) || mg_ob_set_protected(e->ob, c->protected_nets.v, n)) {
		free(v);
		return false;
	}
	if (n)
		memcpy(v, c->protected_nets.v, n * sizeof(*v));
	free(e->protected_v);
	e->protected_v = v;
	e->n_protected = n;
	return true;
}

/*
 * Does a block of p cover one of this node's protected networks whole? A
 * peer's or a router's rule may not cut this node's own network off: they
 * do not know what it numbers its hosts from (the operator's own block is
 * refused without --force, an imported list's line always).
 */
static bool covers_protected(const struct mg_engine *e, const struct mg_prefix *p)
{
	for (size_t i = 0; i < e->n_protected; i++)
		if (p->prefixlen <= e->protected_v[i].prefixlen && mg_prefix_covers(p, e->protected_v[i].addr))
			return true;
	return false;
}

static void take_config(struct mg_engine *e, const struct mg_config *c)
{
	e->an_cfg = c->an;
	e->an_cfg.v6_prefix = e->v6_key_len; /* the kernel keys profiles at these lengths until a restart */
	e->an_cfg.n_v6_nets = e->n_v6_nets;
	memcpy(e->an_cfg.v6_nets, e->v6_nets, sizeof(e->v6_nets));
	e->ob_cfg = c->ob;
	e->scan_interval = c->scan_interval_ns ? c->scan_interval_ns : MG_NSEC_PER_SEC;
	e->default_block_ns = c->an.block_ns;
	snprintf(e->state_file, sizeof(e->state_file), "%s", c->state_file);
	e->n_cfg_except_sig = c->n_ob_except_sig;
	memcpy(e->cfg_except_sig, c->ob_except_sig, sizeof(e->cfg_except_sig));
	e->n_cfg_except_pfx = c->n_ob_except_pfx;
	memcpy(e->cfg_except_pfx, c->ob_except_pfx, sizeof(e->cfg_except_pfx));
	claim_list(e, &c->allowlist, MG_OWNER_CONFIG_ALLOW);
	claim_list(e, &c->mail_servers, MG_OWNER_CONFIG_SERVER);
	snprintf(e->cl_node, sizeof(e->cl_node), "%s", c->cluster_node);
	e->cl_accept = c->cluster_accept;
	e->cl_max_per_min = c->cluster_max_accept_per_min;
	e->cl_min_v4 = c->min_prefix_v4;
	e->cl_min_v6 = c->min_prefix_v6;
	e->bgp_max_per_min = c->bgp_max_accept_per_min;
	e->verify_enabled = c->verify_enabled;
	e->n_verify_nat = c->n_verify_nat;
	memcpy(e->verify_nat, c->verify_nat, sizeof(e->verify_nat));
	e->n_verify_off = c->n_verify_off;
	memcpy(e->verify_off, c->verify_off, sizeof(e->verify_off));
}

int mg_engine_init(struct mg_engine *e, const struct mg_config *c, const struct mg_engine_sink *sink, void *sink_ctx,
		   mg_engine_observer observe, void *observe_arg)
{
	memset(e, 0, sizeof(*e));
	e->sink = sink;
	e->sink_ctx = sink_ctx;
	e->observe = observe;
	e->observe_arg = observe_arg;
	mg_histogram_init(&e->time_to_block, ttb_bounds, sizeof(ttb_bounds) / sizeof(ttb_bounds[0]));
	e->contain = c->contain;
	e->v6_key_len = c->tunables.v6_src_prefix;
	e->n_v6_nets = c->tunables.n_v6_nets;
	memcpy(e->v6_nets, c->tunables.v6_nets, sizeof(e->v6_nets));
	mg_oprules_init(&e->oprules);
	mg_feeds_init(&e->feeds);
	e->rules = mg_ruleset_new(e->v6_key_len);
	if (!e->rules)
		return -ENOMEM;
	mg_ruleset_set_v6_nets(e->rules, e->v6_nets, e->n_v6_nets);
	take_config(e, c);
	e->an = mg_an_new(&e->an_cfg);
	e->ob = mg_ob_new(&e->ob_cfg);
	if (!e->an || !e->ob || !take_protected(e, c)) {
		mg_engine_free(e);
		return -ENOMEM;
	}
	push_exceptions(e);
	return 0;
}

static void save_abandon(struct mg_engine *e);

void mg_engine_free(struct mg_engine *e)
{
	if (e->saving)
		save_abandon(e);
	free(e->protected_v);
	e->protected_v = NULL;
	e->n_protected = 0;
	mg_clrecv_free(e->clrecv);
	e->clrecv = NULL;
	mg_clrecv_free(e->bgprecv);
	e->bgprecv = NULL;
	mg_ruleset_free(e->rules);
	if (e->an)
		mg_an_free(e->an);
	mg_ob_free(e->ob);
	mg_oprules_free(&e->oprules);
	mg_feeds_free(&e->feeds);
	free(e->feedq);
	e->feedq = NULL;
	e->feedq_n = e->feedq_head = e->feedq_cap = 0;
	e->rules = NULL;
	e->an = NULL;
	e->ob = NULL;
}

unsigned mg_engine_configure(struct mg_engine *e, const struct mg_config *c, uint64_t now, uint64_t wall)
{
	unsigned restart = 0;

	if (c->tunables.v6_src_prefix != e->v6_key_len || c->tunables.n_v6_nets != e->n_v6_nets ||
	    memcmp(c->tunables.v6_nets, e->v6_nets, e->n_v6_nets * sizeof(e->v6_nets[0])))
		restart |= MG_RESTART_V6_AGGREGATION;
	take_config(e, c);
	mg_an_set_config(e->an, &e->an_cfg);
	mg_ob_set_config(e->ob, &e->ob_cfg);
	if (!take_protected(e, c))
		notice(e, now, wall, true, "notice", "out of memory: the protected networks are kept as they were");
	push_exceptions(e);
	if (c->contain != e->contain) {
		e->contain = c->contain;
		contain_from_outbreaks(e);
	}
	if (e->sink->set_monitor)
		e->sink->set_monitor(e->sink_ctx, e->an_cfg.monitor);
	sync(e, now, wall);
	return restart;
}

/* ---- persistence ------------------------------------------------------------------------------- */

static void rules_path(const struct mg_engine *e, char *buf, size_t len)
{
	snprintf(buf, len, "%s.rules", e->state_file);
}

/* The operator's rules, exceptions and the active outbreaks: the rules file. */
static int save_rules(struct mg_engine *e, uint64_t now, uint64_t wall)
{
	char path[300];
	json_t *j = mg_oprules_to_json(&e->oprules), *ex = json_array();
	char *text = NULL;
	bool built = j && ex;

	/*
	 * Every part or nothing: a file short of the exceptions or the
	 * outbreaks, written and marked clean, would lose them at the next
	 * start. Out of memory: not written, still dirty, tried again.
	 */
	for (size_t i = 0; built && i < e->n_op_except; i++)
		built = !json_array_append_new(ex, json_string(e->op_except[i]));
	if (built) {
		built = !json_object_set_new(j, "outbreak_exceptions", ex);
		ex = NULL; /* taken, even on failure */
		built = built && !json_object_set_new(j, "outbreaks", mg_ob_save_json(e->ob, now, wall));
	}
	json_decref(ex);
	if (built)
		text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	rules_path(e, path, sizeof(path));
	mg_make_parent_dirs(path);
	int err = text ? mg_state_write(path, text, strlen(text)) : -ENOMEM;
	free(text);
	/* Retried at every tick while it fails: said once per cause, and once when it works again. */
	if (err && err != e->rules_save_err)
		notice(e, now, wall, true, "notice",
		       "saving the operator's rules and outbreaks to %s failed: %s (retried at every scan)", path,
		       strerror(-err));
	else if (!err && e->rules_save_err)
		notice(e, now, wall, false, "notice", "the operator's rules and outbreaks are saved to %s again", path);
	e->rules_save_err = err;
	if (!err)
		e->rules_dirty = false;
	return err;
}

static void feeds_path(const struct mg_engine *e, char *buf, size_t len)
{
	snprintf(buf, len, "%s.feeds", e->state_file);
}

/* The imported lists: the feeds file (apart from the rules file: a list of 100 000 is megabytes). */
static int save_feeds(struct mg_engine *e, uint64_t now, uint64_t wall)
{
	char path[300];
	size_t len;
	uint64_t t0 = mg_mono_ns();
	char *text = mg_feeds_save_text(&e->feeds, &len);
	int err;

	feeds_path(e, path, sizeof(path));
	mg_make_parent_dirs(path);
	err = text ? mg_state_write(path, text, len) : -ENOMEM;
	free(text);
	if (err && err != e->feeds_save_err)
		notice(e, now, wall, true, "notice", "saving the imported lists to %s failed: %s (retried at every scan)",
		       path, strerror(-err));
	else if (!err && e->feeds_save_err)
		notice(e, now, wall, false, "notice", "the imported lists are saved to %s again", path);
	e->feeds_save_err = err;
	if (!err)
		e->feeds_dirty = false;
	e->feeds_save_ns = mg_mono_ns() - t0;
	return err;
}

static void say_save_failed(struct mg_engine *e, int err, uint64_t now, uint64_t wall)
{
	notice(e, now, wall, true, "notice", "saving state to %s failed: %s", e->state_file, strerror(-err));
}

/* The sliced save's state file given up (a whole save replaces it, or it failed): the old file stays. */
static void save_abandon(struct mg_engine *e)
{
	mg_an_saver_free(&e->saver);
	free(e->save_piece);
	e->save_piece = NULL;
	if (e->save_via_stream && e->state_stream)
		e->state_stream->abort(e->state_stream_ctx);
	mg_state_out_abort(e->save_out);
	e->save_out = NULL;
	e->saving = e->save_last = false;
}

/* A piece of the state file: 0 (taken), -EAGAIN (kept: no room now), or another -errno (freed). */
static int save_put(struct mg_engine *e, uint8_t *buf, size_t len)
{
	if (e->save_via_stream)
		return e->state_stream->put(e->state_stream_ctx, buf, len);
	int err = mg_state_out_put(e->save_out, buf, len);
	free(buf);
	return err;
}

/*
 * The save's end, err its failure so far (0: the last piece is out): the
 * state file committed (or closed for the stream to commit) and the rules
 * file and changed lists written, or the state file given up. The outcome
 * in *outcome; returns true (the save ended).
 */
static bool save_end(struct mg_engine *e, int err, uint64_t now, uint64_t wall, int *outcome)
{
	if (err) {
		save_abandon(e);
		say_save_failed(e, err, now, wall);
		*outcome = err;
		return true;
	}
	if (e->save_via_stream) {
		e->state_stream->close(e->state_stream_ctx);
	} else {
		err = mg_state_out_commit(e->save_out);
		e->save_out = NULL;
	}
	e->saving = e->save_last = false;
	if (err)
		say_save_failed(e, err, now, wall);
	int err2 = save_rules(e, now, wall);
	/* The lists' times are wall-clock: a file written since their last change needs no rewrite. */
	if (e->feeds_dirty) {
		int err3 = save_feeds(e, now, wall);
		if (!err2)
			err2 = err3;
	}
	*outcome = err ? err : err2;
	return true;
}

static int save_start(struct mg_engine *e, bool via_stream, uint64_t now, uint64_t wall)
{
	int err;

	mg_make_parent_dirs(e->state_file);
	err = mg_an_save_begin(e->an, &e->saver, now, wall);
	if (!err) {
		err = via_stream ? e->state_stream->open(e->state_stream_ctx, e->state_file)
				 : mg_state_out_open(&e->save_out, e->state_file);
		if (err)
			mg_an_saver_free(&e->saver);
	}
	if (err) {
		say_save_failed(e, err, now, wall);
		return err;
	}
	e->saving = true;
	e->save_via_stream = via_stream;
	e->save_last = false;
	e->save_bytes = 0;
	e->save_serialize_ns = e->save_slice_max_ns = 0;
	return 0;
}

/*
 * One step: the piece the stream had no room for goes first; then up to
 * `max` profiles are serialized, and what is done goes out once it makes a
 * piece (or is the last). Returns true once the save ended, either way
 * (its outcome in *outcome).
 */
static bool save_step(struct mg_engine *e, uint32_t max, uint64_t now, uint64_t wall, int *outcome)
{
	uint8_t *buf;
	size_t len;
	int err;

	if (e->save_piece) {
		err = save_put(e, e->save_piece, e->save_piece_len);
		if (err == -EAGAIN)
			return false;
		e->save_piece = NULL;
		if (err || e->save_last)
			return save_end(e, err, now, wall, outcome);
	}
	uint64_t t0 = mg_mono_ns();
	int r = mg_an_save_step(e->an, &e->saver, max, now);
	if (r == 1)
		r = mg_an_save_finish(&e->saver, &buf, &len) ? -ENOMEM : 1;
	else if (r == 0 && e->saver.len >= MG_ENGINE_SAVE_PIECE)
		mg_an_save_take(&e->saver, &buf, &len);
	else
		len = 0;
	uint64_t took = mg_mono_ns() - t0;
	e->save_serialize_ns += took;
	if (took > e->save_slice_max_ns)
		e->save_slice_max_ns = took;
	if (r < 0)
		return save_end(e, r, now, wall, outcome);
	e->save_last = r == 1;
	if (!len)
		return false;
	e->save_bytes += len;
	err = save_put(e, buf, len);
	if (err == -EAGAIN) {
		e->save_piece = buf;
		e->save_piece_len = len;
		return false;
	}
	if (!err && !e->save_via_stream && e->save_progress)
		e->save_progress(e->save_progress_ctx, e->save_bytes);
	return err || e->save_last ? save_end(e, err, now, wall, outcome) : false;
}

/* Profiles a step of a whole save serializes: about a millisecond's worth, then what makes a piece goes out. */
#define SAVE_WHOLE_STEP 4096

int mg_engine_save(struct mg_engine *e, uint64_t now, uint64_t wall)
{
	int outcome = 0;

	if (!e->state_file[0])
		return 0;
	if (e->saving) /* a sliced save under way: this one, whole, replaces it */
		save_abandon(e);
	/* Written here and waited for, whatever state_stream is: the caller wants it done when this returns. */
	int err = save_start(e, false, now, wall);
	if (err)
		return err;
	/* In steps, so that each piece goes out as it is made: the state is never whole in memory. */
	while (!save_step(e, SAVE_WHOLE_STEP, now, wall, &outcome))
		;
	return outcome;
}

int mg_engine_save_begin(struct mg_engine *e, uint64_t now, uint64_t wall)
{
	if (!e->state_file[0] || e->saving)
		return 0;
	return save_start(e, e->state_stream != NULL, now, wall);
}

bool mg_engine_save_step(struct mg_engine *e, uint32_t max, uint64_t now, uint64_t wall)
{
	int outcome;

	return !e->saving || save_step(e, max, now, wall, &outcome);
}

static void save_rules_if_needed(struct mg_engine *e, uint64_t now, uint64_t wall)
{
	if (e->rules_dirty && e->state_file[0])
		save_rules(e, now, wall);
	if (e->feeds_dirty && e->state_file[0])
		save_feeds(e, now, wall);
}

/*
 * A state file that could not be restored, or only in part, is kept under
 * another name before the next save overwrites it: what was refused is
 * otherwise lost for good (for a bug report, or to be recovered by hand).
 * The text to append to the restore's notice.
 */
static void keep_copy(const char *path, uint64_t wall, char *said, size_t len)
{
	char copy[PATH_MAX];
	int err = mg_state_keep_copy(path, wall, copy, sizeof(copy));

	if (err)
		snprintf(said, len, "; keeping a copy failed (%s): the next save replaces it", strerror(-err));
	else
		snprintf(said, len, "; the file as it was is kept as %s", copy);
}

/*
 * The state file handed to the analyzer as it is decompressed (the file
 * never whole in memory: 7.5 GB for ten million profiles speaking SMTP).
 * feed_err tells the analyzer's refusal from the file's.
 */
struct restore_stream {
	struct mg_an_restorer *r;
	int feed_err;
};

static int restore_chunk(void *ctx, const uint8_t *data, size_t len)
{
	struct restore_stream *rs = ctx;

	return rs->feed_err = mg_an_restore_feed(rs->r, data, len);
}

static void restore_analyzer(struct mg_engine *e, uint64_t now, uint64_t wall)
{
	struct mg_an_restore_report rep;
	struct restore_stream rs = { .r = mg_an_restore_begin(e->an, now, wall, &rep) };
	char kept[PATH_MAX + 64];
	int err = rs.r ? mg_state_read_stream(e->state_file, restore_chunk, &rs) : -ENOMEM;

	/*
	 * A file that fails its checks part-way or at its end was restored in
	 * part: the abort drops that part, so the start goes on without any of
	 * it, as when a damaged file is refused at once.
	 */
	if (err && rs.r)
		mg_an_restore_abort(rs.r);
	if (err == -ENOENT)
		return;
	if (err && !rs.feed_err) {
		keep_copy(e->state_file, wall, kept, sizeof(kept));
		notice(e, now, wall, true, "notice", "state file %s %s; starting without it%s", e->state_file,
		       err == -EINVAL ? "is damaged or not a regular file" : strerror(-err), kept);
		return;
	}
	if (!err)
		err = mg_an_restore_end(rs.r);
	if (err) {
		keep_copy(e->state_file, wall, kept, sizeof(kept));
		notice(e, now, wall, true, "notice", "state file %s could not be restored (%s); starting without it%s",
		       e->state_file, err == -EINVAL ? "not a state of this version, or cut up" : strerror(-err), kept);
	} else if (rep.refused) {
		keep_copy(e->state_file, wall, kept, sizeof(kept));
		notice(e, now, wall, true, "notice",
		       "state file %s: %zu record(s) refused as invalid (the first: %s); %zu restored%s", e->state_file,
		       rep.refused, rep.first_refusal, rep.restored, kept);
	} else {
		notice(e, now, wall, false, "notice", "restored state from %s (%zu sources)", e->state_file, rep.restored);
	}
}

/* Returns false when the file exists but cannot be used. */
static bool restore_rules(struct mg_engine *e, uint64_t now, uint64_t wall)
{
	char path[300], kept[PATH_MAX + 64];
	size_t bad_rules = 0, bad_except = 0, bad_ob = 0;
	uint8_t *buf;
	size_t len;

	rules_path(e, path, sizeof(path));
	int err = mg_state_read(path, &buf, &len);
	if (err == -ENOENT)
		return true;
	json_t *j = err ? NULL : json_loadb((const char *)buf, len, 0, NULL);
	if (!err)
		free(buf);
	if (!json_is_object(j) || mg_oprules_from_json(&e->oprules, j, &bad_rules)) {
		keep_copy(path, wall, kept, sizeof(kept));
		notice(e, now, wall, true, "notice",
		       "%s is damaged; the operator's rules in the kernel stay as they are%s", path, kept);
		json_decref(j);
		return false;
	}
	json_t *ex = json_object_get(j, "outbreak_exceptions"), *x;
	size_t k;
	if (ex && !json_is_array(ex))
		bad_except++;
	json_array_foreach(ex, k, x) {
		struct mg_signature sig;
		struct mg_prefix p;
		const char *text = json_string_value(x);
		if (text && (mg_sig_parse(text, &sig) == 0 || mg_prefix_parse(text, &p) == 0) &&
		    e->n_op_except < MG_CONFIG_MAX_EXCEPTIONS && strlen(text) < sizeof(e->op_except[0]))
			snprintf(e->op_except[e->n_op_except++], sizeof(e->op_except[0]), "%s", text);
		else
			bad_except++;
	}
	json_t *ob = json_object_get(j, "outbreaks");
	if (ob && mg_ob_restore_json(e->ob, ob, now, wall, &bad_ob))
		bad_ob = 1; /* the list as a whole; counted as one */
	json_decref(j);
	if (bad_rules || bad_except || bad_ob) {
		keep_copy(path, wall, kept, sizeof(kept));
		notice(e, now, wall, true, "notice",
		       "%s: refused as invalid: %zu operator rule(s), %zu exception(s), %zu outbreak(s); the rest "
		       "restored%s",
		       path, bad_rules, bad_except, bad_ob, kept);
	}
	return true;
}

static void restore_feeds(struct mg_engine *e, uint64_t now, uint64_t wall)
{
	char path[300], kept[PATH_MAX + 64];
	uint8_t *buf;
	size_t len, refused = 0;

	feeds_path(e, path, sizeof(path));
	int err = mg_state_read(path, &buf, &len);
	if (err == -ENOENT)
		return;
	json_t *j = err ? NULL : json_loadb((const char *)buf, len, 0, NULL);
	if (!err)
		free(buf);
	if (!json_is_object(j) || mg_feeds_restore_json(&e->feeds, j, wall, &refused)) {
		keep_copy(path, wall, kept, sizeof(kept));
		notice(e, now, wall, true, "notice", "%s is damaged; no imported list is restored (import them again)%s",
		       path, kept);
		mg_feeds_free(&e->feeds);
		json_decref(j);
		return;
	}
	json_decref(j);
	if (refused) {
		keep_copy(path, wall, kept, sizeof(kept));
		notice(e, now, wall, true, "notice", "%s: %zu record(s) refused as invalid; the rest restored%s", path,
		       refused, kept);
	}
}

/* The ledger's feed claim on p, from what the origins listing it add up to now. */
static void feed_claim(struct mg_engine *e, const struct mg_prefix *p, uint64_t now, uint64_t wall)
{
	uint8_t action;
	uint64_t exp;

	if (mg_feeds_want(&e->feeds, p, wall, &action, &exp))
		mg_ruleset_claim(e->rules, p, MG_OWNER_FEED, action, exp == MG_TIME_NEVER ? MG_TIME_NEVER : now + (exp - wall));
	else
		mg_ruleset_release(e->rules, p, MG_OWNER_FEED);
}

/* An operator's rule still in force (its expiry, in wall-clock time, is to come) into the ledger. */
static void claim_oprule(struct mg_engine *e, const struct mg_oprule *r, uint64_t now, uint64_t wall)
{
	uint64_t exp = r->expires_ns ? now + (r->expires_ns - wall) : MG_TIME_NEVER;

	mg_ruleset_claim(e->rules, &r->prefix, r->kind == MG_RULE_ALLOW ? MG_OWNER_OPERATOR_ALLOW : MG_OWNER_OPERATOR_BLOCK,
			 r->action, exp);
}

struct restore_ctx {
	struct mg_engine *e;
	uint64_t now;
	size_t verdicts, learned;
};

static int claim_from_profile(const struct mg_an_profile_view *v, void *arg)
{
	struct restore_ctx *c = arg;

	if (v->role == MG_ROLE_BLOCKED && v->blocked_until_ns > c->now) {
		mg_ruleset_claim(c->e->rules, &v->prefix, MG_OWNER_VERDICT, c->e->an_cfg.block_action, v->blocked_until_ns);
		c->verdicts++;
	}
	if (v->learned) {
		mg_ruleset_claim(c->e->rules, &v->prefix, MG_OWNER_LEARNED_SERVER, 0, MG_TIME_NEVER);
		c->learned++;
	}
	return 0;
}

/* A rule the kernel holds that no record accounts for (the state was lost or damaged). */
struct unclaimed {
	struct mg_prefix prefix;
	bool allow;
	uint8_t action;
	uint64_t expires;
};

struct pin_ctx {
	uint64_t now;
	bool keep_allows;
	struct unclaimed *v;
	size_t n, cap, blocks, allows;
};

static void pin_push(struct pin_ctx *c, const struct unclaimed *u)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct unclaimed *v = realloc(c->v, cap * sizeof(*v));
		if (!v)
			return; /* not kept: the next sync removes it, which errs toward passing traffic */
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = *u;
	c->blocks += !u->allow;
	c->allows += u->allow;
}

static void find_unclaimed(const struct mg_rule_entry *r, void *arg)
{
	struct pin_ctx *c = arg;
	const struct mg_claim *cl = r->claims;
	const struct mg_rule_want *w = r->written;

	if (mg_rule_block_in_force(w, c->now) && !cl[MG_OWNER_OPERATOR_BLOCK].present && !cl[MG_OWNER_VERDICT].present &&
	    !cl[MG_OWNER_FEED].present)
		pin_push(c, &(struct unclaimed){ r->prefix, false, w->action, w->block_expires });
	if (c->keep_allows && w->allow && !cl[MG_OWNER_OPERATOR_ALLOW].present && !cl[MG_OWNER_CONFIG_ALLOW].present &&
	    !cl[MG_OWNER_CONFIG_SERVER].present)
		pin_push(c, &(struct unclaimed){ r->prefix, true, 0, MG_TIME_NEVER });
}

void mg_engine_adopt_rule(struct mg_engine *e, const struct mg_prefix *p, bool allow, uint8_t action, uint64_t expires)
{
	mg_ruleset_adopt(e->rules, p, allow, action, expires);
}

void mg_engine_adopt_outbreak(struct mg_engine *e, uint32_t fp, unsigned level, uint64_t since)
{
	mg_ruleset_adopt_outbreak(e->rules, fp, level, since);
}

uint64_t mg_engine_state_bytes(const struct mg_engine *e)
{
	char paths[3][300];
	uint64_t bytes = 0;
	struct stat st;

	if (!e->state_file[0])
		return 0;
	snprintf(paths[0], sizeof(paths[0]), "%s", e->state_file);
	rules_path(e, paths[1], sizeof(paths[1]));
	feeds_path(e, paths[2], sizeof(paths[2]));
	for (int i = 0; i < 3; i++)
		if (!stat(paths[i], &st) && S_ISREG(st.st_mode))
			bytes += (uint64_t)st.st_size;
	return bytes;
}

void mg_engine_start(struct mg_engine *e, uint64_t now, uint64_t wall)
{
	bool rules_ok = true;

	if (e->state_file[0]) {
		char path[300];
		/* Temporary files a killed writer left behind (the writes are temp + rename). */
		rules_path(e, path, sizeof(path));
		mg_atomic_clean_stale(e->state_file);
		mg_atomic_clean_stale(path);
		feeds_path(e, path, sizeof(path));
		mg_atomic_clean_stale(path);
		restore_analyzer(e, now, wall);
		rules_ok = restore_rules(e, now, wall);
		restore_feeds(e, now, wall);
		push_exceptions(e);
	}
	/* The imported lists at once: at start nothing else waits, and what the kernel holds is adopted. */
	size_t nfeed = 0;
	for (size_t i = 0; i < e->feeds.n; i++)
		for (size_t k = 0; k < e->feeds.o[i].n; k++, nfeed++)
			feed_claim(e, &e->feeds.o[i].v[k].prefix, now, wall);
	/* The operator's rules in force; those that ended while nobody ran end at the first tick, with a line. */
	for (size_t i = 0; i < e->oprules.n; i++)
		if (!e->oprules.v[i].expires_ns || e->oprules.v[i].expires_ns > wall)
			claim_oprule(e, &e->oprules.v[i], now, wall);
	struct restore_ctx rc = { .e = e, .now = now };
	mg_an_foreach(e->an, claim_from_profile, &rc);
	contain_from_outbreaks(e);

	/*
	 * What the kernel held and no record accounts for: blocks stay until
	 * their own expiry (they expire, so keeping them is safe); allows stay
	 * only when the rules file was damaged (otherwise the configuration and
	 * the file are the truth, and a stale allow would exempt a source forever).
	 */
	struct pin_ctx pc = { .now = now, .keep_allows = !rules_ok };
	mg_ruleset_foreach(e->rules, find_unclaimed, &pc);
	for (size_t i = 0; i < pc.n; i++)
		mg_ruleset_claim(e->rules, &pc.v[i].prefix, pc.v[i].allow ? MG_OWNER_PINNED_ALLOW : MG_OWNER_PINNED_BLOCK,
				 pc.v[i].action, pc.v[i].expires);
	if (pc.n)
		notice(e, now, wall, true, "notice",
		       "%zu block(s) and %zu allow(s) in the kernel that no record accounts for are kept (as \"pinned\"; "
		       "blocks until they expire, or mtaguardctl unblock/disallow)",
		       pc.blocks, pc.allows);
	free(pc.v);

	if (e->sink->set_monitor)
		e->sink->set_monitor(e->sink_ctx, e->an_cfg.monitor);
	sync(e, now, wall);
	set_threat(e, now, wall);
	if (!e->n_protected)
		notice(e, now, wall, false, "notice",
		       "no protected_networks configured: every source is taken as one of ours, so outside MTAs "
		       "delivering to your mail servers count as your own new senders; list your networks");
	if (rc.verdicts || rc.learned || mg_ob_active(e->ob) || nfeed)
		notice(e, now, wall, false, "notice",
		       "in force after the restore: %zu verdict(s), %zu learned mail server(s), %zu outbreak(s), "
		       "threat level %u, %zu imported prefix(es) from %zu origin(s)",
		       rc.verdicts, rc.learned, mg_ob_active(e->ob), e->threat_level, nfeed, e->feeds.n);
}

/* ---- inputs ------------------------------------------------------------------------------------ */

/* The source of an event that may change its verdict: judged at the next settle (its kernel key, deduplicated). */
static void mark_hot(struct mg_engine *e, const uint8_t addr[16])
{
	uint8_t key[16];

	memcpy(key, addr, 16);
	mg_addr_mask(key, mg_an_key_len(&e->an_cfg, addr));
	for (uint32_t i = 0; i < e->nhot; i++)
		if (!memcmp(e->hot[i], key, 16))
			return;
	if (e->nhot == MG_ENGINE_HOT_MAX) {
		e->hot_missed++; /* the analyzer has the event: the next scan judges it */
		return;
	}
	memcpy(e->hot[e->nhot++], key, 16);
}

void mg_engine_settle(struct mg_engine *e, uint64_t now, uint64_t wall)
{
	static struct mg_an_action actions[MAX_ACTIONS];
	struct mg_src_stats s;
	size_t n;

	if (!e->nhot)
		return;
	/* Their counters as of now: the commands of sessions since the last scan count too. */
	for (uint32_t i = 0; e->sink->read_one && i < e->nhot; i++)
		if (e->sink->read_one(e->sink_ctx, e->hot[i], &s) == 0)
			mg_an_on_counters(e->an, e->hot[i], &s, now);
	e->nhot = 0;
	e->settles++;
	do {
		n = mg_an_evaluate(e->an, now, actions, MAX_ACTIONS);
		apply_actions(e, actions, n, now, wall);
	} while (n == MAX_ACTIONS);
	sync(e, now, wall);
}

void mg_engine_set_verifier(struct mg_engine *e, mg_engine_verify_fn fn, void *arg)
{
	e->verify = fn;
	e->verify_arg = arg;
}

/* Is verification off for this source: off altogether, or in a network the config turns it off for? */
static bool verify_off(const struct mg_engine *e, const uint8_t addr[16])
{
	if (!e->verify_enabled || !e->verify)
		return true;
	for (size_t i = 0; i < e->n_verify_off; i++)
		if (mg_prefix_covers(&e->verify_off[i], addr))
			return true;
	return false;
}

/* The address the world sees: the NAT's public one for hosts inside a mapped prefix (the longest wins). */
static void public_addr(const struct mg_engine *e, const uint8_t inside[16], uint8_t out[16])
{
	int best = -1;

	memcpy(out, inside, 16);
	for (size_t i = 0; i < e->n_verify_nat; i++)
		if (mg_prefix_covers(&e->verify_nat[i].inside, inside) &&
		    (best < 0 || e->verify_nat[i].inside.prefixlen > e->verify_nat[best].inside.prefixlen))
			best = (int)i;
	if (best >= 0)
		memcpy(out, e->verify_nat[best].public_addr, 16);
}

/* A MAIL event: into the analyzer, then to the verifier if the analyzer wants this source checked. */
static void mail_event(struct mg_engine *e, const struct mg_event *ev, uint64_t now)
{
	struct mg_verify_input in;

	mg_an_on_event(e->an, ev, now);
	e->news = true;
	mark_hot(e, ev->src); /* a forged identity used again may decide a verdict */
	if (verify_off(e, ev->src) || !mg_an_verify_wanted(e->an, ev->src, now, &in))
		return;
	public_addr(e, ev->src, in.addr);
	e->verify_requests++;
	e->verify(e->verify_arg, ev->src, &in);
}

void mg_engine_verified(struct mg_engine *e, const uint8_t who[16], const struct mg_verify_summary *s, uint64_t now,
			uint64_t wall)
{
	(void)wall;
	mg_an_on_verify(e->an, who, s, now);
	e->news = true;
	mark_hot(e, who); /* judged at the next settle, not at the next scan */
}

void mg_engine_event(struct mg_engine *e, const struct mg_event *ev, uint64_t now, uint64_t wall)
{
	struct mg_ob_action acts[MAX_OB_ACTIONS];
	struct mg_signature sigs[3];
	struct mg_prefix src;

	/*
	 * Commands the kernel did not count (a spoofer's, where a handshake is
	 * required) are no evidence; the kernel sends none, and a replayed or
	 * older producer's must not slip past either.
	 */
	if ((ev->type == MG_EV_HELO || ev->type == MG_EV_MAIL) && ev->proof == MG_PROOF_NONE)
		return;
	if (ev->type == MG_EV_MAIL) {
		mail_event(e, ev, now);
		return;
	}
	mg_an_on_event(e->an, ev, now);
	e->news = true;
	if (ev->type != MG_EV_SYN_MX && ev->type != MG_EV_HELO)
		return;
	mark_hot(e, ev->src);
	/* New senders' characteristics into outbreak detection. */
	if (!mg_an_new_sender(e->an, ev->src, now))
		return;
	memcpy(src.addr, ev->src, 16);
	src.prefixlen = (uint8_t)mg_an_key_len(&e->an_cfg, ev->src);
	mg_addr_mask(src.addr, src.prefixlen);
	/*
	 * Only commands the kernel counted (proof at least "payload"; "handshake"
	 * where it requires one) name a member. A SYN proves nothing: it may
	 * make a signature to contain, never a member or a threat level. Proven
	 * commands vouch for the fingerprint of the source's SYN as well.
	 */
	bool proven = ev->type == MG_EV_HELO && ev->proof >= MG_PROOF_PAYLOAD;
	size_t nsig = mg_ob_event_signatures(ev, sigs);
	if (proven && ev->fp_hash)
		sigs[nsig++] = (struct mg_signature){ MG_SIG_FP, ev->fp_hash, MG_SIGCLASS_BY_KIND };
	for (size_t i = 0; i < nsig; i++) {
		size_t n = proven ? mg_ob_observe(e->ob, &src, ev->mac, ev->vlan_outer, ev->vlan_inner, &sigs[i], now,
						  acts, MAX_OB_ACTIONS)
				  : mg_ob_observe_unproven(e->ob, &src, ev->mac, ev->vlan_outer, ev->vlan_inner,
							   &sigs[i], now, acts, MAX_OB_ACTIONS);
		apply_outbreak(e, acts, n, now, wall);
	}
}

bool mg_engine_scan_due(const struct mg_engine *e, uint64_t now)
{
	return !e->scanned_once || now >= mg_engine_next_scan(e);
}

uint64_t mg_engine_next_scan(const struct mg_engine *e)
{
	if (!e->scanned_once)
		return 0;
	return e->last_scan + (e->news ? NEWS_SCAN_GAP_NS : e->scan_interval);
}

struct feed_ctx {
	struct mg_analyzer *an;
	uint64_t now;
};

static void feed(const uint8_t (*keys)[16], const struct mg_src_stats *s, size_t n, void *arg)
{
	struct feed_ctx *f = arg;
	mg_an_on_counters_batch(f->an, keys, s, n, f->now);
}

static void expire_oprules(struct mg_engine *e, uint64_t now, uint64_t wall)
{
	struct mg_oprule gone[32];
	char buf[MG_ADDRSTRLEN];
	size_t n;

	while ((n = mg_oprules_expire(&e->oprules, wall, gone, 32)) > 0) {
		for (size_t i = 0; i < n; i++) {
			const struct mg_oprule *r = &gone[i];
			bool allow = r->kind == MG_RULE_ALLOW;
			mg_ruleset_release(e->rules, &r->prefix, allow ? MG_OWNER_OPERATOR_ALLOW : MG_OWNER_OPERATOR_BLOCK);
			notice(e, now, wall, false, "operator-expired", "operator %s %s ended%s%s", allow ? "allow" : "block",
			       mg_prefix_str(&r->prefix, buf, sizeof(buf)), r->comment[0] ? ": " : "", r->comment);
		}
		e->rules_dirty = true;
		if (n < 32)
			break;
	}
}

static void expire_cluster(struct mg_engine *e, uint64_t now, uint64_t wall);
/* ---- feeds --------------------------------------------------------------------------------- */

/*
 * Make room in the queue for `n` more prefixes, so that the feed_enqueue
 * of at most n that follows cannot fail: called before the lists change,
 * so that a want of memory leaves everything as it was. An empty queue
 * needs none (it takes the list itself).
 */
static int feed_reserve(struct mg_engine *e, size_t n)
{
	size_t left = e->feedq_n - e->feedq_head;

	if (!n || !left || (!e->feedq_head && left + n <= e->feedq_cap))
		return 0;
	struct mg_prefix *q = malloc((left + n) * sizeof(*q));
	if (!q)
		return -ENOMEM;
	memcpy(q, e->feedq + e->feedq_head, left * sizeof(*q));
	free(e->feedq);
	e->feedq = q;
	e->feedq_cap = left + n;
	e->feedq_head = 0;
	e->feedq_n = left;
	return 0;
}

/* Queue prefixes whose feed claim may change (taken over: freed here). */
static int feed_enqueue(struct mg_engine *e, struct mg_prefix *v, size_t n)
{
	if (!n) {
		free(v);
		return 0;
	}
	if (e->feedq_head == e->feedq_n) { /* empty: take the list as the queue */
		e->feed_step_max_ns = 0;
		free(e->feedq);
		e->feedq = v;
		e->feedq_n = e->feedq_cap = n;
		e->feedq_head = 0;
	} else {
		/* Room behind what is left (none needed when the caller reserved it before). */
		if (feed_reserve(e, n)) {
			free(v);
			return -ENOMEM;
		}
		memcpy(e->feedq + e->feedq_n, v, n * sizeof(*v));
		e->feedq_n += n;
		free(v);
	}
	e->feed_queued += n;
	return 0;
}

size_t mg_engine_feed_step(struct mg_engine *e, size_t budget, uint64_t now, uint64_t wall)
{
	size_t end = e->feedq_head + budget < e->feedq_n ? e->feedq_head + budget : e->feedq_n;

	if (e->feedq_head == e->feedq_n)
		return 0;
	uint64_t t0 = mg_mono_ns();
	for (size_t i = e->feedq_head; i < end; i++)
		feed_claim(e, &e->feedq[i], now, wall);
	e->feed_applied += end - e->feedq_head;
	e->feedq_head = end;
	sync(e, now, wall);
	if (mg_mono_ns() - t0 > e->feed_step_max_ns)
		e->feed_step_max_ns = mg_mono_ns() - t0;
	if (e->feedq_head == e->feedq_n) {
		free(e->feedq);
		e->feedq = NULL;
		e->feedq_n = e->feedq_head = e->feedq_cap = 0;
		save_rules_if_needed(e, now, wall); /* the lists as they are now in force */
	}
	return e->feedq_n - e->feedq_head;
}

static void expire_feeds(struct mg_engine *e, uint64_t now, uint64_t wall)
{
	struct mg_prefix *gone;
	size_t due = mg_feeds_expiring(&e->feeds, wall);

	if (!due)
		return;
	/*
	 * The queue's room first, as for an import: prefixes taken out of the
	 * lists with no room to queue them would keep their old claim (another
	 * origin's action or expiry never taking over). Without it nothing
	 * changes, and the next tick tries again.
	 */
	if (feed_reserve(e, due)) {
		e->feed_expiry_deferred++;
		if (mg_log_gate_pass(&e->feed_expiry_gate, now, WRITE_FAIL_LOG_EVERY_NS))
			notice(e, now, wall, true, "notice", "%zu imported prefix(es) reached their expiry, but there is no "
			       "memory to apply it; they stay in force and are retried at every scan (said once a "
			       "minute at most)", due);
		return;
	}
	size_t n = mg_feeds_expire(&e->feeds, wall, &gone);

	if (!n) {
		free(gone);
		return;
	}
	notice(e, now, wall, false, "feed-expired", "%zu imported prefix(es) reached their expiry", n);
	feed_enqueue(e, gone, n);
	e->feeds_dirty = true;
}

/* An import's answer when the feeds file could not be written: in force, not saved. */
static int feeds_unsaved(struct mg_engine *e, const char *what, char *err, size_t errlen)
{
	char path[300];

	if (!e->feeds_dirty || !e->state_file[0])
		return 0;
	feeds_path(e, path, sizeof(path));
	err_msg(err, errlen,
		"%s is in force now but NOT saved: writing %s failed: %s. A restart would undo it unless a later "
		"write succeeds (retried at every scan)",
		what, path, strerror(e->feeds_save_err ? -e->feeds_save_err : EIO));
	return e->feeds_save_err ? e->feeds_save_err : -EIO;
}

int mg_engine_feeds_unsaved(struct mg_engine *e, const char *what, char *err, size_t errlen)
{
	return feeds_unsaved(e, what, err, errlen);
}

int mg_engine_import(struct mg_engine *e, const char *origin, uint8_t action, const struct mg_prefix *v, size_t n,
		     uint64_t ttl_ns, bool sync_, uint64_t now, uint64_t wall, struct mg_feed_change *ch,
		     uint64_t *ticket, char *err, size_t errlen)
{
	const struct mg_feed_origin *o = mg_feeds_find(&e->feeds, origin);
	/* The queue's room first (an import touches at most the origin's old prefixes and the new ones): a want of
	 * memory after the lists changed would leave them ahead of the ledger and the kernel. */
	int rc = feed_reserve(e, (o ? o->n : 0) + n);

	memset(ch, 0, sizeof(*ch));
	if (!rc)
		rc = mg_feeds_import(&e->feeds, origin, action, v, n, ttl_ns ? wall + ttl_ns : MG_TIME_NEVER, sync_,
				     wall, ch);
	if (rc == -ENOSPC) {
		err_msg(err, errlen, "too many origins (%d): drop one first (mtaguardctl import --drop)", MG_FEED_ORIGINS_MAX);
		return rc;
	}
	if (rc) {
		err_msg(err, errlen, "out of memory");
		return rc;
	}
	rc = feed_enqueue(e, ch->touched, ch->ntouched); /* cannot fail: the room is there */
	ch->touched = NULL;
	*ticket = e->feed_queued;
	if (rc) {
		err_msg(err, errlen, "out of memory");
		return rc;
	}
	/* Saved when the steps have carried it into the kernel (mg_engine_feed_step): two shorter pauses of the loop, not one. */
	e->feeds_dirty = true;
	if (e->feedq_head == e->feedq_n) /* nothing to carry: no step will come */
		save_rules_if_needed(e, now, wall);
	notice(e, now, wall, false, "feed-import",
	       "import %s: %zu prefix(es), %zu new, %zu removed, %zu in all, action %s%s", origin, n, ch->added,
	       ch->removed, ch->total, mg_action_name(action), sync_ ? " (sync)" : "");
	return 0;
}

int mg_engine_feed_drop(struct mg_engine *e, const char *origin, uint64_t now, uint64_t wall, uint64_t *ticket,
			char *err, size_t errlen)
{
	struct mg_prefix *t = NULL;
	size_t n = 0;
	char what[96];
	const struct mg_feed_origin *o = mg_feeds_find(&e->feeds, origin);
	int rc = o ? feed_reserve(e, o->n) : -ENOENT; /* as in mg_engine_import: before anything changes */

	if (!rc)
		rc = mg_feeds_drop(&e->feeds, origin, &t, &n);
	if (rc == -ENOENT) {
		err_msg(err, errlen, "no imported list from origin '%s'", origin);
		return rc;
	}
	if (rc || (rc = feed_enqueue(e, t, n))) {
		err_msg(err, errlen, "out of memory");
		return rc;
	}
	*ticket = e->feed_queued;
	e->feeds_dirty = true;
	save_rules_if_needed(e, now, wall);
	notice(e, now, wall, false, "feed-drop", "imported list %s dropped: %zu prefix(es)", origin, n);
	snprintf(what, sizeof(what), "dropping %s", origin);
	return feeds_unsaved(e, what, err, errlen);
}

void mg_engine_tick(struct mg_engine *e, uint64_t now, uint64_t wall)
{
	static struct mg_an_action actions[MAX_ACTIONS];
	struct mg_ob_action oa[MAX_OB_ACTIONS];
	struct feed_ctx f = { .an = e->an, .now = now };
	size_t n;

	apply_outbreak(e, oa, mg_ob_tick(e->ob, now, oa, MAX_OB_ACTIONS), now, wall);
	expire_oprules(e, now, wall);
	expire_feeds(e, now, wall);
	expire_cluster(e, now, wall);
	/* What ended above hands over before the analyzer judges: its allow set may have changed. */
	sync(e, now, wall);
	if (e->sink->activity)
		mg_an_set_activity(e->an, e->sink->activity(e->sink_ctx));
	if (e->sink->scan) {
		int err = e->sink->scan(e->sink_ctx, feed, &f);
		/* Every tick while it lasts: said a line a minute at most, with how many since. */
		if (err && ++e->scan_failures &&
		    mg_log_gate_pass(&e->scan_fail_gate, now, WRITE_FAIL_LOG_EVERY_NS)) {
			uint64_t more = e->scan_failures - e->scan_failures_said - 1;
			if (more)
				notice(e, now, wall, true, "notice", "reading the kernel's profiles: %s (and %llu more failed "
				       "reads since the last such line; said once a minute at most)", strerror(-err),
				       (unsigned long long)more);
			else
				notice(e, now, wall, true, "notice", "reading the kernel's profiles: %s", strerror(-err));
			e->scan_failures_said = e->scan_failures;
		}
	}
	do {
		n = mg_an_tick(e->an, now, actions, MAX_ACTIONS);
		apply_actions(e, actions, n, now, wall);
	} while (n == MAX_ACTIONS);
	sync(e, now, wall);
	save_rules_if_needed(e, now, wall);
	e->last_scan = now;
	e->scanned_once = true;
	e->news = false;
	e->nhot = 0; /* the scan read them all */
}

/* ---- other nodes ------------------------------------------------------------------------------- */

static const char *const cl_outcome_names[MG_CL_OUTCOME_MAX] = {
	[MG_CL_TAKEN] = "taken",
	[MG_CL_REMOVED] = "removed",
	[MG_CL_OWN] = "own",
	[MG_CL_NOT_ACCEPTED] = "not-accepted",
	[MG_CL_TOO_WIDE] = "too-wide",
	[MG_CL_BREAKER] = "breaker",
	[MG_CL_FULL] = "full",
	[MG_CL_PROTECTED] = "protected",
};

const char *mg_cl_outcome_name(enum mg_cl_outcome o)
{
	return (unsigned)o < MG_CL_OUTCOME_MAX ? cl_outcome_names[o] : "?";
}

/* The cluster owners' claims on p, as the received entries on it add up. */
static void cl_claim(struct mg_engine *e, const struct mg_prefix *p, const struct mg_cl_want *w)
{
	if (w->block)
		mg_ruleset_claim(e->rules, p, MG_OWNER_CLUSTER_BLOCK, w->action, w->block_expires);
	else
		mg_ruleset_release(e->rules, p, MG_OWNER_CLUSTER_BLOCK);
	if (w->allow)
		mg_ruleset_claim(e->rules, p, MG_OWNER_CLUSTER_ALLOW, 0, w->allow_expires);
	else
		mg_ruleset_release(e->rules, p, MG_OWNER_CLUSTER_ALLOW);
	if (w->server)
		mg_ruleset_claim(e->rules, p, MG_OWNER_CLUSTER_SERVER, 0, w->server_expires);
	else
		mg_ruleset_release(e->rules, p, MG_OWNER_CLUSTER_SERVER);
}

#define MG_CL_MAX_LEFT_NS (366ull * 86400 * MG_NSEC_PER_SEC)

struct cl_expiry {
	struct mg_engine *e;
};

static void cl_expired(const struct mg_prefix *p, const struct mg_cl_want *w, void *arg)
{
	struct cl_expiry *x = arg;
	cl_claim(x->e, p, w);
}

/* The "bgp" owner's claim on p, as the peers' routes on it add up. */
static void bgp_claim(struct mg_engine *e, const struct mg_prefix *p, const struct mg_cl_want *w)
{
	if (w->block)
		mg_ruleset_claim(e->rules, p, MG_OWNER_BGP_BLOCK, w->action, w->block_expires);
	else
		mg_ruleset_release(e->rules, p, MG_OWNER_BGP_BLOCK);
}

static void bgp_expired(const struct mg_prefix *p, const struct mg_cl_want *w, void *arg)
{
	struct cl_expiry *x = arg;
	bgp_claim(x->e, p, w);
}

/* Received entries whose time is up go, and their claims with them: at every tick, with no word from their origin. */
static void cl_threat_update(struct mg_engine *e, uint64_t now, uint64_t wall);

static void expire_cluster(struct mg_engine *e, uint64_t now, uint64_t wall)
{
	struct cl_expiry x = { e };

	if (e->clrecv)
		e->cl_removed += mg_clrecv_expire(e->clrecv, now, cl_expired, &x);
	if (e->bgprecv)
		e->bgp_removed += mg_clrecv_expire(e->bgprecv, now, bgp_expired, &x);
	size_t before = e->n_cl_ob;
	for (size_t i = 0; i < e->n_cl_ob;)
		if (e->cl_ob[i].expires <= now)
			e->cl_ob[i] = e->cl_ob[--e->n_cl_ob];
		else
			i++;
	e->cl_removed += before - e->n_cl_ob;
	if (e->n_cl_ob != before)
		cl_threat_update(e, now, wall);
}

static enum mg_cl_outcome cl_refuse(struct mg_engine *e, enum mg_cl_outcome o)
{
	e->cl_refused++;
	return o;
}

/* The threat level other nodes' outbreaks carry here: the highest live one, capped. */
static void cl_threat_update(struct mg_engine *e, uint64_t now, uint64_t wall)
{
	unsigned top = 0;

	for (size_t i = 0; i < e->n_cl_ob; i++)
		if (e->cl_ob[i].expires > now && e->cl_ob[i].level > top)
			top = e->cl_ob[i].level;
	e->cl_threat = top > MG_CL_THREAT_MAX ? MG_CL_THREAT_MAX : top;
	set_threat(e, now, wall);
}

static enum mg_cl_outcome cl_outbreak(struct mg_engine *e, const struct mg_cl_entry *ent, bool gone, uint64_t now,
				      uint64_t wall)
{
	size_t i;

	for (i = 0; i < e->n_cl_ob; i++)
		if (!strcmp(e->cl_ob[i].node, ent->node) && e->cl_ob[i].sig.kind == ent->sig.kind &&
		    e->cl_ob[i].sig.value == ent->sig.value)
			break;
	if (gone) {
		if (i < e->n_cl_ob) {
			e->cl_ob[i] = e->cl_ob[--e->n_cl_ob];
			e->cl_removed++;
			cl_threat_update(e, now, wall);
		}
		return MG_CL_REMOVED;
	}
	if (!(e->cl_accept & (1u << MG_CL_OUTBREAK)))
		return cl_refuse(e, MG_CL_NOT_ACCEPTED);
	if (i == e->n_cl_ob) {
		if (e->n_cl_ob == MG_CL_OUTBREAKS_MAX)
			return cl_refuse(e, MG_CL_FULL);
		e->n_cl_ob++;
	}
	struct mg_cl_outbreak *o = &e->cl_ob[i];
	snprintf(o->node, sizeof(o->node), "%s", ent->node);
	o->sig = ent->sig;
	o->level = ent->level;
	o->members = ent->members;
	uint64_t left = ent->expires_wall == MG_CL_NO_EXPIRY ? MG_CL_MAX_LEFT_NS : ent->expires_wall - wall;
	o->expires = now + (left > MG_CL_MAX_LEFT_NS ? MG_CL_MAX_LEFT_NS : left);
	e->cl_received++;
	cl_threat_update(e, now, wall);
	return MG_CL_TAKEN;
}

enum mg_cl_outcome mg_engine_cluster_apply(struct mg_engine *e, const struct mg_cl_entry *ent, bool deleted,
					   uint64_t now, uint64_t wall)
{
	struct mg_cl_want w;

	if (!e->clrecv && !(e->clrecv = mg_clrecv_new()))
		return cl_refuse(e, MG_CL_FULL);
	if (!strcmp(ent->node, e->cl_node))
		return MG_CL_OWN;
	if (ent->kind == MG_CL_OUTBREAK)
		return cl_outbreak(e, ent, deleted || (ent->expires_wall != MG_CL_NO_EXPIRY && ent->expires_wall <= wall),
				   now, wall);
	/* Gone at the origin, or ended on its own: the entry goes, whatever this node accepts now. */
	if (deleted || (ent->expires_wall != MG_CL_NO_EXPIRY && ent->expires_wall <= wall)) {
		if (mg_clrecv_del(e->clrecv, ent->kind, ent->node, &ent->prefix, &w)) {
			e->cl_removed++;
			cl_claim(e, &ent->prefix, &w);
			sync(e, now, wall);
		}
		return MG_CL_REMOVED;
	}
	if (!(e->cl_accept & (1u << ent->kind)))
		return cl_refuse(e, MG_CL_NOT_ACCEPTED);
	bool v4 = mg_prefix_is_v4(&ent->prefix);
	if (mg_prefix_family_len(&ent->prefix) < (v4 ? e->cl_min_v4 : e->cl_min_v6) ||
	    mg_prefix_family_len(&ent->prefix) == 0)
		return cl_refuse(e, MG_CL_TOO_WIDE);
	if (ent->kind == MG_CL_BLOCK && covers_protected(e, &ent->prefix))
		return cl_refuse(e, MG_CL_PROTECTED);
	bool is_new = !mg_clrecv_has(e->clrecv, ent->kind, ent->node, &ent->prefix);
	/* The breaker: verdicts new here and written within the last minute (a wave, not a resync). */
	if (ent->kind == MG_CL_VERDICT && is_new && ent->at_wall + 60 * MG_NSEC_PER_SEC > wall) {
		if (now - e->cl_minute_start >= 60 * MG_NSEC_PER_SEC || !e->cl_minute_count) {
			e->cl_minute_start = now;
			e->cl_minute_count = 0;
		}
		if (e->cl_minute_count >= e->cl_max_per_min)
			return cl_refuse(e, MG_CL_BREAKER);
		e->cl_minute_count++;
	}
	/* Its wall-clock end as an instant on this timeline: the time left, from now. */
	uint64_t left = ent->expires_wall == MG_CL_NO_EXPIRY ? 0 : ent->expires_wall - wall;
	if (left > MG_CL_MAX_LEFT_NS)
		left = MG_CL_MAX_LEFT_NS; /* no received rule lasts longer than this node's own could */
	uint64_t expires = ent->expires_wall == MG_CL_NO_EXPIRY ? MG_TIME_NEVER : now + left;
	if (mg_clrecv_put(e->clrecv, ent, expires, &w))
		return cl_refuse(e, MG_CL_FULL);
	e->cl_received++;
	cl_claim(e, &ent->prefix, &w);
	sync(e, now, wall);
	return MG_CL_TAKEN;
}

enum mg_cl_outcome mg_engine_bgp_apply(struct mg_engine *e, const char *peer, const struct mg_prefix *p,
				       uint8_t action, uint64_t ttl_ns, bool withdraw, uint64_t now, uint64_t wall)
{
	struct mg_cl_entry ent = { .kind = MG_CL_BLOCK, .prefix = *p,
				   .action = action == MG_ACT_DROP_ALL ? MG_ACT_DROP_ALL : MG_ACT_DROP_SMTP };
	struct mg_cl_want w;

	if (!e->bgprecv && !(e->bgprecv = mg_clrecv_new())) {
		e->bgp_refused++;
		return MG_CL_FULL;
	}
	snprintf(ent.node, sizeof(ent.node), "%s", peer);
	if (withdraw) {
		if (mg_clrecv_del(e->bgprecv, MG_CL_BLOCK, ent.node, p, &w)) {
			e->bgp_removed++;
			bgp_claim(e, p, &w);
			sync(e, now, wall);
		}
		return MG_CL_REMOVED;
	}
	bool v4 = mg_prefix_is_v4(p);
	if (mg_prefix_family_len(p) < (v4 ? e->cl_min_v4 : e->cl_min_v6) || mg_prefix_family_len(p) == 0) {
		e->bgp_refused++;
		return MG_CL_TOO_WIDE;
	}
	if (covers_protected(e, p)) {
		e->bgp_refused++;
		return MG_CL_PROTECTED;
	}
	/* The breaker counts routes new here: the helper's refreshes of what it holds pass. */
	if (!mg_clrecv_has(e->bgprecv, MG_CL_BLOCK, ent.node, p)) {
		if (now - e->bgp_minute_start >= 60 * MG_NSEC_PER_SEC || !e->bgp_minute_count) {
			e->bgp_minute_start = now;
			e->bgp_minute_count = 0;
		}
		if (e->bgp_minute_count >= e->bgp_max_per_min) {
			e->bgp_refused++;
			return MG_CL_BREAKER;
		}
		e->bgp_minute_count++;
	}
	/* A route has no end of its own: it lives while its peer keeps it announced, and the helper refreshes it. */
	if (!ttl_ns || ttl_ns > MG_CL_MAX_LEFT_NS)
		ttl_ns = MG_CL_MAX_LEFT_NS;
	if (mg_clrecv_put(e->bgprecv, &ent, now + ttl_ns, &w)) {
		e->bgp_refused++;
		return MG_CL_FULL;
	}
	e->bgp_received++;
	bgp_claim(e, p, &w);
	sync(e, now, wall);
	return MG_CL_TAKEN;
}

/* ---- the operator ------------------------------------------------------------------------------- */

static void allowed_by(const struct mg_engine *e, const struct mg_prefix *p, uint64_t now, const char **by)
{
	struct mg_rule_entry r;
	struct mg_rule_want w;

	*by = NULL;
	if (!mg_ruleset_find(e->rules, p, &r))
		return;
	mg_rules_resolve(r.claims, false, now, &w);
	if (w.allow)
		*by = mg_owner_name(w.allow_by);
}

/* After an operator's change: written into the kernel and into the rules file at once. */
static void commit_change(struct mg_engine *e, uint64_t now, uint64_t wall)
{
	sync(e, now, wall);
	e->rules_dirty = true;
	save_rules_if_needed(e, now, wall);
}

/*
 * The operator's answer when the change could not be saved. The change
 * stays in force (the kernel has it; undoing what the operator just asked
 * for would surprise more than it protects), but it is not durable, and the
 * operator must know both: the answer is a failure that says so, with the
 * system's reason. 0 when the rules file has the change.
 */
static int unsaved(struct mg_engine *e, const char *what, char *err, size_t errlen)
{
	char path[300];

	if (!e->rules_dirty || !e->state_file[0])
		return 0;
	rules_path(e, path, sizeof(path));
	err_msg(err, errlen,
		"%s is in force now but NOT saved: writing %s failed: %s. A restart would undo it unless a later "
		"write succeeds (retried at every scan)",
		what, path, strerror(e->rules_save_err ? -e->rules_save_err : EIO));
	return e->rules_save_err ? e->rules_save_err : -EIO;
}

/* Take out the operator's rule of that kind on exactly p, and a pinned one; false if there was none. */
static bool drop_oprule(struct mg_engine *e, const struct mg_prefix *p, uint8_t kind)
{
	bool allow = kind == MG_RULE_ALLOW, had = mg_oprules_remove(&e->oprules, p, kind);

	had |= mg_ruleset_release(e->rules, p, allow ? MG_OWNER_OPERATOR_ALLOW : MG_OWNER_OPERATOR_BLOCK);
	had |= mg_ruleset_release(e->rules, p, allow ? MG_OWNER_PINNED_ALLOW : MG_OWNER_PINNED_BLOCK);
	return had;
}

/* An operator's block or allow: its record (comment, wall-clock times) and its claim in the ledger. */
static int set_oprule(struct mg_engine *e, const struct mg_prefix *p, uint8_t kind, uint8_t action, uint64_t ttl_ns,
		      const char *comment, uint64_t now, uint64_t wall, char *err, size_t errlen)
{
	struct mg_oprule r = { .prefix = *p, .kind = kind, .action = action, .created_ns = wall,
			       .expires_ns = ttl_ns ? wall + ttl_ns : 0 };
	enum mg_owner o = kind == MG_RULE_ALLOW ? MG_OWNER_OPERATOR_ALLOW : MG_OWNER_OPERATOR_BLOCK;

	if (comment)
		snprintf(r.comment, sizeof(r.comment), "%s", comment);
	if (mg_oprules_set(&e->oprules, &r) ||
	    mg_ruleset_claim(e->rules, p, o, action, ttl_ns ? now + ttl_ns : MG_TIME_NEVER)) {
		err_msg(err, errlen, "out of memory");
		return -ENOMEM;
	}
	commit_change(e, now, wall);
	return 0;
}

/* "operator block 198.18.9.0/24 for 3600s: abuse desk ticket 4711" */
static void oprule_notice(struct mg_engine *e, uint8_t kind, const struct mg_prefix *p, uint64_t ttl_ns,
			  const char *comment, uint64_t now, uint64_t wall)
{
	char buf[MG_ADDRSTRLEN], until[48] = "";

	if (ttl_ns)
		snprintf(until, sizeof(until), " for %llus", (unsigned long long)(ttl_ns / MG_NSEC_PER_SEC));
	notice(e, now, wall, false, "operator", "operator %s %s%s%s%s", mg_rule_kind_name(kind),
	       mg_prefix_str(p, buf, sizeof(buf)), until, comment ? ": " : "", comment ? comment : "");
}

int mg_engine_block(struct mg_engine *e, const struct mg_prefix *p, uint8_t action, uint64_t ttl_ns,
		    const char *comment, uint64_t now, uint64_t wall, char *err, size_t errlen)
{
	char buf[MG_ADDRSTRLEN], what[MG_ADDRSTRLEN + 16];
	const char *by;
	int rc = set_oprule(e, p, MG_RULE_BLOCK, action, ttl_ns, comment, now, wall, err, errlen);

	if (rc)
		return rc;
	oprule_notice(e, MG_RULE_BLOCK, p, ttl_ns, comment, now, wall);
	allowed_by(e, p, now, &by);
	if (by)
		notice(e, now, wall, true, "notice", "%s is allowed (%s): the block waits until that allow ends",
		       mg_prefix_str(p, buf, sizeof(buf)), by);
	snprintf(what, sizeof(what), "block %s", mg_prefix_str(p, buf, sizeof(buf)));
	return unsaved(e, what, err, errlen);
}

int mg_engine_unblock(struct mg_engine *e, const struct mg_prefix *p, uint64_t now, uint64_t wall, char *err,
		      size_t errlen)
{
	char buf[MG_ADDRSTRLEN], what[MG_ADDRSTRLEN + 16];
	bool had = drop_oprule(e, p, MG_RULE_BLOCK);

	mg_prefix_str(p, buf, sizeof(buf));
	/* The analyzer's verdict ends too, with its evidence, or the next tick would write it again. */
	if (mg_an_pardon(e->an, p, now)) {
		mg_ruleset_release(e->rules, p, MG_OWNER_VERDICT);
		had = true;
	}
	if (!had) {
		err_msg(err, errlen, "no block rule for exactly %s", buf);
		return -ENOENT;
	}
	commit_change(e, now, wall);
	notice(e, now, wall, false, "operator", "operator unblock %s", buf);
	snprintf(what, sizeof(what), "unblock %s", buf);
	return unsaved(e, what, err, errlen);
}

int mg_engine_allow(struct mg_engine *e, const struct mg_prefix *p, uint64_t ttl_ns, const char *comment,
		    uint64_t now, uint64_t wall, char *err, size_t errlen)
{
	char buf[MG_ADDRSTRLEN], what[MG_ADDRSTRLEN + 16];
	int rc = set_oprule(e, p, MG_RULE_ALLOW, 0, ttl_ns, comment, now, wall, err, errlen);

	if (rc)
		return rc;
	/*
	 * The verdicts it covers end now, not at the next tick: a disallow right
	 * after must find the source unblocked, and the unblock line is logged
	 * with the allow.
	 */
	mg_engine_tick(e, now, wall);
	oprule_notice(e, MG_RULE_ALLOW, p, ttl_ns, comment, now, wall);
	snprintf(what, sizeof(what), "allow %s", mg_prefix_str(p, buf, sizeof(buf)));
	return unsaved(e, what, err, errlen);
}

int mg_engine_disallow(struct mg_engine *e, const struct mg_prefix *p, uint64_t now, uint64_t wall, char *err,
		       size_t errlen)
{
	char buf[MG_ADDRSTRLEN], what[MG_ADDRSTRLEN + 16];

	mg_prefix_str(p, buf, sizeof(buf));
	if (!drop_oprule(e, p, MG_RULE_ALLOW)) {
		if (mg_ruleset_get(e->rules, p, MG_OWNER_CONFIG_ALLOW) || mg_ruleset_get(e->rules, p, MG_OWNER_CONFIG_SERVER))
			err_msg(err, errlen, "%s is allowed by the configuration file, not by the operator: edit the file "
				"and reload", buf);
		else
			err_msg(err, errlen, "no allow rule for exactly %s", buf);
		return -ENOENT;
	}
	commit_change(e, now, wall);
	notice(e, now, wall, false, "operator", "operator disallow %s", buf);
	snprintf(what, sizeof(what), "disallow %s", buf);
	return unsaved(e, what, err, errlen);
}

/* Keep the operator's exception list (canonical text) in step with an add or remove. */
static int remember_exception(struct mg_engine *e, const char *text, bool on)
{
	size_t i;

	for (i = 0; i < e->n_op_except && strcmp(e->op_except[i], text); i++)
		;
	if (on && i == e->n_op_except) {
		if (e->n_op_except == MG_CONFIG_MAX_EXCEPTIONS)
			return -ENOSPC;
		snprintf(e->op_except[e->n_op_except++], sizeof(e->op_except[0]), "%s", text);
	} else if (!on && i < e->n_op_except) {
		memmove(e->op_except[i], e->op_except[i + 1], (e->n_op_except - i - 1) * sizeof(e->op_except[0]));
		e->n_op_except--;
	}
	return 0;
}

int mg_engine_except(struct mg_engine *e, bool add, const char *what, uint64_t now, uint64_t wall, char *err,
		     size_t errlen)
{
	struct mg_signature sig;
	struct mg_prefix p;
	char canon[64];
	bool is_sig = mg_sig_parse(what, &sig) == 0;

	if (is_sig)
		mg_sig_str(&sig, canon, sizeof(canon));
	else if (mg_prefix_parse(what, &p) == 0)
		mg_prefix_str(&p, canon, sizeof(canon));
	else {
		err_msg(err, errlen, "'%s' is neither a signature (fp:1a2b3c4d, helo:…, shape:…/ehlo) nor a prefix", what);
		return -EINVAL;
	}
	if (remember_exception(e, canon, add)) {
		err_msg(err, errlen, "too many exceptions (%d): put some in the config file", MG_CONFIG_MAX_EXCEPTIONS);
		return -ENOSPC;
	}
	if (is_sig)
		mg_ob_except_sig(e->ob, &sig, add);
	else
		mg_ob_except_prefix(e->ob, &p, add);
	e->rules_dirty = true;
	save_rules_if_needed(e, now, wall);
	notice(e, now, wall, false, "operator", "operator except %s %s", add ? "add" : "remove", what);
	char said[96];
	snprintf(said, sizeof(said), "except %s %s", add ? "add" : "remove", canon);
	return unsaved(e, said, err, errlen);
}

void mg_engine_set_monitor(struct mg_engine *e, bool on, uint64_t now, uint64_t wall)
{
	e->an_cfg.monitor = on;
	mg_an_set_config(e->an, &e->an_cfg);
	if (e->sink->set_monitor)
		e->sink->set_monitor(e->sink_ctx, on);
	notice(e, now, wall, false, "operator", "monitor mode %s", on ? "on" : "off");
}

const struct mg_oprule *mg_engine_oprule(const struct mg_engine *e, const struct mg_prefix *p, uint8_t kind)
{
	return mg_oprules_find(&e->oprules, p, kind);
}

static void one_exception(const struct mg_signature *sig, const struct mg_prefix *pfx, void *arg)
{
	char buf[64];
	json_array_append_new(arg, json_string(sig ? mg_sig_str(sig, buf, sizeof(buf)) : mg_prefix_str(pfx, buf, sizeof(buf))));
}

json_t *mg_engine_exceptions_json(const struct mg_engine *e)
{
	json_t *arr = json_array();

	mg_ob_foreach_exception(e->ob, one_exception, arr);
	return arr;
}
