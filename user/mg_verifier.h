/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_verifier.h - runs source verifications asynchronously: jobs, the DNS
 * cache, the query rate bound, and a resolver behind an interface (c-ares in
 * mtaguardd and the replay with --dns, a script in the tests).
 *
 * No I/O of its own and no blocking: a job is evaluated (mg_verify_eval)
 * against the cache; what lacks is asked of the resolver, at most once at a
 * time per (name, type); answers go into the cache and wake the jobs that
 * waited for them, which are evaluated again. A job ends when nothing lacks,
 * or as temperror for what still lacks when the resolver's answers take
 * longer than job_timeout, the rounds run out, or the query budget is spent.
 * So a slow or dead resolver delays no verdict (no caller ever waits on a
 * job) and costs at most queries_per_sec queries a second (failures are
 * cached MG_DNS_FAIL_TTL, so a dead resolver is not asked per source).
 * Time is passed in (ns on the caller's monotonic timeline).
 */
#ifndef MG_VERIFIER_H
#define MG_VERIFIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mg_dns_cache.h"
#include "mg_verify.h"

struct mg_verifier_config {
	size_t cache_entries;      /* DNS answers kept (10 000) */
	uint32_t max_ttl;          /* s: positive answers kept at most (1 day) */
	uint32_t max_neg_ttl;      /* s: negative answers at most (15 min) */
	uint32_t queries_per_sec;  /* query budget, refilled continuously (20) */
	uint32_t query_burst;      /* bucket size (100) */
	uint32_t max_jobs;         /* verifications in progress; more are refused (256) */
	uint64_t job_timeout_ns;   /* a job ends with temperror for what lacks after this (10 s) */
};
void mg_verifier_config_default(struct mg_verifier_config *c);

/* The resolver: send one query; its answer comes back through mg_verifier_answer(). 0 or -errno. */
struct mg_resolver_ops {
	int (*query)(void *ctx, const char *name, uint16_t type);
};

/* A job's end: who (the key given at submit) and what the checks found. */
typedef void (*mg_verifier_done)(void *arg, const uint8_t who[16], const struct mg_verify_summary *s,
				 uint64_t now);

struct mg_verifier_stats {
	uint64_t jobs_started, jobs_done, jobs_refused, jobs_timed_out;
	uint64_t queries_sent, queries_refused, answers, answers_tempfail;
	uint64_t lookups_done_jobs; /* distinct (name, type) the finished jobs needed: queries/lookups = the miss rate */
	uint64_t queries_done_jobs; /* queries sent for the finished jobs */
	struct mg_dns_cache_stats cache;
	size_t jobs_pending, inflight;
};

struct mg_verifier;

struct mg_verifier *mg_verifier_new(const struct mg_verifier_config *c, const struct mg_resolver_ops *ops,
				    void *ops_ctx, mg_verifier_done done, void *done_arg);
void mg_verifier_free(struct mg_verifier *v);
/*
 * Start a verification of `in` on behalf of `who` (the shell's key for the
 * source). It may end at once (everything cached: done is called before
 * this returns). -EBUSY when max_jobs are in progress, -ENOMEM.
 */
int mg_verifier_submit(struct mg_verifier *v, const uint8_t who[16], const struct mg_verify_input *in, uint64_t now);
/* The resolver's answer (ownership passes: the cache keeps it). Jobs waiting for it move on. */
void mg_verifier_answer(struct mg_verifier *v, const char *name, uint16_t type, struct mg_dns_answer *ans,
			uint64_t now);
/* End jobs past job_timeout; call from the shell's timer (each second is enough). */
void mg_verifier_expire(struct mg_verifier *v, uint64_t now);
/* The earliest job deadline, or UINT64_MAX. */
uint64_t mg_verifier_next_deadline(const struct mg_verifier *v);
void mg_verifier_stats(const struct mg_verifier *v, struct mg_verifier_stats *s);

#endif
