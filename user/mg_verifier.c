// SPDX-License-Identifier: GPL-2.0-only
/* mg_verifier.c - asynchronous source verification over a DNS cache and a resolver (see mg_verifier.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mg_verifier.h"

#define NS 1000000000ull
#define MAX_WAIT 24   /* lookups one round of a job may wait for at once */
#define MAX_ROUNDS 24 /* evaluations per job: the checks take 3, an SPF policy at most about a dozen more */
#define MAX_INFLIGHT 1024

struct job {
	bool used;
	uint8_t who[16];
	struct mg_verify_input in;
	uint64_t started, deadline;
	unsigned rounds, lookups, queries, nwait, nseen;
	uint32_t wait[MAX_WAIT]; /* hashes of the (name, type) it waits for; a collision only wakes it early */
	uint32_t seen[MAX_WAIT]; /* hashes of the (name, type) this round asked: lookups counts each once */
};

struct inflight {
	uint32_t hash;
	uint16_t type;
	uint64_t sent;
	char name[MG_DNS_NAME_MAX + 1];
};

struct mg_verifier {
	struct mg_verifier_config cfg;
	const struct mg_resolver_ops *ops;
	void *ops_ctx;
	mg_verifier_done done;
	void *done_arg;
	struct mg_dns_cache *cache;
	struct job *jobs;
	struct inflight *infl;
	size_t ninfl;
	double tokens;
	uint64_t refilled;
	bool busy;       /* evaluating: answers that arrive now wake nobody; the evaluating loop looks again */
	struct mg_verifier_stats st;
};

void mg_verifier_config_default(struct mg_verifier_config *c)
{
	*c = (struct mg_verifier_config){
		.cache_entries = 10000,
		.max_ttl = 86400,
		.max_neg_ttl = 900,
		.queries_per_sec = 20,
		.query_burst = 100,
		.max_jobs = 256,
		.job_timeout_ns = 10 * NS,
	};
}

static uint32_t key_hash(const char *name, uint16_t type)
{
	uint32_t h = 2166136261u ^ type;

	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p)) * 16777619u;
	return h ? h : 1;
}

struct mg_verifier *mg_verifier_new(const struct mg_verifier_config *c, const struct mg_resolver_ops *ops,
				    void *ops_ctx, mg_verifier_done done, void *done_arg)
{
	struct mg_verifier *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->cfg = *c;
	if (!v->cfg.max_jobs)
		v->cfg.max_jobs = 1;
	v->ops = ops;
	v->ops_ctx = ops_ctx;
	v->done = done;
	v->done_arg = done_arg;
	v->cache = mg_dns_cache_new(c->cache_entries ? c->cache_entries : 1, c->max_ttl, c->max_neg_ttl);
	v->jobs = calloc(v->cfg.max_jobs, sizeof(*v->jobs));
	v->infl = calloc(MAX_INFLIGHT, sizeof(*v->infl));
	if (!v->cache || !v->jobs || !v->infl) {
		mg_verifier_free(v);
		return NULL;
	}
	v->tokens = c->query_burst;
	return v;
}

void mg_verifier_free(struct mg_verifier *v)
{
	if (!v)
		return;
	mg_dns_cache_free(v->cache);
	free(v->jobs);
	free(v->infl);
	free(v);
}

static struct inflight *inflight_find(struct mg_verifier *v, const char *name, uint16_t type, uint32_t h)
{
	for (size_t i = 0; i < v->ninfl; i++)
		if (v->infl[i].hash == h && v->infl[i].type == type && !strcmp(v->infl[i].name, name))
			return &v->infl[i];
	return NULL;
}

static void inflight_remove(struct mg_verifier *v, struct inflight *f)
{
	*f = v->infl[--v->ninfl];
}

/* A query may be sent: the budget refilled to now, one token taken. */
static bool take_token(struct mg_verifier *v, uint64_t now)
{
	if (now > v->refilled) {
		v->tokens += (double)(now - v->refilled) / NS * v->cfg.queries_per_sec;
		if (v->tokens > v->cfg.query_burst)
			v->tokens = v->cfg.query_burst;
		v->refilled = now;
	}
	if (v->tokens < 1)
		return false;
	v->tokens -= 1;
	return true;
}

struct eval_ctx {
	struct mg_verifier *v;
	struct job *j;
	uint64_t now;
	bool starved;   /* a query the budget or the resolver refused: end with temperror */
	bool final;     /* answer what lacks as a failure, ask nothing */
};

static const struct mg_dns_answer tempfail_answer = { .status = MG_DNS_TEMPFAIL };

static const struct mg_dns_answer *lookup(void *arg, const char *name, uint16_t type)
{
	struct eval_ctx *c = arg;
	struct mg_verifier *v = c->v;
	struct job *j = c->j;

	/* Two checks may read one answer (SPF and the sender domain's existence, its TXT): one lookup. */
	uint32_t h = key_hash(name, type);
	bool again = false;
	for (unsigned i = 0; i < j->nseen && !again; i++)
		again = j->seen[i] == h;
	if (!again) {
		j->lookups++;
		if (j->nseen < MAX_WAIT)
			j->seen[j->nseen++] = h;
	}
	const struct mg_dns_answer *a = mg_dns_cache_get(v->cache, name, type, c->now);
	if (a)
		return a;
	if (c->final || c->starved)
		return c->final ? &tempfail_answer : NULL;
	if (j->nwait < MAX_WAIT)
		j->wait[j->nwait++] = h;
	else
		c->starved = true;
	if (inflight_find(v, name, type, h))
		return NULL;
	if (v->ninfl >= MAX_INFLIGHT || strlen(name) > MG_DNS_NAME_MAX || !take_token(v, c->now)) {
		v->st.queries_refused++;
		c->starved = true;
		return NULL;
	}
	struct inflight *f = &v->infl[v->ninfl++];
	f->hash = h;
	f->type = type;
	f->sent = c->now;
	strcpy(f->name, name);
	v->st.queries_sent++;
	j->queries++;
	if (v->ops->query(v->ops_ctx, name, type) < 0) {
		/* Not even sent: a failure, cached briefly like any other. */
		struct inflight *g = inflight_find(v, name, type, h);
		if (g)
			inflight_remove(v, g);
		struct mg_dns_answer *t = mg_dns_answer_new(MG_DNS_TEMPFAIL, 0);
		if (t)
			mg_dns_cache_put(v->cache, name, type, t, c->now);
		c->starved = true;
	}
	return NULL;
}

static void finish(struct mg_verifier *v, struct job *j, const struct mg_verify_summary *s, uint64_t now)
{
	uint8_t who[16];

	memcpy(who, j->who, 16);
	v->st.jobs_done++;
	v->st.lookups_done_jobs += j->lookups;
	v->st.queries_done_jobs += j->queries;
	j->used = false;
	v->done(v->done_arg, who, s, now);
}

/* Is every lookup the job waits for answered (in the cache) by now? */
static bool wait_over(struct mg_verifier *v, struct job *j)
{
	for (size_t i = 0; i < v->ninfl; i++)
		for (unsigned k = 0; k < j->nwait; k++)
			if (j->wait[k] == v->infl[i].hash)
				return false;
	return true;
}

/* What lacks counts as temperror: the job ends now. */
static void finish_temp(struct mg_verifier *v, struct job *j, uint64_t now)
{
	struct eval_ctx c = { .v = v, .j = j, .now = now, .final = true };
	struct mg_verify_summary s;

	j->lookups = 0;
	j->nseen = 0;
	v->busy = true;
	mg_verify_eval(&j->in, lookup, &c, &s);
	v->busy = false;
	finish(v, j, &s, now);
}

static void run(struct mg_verifier *v, struct job *j, uint64_t now)
{
	for (;;) {
		struct eval_ctx c = { .v = v, .j = j, .now = now };
		struct mg_verify_summary s;

		j->nwait = 0;
		j->lookups = 0; /* the last round's lookups are the job's distinct ones */
		j->nseen = 0;
		v->busy = true;
		unsigned lacking = mg_verify_eval(&j->in, lookup, &c, &s);
		v->busy = false;
		j->rounds++;
		if (!lacking) {
			finish(v, j, &s, now);
			return;
		}
		if (c.starved || j->rounds >= MAX_ROUNDS) {
			v->st.jobs_timed_out += !c.starved;
			finish_temp(v, j, now);
			return;
		}
		if (!wait_over(v, j))
			return; /* the answers wake it */
	}
}

int mg_verifier_submit(struct mg_verifier *v, const uint8_t who[16], const struct mg_verify_input *in, uint64_t now)
{
	struct job *j = NULL;

	for (uint32_t i = 0; i < v->cfg.max_jobs && !j; i++)
		if (!v->jobs[i].used)
			j = &v->jobs[i];
	if (!j) {
		v->st.jobs_refused++;
		return -EBUSY;
	}
	memset(j, 0, sizeof(*j));
	j->used = true;
	memcpy(j->who, who, 16);
	j->in = *in;
	j->started = now;
	j->deadline = now + v->cfg.job_timeout_ns;
	v->st.jobs_started++;
	run(v, j, now);
	return 0;
}

void mg_verifier_answer(struct mg_verifier *v, const char *name, uint16_t type, struct mg_dns_answer *ans,
			uint64_t now)
{
	uint32_t h = key_hash(name, type);
	struct inflight *f = inflight_find(v, name, type, h);

	if (f)
		inflight_remove(v, f);
	v->st.answers++;
	if (ans && ans->status == MG_DNS_TEMPFAIL)
		v->st.answers_tempfail++;
	mg_dns_cache_put(v->cache, name, type, ans, now);
	if (v->busy)
		return; /* answered from within a query: the evaluating loop sees it */
	for (uint32_t i = 0; i < v->cfg.max_jobs; i++) {
		struct job *j = &v->jobs[i];
		bool waited = false;
		if (!j->used)
			continue;
		for (unsigned k = 0; k < j->nwait;) {
			if (j->wait[k] == h) {
				j->wait[k] = j->wait[--j->nwait];
				waited = true;
			} else {
				k++;
			}
		}
		if (waited && wait_over(v, j))
			run(v, j, now);
	}
}

void mg_verifier_expire(struct mg_verifier *v, uint64_t now)
{
	for (uint32_t i = 0; i < v->cfg.max_jobs; i++) {
		struct job *j = &v->jobs[i];
		if (j->used && now >= j->deadline) {
			v->st.jobs_timed_out++;
			finish_temp(v, j, now);
		}
	}
	/* A query whose answer never came (the resolver forgot it) must not keep its name from being asked again. */
	for (size_t i = 0; i < v->ninfl;) {
		if (now >= v->infl[i].sent + 2 * v->cfg.job_timeout_ns)
			inflight_remove(v, &v->infl[i]);
		else
			i++;
	}
}

uint64_t mg_verifier_next_deadline(const struct mg_verifier *v)
{
	uint64_t t = UINT64_MAX;

	for (uint32_t i = 0; i < v->cfg.max_jobs; i++)
		if (v->jobs[i].used && v->jobs[i].deadline < t)
			t = v->jobs[i].deadline;
	return t;
}

void mg_verifier_stats(const struct mg_verifier *v, struct mg_verifier_stats *s)
{
	*s = v->st;
	mg_dns_cache_stats(v->cache, &s->cache);
	s->inflight = v->ninfl;
	s->jobs_pending = 0;
	for (uint32_t i = 0; i < v->cfg.max_jobs; i++)
		s->jobs_pending += v->jobs[i].used;
}
