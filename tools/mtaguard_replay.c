// SPDX-License-Identifier: GPL-2.0-only
/*
 * mtaguard-replay - run packet captures through the real XDP program and the
 * daemon's analyzer, offline, and report what mtaguard would have done.
 *
 * Every frame goes through the compiled program with BPF_PROG_TEST_RUN on a
 * private instance (nothing pinned, nothing attached). The events it emits
 * and the counters it keeps go into the engine mtaguardd runs (mg_engine.h),
 * on the capture's own timeline, so windows, rates, expiries, outbreaks and
 * the rule ledger behave as they would have live; this file only reads
 * captures, drives the engine as the daemon's loop does, and reports what
 * the engine told it. Verdicts land in the private blocklist as they happen,
 * so later frames from a blocked source are dropped, and counted, as they
 * would have been.
 *
 * Several captures are merged in timestamp order (capture_merge.h); time
 * going backwards inside one file is closed up for the engine's clock while
 * reports keep the capture's own times.
 */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <jansson.h>

#include "capture.h"
#include "capture_merge.h"
#include "mg_addr.h"
#include "mg_analyzer.h"
#include "mg_clock.h"
#include "mg_config.h"
#include "mg_engine.h"
#include "mg_eventlog.h"
#include "mg_frame.h"
#include "mg_kernel_sink.h"
#include "mg_loader.h"
#include "mg_log.h"
#include "mg_names.h"
#include "mg_outbreak.h"
#include "mg_stats.h"
#include "mg_ares.h"
#include "mg_spf.h"
#include "mg_verifier.h"

/*
 * BPF_PROG_TEST_RUN runs an XDP program on one page: 4096 bytes less the
 * headroom and the skb_shared_info tailroom. Longer frames (TSO
 * super-segments in host captures) are cut; the program reads headers and
 * the start of the payload, and treats a datagram longer than its frame as
 * a frame cut short.
 */
#define MAX_RUN_FRAME 3500
/*
 * The daemon's timer ticks every scan interval; across a quiet stretch of a
 * capture the replay ticks at the same instants, but at most this many in a
 * row (a capture with a gap of days would otherwise tick for minutes), then
 * once at the next frame's time.
 */
#define MAX_CATCHUP_TICKS 3600

struct blocked {
	struct mg_prefix p;
	uint64_t drops;
};

struct replay {
	struct mg_config cfg;
	struct mg_handle h;
	struct mg_kernel_sink sink;
	struct mg_engine eng;
	struct ring_buffer *rb;
	uint64_t now, wall, first_ts, last_ts; /* now: the engine's clock; wall: the capture's time */
	bool started;
	/* totals */
	uint64_t frames, run, skipped, cut, repaired, passed, dropped, run_errors;
	json_t *files, *verdicts, *alerts, *warnings, *by_source; /* by_source: "addr" -> { verdict, reasons } */
	struct blocked *blocked;
	size_t nblocked;
	struct mg_global_stats kstats; /* the kernel's counters after the replay, before any cost pass */
	bool have_kstats;
	/* source verification: offline (shape checks only), or against --dns SERVER */
	const char *dns;
	struct mg_verifier *verifier;
	struct mg_ares *ares;
	/* cost pass */
	unsigned repeat;
	uint64_t cost_ns_sum, cost_frames;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mtaguard-replay [options] CAPTURE...\n"
		"Run pcap/pcapng captures through mtaguard's XDP program and engine (the daemon's own code),\n"
		"and report what mtaguard would have done: roles, verdicts with their evidence, alerts,\n"
		"outbreaks, drops. Several captures are merged in timestamp order.\n"
		"\n"
		"  -c, --config FILE   mtaguardd's configuration file (thresholds, ports, allowlist...)\n"
		"  -j, --json          the report as JSON (schema in the README)\n"
		"  -V, --verdicts-only one line per blocked source: ADDRESS ACTION RULE score=N\n"
		"  -r, --repeat N      also measure the program's cost per packet on this mix (N runs each)\n"
		"  -v, --verbose       debug messages, libbpf's included (repeatable)\n"
		"  -d, --dns SERVER    verify sources (PTR, FCrDNS, HELO, SPF) against this resolver\n"
		"                      (ADDR[:PORT][,...]); without it, offline: those checks are not-run\n"
		"  -h, --help\n"
		"      --version       the release (-V is --verdicts-only, as it always was)\n"
		"\n"
		"Link types: Ethernet, Linux cooked (SLL, SLL2), raw IP, BSD loopback.\n"
		"Exit status: 0 report written; 1 a capture is missing or unreadable, or the program\n"
		"cannot run; 2 bad usage or configuration.\n"
		"Needs the privileges BPF_PROG_TEST_RUN needs (root, or CAP_BPF and CAP_NET_ADMIN).\n");
}

static const char *iso(uint64_t ns, char *buf, size_t len)
{
	return mg_iso_time(ns, buf, len);
}

/* ---- what the engine tells: the report -------------------------------------------------- */

static json_t *source_entry(struct replay *r, const struct mg_prefix *p)
{
	char buf[MG_ADDRSTRLEN];
	const char *k = mg_prefix_str(p, buf, sizeof(buf));
	json_t *e = json_object_get(r->by_source, k);

	if (!e) {
		e = json_pack("{s:n,s:[]}", "verdict", "reasons");
		json_object_set_new(r->by_source, k, e);
	}
	return e;
}

static void add_reason(json_t *e, const char *rule)
{
	json_t *reasons = json_object_get(e, "reasons"), *v;
	size_t i;

	if (!rule || !*rule)
		return;
	json_array_foreach(reasons, i, v)
		if (!strcmp(json_string_value(v), rule))
			return;
	json_array_append_new(reasons, json_string(rule));
}

static void note_action(struct replay *r, const struct mg_engine_note *n)
{
	const struct mg_an_action *a = n->action;
	char buf[64];
	json_t *j = mg_action_json(a, n->now, n->wall);
	json_t *e = source_entry(r, &a->prefix);

	switch (a->kind) {
	case MG_AN_BLOCK: {
		uint64_t exp_wall = n->wall + (a->expires_ns - n->now);
		json_object_set_new(e, "verdict",
				    json_pack("{s:s,s:s,s:s,s:i,s:s,s:f}", "action", mg_action_verdict_name(a->block_action),
					      "time", iso(n->wall, buf, sizeof(buf)), "expires", iso(exp_wall, buf + 32, 32),
					      "offence", (int)a->offence, "rule", a->ev.rule, "score", a->ev.score));
		add_reason(e, a->ev.rule);
		json_array_append(r->verdicts, j);
		bool known = false;
		for (size_t k = 0; k < r->nblocked; k++)
			known |= mg_prefix_eq(&r->blocked[k].p, &a->prefix);
		if (!known) {
			struct blocked *nb = realloc(r->blocked, (r->nblocked + 1) * sizeof(*nb));
			if (nb) {
				r->blocked = nb;
				r->blocked[r->nblocked++] = (struct blocked){ .p = a->prefix };
			}
		}
		break;
	}
	case MG_AN_UNBLOCK:
		if (json_is_object(json_object_get(e, "verdict")))
			json_object_set_new(json_object_get(e, "verdict"), "ended",
					    json_string(iso(n->wall, buf, sizeof(buf))));
		json_array_append(r->verdicts, j);
		break;
	case MG_AN_ALERT:
		add_reason(e, a->ev.rule);
		json_array_append(r->alerts, j);
		break;
	case MG_AN_PROMOTE:
		add_reason(e, a->ev.rule);
		break;
	}
	json_decref(j);
}

/* Outbreak actions become alerts, later members included (with their time), as the daemon logs them. */
static void note_outbreak(struct replay *r, const struct mg_engine_note *n)
{
	const struct mg_ob_action *a = n->ob;
	char sig[64], why[80];

	json_array_append_new(r->alerts, mg_ob_action_json(a, n->contained, n->now, n->wall));
	mg_sig_str(&a->sig, sig, sizeof(sig));
	snprintf(why, sizeof(why), "outbreak:%s", sig);
	if (a->kind == MG_OB_DECLARE)
		for (uint32_t k = 0; k < a->n_list; k++)
			add_reason(source_entry(r, &a->list[k].src), why);
	else if (a->kind == MG_OB_JOIN && a->member)
		add_reason(source_entry(r, &a->member->src), why);
}

static void observe(const struct mg_engine_note *n, void *arg)
{
	struct replay *r = arg;
	char t[40];

	switch (n->kind) {
	case MG_NOTE_ACTION:
		note_action(r, n);
		break;
	case MG_NOTE_OUTBREAK:
		note_outbreak(r, n);
		break;
	case MG_NOTE_THREAT:
		break; /* every outbreak alert carries the threat level */
	case MG_NOTE_NOTICE:
		/* The engine's own complaints (a rule it could not write): the report says so. */
		if (n->warning) {
			fprintf(stderr, "mtaguard-replay: %s\n", n->text);
			json_array_append_new(r->warnings, json_pack("{s:s,s:s}", "time", iso(n->wall, t, sizeof(t)),
								     "message", n->text));
		}
		break;
	}
}

/* ---- source verification ---------------------------------------------------------------- */

static uint64_t mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The outcome lands at the capture's instant of the MAIL command: the replay waits for DNS, the capture does not. */
static void verified(void *arg, const uint8_t who[16], const struct mg_verify_summary *sum, uint64_t now)
{
	struct replay *r = arg;

	(void)now;
	mg_engine_verified(&r->eng, who, sum, r->now, r->wall);
}

static void on_answer(void *arg, const char *name, uint16_t type, struct mg_dns_answer *ans)
{
	struct replay *r = arg;
	mg_verifier_answer(r->verifier, name, type, ans, mono_now());
}

static int ares_query_op(void *ctx, const char *name, uint16_t type)
{
	struct replay *r = ctx;
	return mg_ares_query(r->ares, name, type);
}

static const struct mg_resolver_ops replay_ops = { .query = ares_query_op };

/*
 * Offline (the default): no DNS at all; the DNS checks are not-run and the
 * shape checks (address literals) still apply. With --dns, the verification
 * runs to its end before the next frame (the replay may wait; the daemon
 * never does), against the resolver the operator named.
 */
static void verify_request(void *arg, const uint8_t who[16], const struct mg_verify_input *in)
{
	struct replay *r = arg;
	struct mg_verifier_stats st;

	if (!r->verifier) {
		struct mg_verify_input off = *in;
		struct mg_verify_summary sum;
		off.dns = false;
		mg_verify_eval(&off, NULL, NULL, &sum);
		mg_engine_verified(&r->eng, who, &sum, r->now, r->wall);
		return;
	}
	if (mg_verifier_submit(r->verifier, who, in, mono_now()))
		return;
	for (;;) {
		mg_verifier_stats(r->verifier, &st);
		if (!st.jobs_pending)
			break;
		mg_ares_wait(r->ares, 100);
		mg_verifier_expire(r->verifier, mono_now());
	}
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct replay *r = ctx;

	if (len >= sizeof(struct mg_event))
		mg_engine_event(&r->eng, data, r->now, r->wall);
	return 0;
}

/*
 * Time moves on to a frame's instant: the ticks the daemon's timer would
 * have run meanwhile, run at their own instants (the capture's time for them
 * moves along with the engine's).
 */
static void advance(struct replay *r, uint64_t now, uint64_t wall)
{
	unsigned n = 0;
	uint64_t next;

	/* Only instants between the last one and this frame's: the engine's clock never goes back. */
	while (r->eng.scanned_once && (next = mg_engine_next_scan(&r->eng)) < now && next > r->now &&
	       n++ < MAX_CATCHUP_TICKS) {
		mg_engine_tick(&r->eng, next, wall - (now - next));
		r->now = next;
	}
	r->now = now;
	r->wall = wall;
	if (mg_engine_scan_due(&r->eng, now))
		mg_engine_tick(&r->eng, now, wall);
}

/* ---- frames ------------------------------------------------------------------------- */

static void count_drop(struct replay *r, const uint8_t *f, size_t len)
{
	uint8_t src[16];

	r->dropped++;
	if (!mg_frame_src(f, len, src))
		return;
	for (size_t i = 0; i < r->nblocked; i++)
		if (mg_prefix_covers(&r->blocked[i].p, src)) {
			r->blocked[i].drops++;
			return;
		}
}

/* One frame through the program, then what the daemon's loop does after a wake-up: events, and a scan if due. */
static int run_frame(struct replay *r, uint8_t *f, size_t len, uint64_t now, uint64_t wall)
{
	if (!r->started) {
		/* The engine starts at the first frame's time, as the daemon starts at its own. */
		r->started = true;
		r->first_ts = r->last_ts = wall;
		r->now = now;
		r->wall = wall;
		mg_engine_start(&r->eng, now, wall);
	}
	advance(r, now, wall);
	if (wall > r->last_ts)
		r->last_ts = wall;
	if (wall < r->first_ts)
		r->first_ts = wall;

	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f, .data_size_in = (__u32)len, .repeat = 1);
	int err = bpf_prog_test_run_opts(r->h.prog_fd, &o);
	if (err)
		return -errno;
	r->run++;
	if (o.retval == 1 /* XDP_DROP */)
		count_drop(r, f, len);
	else
		r->passed++;
	ring_buffer__consume(r->rb);
	mg_engine_settle(&r->eng, r->now, r->wall);
	if (mg_engine_scan_due(&r->eng, r->now))
		mg_engine_tick(&r->eng, r->now, r->wall);
	return 0;
}

/* The cost pass: the same frame N times, BPF_PROG_TEST_RUN's own timing. */
static int time_frame(struct replay *r, uint8_t *f, size_t len)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f, .data_size_in = (__u32)len, .repeat = r->repeat);
	if (bpf_prog_test_run_opts(r->h.prog_fd, &o))
		return -errno;
	r->cost_ns_sum += o.duration;
	r->cost_frames++;
	return 0;
}

static void warn(json_t *w, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void warn(json_t *w, const char *path, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "mtaguard-replay: %s%s%s\n", path ? path : "", path ? ": " : "", msg);
	if (w)
		json_array_append_new(w, json_string(msg));
}

struct file_totals {
	uint64_t run, skipped, cut, repaired;
	json_t *warnings;
	const char *link;
};

/* Frames into the program's Ethernet form; 0 when there is nothing to run. */
static int to_frame(int dlt, const uint8_t *data, uint32_t caplen, uint32_t len, uint8_t *frame, size_t cap,
		    bool *cut, bool *repaired)
{
	int n = mg_frame_to_eth(dlt, data, caplen, len, frame, cap, repaired);

	if (n <= 0)
		return 0;
	*cut = caplen < len || n > MAX_RUN_FRAME;
	return n > MAX_RUN_FRAME ? MAX_RUN_FRAME : n;
}

/* Every capture, merged in time order, through the program and the engine. */
static void replay_all(struct replay *r, struct capture_merge *m)
{
	static uint8_t frame[65536 + 64];
	size_t nf = capture_merge_files(m);
	struct file_totals *t = calloc(nf ? nf : 1, sizeof(*t));
	struct capture_merge_frame cf;

	if (!t)
		return;
	for (size_t i = 0; i < nf; i++) {
		const struct capture_merge_file *f = capture_merge_file(m, i);
		t[i].warnings = json_array();
		t[i].link = mg_link_name(f->dlt);
		if (!t[i].link) {
			const char *name = capture_link_type_name(f->dlt);
			warn(t[i].warnings, f->path, "unsupported link type %d%s%s%s: file skipped", f->dlt, name ? " (" : "",
			     name ? name : "", name ? ")" : "");
			capture_merge_skip(m, i);
		}
	}
	while (capture_merge_next(m, &cf) == 1) {
		struct file_totals *ft = &t[cf.file];
		bool cut = false, rep = false;
		int n = to_frame(cf.dlt, cf.data, cf.caplen, cf.len, frame, sizeof(frame), &cut, &rep);
		if (!n) {
			ft->skipped++;
			continue;
		}
		ft->cut += cut;
		ft->repaired += rep;
		int err = run_frame(r, frame, (size_t)n, cf.mono_ns, cf.ts_ns);
		if (err) {
			if (!r->run_errors++)
				warn(ft->warnings, capture_merge_file(m, cf.file)->path, "frame %llu: BPF_PROG_TEST_RUN: %s",
				     (unsigned long long)cf.frame_no, strerror(-err));
			ft->skipped++;
			continue;
		}
		ft->run++;
	}
	for (size_t i = 0; i < capture_merge_warnings(m); i++)
		warn(r->warnings, NULL, "%s", capture_merge_warning(m, i));
	for (size_t i = 0; i < nf; i++) {
		const struct capture_merge_file *f = capture_merge_file(m, i);
		if (f->error)
			warn(t[i].warnings, f->path, "after frame %llu: %s; the rest of the file cannot be read",
			     (unsigned long long)f->frames, f->error);
		if (t[i].cut)
			warn(t[i].warnings, f->path,
			     "%llu frame(s) cut short (snap length, or over %d bytes): what lies past the cut is not seen",
			     (unsigned long long)t[i].cut, MAX_RUN_FRAME);
		if (f->time_backs)
			warn(t[i].warnings, f->path,
			     "time went backwards %llu time(s) inside the file: the analyzer's clock carried on from the "
			     "frame before (its windows stay whole); reports show the capture's own times",
			     (unsigned long long)f->time_backs);
		r->frames += f->frames;
		r->skipped += t[i].skipped;
		r->cut += t[i].cut;
		r->repaired += t[i].repaired;
		json_array_append_new(r->files, json_pack("{s:s,s:s?,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "path", f->path,
							  "link_type", t[i].link, "frames", (json_int_t)f->frames, "run",
							  (json_int_t)t[i].run, "skipped", (json_int_t)t[i].skipped, "cut",
							  (json_int_t)t[i].cut, "repaired", (json_int_t)t[i].repaired,
							  "time_backwards", (json_int_t)f->time_backs, "warnings",
							  t[i].warnings));
	}
	free(t);
}

/* The cost pass over one capture: each frame timed on its own. */
static void time_file(struct replay *r, const char *path)
{
	static uint8_t frame[65536 + 64];
	char why[512];
	struct capture_frame cf;
	struct capture *cap = capture_open(path, why, sizeof(why));

	if (!cap)
		return;
	int dlt = capture_link_type(cap);
	if (mg_link_name(dlt))
		while (capture_next(cap, &cf, why, sizeof(why)) == 1) {
			bool cut, rep;
			int n = to_frame(dlt, cf.data, cf.caplen, cf.len, frame, sizeof(frame), &cut, &rep);
			if (n)
				time_frame(r, frame, (size_t)n);
		}
	capture_close(cap);
}

/* ---- the report ----------------------------------------------------------------------- */

struct collect {
	struct replay *r;
	json_t *arr;
	size_t by_role[MG_ROLE_MAX];
};

static int collect_source(const struct mg_an_profile_view *v, void *arg)
{
	struct collect *c = arg;
	char buf[MG_ADDRSTRLEN];
	const char *k = mg_prefix_str(&v->prefix, buf, sizeof(buf));
	json_t *e = json_object_get(c->r->by_source, k);
	uint64_t drops = 0;

	for (size_t i = 0; i < c->r->nblocked; i++)
		if (mg_prefix_eq(&c->r->blocked[i].p, &v->prefix))
			drops = c->r->blocked[i].drops;
	json_t *o = json_object();
	json_object_set_new(o, "source", json_string(k));
	json_object_set_new(o, "role", json_string(mg_role_name(v->role)));
	json_object_set(o, "verdict", e ? json_object_get(e, "verdict") : json_null());
	json_object_set_new(o, "reasons", e ? json_deep_copy(json_object_get(e, "reasons")) : json_array());
	json_object_set_new(o, "score", json_real(v->score));
	json_object_set_new(o, "configured_mail_server", json_boolean(v->configured_server));
	json_object_set_new(o, "allowlisted", json_boolean(v->allowlisted));
	json_object_set_new(o, "evidence", mg_evidence_json(&v->ev, c->r->now, c->r->wall));
	json_object_set_new(o, "dropped", json_integer((json_int_t)drops));
	/* Its protected address's activity record, if any; "profile": false when that is all there is of it. */
	if (v->has_activity)
		json_object_set_new(o, "activity", mg_act_json(&v->activity, !mg_prefix_is_v4(&v->prefix)));
	json_object_set_new(o, "profile", json_boolean(!v->activity_only));
	json_array_append_new(c->arr, o);
	c->by_role[v->role < MG_ROLE_MAX ? v->role : 0]++;
	return 0;
}

/* Sources with a verdict first, then by SMTP activity. */
static int cmp_sources(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int vx = json_is_object(json_object_get(x, "verdict")), vy = json_is_object(json_object_get(y, "verdict"));
	if (vx != vy)
		return vy - vx;
	double sx = json_real_value(json_object_get(x, "score")), sy = json_real_value(json_object_get(y, "score"));
	if (sx != sy)
		return sx < sy ? 1 : -1;
	json_int_t mx = json_integer_value(json_object_get(json_object_get(x, "evidence"), "sessions"));
	json_int_t my = json_integer_value(json_object_get(json_object_get(y, "evidence"), "sessions"));
	return mx < my ? 1 : mx > my ? -1 : strcmp(json_string_value(json_object_get(x, "source")),
						     json_string_value(json_object_get(y, "source")));
}

static json_t *sorted(json_t *arr)
{
	size_t n = json_array_size(arr);
	json_t **v = calloc(n ? n : 1, sizeof(*v)), *out = json_array();

	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(arr, i);
	qsort(v, n, sizeof(*v), cmp_sources);
	for (size_t i = 0; i < n; i++)
		json_array_append(out, v[i]);
	free(v);
	json_decref(arr);
	return out;
}

static json_t *build_report(struct replay *r)
{
	struct collect c = { .r = r, .arr = json_array() };
	char a[64], b[64];

	mg_an_foreach(r->eng.an, collect_source, &c);
	/* Every active protected host, also those that never spoke SMTP (as mtaguardctl roles lists them). */
	mg_an_foreach_activity_only(r->eng.an, collect_source, &c);
	json_t *roles = json_object();
	for (int i = 0; i < MG_ROLE_MAX; i++)
		json_object_set_new(roles, mg_role_name((enum mg_role)i), json_integer((json_int_t)c.by_role[i]));
	json_t *kernel = r->have_kstats ? mg_stats_json(&r->kstats) : json_null();
	json_t *totals = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s?,s:s?,s:f,s:o,s:o}", "frames", (json_int_t)r->frames,
				   "run", (json_int_t)r->run, "skipped", (json_int_t)r->skipped, "cut",
				   (json_int_t)r->cut, "repaired", (json_int_t)r->repaired, "passed",
				   (json_int_t)r->passed, "dropped", (json_int_t)r->dropped, "first",
				   r->started ? iso(r->first_ts, a, sizeof(a)) : NULL, "last",
				   r->started ? iso(r->last_ts, b, sizeof(b)) : NULL, "duration_s",
				   r->started ? (double)(r->last_ts - r->first_ts) / 1e9 : 0.0, "sources_by_role", roles,
				   "kernel", kernel);
	json_t *rep = json_pack("{s:i,s:O,s:o,s:o,s:O,s:O,s:O}", "version", 1, "files", r->files, "totals", totals,
				"sources", sorted(c.arr), "verdicts", r->verdicts, "alerts", r->alerts, "warnings",
				r->warnings);
	if (r->repeat)
		json_object_set_new(rep, "cost",
				    json_pack("{s:i,s:I,s:f}", "repeat", (int)r->repeat, "frames",
					      (json_int_t)r->cost_frames,
					      "ns_per_packet", r->cost_frames ? (double)r->cost_ns_sum / r->cost_frames : 0.0));
	return rep;
}

static const char *s(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : "-";
}

static long long num(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_integer(v) ? json_integer_value(v) : json_is_real(v) ? (long long)json_real_value(v) : 0;
}

/* The source-verification line of an evidence object, when it has one. */
static void print_checks(json_t *ev, const char *indent)
{
	json_t *vf = json_object_get(ev, "verification");

	if (json_is_object(vf))
		printf("%schecks: %s (score +%.1f)\n", indent, s(vf, "explanation"),
		       json_number_value(json_object_get(vf, "score")));
}

static void print_human(json_t *rep)
{
	json_t *t = json_object_get(rep, "totals"), *v, *k = json_object_get(t, "kernel");
	const char *key;
	size_t i;

	printf("mtaguard-replay report\n\n");
	json_array_foreach(json_object_get(rep, "files"), i, v)
		printf("  %s: %s, %lld frames, %lld run, %lld skipped, %lld cut, %lld repaired%s\n", s(v, "path"),
		       s(v, "link_type"), num(v, "frames"), num(v, "run"), num(v, "skipped"), num(v, "cut"),
		       num(v, "repaired"), json_array_size(json_object_get(v, "warnings")) ? " (see warnings above)" : "");
	printf("  capture %s .. %s (%.1f s)\n\n", s(t, "first"), s(t, "last"),
	       json_real_value(json_object_get(t, "duration_s")));
	printf("XDP program: %lld frames passed, %lld dropped (smtp %lld, all %lld); parse errors %lld, "
	       "SYNs to SMTP %lld, commands %lld, events %lld (lost %lld)\n\n",
	       num(t, "passed"), num(t, "dropped"), num(json_object_get(k, "drop_reason"), "block_smtp"),
	       num(json_object_get(k, "drop_reason"), "block_all"), num(k, "parse_errors"), num(k, "syn_smtp"),
	       num(k, "smtp_cmds"), num(k, "events_sent"), num(k, "events_lost"));
	printf("Sources by role:");
	json_object_foreach(json_object_get(t, "sources_by_role"), key, v)
		printf(" %s %lld", key, (long long)json_integer_value(v));
	printf("\n\n");

	json_t *src = json_object_get(rep, "sources");
	size_t nv = 0;
	json_array_foreach(src, i, v)
		nv += json_is_object(json_object_get(v, "verdict"));
	printf("Verdicts (%zu):\n", nv);
	json_array_foreach(src, i, v) {
		json_t *vd = json_object_get(v, "verdict"), *ev = json_object_get(v, "evidence");
		if (!json_is_object(vd))
			continue;
		printf("  %s  %s at %s, offence %lld, until %s%s%s: %s, score %.1f\n", s(v, "source"), s(vd, "action"),
		       s(vd, "time"), num(vd, "offence"), s(vd, "expires"), json_object_get(vd, "ended") ? ", ended " : "",
		       json_object_get(vd, "ended") ? s(vd, "ended") : "", s(vd, "rule"),
		       json_real_value(json_object_get(vd, "score")));
		printf("      now %s; %lld MX hosts, %lld SYNs/min, %lld sessions, %lld RCPT; HELO \"%s\" (%s)\n",
		       s(v, "role"), num(ev, "distinct_mx"), num(ev, "syn_mx_per_min"), num(ev, "sessions"),
		       num(ev, "rcpts"), s(ev, "helo"), s(ev, "helo_shape"));
		printf("      MAC %s, VLAN %lld, first evidence %s; %lld later frames dropped\n", s(ev, "mac"),
		       num(ev, "vlan"), s(ev, "first_evidence"), num(v, "dropped"));
		print_checks(ev, "      ");
	}
	json_t *alerts = json_object_get(rep, "alerts");
	printf("\nAlerts (%zu):\n", json_array_size(alerts));
	json_array_foreach(alerts, i, v) {
		if (!strncmp(s(v, "event"), "outbreak", 8)) {
			printf("  %s  %s %s: level %lld, threat level %lld, %lld members%s\n", s(v, "time"), s(v, "event"),
			       s(v, "signature"), num(v, "level"), num(v, "threat_level"), num(v, "members"),
			       json_is_true(json_object_get(v, "contained_in_kernel")) ? ", SYNs dropped in the kernel" : "");
			json_t *m;
			size_t k;
			if (json_object_get(v, "why"))
				printf("      %s\n", s(v, "why"));
			json_array_foreach(json_object_get(v, "member_list"), k, m)
				printf("      %-28s MAC %s VLAN %lld\n", s(m, "source"), s(m, "mac"), num(m, "vlan"));
			continue;
		}
		printf("  %s  %s: %s, score %.1f%s\n", s(v, "time"), s(v, "source"),
		       s(json_object_get(v, "evidence"), "rule"),
		       json_real_value(json_object_get(json_object_get(v, "evidence"), "score")),
		       json_is_true(json_object_get(v, "would_block")) ? " (would block)" : "");
		print_checks(json_object_get(v, "evidence"), "      ");
	}
	size_t nact = 0, nprof;
	json_array_foreach(src, i, v)
		nact += json_is_false(json_object_get(v, "profile"));
	nprof = json_array_size(src) - nact;
	if (nprof > 20)
		printf("\nSources (%zu; the 20 busiest):\n", nprof);
	else
		printf("\nSources (%zu):\n", nprof);
	printf("  %-28s %-12s %6s %5s %8s %8s %6s  %s\n", "SOURCE", "ROLE", "SCORE", "MX", "SYN/MIN", "SESSIONS", "RCPT",
	       "HELO");
	size_t shown_prof = 0;
	json_array_foreach(src, i, v) {
		if (json_is_false(json_object_get(v, "profile")))
			continue; /* listed below */
		if (++shown_prof > 20)
			break;
		json_t *ev = json_object_get(v, "evidence");
		printf("  %-28s %-12s %6.1f %5lld %8lld %8lld %6lld  %s\n", s(v, "source"), s(v, "role"),
		       json_real_value(json_object_get(v, "score")), num(ev, "distinct_mx"), num(ev, "syn_mx_per_min"),
		       num(ev, "sessions"), num(ev, "rcpts"), s(ev, "helo"));
	}
	if (nact) {
		printf("\nProtected hosts known by their activity alone (%zu; they never spoke SMTP):\n", nact);
		printf("  %-28s %-12s %6s %6s %9s  %s\n", "SOURCE", "ROLE", "WEB", "DNS", "OTHER_TCP", "SEEN");
		size_t shown = 0;
		json_array_foreach(src, i, v) {
			json_t *act = json_object_get(v, "activity"), *fl = json_object_get(act, "flows"), *c;
			if (!json_is_false(json_object_get(v, "profile")))
				continue;
			if (++shown > 20) {
				printf("  ... and %zu more (--json lists them all)\n", nact - 20);
				break;
			}
			char seen[64] = "";
			size_t k;
			json_array_foreach(json_object_get(act, "seen"), k, c)
				snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), "%s%s", k ? "," : "",
					 json_string_value(c));
			printf("  %-28s %-12s %6lld %6lld %9lld  %s\n", s(v, "source"), s(v, "role"), num(fl, "web"),
			       num(fl, "dns"), num(fl, "other_tcp"), seen);
		}
	}
	/* What source verification found, for the sources it checked (the same 20). */
	bool header = false;
	json_array_foreach(src, i, v) {
		if (i >= 20)
			break;
		json_t *vf = json_object_get(json_object_get(v, "evidence"), "verification");
		if (!json_is_object(vf))
			continue;
		if (!header)
			printf("\nSource verification%s:\n",
			       json_is_true(json_object_get(vf, "dns")) ? "" : " (offline: --dns SERVER runs the DNS checks)");
		header = true;
		printf("  %-28s %s\n", s(v, "source"), s(vf, "explanation"));
	}
	json_t *cost = json_object_get(rep, "cost");
	if (cost)
		printf("\nCost: %.1f ns per packet on this mix (BPF_PROG_TEST_RUN, %lld runs of each of %lld frames)\n",
		       json_real_value(json_object_get(cost, "ns_per_packet")), num(cost, "repeat"), num(cost, "frames"));
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "verdicts-only", no_argument, NULL, 'V' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "dns", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'R' }, /* no short form: -V predates it */
		{ NULL, 0, NULL, 0 },
	};
	static struct replay r;
	const char *config = NULL;
	bool json = false, verdicts_only = false;
	char err[512];
	int c;

	mg_log_init("mtaguard-replay");
	while ((c = getopt_long(argc, argv, "c:jVr:vd:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': r.dns = optarg; break;
		case 'c': config = optarg; break;
		case 'j': json = true; break;
		case 'V': verdicts_only = true; break;
		case 'r': {
			char *end;
			long n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > 1000000) {
				fprintf(stderr, "mtaguard-replay: --repeat takes 1..1000000, not '%s'\n", optarg);
				return 2;
			}
			r.repeat = (unsigned)n;
			break;
		}
		case 'v':
			mg_log_verbose();
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'R':
			puts("mtaguard-replay " MG_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind == argc) {
		usage(stderr);
		return 2;
	}
	mg_config_default(&r.cfg);
	if (config && mg_config_load(config, &r.cfg, err, sizeof(err))) {
		fprintf(stderr, "mtaguard-replay: %s\n", err);
		return 2;
	}
	/* Offline: nothing of the daemon's state is read or written. */
	r.cfg.state_file[0] = '\0';

	/* Every input must be there and be a capture: a report on part of the traffic would read as all of it. */
	struct capture_merge *m = capture_merge_open((const char *const *)&argv[optind], (size_t)(argc - optind), err,
						     sizeof(err));
	if (!m) {
		fprintf(stderr, "mtaguard-replay: %s\n", err);
		return 1;
	}

	/*
	 * The kernel's rate budgets (profiles created per second, drop events per
	 * second) count in kernel time, and a capture replays far faster than it
	 * was recorded: lift them, or a minute of traffic squeezed into a few
	 * milliseconds would look like a flood. So does the skipping of a
	 * repeated HELO's event within a (kernel) second: every HELO is reported.
	 */
	struct mg_load_opts lo;
	mg_load_opts_default(&lo);
	lo.tunables = r.cfg.tunables;
	lo.tunables.syn_new_per_sec = lo.tunables.payload_new_per_sec = lo.tunables.drop_events_per_sec = 1000000000u;
	lo.tunables.syn_new_burst = lo.tunables.payload_new_burst = 1000000000u;
	lo.tunables.helo_every = 1;
	lo.max_sources = r.cfg.max_sources;
	lo.max_servers = r.cfg.max_servers;
	lo.max_policy = r.cfg.max_policy;
	mg_log_libbpf();
	int e = mg_load_private(&lo, &r.h);
	if (e) {
		if (e == -EPERM || e == -EACCES)
			fprintf(stderr, "mtaguard-replay: running the XDP program needs root (CAP_BPF and CAP_NET_ADMIN): %s\n",
				strerror(-e));
		else
			fprintf(stderr, "mtaguard-replay: loading the XDP program: %s\n", strerror(-e));
		capture_merge_close(m);
		return 1;
	}
	r.files = json_array();
	r.verdicts = json_array();
	r.alerts = json_array();
	r.warnings = json_array();
	r.by_source = json_object();
	/* The engine writes rules without a kernel expiry: the capture's clock is not the kernel's. */
	if (mg_kernel_sink_init(&r.sink, &r.h, 0, false) ||
	    mg_engine_init(&r.eng, &r.cfg, &mg_kernel_sink_ops, &r.sink, observe, &r)) {
		fprintf(stderr, "mtaguard-replay: out of memory\n");
		return 1;
	}
	if (r.dns) {
		struct mg_verifier_config vc;
		mg_verifier_config_default(&vc);
		vc.cache_entries = r.cfg.verify_cache_entries;
		/* The replay's queries are its operator's to spend: no rate bound beyond the resolver's own pace. */
		vc.queries_per_sec = vc.query_burst = 1000000;
		vc.job_timeout_ns = 2 * r.cfg.verify_timeout_ns + 1000000000ull;
		r.verifier = mg_verifier_new(&vc, &replay_ops, &r, verified, &r);
		r.ares = r.verifier ? mg_ares_new(r.dns, (unsigned)(r.cfg.verify_timeout_ns / 1000000), 2, on_answer, &r,
						  NULL, NULL, err, sizeof(err))
				    : NULL;
		if (!r.ares) {
			fprintf(stderr, "mtaguard-replay: --dns %s: %s\n", r.dns, r.verifier ? err : "out of memory");
			return 2;
		}
	}
	if (r.cfg.verify_enabled)
		mg_engine_set_verifier(&r.eng, verify_request, &r);
	r.rb = ring_buffer__new(r.h.events_fd, on_event, &r, NULL);
	if (!r.rb) {
		fprintf(stderr, "mtaguard-replay: ring buffer: %s\n", strerror(errno));
		return 1;
	}

	replay_all(&r, m);
	capture_merge_close(m);
	if (r.started)
		mg_engine_tick(&r.eng, r.now, r.wall); /* what the last frames showed */
	r.have_kstats = mg_stats_read(r.h.stats_fd, &r.kstats) == 0;
	if (r.repeat)
		for (int i = optind; i < argc; i++)
			time_file(&r, argv[i]);

	json_t *rep = build_report(&r);
	if (verdicts_only) {
		json_t *v;
		size_t i;
		json_array_foreach(json_object_get(rep, "sources"), i, v) {
			json_t *vd = json_object_get(v, "verdict");
			if (json_is_object(vd))
				printf("%s %s %s score=%.1f\n", s(v, "source"), s(vd, "action"), s(vd, "rule"),
				       json_real_value(json_object_get(vd, "score")));
		}
	} else if (json) {
		char *out = json_dumps(rep, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (out)
			puts(out);
		free(out);
	} else {
		print_human(rep);
	}
	json_decref(rep);
	json_decref(r.files);
	json_decref(r.verdicts);
	json_decref(r.alerts);
	json_decref(r.warnings);
	json_decref(r.by_source);
	free(r.blocked);
	ring_buffer__free(r.rb);
	mg_ares_free(r.ares);
	mg_verifier_free(r.verifier);
	mg_spf_cleanup();
	mg_engine_free(&r.eng);
	mg_kernel_sink_free(&r.sink);
	mg_close(&r.h);
	mg_config_free(&r.cfg);
	return 0;
}
