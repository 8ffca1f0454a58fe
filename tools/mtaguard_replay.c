// SPDX-License-Identifier: GPL-2.0-only
/*
 * mtaguard-replay - run packet captures through the real XDP program and the
 * daemon's analyzer, offline, and report what mtaguard would have done.
 *
 * Every frame goes through the compiled program with BPF_PROG_TEST_RUN on a
 * private instance (nothing pinned, nothing attached). The events it emits
 * and the counters it keeps feed the same analyzer code mtaguardd runs,
 * stamped with the capture's own timestamps, so windows, rates and expiries
 * behave as they would have live. Verdicts are written into the private
 * blocklist as they happen, so later frames from a blocked source are
 * dropped, and counted, as they would have been.
 */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <jansson.h>

#include "capture.h"
#include "mg_addr.h"
#include "mg_analyzer.h"
#include "mg_config.h"
#include "mg_eventlog.h"
#include "mg_frame.h"
#include "mg_loader.h"
#include "mg_outbreak.h"
#include "mg_policy.h"
#include "mg_scan.h"
#include "mg_stats.h"

#define MAX_ACTIONS 4096
#define NS_PER_SEC 1000000000ull
/*
 * BPF_PROG_TEST_RUN runs an XDP program on one page: 4096 bytes less the
 * headroom and the skb_shared_info tailroom. Longer frames (TSO
 * super-segments in host captures) are cut; the program reads headers and
 * the start of the payload, and treats a datagram longer than its frame as
 * a frame cut short.
 */
#define MAX_RUN_FRAME 3500
#define EVENT_SCAN_NS (100 * 1000000ull) /* as the daemon: react to events, at most every 100 ms */

struct blocked {
	struct mg_prefix p;
	uint64_t drops;
};

struct replay {
	struct mg_config cfg;
	struct mg_handle h;
	struct mg_analyzer *an;
	struct mg_outbreaks *ob;
	struct ring_buffer *rb;
	struct mg_scan scan;
	uint64_t now, first_ts, last_ts, next_scan, last_scan;
	bool events_pending, started;
	/* totals */
	uint64_t frames, run, skipped, cut, repaired, passed, dropped, run_errors;
	json_t *files, *verdicts, *alerts, *by_source; /* by_source: "addr" -> { verdict, reasons } */
	struct blocked *blocked;
	size_t nblocked;
	struct mg_global_stats kstats; /* the kernel's counters after the replay, before any cost pass */
	bool have_kstats;
	/* cost pass */
	unsigned repeat;
	uint64_t cost_ns_sum, cost_frames;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mtaguard-replay [options] CAPTURE...\n"
		"Run pcap/pcapng captures through mtaguard's XDP program and analyzer, and report\n"
		"what mtaguard would have done: roles, verdicts with their evidence, alerts, drops.\n"
		"\n"
		"  -c, --config FILE   mtaguardd's configuration file (thresholds, ports, allowlist...)\n"
		"  -j, --json          the report as JSON (schema in the README)\n"
		"  -V, --verdicts-only one line per blocked source: ADDRESS ACTION RULE score=N\n"
		"  -r, --repeat N      also measure the program's cost per packet on this mix (N runs each)\n"
		"  -h, --help\n"
		"\n"
		"Link types: Ethernet, Linux cooked (SLL, SLL2), raw IP, BSD loopback.\n"
		"Needs the privileges BPF_PROG_TEST_RUN needs (root, or CAP_BPF and CAP_NET_ADMIN).\n");
}

static const char *iso(uint64_t ns, char *buf, size_t len)
{
	return mg_iso_time(ns, buf, len);
}

/* ---- the analyzer's actions ------------------------------------------------------------ */

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

static void promote(struct replay *r, const struct mg_prefix *p)
{
	struct mg_src_stats s;

	if (bpf_map_lookup_elem(r->h.sources_fd, p->addr, &s))
		memset(&s, 0, sizeof(s));
	if (bpf_map_update_elem(r->h.servers_fd, p->addr, &s, BPF_ANY) == 0)
		bpf_map_delete_elem(r->h.sources_fd, p->addr);
}

static void apply(struct replay *r, const struct mg_an_action *a, size_t n)
{
	char buf[64];

	for (size_t i = 0; i < n; i++) {
		json_t *j = mg_action_json(&a[i], r->now, r->now);
		json_t *e = source_entry(r, &a[i].prefix);
		switch (a[i].kind) {
		case MG_AN_BLOCK:
			/* The analyzer ends the block at its expiry, in capture time; the rule itself never expires. */
			mg_policy_block(r->h.block_fd, &a[i].prefix, a[i].block_action, 0);
			json_object_set_new(e, "verdict",
					    json_pack("{s:s,s:s,s:s,s:i,s:s,s:f}", "action",
						      a[i].block_action == MG_ACT_DROP_ALL ? "block-all" : "block-smtp",
						      "time", iso(r->now, buf, sizeof(buf)), "expires",
						      iso(a[i].expires_ns, buf + 32, 32), "offence", (int)a[i].offence,
						      "rule", a[i].ev.rule, "score", a[i].ev.score));
			add_reason(e, a[i].ev.rule);
			json_array_append(r->verdicts, j);
			bool known = false;
			for (size_t k = 0; k < r->nblocked; k++)
				known |= !memcmp(&r->blocked[k].p, &a[i].prefix, sizeof(a[i].prefix));
			if (!known) {
				struct blocked *nb = realloc(r->blocked, (r->nblocked + 1) * sizeof(*nb));
				if (nb) {
					r->blocked = nb;
					r->blocked[r->nblocked++] = (struct blocked){ .p = a[i].prefix };
				}
			}
			break;
		case MG_AN_UNBLOCK:
			mg_policy_remove(r->h.block_fd, &a[i].prefix);
			if (json_is_object(json_object_get(e, "verdict")))
				json_object_set_new(json_object_get(e, "verdict"), "ended",
						    json_string(iso(r->now, buf, sizeof(buf))));
			json_array_append(r->verdicts, j);
			break;
		case MG_AN_ALERT:
			add_reason(e, a[i].ev.rule);
			json_array_append(r->alerts, j);
			break;
		case MG_AN_PROMOTE:
			add_reason(e, a[i].ev.rule);
			promote(r, &a[i].prefix);
			break;
		}
		json_decref(j);
	}
}

/* Outbreak actions, as the daemon carries them out: alerts, and fingerprints into the (private) kernel map. */
static void apply_outbreak(struct replay *r, const struct mg_ob_action *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool kernel = a[i].sig.kind == MG_SIG_FP && r->cfg.contain;
		json_t *o = mg_ob_action_json(&a[i], kernel, r->now, r->now);
		if (a[i].kind != MG_OB_JOIN)
			json_array_append_new(r->alerts, o);
		else
			json_decref(o);
		if (kernel) {
			struct mg_outbreak_sig ks = { .level = a[i].level };
			if (a[i].kind == MG_OB_DECLARE)
				bpf_map_update_elem(r->h.outbreaks_fd, &a[i].sig.value, &ks, BPF_ANY);
			else if (a[i].kind == MG_OB_END)
				bpf_map_delete_elem(r->h.outbreaks_fd, &a[i].sig.value);
			uint32_t k, nk = 0, *prev = NULL;
			while (bpf_map_get_next_key(r->h.outbreaks_fd, prev, &k) == 0) {
				nk++;
				prev = &k;
			}
			mg_set_outbreaks(r->h.settings_fd, nk);
		}
		if (a[i].kind == MG_OB_DECLARE || a[i].kind == MG_OB_JOIN) {
			char sig[64];
			json_t *e = source_entry(r, a[i].kind == MG_OB_JOIN ? &a[i].member->src : &a[i].list[a[i].n_list - 1].src);
			mg_sig_str(&a[i].sig, sig, sizeof(sig));
			if (a[i].kind == MG_OB_DECLARE)
				for (uint32_t k = 0; k < a[i].n_list; k++) {
					char why[80];
					snprintf(why, sizeof(why), "outbreak:%s", sig);
					add_reason(source_entry(r, &a[i].list[k].src), why);
				}
			else {
				char why[80];
				snprintf(why, sizeof(why), "outbreak:%s", sig);
				add_reason(e, why);
			}
		}
	}
	mg_an_set_threat(r->an, mg_ob_threat_level(r->ob));
}

static void feed(const uint8_t (*keys)[16], const struct mg_src_stats *s, size_t n, void *arg)
{
	struct replay *r = arg;
	mg_an_on_counters_batch(r->an, keys, s, n, r->now);
}

/* What the daemon's timer does: read every kernel profile, tick, carry out the actions. */
static void scan_and_tick(struct replay *r)
{
	static struct mg_an_action actions[MAX_ACTIONS];
	size_t n;

	struct mg_ob_action oa[64];
	apply_outbreak(r, oa, mg_ob_tick(r->ob, r->now, oa, 64));
	mg_scan_map(&r->scan, r->h.sources_fd, feed, r);
	mg_scan_map(&r->scan, r->h.servers_fd, feed, r);
	do {
		n = mg_an_tick(r->an, r->now, actions, MAX_ACTIONS);
		apply(r, actions, n);
	} while (n == MAX_ACTIONS);
	r->last_scan = r->now;
	r->next_scan = r->now + r->cfg.scan_interval_ns;
	r->events_pending = false;
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct replay *r = ctx;

	if (len >= sizeof(struct mg_event)) {
		const struct mg_event *ev = data;
		mg_an_on_event(r->an, ev, r->now);
		r->events_pending = true;
		/* New senders' characteristics into outbreak detection, as the daemon does. */
		struct mg_signature sigs[2];
		size_t nsig = mg_ob_event_signatures(ev, sigs);
		if (nsig && mg_an_new_sender(r->an, ev->src, r->now)) {
			struct mg_prefix src;
			struct mg_ob_action oa[32];
			memcpy(src.addr, ev->src, 16);
			src.prefixlen = mg_addr_is_v4(ev->src) ? 128 : r->cfg.an.v6_prefix;
			mg_addr_mask(src.addr, src.prefixlen);
			for (size_t i = 0; i < nsig; i++)
				apply_outbreak(r, oa, mg_ob_observe(r->ob, &src, ev->mac, ev->vlan_outer, ev->vlan_inner,
								    &sigs[i], r->now, oa, 32));
		}
	}
	return 0;
}

/* ---- frames ------------------------------------------------------------------------- */

static void count_drop(struct replay *r, const uint8_t *f, size_t len)
{
	uint8_t src[16];

	r->dropped++;
	if (!mg_frame_src(f, len, src))
		return;
	for (size_t i = 0; i < r->nblocked; i++) {
		uint8_t m[16];
		memcpy(m, src, 16);
		mg_addr_mask(m, r->blocked[i].p.prefixlen);
		if (!memcmp(m, r->blocked[i].p.addr, 16)) {
			r->blocked[i].drops++;
			return;
		}
	}
}

static int run_frame(struct replay *r, uint8_t *f, size_t len, uint64_t ts)
{
	if (!r->started) {
		r->started = true;
		r->first_ts = ts;
		r->next_scan = ts + r->cfg.scan_interval_ns;
	}
	r->now = ts > r->now ? ts : r->now; /* captures merged out of order never move time back */
	r->last_ts = r->now;
	if (r->now >= r->next_scan)
		scan_and_tick(r);

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
	/* Like the daemon: news from the ring buffer is acted on at once, not at the next timer tick. */
	if (r->events_pending && r->now - r->last_scan >= EVENT_SCAN_NS)
		scan_and_tick(r);
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
	fprintf(stderr, "mtaguard-replay: %s: %s\n", path, msg);
	if (w)
		json_array_append_new(w, json_string(msg));
}

/* Read one capture; timing=true for the cost pass. */
static void replay_file(struct replay *r, const char *path, bool timing)
{
	static uint8_t frame[65536 + 64];
	char why[512];
	uint64_t frames = 0, run = 0, skipped = 0, cut = 0, repaired = 0;
	json_t *warnings = timing ? NULL : json_array();
	const char *link = NULL;
	struct capture_frame cf;
	int dlt, rc;

	struct capture *cap = capture_open(path, why, sizeof(why));
	if (!cap) {
		warn(warnings, path, "cannot read: %s", why);
		goto out;
	}
	dlt = capture_link_type(cap);
	link = mg_link_name(dlt);
	if (!link) {
		const char *name = capture_link_type_name(dlt);
		warn(warnings, path, "unsupported link type %d%s%s%s: file skipped", dlt, name ? " (" : "", name ? name : "",
		     name ? ")" : "");
		capture_close(cap);
		goto out;
	}
	while ((rc = capture_next(cap, &cf, why, sizeof(why))) != 0) {
		if (rc < 0) {
			warn(warnings, path, "after frame %llu: %s; the rest of the file cannot be read",
			     (unsigned long long)frames, why);
			break;
		}
		frames++;
		bool rep = false;
		int n = mg_frame_to_eth(dlt, cf.data, cf.caplen, cf.len, frame, sizeof(frame), &rep);
		if (n <= 0) {
			skipped++;
			continue;
		}
		if (cf.caplen < cf.len || n > MAX_RUN_FRAME)
			cut++;
		if (n > MAX_RUN_FRAME)
			n = MAX_RUN_FRAME;
		repaired += rep;
		int err = timing ? time_frame(r, frame, (size_t)n) : run_frame(r, frame, (size_t)n, cf.ts_ns);
		if (err) {
			if (!r->run_errors++)
				warn(warnings, path, "frame %llu: BPF_PROG_TEST_RUN: %s", (unsigned long long)frames,
				     strerror(-err));
			skipped++;
			continue;
		}
		run++;
	}
	capture_close(cap);
	if (cut && !timing)
		warn(warnings, path,
		     "%llu frame(s) cut short (snap length, or over %d bytes): what lies past the cut is not seen",
		     (unsigned long long)cut, MAX_RUN_FRAME);
out:
	if (timing)
		return;
	r->frames += frames;
	r->skipped += skipped;
	r->cut += cut;
	r->repaired += repaired;
	json_array_append_new(r->files,
			      json_pack("{s:s,s:s?,s:I,s:I,s:I,s:I,s:I,s:o}", "path", path, "link_type", link,
					"frames", (json_int_t)frames, "run", (json_int_t)run, "skipped",
					(json_int_t)skipped, "cut", (json_int_t)cut, "repaired", (json_int_t)repaired,
					"warnings", warnings));
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
		if (!memcmp(&c->r->blocked[i].p, &v->prefix, sizeof(v->prefix)))
			drops = c->r->blocked[i].drops;
	json_t *o = json_object();
	json_object_set_new(o, "source", json_string(k));
	json_object_set_new(o, "role", json_string(mg_role_name(v->role)));
	json_object_set(o, "verdict", e ? json_object_get(e, "verdict") : json_null());
	json_object_set_new(o, "reasons", e ? json_deep_copy(json_object_get(e, "reasons")) : json_array());
	json_object_set_new(o, "score", json_real(v->score));
	json_object_set_new(o, "configured_mail_server", json_boolean(v->configured_server));
	json_object_set_new(o, "allowlisted", json_boolean(v->allowlisted));
	json_object_set_new(o, "evidence", mg_evidence_json(&v->ev, c->r->now, c->r->now));
	json_object_set_new(o, "dropped", json_integer((json_int_t)drops));
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

	mg_an_foreach(r->an, collect_source, &c);
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
	json_t *rep = json_pack("{s:i,s:O,s:o,s:o,s:O,s:O}", "version", 1, "files", r->files, "totals", totals,
				"sources", sorted(c.arr), "verdicts", r->verdicts, "alerts", r->alerts);
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
			json_array_foreach(json_object_get(v, "member_list"), k, m)
				printf("      %-28s MAC %s VLAN %lld\n", s(m, "source"), s(m, "mac"), num(m, "vlan"));
			continue;
		}
		printf("  %s  %s: %s, score %.1f%s\n", s(v, "time"), s(v, "source"),
		       s(json_object_get(v, "evidence"), "rule"),
		       json_real_value(json_object_get(json_object_get(v, "evidence"), "score")),
		       json_is_true(json_object_get(v, "would_block")) ? " (would block)" : "");
	}
	if (json_array_size(src) > 20)
		printf("\nSources (%zu; the 20 busiest):\n", json_array_size(src));
	else
		printf("\nSources (%zu):\n", json_array_size(src));
	printf("  %-28s %-12s %6s %5s %8s %8s %6s  %s\n", "SOURCE", "ROLE", "SCORE", "MX", "SYN/MIN", "SESSIONS", "RCPT",
	       "HELO");
	json_array_foreach(src, i, v) {
		if (i >= 20)
			break;
		json_t *ev = json_object_get(v, "evidence");
		printf("  %-28s %-12s %6.1f %5lld %8lld %8lld %6lld  %s\n", s(v, "source"), s(v, "role"),
		       json_real_value(json_object_get(v, "score")), num(ev, "distinct_mx"), num(ev, "syn_mx_per_min"),
		       num(ev, "sessions"), num(ev, "rcpts"), s(ev, "helo"));
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct replay r;
	const char *config = NULL;
	bool json = false, verdicts_only = false;
	char err[512];
	int c;

	while ((c = getopt_long(argc, argv, "c:jVr:h", opts, NULL)) != -1) {
		switch (c) {
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
		case 'h':
			usage(stdout);
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

	/*
	 * The kernel's rate budgets (profiles created per second, drop events per
	 * second) count in kernel time, and a capture replays far faster than it
	 * was recorded: lift them, or a minute of traffic squeezed into a few
	 * milliseconds would look like a flood.
	 */
	struct mg_load_opts lo;
	mg_load_opts_default(&lo);
	lo.tunables = r.cfg.tunables;
	lo.tunables.syn_new_per_sec = lo.tunables.payload_new_per_sec = lo.tunables.drop_events_per_sec = 1000000000u;
	lo.tunables.syn_new_burst = lo.tunables.payload_new_burst = 1000000000u;
	lo.max_sources = r.cfg.max_sources;
	lo.max_servers = r.cfg.max_servers;
	lo.max_policy = r.cfg.max_policy;
	libbpf_set_print(NULL);
	int e = mg_load_private(&lo, &r.h);
	if (e) {
		if (e == -EPERM || e == -EACCES)
			fprintf(stderr, "mtaguard-replay: running the XDP program needs root (CAP_BPF and CAP_NET_ADMIN): %s\n",
				strerror(-e));
		else
			fprintf(stderr, "mtaguard-replay: loading the XDP program: %s\n", strerror(-e));
		return 1;
	}
	r.an = mg_an_new(&r.cfg.an);
	r.ob = mg_ob_new(&r.cfg.ob);
	r.rb = ring_buffer__new(r.h.events_fd, on_event, &r, NULL);
	r.files = json_array();
	r.verdicts = json_array();
	r.alerts = json_array();
	r.by_source = json_object();
	if (!r.an || !r.ob || !r.rb || mg_scan_init(&r.scan, 8192)) {
		fprintf(stderr, "mtaguard-replay: out of memory\n");
		return 1;
	}
	mg_set_monitor(r.h.settings_fd, r.cfg.an.monitor);
	for (size_t i = 0; i < r.cfg.allowlist.n; i++) {
		mg_an_add_allow(r.an, &r.cfg.allowlist.v[i]);
		mg_policy_allow(r.h.allow_fd, &r.cfg.allowlist.v[i]);
	}
	for (size_t i = 0; i < r.cfg.mail_servers.n; i++) {
		mg_an_add_mail_server(r.an, &r.cfg.mail_servers.v[i]);
		mg_policy_allow(r.h.allow_fd, &r.cfg.mail_servers.v[i]);
	}
	for (size_t i = 0; i < r.cfg.n_ob_except_sig; i++)
		mg_ob_except_sig(r.ob, &r.cfg.ob_except_sig[i], true);
	for (size_t i = 0; i < r.cfg.n_ob_except_pfx; i++)
		mg_ob_except_prefix(r.ob, &r.cfg.ob_except_pfx[i], true);

	for (int i = optind; i < argc; i++)
		replay_file(&r, argv[i], false);
	if (r.started)
		scan_and_tick(&r); /* what the last frames showed */
	r.have_kstats = mg_stats_read(r.h.stats_fd, &r.kstats) == 0;
	if (r.repeat)
		for (int i = optind; i < argc; i++)
			replay_file(&r, argv[i], true);

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
	json_decref(r.by_source);
	free(r.blocked);
	mg_scan_free(&r.scan);
	ring_buffer__free(r.rb);
	mg_an_free(r.an);
	mg_ob_free(r.ob);
	mg_close(&r.h);
	mg_config_free(&r.cfg);
	return 0;
}
