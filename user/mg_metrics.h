/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_metrics.h - mtaguardd's figures in Prometheus' text exposition format,
 * for node_exporter's textfile collector (a file written atomically) and for
 * an optional local HTTP endpoint (mg_metrics_http.h).
 */
#ifndef MG_METRICS_H
#define MG_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "mtaguard.h"
#include "mg_analyzer.h"
#include "mg_histogram.h"
#include "mg_procstat.h"
#include "mg_ruleset.h"

struct mg_metrics_in {
	bool have_kernel;
	struct mg_global_stats kernel;
	/*
	 * The kernel's counts per attached interface (its slot of mg_stats;
	 * interfaces sharing a slot named together, "eth1+eth9"): packets and
	 * drops get an interface label, with "other" for what the slots of no
	 * attached interface hold. None: those families without the label.
	 */
#define MG_METRICS_MAX_IFACES 16
	struct mg_metrics_iface {
		char name[128];
		struct mg_global_stats s;
	} ifaces[MG_METRICS_MAX_IFACES];
	size_t n_ifaces;
	/* The interfaces the daemon guards, by name: whether the program is on them, how often it was attached again. */
	struct mg_metrics_attach {
		char name[16];
		bool attached;
		uint64_t reattached;
	} attach[MG_METRICS_MAX_IFACES];
	size_t n_attach;
	size_t sources_by_role[MG_ROLE_MAX];
	uint64_t verdicts_active, verdicts_issued, alerts_issued;
	/* Blocks that came into force in the kernel, by whose claim (block owners only), and fingerprints contained. */
	uint64_t verdicts_by[MG_OWNER_MAX], verdicts_contained;
	const struct mg_histogram *time_to_block; /* seconds; NULL: none */
	uint64_t settles, settle_missed; /* judged at once after events; left to the scan past the bound */
	uint64_t feed_prefixes;          /* imported lists' prefixes, all origins */
	/* Writes into the kernel's rule maps that failed (each retried), reads of them at start that failed. */
	uint64_t rule_write_failures, rule_read_failures;
	uint64_t feed_expiries_deferred; /* feed expiries put off for want of memory (retried at every scan) */
	/* The state file written beside the loop (state_save_on: a state file, and the writer thread, are there). */
	bool state_save_on;
	uint64_t state_saves_written, state_saves_failed, state_saves_replaced;
	double state_save_seconds;       /* the last write: compress, write, fsync, rename */
	double state_save_last_success;  /* its wall time, Unix seconds; 0: none since start */
	double state_save_interval;      /* state_interval, seconds: what an alert on the last success's age compares with */
	uint64_t dnsbl_writes;           /* DNSBL datasets written (0 and no line when off) */
	bool dnsbl_on;
	/* The cluster link (cluster_on: configured) */
	bool cluster_on, cluster_connected;
	uint64_t cluster_sent, cluster_send_errors, cluster_received, cluster_taken, cluster_refused;
	double cluster_lag_seconds, cluster_gap_seconds;
	/* FlowSpec routes from BGP peers (bgp_on: a helper has handed some over) */
	bool bgp_on;
	uint64_t bgp_routes, bgp_taken, bgp_refused;
	/* Source verification (verify_on: the verifier runs) */
	bool verify_on;
	uint64_t verify_jobs_done, verify_jobs_refused, verify_jobs_timed_out;
	uint64_t verify_queries_sent, verify_queries_refused, verify_answers_tempfail;
	uint64_t verify_lookups;   /* (name, type) pairs finished jobs needed: 1 - queries/lookups = cache hit rate */
	uint64_t verify_lookup_queries; /* queries those jobs sent */
	uint64_t verify_cache_entries, verify_cache_bytes;
	unsigned threat_level;       /* 0..5 */
	uint64_t outbreaks_active;
	double scan_seconds;         /* the last full scan + tick */
	double uptime_seconds;
	bool monitor;
	/* The daemon's own process (have_proc: /proc could be read), as Prometheus' clients name them. */
	bool have_proc;
	struct mg_procstat proc;
};

/* The exposition text, malloc'd; NULL if out of memory. */
char *mg_metrics_text(const struct mg_metrics_in *m);
/* Write text to path atomically (mg_atomic_file.h), mode 0644: a scraper never reads half a file. */
int mg_metrics_write_file(const char *path, const char *text);

#endif
