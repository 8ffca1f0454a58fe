// SPDX-License-Identifier: GPL-2.0-only
/*
 * mg_daemon_verify.c - mtaguardd's source verification: the verifier
 * (mg_verifier.h) with c-ares (mg_ares.h) in the daemon's own epoll loop.
 *
 * c-ares tells which sockets to watch; they join the loop's epoll set like
 * the control socket's. Nothing here waits: a query goes out, its answer is
 * read when its socket is ready, and the loop never sleeps past c-ares' next
 * retry or a job's deadline. The engine asks for a verification from
 * mg_engine_event(); the outcome goes back with mg_engine_verified().
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include "mg_ares.h"
#include "mg_clock.h"
#include "mg_daemon.h"
#include "mg_metrics.h"
#include "mg_spf.h"
#include "mg_verifier.h"

static uint64_t now_tl(void)
{
	return mg_daemon_timeline(mg_mono_ns());
}

static void on_answer(void *arg, const char *name, uint16_t type, struct mg_dns_answer *ans)
{
	struct mg_daemon *d = arg;

	mg_verifier_answer(d->verifier, name, type, ans, now_tl());
}

/* c-ares' sockets into the epoll set (and out when it closes them). */
static void on_sock(void *arg, int fd, bool rd, bool wr)
{
	struct mg_daemon *d = arg;
	struct epoll_event ev = { .events = (rd ? EPOLLIN : 0) | (wr ? EPOLLOUT : 0), .data.fd = fd };
	unsigned i;

	for (i = 0; i < d->n_ares_fds && d->ares_fds[i] != fd; i++)
		;
	if (!rd && !wr) {
		if (i < d->n_ares_fds) {
			epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL);
			d->ares_fds[i] = d->ares_fds[--d->n_ares_fds];
		}
		return;
	}
	if (i < d->n_ares_fds) {
		epoll_ctl(d->epfd, EPOLL_CTL_MOD, fd, &ev);
		return;
	}
	if (d->n_ares_fds >= MG_DAEMON_MAX_ARES_FDS || epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		/* Unwatched, its queries time out as temperror: no evidence, nothing waits. */
		mg_eventlog_notice(&d->log, "notice", "resolver socket %d not watched: %s", fd,
				   d->n_ares_fds >= MG_DAEMON_MAX_ARES_FDS ? "too many" : strerror(errno));
		return;
	}
	d->ares_fds[d->n_ares_fds++] = fd;
}

static int query(void *ctx, const char *name, uint16_t type)
{
	struct mg_daemon *d = ctx;
	return mg_ares_query(d->ares, name, type);
}

static const struct mg_resolver_ops ares_ops = { .query = query };

static void on_done(void *arg, const uint8_t who[16], const struct mg_verify_summary *s, uint64_t now)
{
	struct mg_daemon *d = arg;
	uint64_t mono = now - MG_TIMELINE_ORIGIN;

	mg_engine_verified(&d->eng, who, s, now, mg_mono_to_wall_ns(mono));
}

/* The engine wants a source verified: a job, or nothing if too many are in progress (counted). */
static void request(void *arg, const uint8_t who[16], const struct mg_verify_input *in)
{
	struct mg_daemon *d = arg;

	mg_verifier_submit(d->verifier, who, in, now_tl());
}

int mg_daemon_verify_start(struct mg_daemon *d, char *err, size_t errlen)
{
	struct mg_verifier_config vc;

	if (!d->cfg.verify_enabled)
		return 0;
	mg_verifier_config_default(&vc);
	vc.cache_entries = d->cfg.verify_cache_entries;
	vc.queries_per_sec = d->cfg.verify_qps;
	vc.query_burst = d->cfg.verify_qps * 5;
	/* Two tries per server, and a little over: an answer that comes is never cut off by the job's deadline. */
	vc.job_timeout_ns = 2 * d->cfg.verify_timeout_ns + MG_NSEC_PER_SEC;
	d->verifier = mg_verifier_new(&vc, &ares_ops, d, on_done, d);
	if (!d->verifier) {
		snprintf(err, errlen, "source verification: out of memory");
		return -ENOMEM;
	}
	d->ares = mg_ares_new(d->cfg.verify_resolvers[0] ? d->cfg.verify_resolvers : NULL,
			      (unsigned)(d->cfg.verify_timeout_ns / 1000000), 2, on_answer, d, on_sock, d, err, errlen);
	if (!d->ares) {
		mg_verifier_free(d->verifier);
		d->verifier = NULL;
		return -EINVAL;
	}
	snprintf(d->verify_resolvers, sizeof(d->verify_resolvers), "%s",
		 d->cfg.verify_resolvers[0] ? d->cfg.verify_resolvers : "/etc/resolv.conf");
	mg_engine_set_verifier(&d->eng, request, d);
	return 0;
}

bool mg_daemon_verify_event(struct mg_daemon *d, int fd, uint32_t events)
{
	for (unsigned i = 0; i < d->n_ares_fds; i++)
		if (d->ares_fds[i] == fd) {
			mg_ares_process(d->ares, fd, events & (EPOLLIN | EPOLLERR | EPOLLHUP), events & EPOLLOUT);
			return true;
		}
	return false;
}

int mg_daemon_verify_timeout_ms(struct mg_daemon *d, uint64_t mono)
{
	if (!d->verifier)
		return -1;
	int t = mg_ares_timeout_ms(d->ares);
	uint64_t dl = mg_verifier_next_deadline(d->verifier);
	if (dl != UINT64_MAX) {
		uint64_t now = mg_daemon_timeline(mono);
		int j = dl <= now ? 0 : (int)((dl - now) / 1000000 + 1);
		t = t < 0 || j < t ? j : t;
	}
	return t;
}

void mg_daemon_verify_tick(struct mg_daemon *d)
{
	if (!d->verifier)
		return;
	if (mg_ares_timeout_ms(d->ares) == 0)
		mg_ares_process(d->ares, -1, false, false);
	mg_verifier_expire(d->verifier, now_tl());
}

void mg_daemon_verify_stop(struct mg_daemon *d)
{
	mg_engine_set_verifier(&d->eng, NULL, NULL);
	mg_ares_free(d->ares);
	mg_verifier_free(d->verifier);
	d->ares = NULL;
	d->verifier = NULL;
	d->n_ares_fds = 0;
	mg_spf_cleanup();
}

void mg_daemon_verify_metrics(struct mg_daemon *d, struct mg_metrics_in *m)
{
	struct mg_verifier_stats s;

	if (!d->verifier)
		return;
	mg_verifier_stats(d->verifier, &s);
	m->verify_on = true;
	m->verify_jobs_done = s.jobs_done;
	m->verify_jobs_refused = s.jobs_refused;
	m->verify_jobs_timed_out = s.jobs_timed_out;
	m->verify_queries_sent = s.queries_sent;
	m->verify_queries_refused = s.queries_refused;
	m->verify_answers_tempfail = s.answers_tempfail;
	m->verify_lookups = s.lookups_done_jobs;
	m->verify_lookup_queries = s.queries_done_jobs;
	m->verify_cache_entries = s.cache.entries;
	m->verify_cache_bytes = s.cache.bytes;
}

json_t *mg_daemon_verify_status(struct mg_daemon *d)
{
	struct mg_verifier_stats s;

	if (!d->verifier)
		return json_pack("{s:b}", "enabled", 0);
	mg_verifier_stats(d->verifier, &s);
	double hit = s.lookups_done_jobs ? 1.0 - (double)s.queries_done_jobs / (double)s.lookups_done_jobs : 0;
	json_t *o = json_pack("{s:b,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "enabled", 1, "resolvers", d->verify_resolvers,
			      "jobs_started", (json_int_t)s.jobs_started, "jobs_done", (json_int_t)s.jobs_done,
			      "jobs_refused", (json_int_t)s.jobs_refused, "jobs_timed_out", (json_int_t)s.jobs_timed_out,
			      "jobs_pending", (json_int_t)s.jobs_pending, "queries_sent", (json_int_t)s.queries_sent,
			      "queries_refused", (json_int_t)s.queries_refused,
			      "answers_tempfail", (json_int_t)s.answers_tempfail);
	json_object_set_new(o, "queries_per_job",
			    json_real(s.jobs_done ? (double)s.queries_done_jobs / (double)s.jobs_done : 0));
	json_object_set_new(o, "cache", json_pack("{s:I,s:I,s:f,s:I,s:I}", "entries", (json_int_t)s.cache.entries,
						   "bytes", (json_int_t)s.cache.bytes, "job_hit_rate", hit,
						   "evictions", (json_int_t)s.cache.evictions, "records",
						   (json_int_t)mg_an_verify_records(d->eng.an)));
	return o;
}
