// SPDX-License-Identifier: GPL-2.0-only
/*
 * mg_daemon_qauto.c - the quarantine's automatic work, off the loop: clamd
 * told to reload when its signatures change, held mail scanned again
 * afterwards, an ended outbreak's mail released, held mail past its
 * retention released or deleted. Every command (postqueue, postcat,
 * postsuper, clamdscan) runs as a job (mg_qwork.h): the loop never waits
 * for one, so a hung clamd or a slow Postfix delays only this work, never
 * Postfix's policy requests, the ring buffer, the control socket or the
 * watchdog.
 *
 * One operation at a time, in rounds: a round (a reload, a re-scan of all
 * held mail, the releases at outbreaks' ends, the expiry) goes on from each
 * operation's end to the next, and a new round is picked only when none
 * runs. Its commands' timeouts (15 s for clamdscan, 30 s for Postfix's
 * tools) bound each operation.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "mg_clock.h"
#include "mg_daemon.h"

#define EXPIRY_EVERY_NS (60 * MG_NSEC_PER_SEC)
/* ClamAV's database directory is looked at this often (a stat per file: the loop may do that). */
#define CLAM_CHECK_EVERY_NS (5 * MG_NSEC_PER_SEC)
/* After clamd is told to reload: time for it to load the new signatures before held mail is scanned again
 * (clamd keeps scanning with the old ones while it loads the new, ConcurrentDatabaseReload). */
#define RESCAN_AFTER_RELOAD_NS (5 * MG_NSEC_PER_SEC)
/* A re-scan that failed (clamd still loading, or down) is tried again this much later. */
#define RESCAN_RETRY_NS (10 * MG_NSEC_PER_SEC)
#define RESCAN_MAX_FAILURES 30
/* An automatic release that failed (clamd down) is tried again this much later. */
#define AUTO_RETRY_NS (60 * MG_NSEC_PER_SEC)
/* The end of outbreaks is looked for this often. */
#define AUTO_CHECK_EVERY_NS (2 * MG_NSEC_PER_SEC)
/* At shutdown: how long a running command may take to finish before it is killed. */
#define STOP_GRACE_NS (2 * MG_NSEC_PER_SEC)

static const char *const round_names[MG_QROUND_MAX] = {
	[MG_QROUND_NONE] = "none",
	[MG_QROUND_RELOAD] = "reload",
	[MG_QROUND_RESCAN] = "rescan",
	[MG_QROUND_RELEASE_ENDED] = "release-ended",
	[MG_QROUND_EXPIRY] = "expiry",
};

static void next(struct mg_daemon *d);

int mg_daemon_qauto_start(struct mg_daemon *d)
{
	uint64_t mono = mg_mono_ns();

	d->last_expiry_ns = mono; /* a time, not 0: the machine may have booted a minute ago */
	d->clam_next_check_ns = d->auto_release_next_ns = mono;
	d->clam_stamp_known = d->rescan_due = d->clam_reload_due = false;
	d->q_round = MG_QROUND_NONE;
	d->q_busy = d->q_stopping = false;
	int e = mg_qwork_init(&d->qwork, &d->quarantine);
	if (e)
		return e;
	d->qwork_on = true;
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = mg_qwork_fd(&d->qwork) };
	return epoll_ctl(d->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev) ? -errno : 0;
}

/*
 * ClamAV's signatures changed (new ones may convict held mail, or clear it):
 * clamd is to be told to reload, and a little later every held message is
 * scanned again. The first look only learns the database as it is.
 */
static void clamav_watch(struct mg_daemon *d, uint64_t mono)
{
	struct mg_quarantine *q = &d->quarantine;
	char dir[256];
	uint64_t stamp;

	if (!q->clamav || mono < d->clam_next_check_ns || !mg_clamav_present(&q->clam))
		return;
	d->clam_next_check_ns = mono + CLAM_CHECK_EVERY_NS;
	mg_clamav_db_dir(&q->clam, dir, sizeof(dir));
	if (!mg_clamav_db_stamp(dir, &stamp))
		return;
	bool changed = d->clam_stamp_known && stamp != d->clam_stamp;
	d->clam_stamp = stamp;
	d->clam_stamp_known = true;
	if (!changed)
		return;
	mg_eventlog_notice(&d->log, "quarantine", "ClamAV's signatures in %s changed: clamd is told to reload, and the "
			   "%zu held message%s will be scanned again", dir, q->n, q->n == 1 ? "" : "s");
	d->clam_reload_due = true;
	d->rescan_due = true;
	d->rescan_at_ns = mono + RESCAN_AFTER_RELOAD_NS;
	json_decref(d->rescan_done); /* a new round: every held message again */
	d->rescan_done = json_object();
	d->rescan_failures = 0;
}

static int sig_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/*
 * Every active outbreak, however many: the store keeps up to 4096, and a
 * set that stopped at a fixed size would have the mail of those past it
 * released while they are still active. A failed growth fails the whole set.
 */
static void note_active(const struct mg_ob_view *v, void *arg)
{
	struct mg_qauto_active *a = arg;

	if (a->failed)
		return;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		char(*sig)[sizeof(*a->sig)] = realloc(a->sig, cap * sizeof(*sig));
		if (!sig) {
			a->failed = true;
			return;
		}
		a->sig = sig;
		a->cap = cap;
	}
	mg_sig_str(&v->sig, a->sig[a->n++], sizeof(a->sig[0]));
}

void mg_qauto_active_free(struct mg_qauto_active *a)
{
	free(a->sig);
	memset(a, 0, sizeof(*a));
}

int mg_qauto_active_load(struct mg_qauto_active *a, const struct mg_outbreaks *ob)
{
	memset(a, 0, sizeof(*a));
	mg_ob_foreach(ob, note_active, a);
	if (a->failed) {
		mg_qauto_active_free(a);
		return -ENOMEM;
	}
	/* Sorted: every held message is looked up in it, and thousands of both may be there. */
	if (a->n)
		qsort(a->sig, a->n, sizeof(a->sig[0]), sig_cmp);
	return 0;
}

/*
 * quarantine.release_on_outbreak_end: mail held for an outbreak that has
 * ended is released once it scans clean (infected mail stays; a failed scan
 * is tried again a minute later). Suspects' mail is not touched: it waits for
 * the operator or its retention.
 */
bool mg_qauto_release_due(const struct mg_qauto_active *a, const struct mg_held *h, uint64_t mono)
{
	if (strcmp(h->reason, "outbreak") || !h->signature[0] || h->infected || (h->auto_tried && mono < h->auto_next_ns))
		return false;
	return !a->n || !bsearch(h->signature, a->sig, a->n, sizeof(a->sig[0]), sig_cmp);
}

/* The active outbreaks now; false (logged, at most once a minute) when there was no memory to know them. */
static bool active_outbreaks(struct mg_daemon *d, struct mg_qauto_active *act, uint64_t mono)
{
	if (!mg_qauto_active_load(act, d->eng.ob))
		return true;
	if (mg_log_gate_pass(&d->q_oom_said, mono, 60 * MG_NSEC_PER_SEC))
		mg_eventlog_warning(&d->log, "quarantine", "out of memory for the list of active outbreaks: mail held "
				    "for outbreaks stays held until it can be told which have ended");
	return false;
}

/* Held mail past its retention: {"id", "release"} for each, from the list postqueue -j gave. */
static json_t *expired(struct mg_daemon *d, json_t *held)
{
	json_t *items = json_array(), *m;
	size_t i;

	json_array_foreach(held, i, m) {
		bool outbreak = !strcmp(json_string_value(json_object_get(m, "reason")), "outbreak");
		uint64_t age = (uint64_t)json_integer_value(json_object_get(m, "age_s")) * MG_NSEC_PER_SEC;
		if (age < (outbreak ? d->cfg.hold_outbreak_ns : d->cfg.hold_suspect_ns))
			continue;
		bool release = outbreak ? d->cfg.expire_release_outbreak : d->cfg.expire_release_suspect;
		json_array_append_new(items, json_pack("{s:O,s:b}", "id", json_object_get(m, "queue_id"), "release", release));
	}
	return items;
}

/* Once a minute, or more often when a retention is shorter than four minutes. */
static bool expiry_due(struct mg_daemon *d, uint64_t mono)
{
	uint64_t every = EXPIRY_EVERY_NS, shortest = d->cfg.hold_suspect_ns < d->cfg.hold_outbreak_ns
							      ? d->cfg.hold_suspect_ns : d->cfg.hold_outbreak_ns;
	if (shortest / 4 < every)
		every = shortest / 4;
	return mono - d->last_expiry_ns >= every;
}

static void end_round(struct mg_daemon *d)
{
	d->q_round = MG_QROUND_NONE;
	json_decref(d->q_items);
	d->q_items = NULL;
	d->q_next = 0;
}

/* The next round that is due, begun (its first operation not yet asked for); false if none is. */
static bool pick_round(struct mg_daemon *d, uint64_t mono)
{
	struct mg_quarantine *q = &d->quarantine;

	end_round(d);
	if (d->clam_reload_due) {
		d->clam_reload_due = false;
		d->q_round = MG_QROUND_RELOAD;
		return true;
	}
	if (d->rescan_due && mono >= d->rescan_at_ns) {
		d->rescan_due = false;
		d->q_round = MG_QROUND_RESCAN; /* the list first: what is still held */
		return true;
	}
	if (d->cfg.release_on_outbreak_end && mono >= d->auto_release_next_ns) {
		d->auto_release_next_ns = mono + AUTO_CHECK_EVERY_NS;
		struct mg_qauto_active act;
		if (active_outbreaks(d, &act, mono)) { /* else no release this time: holding on is the safe side */
			d->q_items = json_array();
			for (size_t i = 0; i < q->n; i++)
				if (mg_qauto_release_due(&act, &q->v[i], mono))
					json_array_append_new(d->q_items, json_string(q->v[i].queue_id));
			mg_qauto_active_free(&act);
		}
		if (json_array_size(d->q_items)) {
			d->q_round = MG_QROUND_RELEASE_ENDED;
			return true;
		}
		end_round(d);
	}
	if (expiry_due(d, mono)) {
		d->last_expiry_ns = mono;
		d->q_round = MG_QROUND_EXPIRY;
		return true;
	}
	return false;
}

static void op_done(struct mg_qop_result *r, void *arg);

/* The current round's next operation: 0 begun, 1 ended at once (*now), -1 the round has none left. */
static int next_op(struct mg_daemon *d, uint64_t mono, struct mg_qop_result *now)
{
	struct mg_qwork *w = &d->qwork;

	if (d->q_round == MG_QROUND_RELOAD)
		return d->q_next++ ? -1 : mg_qwork_reload(w, op_done, d, now);
	if ((d->q_round == MG_QROUND_RESCAN || d->q_round == MG_QROUND_EXPIRY) && !d->q_items)
		return mg_qwork_list(w, mg_mono_to_wall_ns(mono), op_done, d, now);
	while (d->q_next < json_array_size(d->q_items)) {
		json_t *item = json_array_get(d->q_items, d->q_next++);
		const char *id = json_is_string(item) ? json_string_value(item) : json_string_value(json_object_get(item, "id"));
		struct mg_held *h = id ? mg_q_find(&d->quarantine, id) : NULL;
		if (!h)
			continue; /* released or deleted by the operator meanwhile */
		switch (d->q_round) {
		case MG_QROUND_RESCAN:
			if (d->clam_reload_due)
				return -1; /* the signatures changed again: this round is stale, a new one follows the reload */
			if (h->infected || json_object_get(d->rescan_done, id))
				continue; /* convicted already (it stays so), or scanned in this round */
			json_object_set_new(d->rescan_done, id, json_true());
			return mg_qwork_rescan(w, id, op_done, d, now);
		case MG_QROUND_RELEASE_ENDED: {
			struct mg_qauto_active act;
			if (!active_outbreaks(d, &act, mono)) /* now: an outbreak may have come back since the round began */
				return -1; /* not known: the round ends, the mail stays held */
			bool due = mg_qauto_release_due(&act, h, mono);
			mg_qauto_active_free(&act);
			if (!due)
				continue; /* the outbreak came back, or the message was convicted meanwhile */
			snprintf(d->q_sig, sizeof(d->q_sig), "%s", h->signature); /* for the log: a release forgets the record */
			return mg_qwork_release(w, id, op_done, d, now);
		}
		case MG_QROUND_EXPIRY:
			return json_is_true(json_object_get(item, "release")) ? mg_qwork_release(w, id, op_done, d, now)
									       : mg_qwork_delete(w, id, op_done, d, now);
		default:
			return -1;
		}
	}
	return -1;
}

static void rescanned(struct mg_daemon *d, const struct mg_qop_result *r)
{
	const struct mg_held *h = mg_q_find(&d->quarantine, r->id);
	const char *client = h ? h->client : "?";

	if (r->rc == 1) {
		mg_eventlog_warning(&d->log, "quarantine", "re-scan: held message %s from %s is infected (%s): kept on "
				    "hold, never released", r->id, client, r->text);
		return;
	}
	if (r->rc == 0) {
		mg_eventlog_notice(&d->log, "quarantine", "re-scan: held message %s from %s is clean", r->id, client);
		return;
	}
	if (!h)
		return; /* released or deleted meanwhile: nothing to scan */
	/* clamd busy (still loading), down or hung: this message again later in the round, not at once. */
	json_object_del(d->rescan_done, r->id);
	end_round(d);
	if (++d->rescan_failures >= RESCAN_MAX_FAILURES) {
		mg_eventlog_warning(&d->log, "quarantine", "re-scan of held message %s failed: %s; re-scan of held mail "
				    "given up after %u failures: the messages keep their last verdict until the next "
				    "signature change", r->id, r->text, d->rescan_failures);
		return;
	}
	mg_eventlog_notice(&d->log, "quarantine", "re-scan of held message %s failed: %s; tried again in %llu s", r->id,
			   r->text, (unsigned long long)(RESCAN_RETRY_NS / MG_NSEC_PER_SEC));
	d->rescan_due = true;
	d->rescan_at_ns = mg_mono_ns() + RESCAN_RETRY_NS;
}

static void released_at_end(struct mg_daemon *d, const struct mg_qop_result *r)
{
	struct mg_held *still = mg_q_find(&d->quarantine, r->id);
	const char *sig = d->q_sig;

	if (!r->rc) {
		mg_eventlog_notice(&d->log, "quarantine", "outbreak %s is over: held message %s released (%s)", sig, r->id,
				   r->scan);
		return;
	}
	if (!still)
		return;
	still->auto_tried = true;
	still->auto_next_ns = mg_mono_ns() + AUTO_RETRY_NS;
	if (r->rc == -EPERM)
		mg_eventlog_warning(&d->log, "quarantine", "outbreak %s is over, but held message %s stays on hold: %s", sig,
				    r->id, r->text);
	else
		mg_eventlog_notice(&d->log, "quarantine", "outbreak %s is over; held message %s not released yet "
				   "(tried again in %llu s): %s", sig, r->id,
				   (unsigned long long)(AUTO_RETRY_NS / MG_NSEC_PER_SEC), r->text);
}

/* An operation's outcome: logged and taken into the round. */
static void handle(struct mg_daemon *d, struct mg_qop_result *r)
{
	switch (r->kind) {
	case MG_QOP_LIST:
		if (r->rc) {
			mg_eventlog_notice(&d->log, "quarantine", "%s of held mail not done: %s",
					   d->q_round == MG_QROUND_RESCAN ? "re-scan" : "expiry", r->text);
			if (d->q_round == MG_QROUND_RESCAN) { /* the list failed: the round again later */
				d->rescan_due = true;
				d->rescan_at_ns = mg_mono_ns() + RESCAN_RETRY_NS;
			}
			end_round(d);
		} else if (d->q_round == MG_QROUND_EXPIRY) {
			d->q_items = expired(d, r->held);
		} else {
			json_t *m;
			size_t i;
			d->q_items = json_array();
			json_array_foreach(r->held, i, m)
				json_array_append(d->q_items, json_object_get(m, "queue_id"));
		}
		break;
	case MG_QOP_RESCAN:
		rescanned(d, r);
		break;
	case MG_QOP_RELEASE:
	case MG_QOP_DELETE:
		if (d->q_round == MG_QROUND_RELEASE_ENDED) {
			released_at_end(d, r);
			break;
		}
		bool release = r->kind == MG_QOP_RELEASE;
		if (r->rc == -ENOENT)
			break; /* gone meanwhile */
		if (r->rc)
			mg_eventlog_notice(&d->log, "quarantine", "retention over for %s: %s", r->id, r->text);
		else
			mg_eventlog_notice(&d->log, "quarantine", "retention over for %s: %s%s%s", r->id,
					   release ? "released" : "deleted", release ? ", " : "", release ? r->scan : "");
		break;
	case MG_QOP_RELOAD:
		if (r->rc)
			mg_eventlog_notice(&d->log, "quarantine", "ClamAV's signatures changed, but clamd could not be "
					   "told: %s", r->text);
		/* The re-scan waits for clamd to load them, from now. */
		d->rescan_at_ns = mg_mono_ns() + RESCAN_AFTER_RELOAD_NS;
		break;
	}
}

static void op_done(struct mg_qop_result *r, void *arg)
{
	struct mg_daemon *d = arg;

	d->q_busy = false;
	handle(d, r);
	next(d);
}

/* The work goes on: the round's next operation, or the next round, until one waits for a command. */
static void next(struct mg_daemon *d)
{
	struct mg_qop_result now;

	while (!d->q_busy && !d->q_stopping) {
		uint64_t mono = mg_mono_ns();
		if (d->q_round == MG_QROUND_NONE && !pick_round(d, mono))
			return;
		int r = next_op(d, mono, &now);
		if (r < 0) {
			end_round(d);
			continue;
		}
		if (r == 0) {
			d->q_busy = true;
			return;
		}
		handle(d, &now);
		json_decref(now.held);
	}
}

void mg_daemon_qauto_tick(struct mg_daemon *d, uint64_t mono)
{
	if (!d->qwork_on)
		return;
	clamav_watch(d, mono);
	next(d);
}

bool mg_daemon_qauto_event(struct mg_daemon *d, int fd)
{
	if (!d->qwork_on || fd != mg_qwork_fd(&d->qwork))
		return false;
	mg_qwork_work(&d->qwork, mg_mono_ns());
	return true;
}

void mg_daemon_qauto_deadlines(struct mg_daemon *d, uint64_t mono)
{
	if (d->qwork_on && mg_qwork_next_deadline(&d->qwork) <= mono)
		mg_qwork_work(&d->qwork, mono);
}

uint64_t mg_daemon_qauto_next_deadline(struct mg_daemon *d)
{
	return d->qwork_on ? mg_qwork_next_deadline(&d->qwork) : MG_JOBS_NO_DEADLINE;
}

json_t *mg_daemon_qauto_status(struct mg_daemon *d)
{
	if (!d->qwork_on)
		return json_null();
	return json_pack("{s:s,s:b,s:i}", "round", round_names[d->q_round], "busy", d->q_busy, "commands",
			 (int)mg_jobs_running(&d->qwork.jobs));
}

void mg_daemon_qauto_stop(struct mg_daemon *d)
{
	if (d->qwork_on) {
		d->q_stopping = true;
		/* Outcomes that come in the grace time are still taken (and logged); nothing new begins. */
		mg_qwork_stop(&d->qwork, STOP_GRACE_NS);
		d->qwork_on = false;
	}
	end_round(d);
	json_decref(d->rescan_done);
	d->rescan_done = NULL;
}
