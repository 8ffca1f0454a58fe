// SPDX-License-Identifier: GPL-2.0-only
/*
 * mg_daemon_policy.c - mtaguardd as a Postfix policy service on a relay:
 * what it knows of a client address becomes REJECT (blocked), HOLD (an
 * outbreak member, or a suspect while the threat level is at the quarantine
 * threshold or above) or DUNNO; held messages are remembered (mg_quarantine)
 * for mtaguardctl quarantine, and released or deleted when their retention
 * ends.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <bpf/bpf.h>

#include "mg_atomic_file.h"
#include "mg_clock.h"
#include "mg_daemon.h"
#include "mg_relay_decision.h"

#define EXPIRY_EVERY_NS (60 * MG_NSEC_PER_SEC)
/* ClamAV's database directory is looked at this often (a stat per file). */
#define CLAM_CHECK_EVERY_NS (5 * MG_NSEC_PER_SEC)
/* After clamd is told to reload: time for it to load the new signatures before held mail is scanned again
 * (clamd keeps scanning with the old ones while it loads the new, ConcurrentDatabaseReload). */
#define RESCAN_AFTER_RELOAD_NS (5 * MG_NSEC_PER_SEC)
/*
 * Held messages scanned per tick, by a re-scan or the release at an
 * outbreak's end: bounded work per tick, in count and in time (a tick that
 * has spent this long stops, the rest waits for the next one), so the loop
 * keeps serving Postfix and beating the watchdog.
 */
#define SCANS_PER_TICK 32
#define SCAN_BUDGET_NS (2 * MG_NSEC_PER_SEC)
/* A re-scan that failed (clamd still loading, or down) is tried again this much later. */
#define RESCAN_RETRY_NS (10 * MG_NSEC_PER_SEC)
#define RESCAN_MAX_FAILURES 30
/* An automatic release that failed (clamd down) is tried again this much later. */
#define AUTO_RETRY_NS (60 * MG_NSEC_PER_SEC)
/* The end of outbreaks is looked for this often. */
#define AUTO_CHECK_EVERY_NS (2 * MG_NSEC_PER_SEC)
/* Malformed requests: the first logged at once, the rest summed up once a minute (a broken client can send thousands). */
#define PROBLEM_LOG_EVERY_NS (60 * MG_NSEC_PER_SEC)
/* Descriptors the daemon needs beside the policy clients: maps, links, sockets, the log, hooks. */
#define FDS_BESIDE_CLIENTS 256

/* Gather what is known of the client, let mg_relay_decide() judge, then count and record. */
static void decide(const struct mg_policy_request *r, char *action, size_t len, void *arg)
{
	struct mg_daemon *d = arg;
	const struct mg_config *c = &d->cfg;
	struct mg_relay_facts f = {
		.client = r->client_address,
		.threat_level = d->eng.threat_level,
		.quarantine_level = c->quarantine_level,
	};
	struct mg_an_profile_view v;
	struct mg_signature sig;
	uint8_t addr[16];
	char sigtext[64] = "";
	char checks[320];

	d->policy_requests++;
	f.parsed = mg_addr_parse(r->client_address, addr) == 0;
	if (f.parsed) {
		const struct mg_relay_exceptions x = {
			.client = c->q_except_client, .n_client = c->n_q_except_client,
			.domain = c->q_except_domain, .n_domain = c->n_q_except_domain,
			.rcpt = c->q_except_rcpt, .n_rcpt = c->n_q_except_rcpt,
		};
		/* All facts every time: a few lookups are nothing next to an SMTP
		 * transaction, and the precedence then lives in one place only. */
		struct mg_rule rule;
		uint64_t mono = mg_mono_ns();
		f.excepted = mg_relay_excepted(&x, addr, r->sender, r->recipient);
		f.allowlisted = mg_rulemap_find(&d->h.rules, true, addr, mono, NULL, &rule) == 0;
		bool found = mg_rulemap_find(&d->h.rules, false, addr, mono, NULL, &rule) == 0;
		f.kernel_block = mg_relay_block_in_force(found, found ? rule.expires_ns : 0, mono);
		f.known = mg_an_get(d->eng.an, addr, &v);
		if (f.known) {
			f.role = v.role;
			f.verdict_rule = v.ev.rule;
			/* The checks, named, when they found something: a timeout or a clean record says nothing. */
			if (v.ev.verified && (v.ev.verify.forged || v.ev.verify_score > 0)) {
				mg_verify_line(&v.ev, checks, sizeof(checks));
				/* The HELO is the peer's text: nothing but printable ASCII goes into Postfix's reply. */
				for (char *q = checks; *q; q++)
					if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f)
						*q = '?';
				f.checks = checks;
			}
		}
		if (mg_ob_member_of(d->eng.ob, addr, &sig)) {
			f.outbreak_member = true;
			mg_sig_str(&sig, sigtext, sizeof(sigtext));
			f.signature = sigtext;
		}
	}
	const char *reason;
	enum mg_relay_action a = mg_relay_decide(&f, action, len, &reason);
	if (a == MG_RELAY_REJECT)
		d->policy_rejects++;
	if (a != MG_RELAY_HOLD)
		return;
	d->policy_holds++;
	/* The queue ID exists from the first accepted recipient on; the end-of-data check always has it.
	 * sigtext is empty unless the client is an outbreak member, so a suspect's record has none. */
	if (r->queue_id[0] && d->quarantine_ready)
		mg_q_record(&d->quarantine, r->queue_id, r->client_address, r->sender, r->recipient, reason,
			    sigtext, mg_mono_to_wall_ns(mg_mono_ns()));
}

static struct mg_policyd_options policy_options(const struct mg_config *c)
{
	return (struct mg_policyd_options){
		.max_clients = c->policy_max_clients,
		.idle_timeout_ns = c->policy_idle_timeout_ns,
		.io_timeout_ns = c->policy_io_timeout_ns,
		.mode = c->policy_socket_mode,
		.group = c->policy_socket_group,
	};
}

/*
 * The soft descriptor limit is often 1024: raised (up to the hard limit) so
 * that policy_max_clients is what limits Postfix's connections. Where it
 * cannot be, the service still works: out of descriptors, it closes the
 * longest idle client for a new one, as at the cap.
 */
static void fit_descriptor_limit(struct mg_daemon *d)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)d->cfg.policy_max_clients + FDS_BESIDE_CLIENTS;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
	if (setrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur < want)
		mg_eventlog_notice(&d->log, "notice", "policy service: descriptor limit %llu is below %u clients "
				   "(quarantine.policy_max_clients) and %d for the rest; beyond it the longest idle "
				   "client is closed for a new one", (unsigned long long)rl.rlim_cur,
				   d->cfg.policy_max_clients, FDS_BESIDE_CLIENTS);
}

int mg_daemon_policy_start(struct mg_daemon *d, char *err, size_t errlen)
{
	char path[340];

	if (!d->cfg.policy_listen[0])
		return 0;
	snprintf(path, sizeof(path), "%s.quarantine.json", d->cfg.state_file);
	mg_atomic_clean_stale(path);
	mg_q_init(&d->quarantine, path, d->cfg.postfix_config, d->cfg.clamav, d->cfg.clamd_config);
	d->quarantine_ready = true;
	d->last_expiry_ns = mg_mono_ns(); /* a time, not 0: the machine may have booted a minute ago */
	d->clam_next_check_ns = d->auto_release_next_ns = d->last_expiry_ns;
	d->clam_stamp_known = d->rescan_due = false;
	fit_descriptor_limit(d);
	/* Postfix's smtpd connects as the postfix group: 0660 and that group let it in, and no other local user. */
	struct mg_policyd_options o = policy_options(&d->cfg);
	int e = mg_policyd_listen(&d->policyd, d->cfg.policy_listen, &o, err, errlen);
	if (e)
		return e;
	d->policyd_on = true;
	return mg_policyd_epoll_add(&d->policyd, d->epfd);
}

bool mg_daemon_policy_event(struct mg_daemon *d, int fd, uint32_t events)
{
	if (!d->policyd_on || !mg_policyd_owns(&d->policyd, fd))
		return false;
	mg_policyd_handle(&d->policyd, d->epfd, fd, events, mg_mono_ns(), decide, d);
	return true;
}

/*
 * The policy service at every tick: clients past their timeouts closed,
 * malformed requests logged (rate-limited), and a reload's limits, mode and
 * group applied (they need no new socket, so no restart).
 */
static void policy_service_tick(struct mg_daemon *d, uint64_t mono)
{
	struct mg_policyd *p = &d->policyd;
	const struct mg_config *c = &d->cfg;
	char what[128], err[256];

	if (!d->policyd_on)
		return;
	if (p->max_clients != c->policy_max_clients || p->idle_timeout_ns != c->policy_idle_timeout_ns ||
	    p->io_timeout_ns != c->policy_io_timeout_ns) {
		struct mg_policyd_options o = policy_options(c);
		if (p->max_clients < c->policy_max_clients)
			fit_descriptor_limit(d);
		if (mg_policyd_set_limits(p, d->epfd, &o)) {
			mg_eventlog_notice(&d->log, "notice", "policy service: no memory for %u clients, keeping %u",
					   c->policy_max_clients, p->max_clients);
			/* Said once: the running value stands for the file's until the next reload. */
			d->cfg.policy_max_clients = p->max_clients;
		}
	}
	if (p->path[0] && (p->mode != c->policy_socket_mode || strcmp(p->group, c->policy_socket_group))) {
		if (mg_policyd_socket_access(p, c->policy_socket_group, c->policy_socket_mode, err, sizeof(err))) {
			mg_eventlog_notice(&d->log, "notice", "%s; keeping mode %04o, group %s", err, p->mode, p->group);
			d->cfg.policy_socket_mode = p->mode;
			snprintf(d->cfg.policy_socket_group, sizeof(d->cfg.policy_socket_group), "%s", p->group);
		}
	}
	mg_policyd_expire(p, d->epfd, mono);
	uint64_t n = mg_policyd_problems(p, mono, PROBLEM_LOG_EVERY_NS, what, sizeof(what));
	if (n)
		mg_eventlog_notice(&d->log, "policy", "policy service: %llu malformed or oversized request%s answered DUNNO "
				   "(latest: %s)", (unsigned long long)n, n == 1 ? "" : "s", what);
}

json_t *mg_daemon_policy_status(struct mg_daemon *d)
{
	const struct mg_policyd_stats *st = &d->policyd.stats;

	if (!d->policyd_on)
		return json_null();
	return json_pack("{s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
			 "clients", (int)d->policyd.n_conn, "max_clients", (int)d->policyd.max_clients,
			 "connections", (json_int_t)st->connections, "evicted", (json_int_t)st->evicted,
			 "idle_closed", (json_int_t)st->idle_closed, "stalled_closed", (json_int_t)st->stalled_closed,
			 "requests", (json_int_t)st->requests, "malformed", (json_int_t)st->malformed,
			 "oversized", (json_int_t)st->oversized, "decided", (json_int_t)d->policy_requests,
			 "rejects", (json_int_t)d->policy_rejects, "holds", (json_int_t)d->policy_holds);
}

/*
 * ClamAV's signatures changed (new ones may convict held mail, or clear it):
 * clamd is told to reload, and a little later every held message is scanned
 * again. The first look only learns the database as it is.
 */
static void clamav_watch(struct mg_daemon *d, uint64_t mono)
{
	struct mg_quarantine *q = &d->quarantine;
	char dir[256], err[256];
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
	if (mg_clamav_reload(&q->clam, err, sizeof(err)))
		mg_eventlog_notice(&d->log, "quarantine", "ClamAV's signatures in %s changed, but clamd could not be told: %s",
				   dir, err);
	mg_eventlog_notice(&d->log, "quarantine", "ClamAV's signatures in %s changed: the %zu held message%s will be "
			   "scanned again", dir, q->n, q->n == 1 ? "" : "s");
	d->rescan_due = true;
	d->rescan_at_ns = mono + RESCAN_AFTER_RELOAD_NS;
	json_decref(d->rescan_done); /* a new round: every held message again */
	d->rescan_done = json_object();
	d->rescan_failures = 0;
}

static void rescan_held(struct mg_daemon *d, uint64_t mono)
{
	struct mg_quarantine *q = &d->quarantine;
	char err[256], what[256];

	if (!d->rescan_due || mono < d->rescan_at_ns)
		return;
	d->rescan_due = false;
	json_t *held = mg_q_list(q, mg_mono_to_wall_ns(mono), err, sizeof(err)), *m;
	size_t i;
	if (!held) {
		mg_eventlog_notice(&d->log, "quarantine", "re-scan of held mail not done: %s", err);
		return;
	}
	uint64_t started = mg_mono_ns();
	size_t scanned = 0;
	json_array_foreach(held, i, m) {
		const char *id = json_string_value(json_object_get(m, "queue_id"));
		struct mg_held *h = id ? mg_q_find(q, id) : NULL;
		if (!h || h->infected || json_object_get(d->rescan_done, id))
			continue; /* convicted already (it stays so), or scanned in this round */
		if (scanned >= SCANS_PER_TICK || (scanned && mg_mono_ns() - started > SCAN_BUDGET_NS)) {
			/* The rest at the next tick: one tick never spends long scanning. */
			d->rescan_due = true;
			break;
		}
		scanned++;
		json_object_set_new(d->rescan_done, id, json_true());
		int r = mg_q_rescan(q, id, what, sizeof(what));
		if (r == 1)
			mg_eventlog_warning(&d->log, "quarantine", "re-scan: held message %s from %s is infected (%s): kept on "
					    "hold, never released", id, h->client, what);
		else if (r == 0)
			mg_eventlog_notice(&d->log, "quarantine", "re-scan: held message %s from %s is clean", id, h->client);
		else {
			/* clamd busy (still loading) or down: this message again later in the round, not at once. */
			mg_eventlog_notice(&d->log, "quarantine", "re-scan of held message %s failed: %s; tried again in %llu s",
					   id, what, (unsigned long long)(RESCAN_RETRY_NS / MG_NSEC_PER_SEC));
			json_object_del(d->rescan_done, id);
			if (++d->rescan_failures >= RESCAN_MAX_FAILURES) {
				mg_eventlog_warning(&d->log, "quarantine", "re-scan of held mail given up after %u failures: "
						    "the messages keep their last verdict until the next signature change",
						    d->rescan_failures);
				break;
			}
			d->rescan_due = true;
			d->rescan_at_ns = mg_mono_ns() + RESCAN_RETRY_NS;
			break;
		}
	}
	json_decref(held);
}

struct active_sigs {
	char sig[64][64];
	size_t n;
};

static void note_active(const struct mg_ob_view *v, void *arg)
{
	struct active_sigs *a = arg;

	if (a->n < sizeof(a->sig) / sizeof(a->sig[0]))
		mg_sig_str(&v->sig, a->sig[a->n++], sizeof(a->sig[0]));
}

/*
 * quarantine.release_on_outbreak_end: mail held for an outbreak that has
 * ended is released once it scans clean (infected mail stays; a failed scan
 * is tried again a minute later). Suspects' mail is not touched: it waits for
 * the operator or its retention.
 */
static void release_ended(struct mg_daemon *d, uint64_t mono)
{
	struct mg_quarantine *q = &d->quarantine;
	struct active_sigs act = { .n = 0 };
	char err[256], scan[128];
	unsigned done = 0;

	if (!d->cfg.release_on_outbreak_end || mono < d->auto_release_next_ns)
		return;
	d->auto_release_next_ns = mono + AUTO_CHECK_EVERY_NS;
	mg_ob_foreach(d->eng.ob, note_active, &act);
	/* Backwards: a release takes the record out (the last is moved into its place). */
	for (size_t i = q->n; i-- > 0 && done < SCANS_PER_TICK;) {
		struct mg_held *h = &q->v[i];
		bool active = false;
		if (strcmp(h->reason, "outbreak") || !h->signature[0] || h->infected ||
		    (h->auto_tried && mono < h->auto_next_ns))
			continue;
		for (size_t k = 0; k < act.n && !active; k++)
			active = !strcmp(act.sig[k], h->signature);
		if (active)
			continue;
		char id[sizeof(h->queue_id)], sig[sizeof(h->signature)];
		snprintf(id, sizeof(id), "%s", h->queue_id);
		snprintf(sig, sizeof(sig), "%s", h->signature);
		done++;
		int e = mg_q_release(q, id, scan, sizeof(scan), err, sizeof(err));
		if (!e) {
			mg_eventlog_notice(&d->log, "quarantine", "outbreak %s is over: held message %s released (%s)", sig,
					   id, scan);
			continue;
		}
		struct mg_held *still = mg_q_find(q, id);
		if (still) {
			still->auto_tried = true;
			still->auto_next_ns = mono + AUTO_RETRY_NS;
		}
		if (e == -EPERM)
			mg_eventlog_warning(&d->log, "quarantine", "outbreak %s is over, but held message %s stays on hold: %s",
					    sig, id, err);
		else
			mg_eventlog_notice(&d->log, "quarantine", "outbreak %s is over; held message %s not released yet "
					   "(tried again in %llu s): %s", sig, id,
					   (unsigned long long)(AUTO_RETRY_NS / MG_NSEC_PER_SEC), err);
	}
}

/* Retention: held mail past its time is released (after a fresh scan) or deleted, as configured. */
void mg_daemon_policy_tick(struct mg_daemon *d, uint64_t mono)
{
	char err[256], scan[128];

	policy_service_tick(d, mono);
	if (d->quarantine_ready) {
		/* A reload's ClamAV settings, for the next scan. */
		d->quarantine.clamav = d->cfg.clamav;
		mg_clamav_init(&d->quarantine.clam, d->cfg.clamd_config);
		clamav_watch(d, mono);
		rescan_held(d, mono);
		release_ended(d, mono);
	}

	/* Once a minute, or more often when a retention is shorter than four minutes. */
	uint64_t every = EXPIRY_EVERY_NS, shortest = d->cfg.hold_suspect_ns < d->cfg.hold_outbreak_ns
							      ? d->cfg.hold_suspect_ns : d->cfg.hold_outbreak_ns;
	if (shortest / 4 < every)
		every = shortest / 4;
	if (!d->quarantine_ready || mono - d->last_expiry_ns < every)
		return;
	d->last_expiry_ns = mono;
	uint64_t wall = mg_mono_to_wall_ns(mono);
	json_t *held = mg_q_list(&d->quarantine, wall, err, sizeof(err)), *m;
	size_t i;
	json_array_foreach(held, i, m) {
		const char *id = json_string_value(json_object_get(m, "queue_id"));
		bool outbreak = !strcmp(json_string_value(json_object_get(m, "reason")), "outbreak");
		uint64_t age = (uint64_t)json_integer_value(json_object_get(m, "age_s")) * MG_NSEC_PER_SEC;
		if (age < (outbreak ? d->cfg.hold_outbreak_ns : d->cfg.hold_suspect_ns))
			continue;
		bool release = outbreak ? d->cfg.expire_release_outbreak : d->cfg.expire_release_suspect;
		int e = release ? mg_q_release(&d->quarantine, id, scan, sizeof(scan), err, sizeof(err))
				: mg_q_delete(&d->quarantine, id, err, sizeof(err));
		if (e)
			mg_eventlog_notice(&d->log, "quarantine", "retention over for %s: %s", id, err);
		else
			mg_eventlog_notice(&d->log, "quarantine", "retention over for %s: %s%s%s", id,
					   release ? "released" : "deleted", release ? ", " : "", release ? scan : "");
	}
	json_decref(held);
}

void mg_daemon_policy_stop(struct mg_daemon *d)
{
	if (d->policyd_on)
		mg_policyd_close(&d->policyd, d->epfd);
	d->policyd_on = false;
	if (d->quarantine_ready)
		mg_q_free(&d->quarantine);
	d->quarantine_ready = false;
	json_decref(d->rescan_done);
	d->rescan_done = NULL;
}

/* {"cmd":"quarantine","op":"list|release|delete","id":"…"} or {"op":"release","signature":"fp:…"} */
json_t *mg_daemon_quarantine(struct mg_daemon *d, json_t *req)
{
	const char *op = json_string_value(json_object_get(req, "op"));
	const char *id = json_string_value(json_object_get(req, "id"));
	const char *sig = json_string_value(json_object_get(req, "signature"));
	char err[256], scan[128];
	uint64_t wall = mg_mono_to_wall_ns(mg_mono_ns());

	if (!d->quarantine_ready)
		return mg_ctl_error("no quarantine: the policy service is off (quarantine.policy_listen)");
	if (!op)
		return mg_ctl_error("quarantine list|release ID|delete ID|release --signature SIG");
	json_t *held = mg_q_list(&d->quarantine, wall, err, sizeof(err));
	if (!held)
		return mg_ctl_error("%s", err);
	if (!strcmp(op, "list"))
		return json_pack("{s:b,s:o}", "ok", 1, "held", held);
	json_t *done = json_array(), *m;
	size_t i;
	int failed = 0;
	char first_err[256] = "";
	json_array_foreach(held, i, m) {
		const char *qid = json_string_value(json_object_get(m, "queue_id"));
		const char *msig = json_string_value(json_object_get(m, "signature"));
		if (id ? strcmp(qid, id) : !(sig && msig && !strcmp(sig, msig)))
			continue;
		int e = !strcmp(op, "release") ? mg_q_release(&d->quarantine, qid, scan, sizeof(scan), err, sizeof(err))
		      : !strcmp(op, "delete") ? mg_q_delete(&d->quarantine, qid, err, sizeof(err)) : -EINVAL;
		if (e == -EINVAL) {
			json_decref(held);
			json_decref(done);
			return mg_ctl_error("quarantine list|release|delete, not '%s'", op);
		}
		json_array_append_new(done, e ? json_pack("{s:s,s:s}", "queue_id", qid, "error", err)
					      : json_pack("{s:s,s:s}", "queue_id", qid, "scan",
							  !strcmp(op, "release") ? scan : "-"));
		if (e && !failed)
			snprintf(first_err, sizeof(first_err), "%s", err);
		failed += e != 0;
		mg_eventlog_notice(&d->log, "operator", "operator quarantine %s %s%s%s", op, qid, e ? ": " : "", e ? err : "");
	}
	json_decref(held);
	if (!json_array_size(done)) {
		json_decref(done);
		return mg_ctl_error("no held message %s %s", id ? "with queue ID" : "of signature", id ? id : sig ? sig : "?");
	}
	json_t *o = json_pack("{s:b,s:o}", "ok", failed == 0, "done", done);
	/* The reason itself, as a client shows "error": one message's, or the first of several. */
	if (failed == 1)
		json_object_set_new(o, "error", json_string(first_err));
	else if (failed)
		json_object_set_new(o, "error", json_sprintf("%d messages not handled; the first: %s", failed, first_err));
	return o;
}
