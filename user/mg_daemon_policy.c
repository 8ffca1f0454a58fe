// SPDX-License-Identifier: GPL-2.0-only
/*
 * mg_daemon_policy.c - mtaguardd as a Postfix policy service on a relay:
 * what it knows of a client address becomes REJECT (blocked), HOLD (an
 * outbreak member, or a suspect while the threat level is at the quarantine
 * threshold or above) or DUNNO; held messages are remembered (mg_quarantine)
 * for mtaguardctl quarantine (whose commands run here, waited for: the
 * control socket has no deferred answers), and released or deleted by
 * themselves off the loop (mg_daemon_qauto.c).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <bpf/bpf.h>

#include "mg_atomic_file.h"
#include "mg_clock.h"
#include "mg_daemon.h"
#include "mg_relay_decision.h"
#include "mg_statefile.h"

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
	int e = mg_q_init(&d->quarantine, path, d->cfg.postfix_config, d->cfg.clamav, d->cfg.clamd_config);
	if (e) { /* not started with part of them: the next save would forget the rest */
		snprintf(err, errlen, "the quarantine's records %s: %s", path, strerror(-e));
		return e;
	}
	d->quarantine.log = &d->log; /* a cut list, a records file that cannot be written: the operator must know */
	/*
	 * What was not loaded is gone at the next save, which rewrites the
	 * file from what is in memory: the file as it was is kept under
	 * another name first (as the state file is), for the operator to
	 * recover the queue IDs of held mail from.
	 */
	if (d->quarantine.refused || d->quarantine.damaged) {
		char copy[PATH_MAX], kept[PATH_MAX + 64];
		int ke = mg_state_keep_copy(path, mg_mono_to_wall_ns(mg_mono_ns()), copy, sizeof(copy));
		if (ke)
			snprintf(kept, sizeof(kept), "; keeping a copy failed (%s): the next save replaces it", strerror(-ke));
		else
			snprintf(kept, sizeof(kept), "; the file as it was is kept as %s", copy);
		if (d->quarantine.damaged)
			mg_eventlog_warning(&d->log, "quarantine", "%s is damaged: no held message is known to mtaguard "
					    "(postqueue -j lists the hold queue)%s", path, kept);
		else
			mg_eventlog_warning(&d->log, "quarantine", "%zu record%s in %s left out: no valid queue ID%s",
					    d->quarantine.refused, d->quarantine.refused == 1 ? "" : "s", path, kept);
	}
	mg_clamav_init(&d->quarantine.clam, d->cfg.clamd_config, d->cfg.clamdscan);
	d->quarantine_ready = true;
	e = mg_daemon_qauto_start(d);
	if (e) {
		snprintf(err, errlen, "the quarantine's job runner: %s", strerror(-e));
		return e;
	}
	fit_descriptor_limit(d);
	/* Postfix's smtpd connects as the postfix group: 0660 and that group let it in, and no other local user. */
	struct mg_policyd_options o = policy_options(&d->cfg);
	e = mg_policyd_listen(&d->policyd, d->cfg.policy_listen, &o, err, errlen);
	if (e)
		return e;
	d->policyd_on = true;
	return mg_policyd_epoll_add(&d->policyd, d->epfd);
}

bool mg_daemon_policy_event(struct mg_daemon *d, int fd, uint32_t events)
{
	if (mg_daemon_qauto_event(d, fd))
		return true; /* a command of the quarantine's work wrote, read or ended */
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

/* The policy service's upkeep, and the quarantine's automatic work (mg_daemon_qauto.c), at every timer tick. */
void mg_daemon_policy_tick(struct mg_daemon *d, uint64_t mono)
{
	policy_service_tick(d, mono);
	if (!d->quarantine_ready)
		return;
	/* A reload's ClamAV settings, for the next scan. */
	d->quarantine.clamav = d->cfg.clamav;
	mg_clamav_init(&d->quarantine.clam, d->cfg.clamd_config, d->cfg.clamdscan);
	mg_daemon_qauto_tick(d, mono);
}

void mg_daemon_policy_stop(struct mg_daemon *d)
{
	if (d->policyd_on)
		mg_policyd_close(&d->policyd, d->epfd);
	d->policyd_on = false;
	mg_daemon_qauto_stop(d); /* before the records go: outcomes still coming in are recorded */
	if (d->quarantine_ready)
		mg_q_free(&d->quarantine);
	d->quarantine_ready = false;
}
