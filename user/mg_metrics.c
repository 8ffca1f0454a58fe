// SPDX-License-Identifier: GPL-2.0-only
/* mg_metrics.c - Prometheus text exposition of mtaguardd's figures (see mg_metrics.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg_atomic_file.h"
#include "mg_metrics.h"

struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->p && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

static void head(struct buf *b, const char *name, const char *type, const char *help)
{
	put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(struct buf *b, const char *name, const char *type, const char *help, double v)
{
	head(b, name, type, help);
	/* Whole numbers (counters) in full, fractions with the precision a gauge needs. */
	if (v == (double)(unsigned long long)v && v < 9007199254740992.0)
		put(b, "%s %llu\n", name, (unsigned long long)v);
	else
		put(b, "%s %.9g\n", name, v);
}

/* A number in Prometheus' text: whole ones in full, others with the precision a gauge needs. */
static void value(struct buf *b, double v)
{
	if (v == (double)(unsigned long long)v && v < 9007199254740992.0)
		put(b, "%llu\n", (unsigned long long)v);
	else
		put(b, "%.9g\n", v);
}

static void histogram(struct buf *b, const char *name, const char *help, const struct mg_histogram *h)
{
	head(b, name, "histogram", help);
	for (size_t i = 0; i < h->n_bounds; i++) {
		put(b, "%s_bucket{le=\"%g\"} ", name, h->bounds[i]);
		value(b, (double)mg_histogram_cumulative(h, i));
	}
	put(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)h->count);
	put(b, "%s_sum ", name);
	value(b, h->sum);
	put(b, "%s_count %llu\n", name, (unsigned long long)h->count);
}

static const char *const drop_reason_label[] = {
	[MG_DROP_BLOCK_SMTP] = "block_smtp",
	[MG_DROP_BLOCK_ALL] = "block_all",
	[MG_DROP_OUTBREAK] = "outbreak",
};

/* interface="NAME": a label value escapes backslash, quote and newline (Linux allows the first two in a name). */
static void iface_label(char *label, size_t len, const char *iface)
{
	size_t n = snprintf(label, len, "interface=\"");

	for (const char *c = iface; *c && n + 4 < len; c++) {
		if (*c == '\\' || *c == '"' || *c == '\n')
			label[n++] = '\\';
		label[n++] = *c == '\n' ? 'n' : *c;
	}
	snprintf(label + n, len - n, "\"");
}

/* One interface's (or the whole's, iface NULL) packets by verdict or drops by reason. */
static void iface_lines(struct buf *b, const char *family, const char *iface, const struct mg_global_stats *k, bool drops)
{
	char label[300] = "";

	if (iface) {
		iface_label(label, sizeof(label) - 1, iface);
		strcat(label, ","); /* more labels follow */
	}
	if (!drops) {
		put(b, "%s{%sverdict=\"pass\"} %llu\n", family, label, (unsigned long long)k->passed);
		put(b, "%s{%sverdict=\"drop\"} %llu\n", family, label, (unsigned long long)k->dropped);
		return;
	}
	for (size_t r = 0; r < sizeof(drop_reason_label) / sizeof(drop_reason_label[0]); r++)
		put(b, "%s{%sreason=\"%s\"} %llu\n", family, label, drop_reason_label[r],
		    (unsigned long long)k->drop_reason[r]);
}

/* What the attached interfaces' slots do not hold: interfaces since detached, other slots. */
static bool unattached(const struct mg_metrics_in *m, struct mg_global_stats *rest)
{
	uint64_t *r = (uint64_t *)rest;
	bool any = false;

	*rest = m->kernel;
	for (size_t i = 0; i < m->n_ifaces; i++) {
		const uint64_t *one = (const uint64_t *)&m->ifaces[i].s;
		for (size_t j = 0; j < sizeof(*rest) / 8; j++)
			r[j] = r[j] >= one[j] ? r[j] - one[j] : 0; /* slots read one after the other: never below 0 */
	}
	for (size_t j = 0; j < sizeof(*rest) / 8; j++)
		any |= r[j] != 0;
	return any;
}

static void packets_and_drops(struct buf *b, const struct mg_metrics_in *m)
{
	static const struct {
		const char *name, *help;
		bool drops;
	} fam[] = {
		{ "mtaguard_xdp_packets_total", "Packets seen by the XDP program, by interface and verdict.", false },
		{ "mtaguard_xdp_drops_total", "Packets dropped, by interface and reason.", true },
	};
	struct mg_global_stats rest;
	bool other = m->n_ifaces && unattached(m, &rest);

	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		head(b, fam[f].name, "counter", fam[f].help);
		if (!m->n_ifaces)
			iface_lines(b, fam[f].name, NULL, &m->kernel, fam[f].drops);
		for (size_t i = 0; i < m->n_ifaces; i++)
			iface_lines(b, fam[f].name, m->ifaces[i].name, &m->ifaces[i].s, fam[f].drops);
		if (other)
			iface_lines(b, fam[f].name, "other", &rest, fam[f].drops);
	}
}

char *mg_metrics_text(const struct mg_metrics_in *m)
{
	struct buf b = { 0 };
	const struct mg_global_stats *k = &m->kernel;

	if (m->have_kernel) {
		packets_and_drops(&b, m);
		static const struct {
			const char *name, *help;
			size_t off;
		} counters[] = {
			{ "mtaguard_xdp_monitor_would_drop_total", "Drops not done because of monitor mode.",
			  offsetof(struct mg_global_stats, monitor_would_drop) },
			{ "mtaguard_xdp_allowlisted_total", "Packets a block rule covered that the allowlist let through.",
			  offsetof(struct mg_global_stats, allowlisted) },
			{ "mtaguard_xdp_parse_errors_total", "Truncated or malformed headers (passed).",
			  offsetof(struct mg_global_stats, parse_errors) },
			{ "mtaguard_xdp_non_ip_total", "Frames neither IPv4 nor IPv6 (passed).",
			  offsetof(struct mg_global_stats, non_ip) },
			{ "mtaguard_xdp_syn_smtp_total", "SYNs to SMTP ports.", offsetof(struct mg_global_stats, syn_smtp) },
			{ "mtaguard_xdp_smtp_commands_total", "SMTP client commands recognised.",
			  offsetof(struct mg_global_stats, smtp_cmds) },
			{ "mtaguard_xdp_flows_established_total", "MX-port handshakes seen complete.",
			  offsetof(struct mg_global_stats, flows_established) },
			{ "mtaguard_xdp_smtp_commands_unproven_total",
			  "SMTP commands not counted: no handshake seen where one is required or began.",
			  offsetof(struct mg_global_stats, cmds_unproven) },
			{ "mtaguard_xdp_smtp_replies_total", "SMTP server replies classified.",
			  offsetof(struct mg_global_stats, smtp_replies) },
			{ "mtaguard_xdp_server_side_refused_total",
			  "SYN-ACKs and replies from MX ports that arrived inside toward an inside client once uplinks are "
			  "marked, ignored for handshakes and reply counts: an inside mail server answering inside clients, "
			  "or an inside host forging a server.",
			  offsetof(struct mg_global_stats, server_side_refused) },
			{ "mtaguard_xdp_l4_unknown_total",
			  "Packets whose L4 header the parser could not reach (extension headers past its walk, a first "
			  "fragment cut inside them); passed, dropped only from a source whose SMTP is blocked.",
			  offsetof(struct mg_global_stats, l4_unknown) },
			{ "mtaguard_xdp_sources_created_total", "Per-source profiles created in the kernel.",
			  offsetof(struct mg_global_stats, src_created) },
			{ "mtaguard_xdp_sources_throttled_total", "Profile creations refused by the per-CPU budget.",
			  offsetof(struct mg_global_stats, src_throttled) },
			{ "mtaguard_xdp_events_sent_total", "Events sent to the daemon.",
			  offsetof(struct mg_global_stats, events_sent) },
			{ "mtaguard_xdp_events_lost_total", "Events lost because the ring buffer was full.",
			  offsetof(struct mg_global_stats, events_lost) },
			{ "mtaguard_xdp_expired_rule_hits_total", "Block-rule hits ignored because the rule had expired.",
			  offsetof(struct mg_global_stats, expired_rules) },
		};
		for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
			one(&b, counters[i].name, "counter", counters[i].help,
			    (double)*(const uint64_t *)((const char *)k + counters[i].off));
	}
	head(&b, "mtaguard_sources", "gauge", "Sources the analyzer profiles, by role.");
	for (int r = 0; r < MG_ROLE_MAX; r++)
		put(&b, "mtaguard_sources{role=\"%s\"} %zu\n", mg_role_name((enum mg_role)r), m->sources_by_role[r]);
	one(&b, "mtaguard_verdicts_active", "gauge", "Block rules in force.", (double)m->verdicts_active);
	one(&b, "mtaguard_verdicts_issued_total", "counter", "Verdicts issued by the analyzer since start.",
	    (double)m->verdicts_issued);
	one(&b, "mtaguard_alerts_issued_total", "counter", "Alerts issued since start.", (double)m->alerts_issued);
	/* by: the owners' names of `mtaguardctl verdicts`, and outbreak for fingerprints contained at the first SYN. */
	head(&b, "mtaguard_verdicts_total", "counter",
	     "Blocks that came into force in the kernel since start, by whose claim put them there.");
	for (int o = 0; o < MG_OWNER_MAX; o++)
		if (mg_owner_blocks((enum mg_owner)o))
			put(&b, "mtaguard_verdicts_total{by=\"%s\"} %llu\n", mg_owner_name((enum mg_owner)o),
			    (unsigned long long)m->verdicts_by[o]);
	put(&b, "mtaguard_verdicts_total{by=\"outbreak\"} %llu\n", (unsigned long long)m->verdicts_contained);
	if (m->time_to_block)
		histogram(&b, "mtaguard_time_to_block_seconds",
			  "From a source's first SMTP evidence to the analyzer's block of it in the kernel.", m->time_to_block);
	one(&b, "mtaguard_settles_total", "counter",
	    "Batches of events whose sources were judged at once, not at the next scan.", (double)m->settles);
	one(&b, "mtaguard_feed_prefixes", "gauge", "Prefixes of imported lists (mtaguardctl import), all origins.",
	    (double)m->feed_prefixes);
	one(&b, "mtaguard_rule_write_failures_total", "counter",
	    "Writes into the kernel's rule maps that failed (each is retried at every scan).",
	    (double)m->rule_write_failures);
	one(&b, "mtaguard_rule_read_failures_total", "counter",
	    "Reads of the kernel's rule maps that failed when the daemon started (those rules were not adopted).",
	    (double)m->rule_read_failures);
	one(&b, "mtaguard_feed_expiries_deferred_total", "counter",
	    "Imported prefixes' expiries put off for want of memory (retried at every scan).",
	    (double)m->feed_expiries_deferred);
	if (m->n_attach) {
		/* An alert on 0 catches an interface whose device went and did not come back, or refused the program. */
		char label[300];
		head(&b, "mtaguard_interface_attached", "gauge",
		     "Whether the XDP program is attached to the interface the daemon guards (1) or not (0).");
		for (size_t i = 0; i < m->n_attach; i++) {
			iface_label(label, sizeof(label), m->attach[i].name);
			put(&b, "mtaguard_interface_attached{%s} %d\n", label, m->attach[i].attached);
		}
		head(&b, "mtaguard_interface_reattached_total", "counter",
		     "Times the program was attached again to a device of the interface's name made anew.");
		for (size_t i = 0; i < m->n_attach; i++) {
			iface_label(label, sizeof(label), m->attach[i].name);
			put(&b, "mtaguard_interface_reattached_total{%s} %llu\n", label,
			    (unsigned long long)m->attach[i].reattached);
		}
	}
	if (m->state_save_on) {
		/* An alert on the last success's age catches a save that keeps failing, or never ends. */
		head(&b, "mtaguard_state_saves_total", "counter",
		     "State saves since start: written, failed (the old file stays), replaced (dropped for a newer one).");
		put(&b, "mtaguard_state_saves_total{outcome=\"written\"} %llu\n", (unsigned long long)m->state_saves_written);
		put(&b, "mtaguard_state_saves_total{outcome=\"failed\"} %llu\n", (unsigned long long)m->state_saves_failed);
		put(&b, "mtaguard_state_saves_total{outcome=\"replaced\"} %llu\n",
		    (unsigned long long)m->state_saves_replaced);
		one(&b, "mtaguard_state_save_duration_seconds", "gauge",
		    "The last state save's compression, write, fsync and rename, beside the loop.", m->state_save_seconds);
		one(&b, "mtaguard_state_save_last_success_timestamp_seconds", "gauge",
		    "When the state file was last written whole (Unix time); 0: not since start.",
		    m->state_save_last_success);
		one(&b, "mtaguard_state_save_interval_seconds", "gauge", "How often the state is saved (state_interval).",
		    m->state_save_interval);
	}
	if (m->dnsbl_on)
		one(&b, "mtaguard_dnsbl_writes_total", "counter", "Times the DNSBL datasets were rewritten.",
		    (double)m->dnsbl_writes);
	if (m->cluster_on) {
		one(&b, "mtaguard_cluster_connected", "gauge", "1 when a NATS server answers, 0 while this node is on its own.",
		    m->cluster_connected ? 1 : 0);
		one(&b, "mtaguard_cluster_sent_total", "counter", "Entries written to the shared bucket.",
		    (double)m->cluster_sent);
		one(&b, "mtaguard_cluster_send_errors_total", "counter", "Writes to the shared bucket that failed.",
		    (double)m->cluster_send_errors);
		one(&b, "mtaguard_cluster_received_total", "counter", "Entries read from the shared bucket.",
		    (double)m->cluster_received);
		one(&b, "mtaguard_cluster_taken_total", "counter", "Other nodes' entries taken into the ledger.",
		    (double)m->cluster_taken);
		one(&b, "mtaguard_cluster_refused_total", "counter",
		    "Other nodes' entries refused (kind not taken, too wide, breaker, full, unreadable).",
		    (double)m->cluster_refused);
		one(&b, "mtaguard_cluster_lag_seconds", "gauge", "Receipt less the server's time of the last entry.",
		    m->cluster_lag_seconds);
		one(&b, "mtaguard_cluster_disconnected_seconds_total", "counter",
		    "Time this node spent with no NATS server answering.", m->cluster_gap_seconds);
	}
	if (m->bgp_on) {
		one(&b, "mtaguard_bgp_routes", "gauge", "FlowSpec routes from BGP peers held (peer and prefix).",
		    (double)m->bgp_routes);
		one(&b, "mtaguard_bgp_taken_total", "counter", "FlowSpec routes from BGP peers taken, new here.",
		    (double)m->bgp_taken);
		one(&b, "mtaguard_bgp_refused_total", "counter",
		    "FlowSpec routes from BGP peers refused (too wide, breaker, full, unusable).", (double)m->bgp_refused);
	}
	if (m->verify_on) {
		static const struct {
			const char *name, *type, *help;
			size_t off;
		} verify[] = {
			{ "mtaguard_verify_jobs_total", "counter", "Source verifications finished.",
			  offsetof(struct mg_metrics_in, verify_jobs_done) },
			{ "mtaguard_verify_jobs_refused_total", "counter", "Verifications not started: too many in progress.",
			  offsetof(struct mg_metrics_in, verify_jobs_refused) },
			{ "mtaguard_verify_jobs_timed_out_total", "counter",
			  "Verifications ended by their deadline (their open checks are temperror).",
			  offsetof(struct mg_metrics_in, verify_jobs_timed_out) },
			{ "mtaguard_verify_queries_total", "counter", "DNS queries sent to the resolvers.",
			  offsetof(struct mg_metrics_in, verify_queries_sent) },
			{ "mtaguard_verify_queries_refused_total", "counter",
			  "DNS queries not sent: over verify.queries_per_second or too many in flight.",
			  offsetof(struct mg_metrics_in, verify_queries_refused) },
			{ "mtaguard_verify_answers_tempfail_total", "counter",
			  "DNS answers that were failures (timeout, SERVFAIL): cached briefly, never evidence.",
			  offsetof(struct mg_metrics_in, verify_answers_tempfail) },
			{ "mtaguard_verify_lookups_total", "counter",
			  "DNS names finished verifications needed; 1 - lookup_queries/lookups is the cache hit rate.",
			  offsetof(struct mg_metrics_in, verify_lookups) },
			{ "mtaguard_verify_lookup_queries_total", "counter", "DNS queries finished verifications sent.",
			  offsetof(struct mg_metrics_in, verify_lookup_queries) },
			{ "mtaguard_verify_cache_entries", "gauge", "DNS answers in the verifier's cache.",
			  offsetof(struct mg_metrics_in, verify_cache_entries) },
			{ "mtaguard_verify_cache_bytes", "gauge", "Memory of the verifier's DNS cache.",
			  offsetof(struct mg_metrics_in, verify_cache_bytes) },
		};
		for (size_t i = 0; i < sizeof(verify) / sizeof(verify[0]); i++)
			one(&b, verify[i].name, verify[i].type, verify[i].help,
			    (double)*(const uint64_t *)((const char *)m + verify[i].off));
	}
	one(&b, "mtaguard_settle_missed_total", "counter",
	    "Sources left to the next scan because a batch of events concerned more than a settle reads (256).",
	    (double)m->settle_missed);
	one(&b, "mtaguard_threat_level", "gauge", "Global threat level, 0 to 5.", (double)m->threat_level);
	one(&b, "mtaguard_outbreaks_active", "gauge", "Outbreak signatures in force.", (double)m->outbreaks_active);
	one(&b, "mtaguard_scan_duration_seconds", "gauge", "Duration of the last full scan of the kernel profiles.",
	    m->scan_seconds);
	one(&b, "mtaguard_monitor_mode", "gauge", "1 if nothing is dropped (monitor mode).", m->monitor ? 1 : 0);
	one(&b, "mtaguard_uptime_seconds", "gauge", "Seconds since the daemon started.", m->uptime_seconds);
	if (m->have_proc) {
		/*
		 * The meanings of Prometheus' client libraries' process_*
		 * families, under mtaguard_: the textfile goes through
		 * node_exporter, whose own process_* families would collide
		 * with these and fail its scrape.
		 */
		one(&b, "mtaguard_process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
		    m->proc.cpu_seconds);
		one(&b, "mtaguard_process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
		    (double)m->proc.resident_bytes);
		one(&b, "mtaguard_process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
		    (double)m->proc.virtual_bytes);
		one(&b, "mtaguard_process_open_fds", "gauge", "Number of open file descriptors.", (double)m->proc.open_fds);
		if (m->proc.max_fds)
			one(&b, "mtaguard_process_max_fds", "gauge", "Maximum number of open file descriptors.",
			    (double)m->proc.max_fds);
		one(&b, "mtaguard_process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
		    m->proc.start_time_seconds);
	}
	head(&b, "mtaguard_build_info", "gauge", "The running daemon's version, as a label; always 1.");
	put(&b, "mtaguard_build_info{version=\"%s\"} 1\n", MG_VERSION);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

int mg_metrics_write_file(const char *path, const char *text)
{
	/* 0644: node_exporter reads it as another user. */
	return mg_atomic_write(path, text, strlen(text), 0644);
}
