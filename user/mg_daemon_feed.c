// SPDX-License-Identifier: GPL-2.0-only
/*
 * mg_daemon_feed.c - imports and exports of prefix lists over the control
 * socket (mtaguardctl import / export).
 *
 * Why chunked requests, and not the daemon opening the file itself: a
 * request is one line of at most 64 KiB that must arrive within 2 s (the
 * socket's rules against slow and huge clients stay as they are), and a
 * list of 100 000 prefixes is about 2 MB. The daemon reading a path it is
 * given would sidestep that, but it runs as root and the socket's mode may
 * be opened to a group: a client could make it read any file (and quote
 * its lines back in error messages), and `-` (a pipe from curl) would not
 * work at all. So mtaguardctl parses the list (every error with its line,
 * before anything is sent) and sends it in pieces into a staging session:
 *
 *   {"cmd":"import","op":"begin","origin":"drop","action":"smtp","ttl":"1d","sync":true}  -> {"import":ID}
 *   {"cmd":"import","op":"add","import":ID,"prefixes":[...],"lines":[...]}               (each under 64 KiB)
 *   {"cmd":"import","op":"commit","import":ID}                                           -> figures
 *   {"cmd":"import","op":"status","import":ID}                                           -> applied/total
 *   {"cmd":"import","op":"drop","origin":"drop"}                                         forget a list
 *
 * Nothing reaches the lists before the commit: a prefix the daemon refuses
 * (wider than limits.min_prefix_v4/v6) ends the session with its line, and
 * nothing is applied. At the commit the lists change at once and are
 * saved; the ledger and the kernel follow in slices (mg_daemon_feed_work:
 * steps of MG_FEED_STEP prefixes for about MG_FEED_SLICE_NS per loop
 * iteration), so the policy service and the ring buffer are served between
 * them; `status` tells the client when the import is in force.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "mg_cidr_list.h"
#include "mg_clock.h"
#include "mg_cover.h"
#include "mg_daemon.h"
#include "mg_names.h"

static json_t *ok(void)
{
	return json_pack("{s:b}", "ok", 1);
}

static struct mg_import_session *session(struct mg_daemon *d, json_t *req)
{
	json_t *id = json_object_get(req, "import");
	uint64_t v = json_is_string(id) ? strtoull(json_string_value(id), NULL, 16) : 0;

	for (int i = 0; v && i < MG_IMPORT_SESSIONS; i++)
		if (d->imports[i].id == v)
			return &d->imports[i];
	return NULL;
}

static void session_end(struct mg_import_session *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static json_t *op_begin(struct mg_daemon *d, json_t *req, uint64_t mono)
{
	const char *origin = json_string_value(json_object_get(req, "origin"));
	const char *action = json_string_value(json_object_get(req, "action"));
	const char *ttl = json_string_value(json_object_get(req, "ttl"));
	struct mg_import_session *s = NULL;
	uint8_t act = MG_ACT_DROP_SMTP;
	uint64_t ttl_ns = 0;
	char max[32];

	if (!mg_feed_name_ok(origin))
		return mg_ctl_error("an origin is 1 to %d letters, digits, '.', '_' or '-', starting with a letter or "
				    "digit, got '%s'", MG_FEED_NAME_MAX, origin ? origin : "");
	if (action && mg_action_parse(action, &act))
		return mg_ctl_error("action is smtp or all, got '%s'", action);
	int e = ttl ? mg_parse_rule_duration(ttl, &ttl_ns) : 0;
	if (e == -ERANGE)
		return mg_ctl_error("ttl '%s' out of range: from 1s to %s, or 0 for until removed", ttl,
				    mg_duration_str(MG_DURATION_MAX_NS, max, sizeof(max)));
	if (e)
		return mg_ctl_error("bad ttl '%s' (e.g. 90s, 10m, 1h, 7d; 0 = until removed)", ttl);
	for (int i = 0; i < MG_IMPORT_SESSIONS; i++) {
		struct mg_import_session *x = &d->imports[i];
		if (x->id && !strcmp(x->origin, origin) && !x->committed)
			return mg_ctl_error("an import into '%s' is already under way", origin);
		if (!x->id && !s)
			s = x;
	}
	/* None free: a session whose import is in force is kept only for a late status, and its slot can go. */
	for (int i = 0; i < MG_IMPORT_SESSIONS && !s; i++)
		if (d->imports[i].committed && mg_engine_feed_applied(&d->eng) >= d->imports[i].ticket) {
			session_end(&d->imports[i]);
			s = &d->imports[i];
		}
	if (!s)
		return mg_ctl_error("busy: %d imports under way; retry when one has finished", MG_IMPORT_SESSIONS);
	memset(s, 0, sizeof(*s));
	while (!s->id) {
		if (getrandom(&s->id, sizeof(s->id), 0) != sizeof(s->id))
			s->id = mono ^ (uint64_t)(uintptr_t)s;
	}
	snprintf(s->origin, sizeof(s->origin), "%s", origin);
	s->action = act;
	s->ttl_ns = ttl_ns;
	s->sync = json_is_true(json_object_get(req, "sync"));
	s->last_ns = mono;
	char id[24];
	snprintf(id, sizeof(id), "%016llx", (unsigned long long)s->id);
	return json_pack("{s:b,s:s}", "ok", 1, "import", id);
}

/* The most prefixes the imported lists may hold: room is left in the blocklist for verdicts and the operator. */
static size_t feed_capacity(const struct mg_daemon *d)
{
	return (size_t)d->run.max_policy / 4 * 3;
}

/*
 * The protected network p covers whole, if any. A list that blocks one's
 * own network whole is a mistake, never a wish: a bogon list holds the
 * private and benchmarking ranges a campus numbers its hosts from, and
 * imported there it would cut every host off mail. A prefix inside one (a
 * host of ours a list names) is an ordinary block.
 */
static const struct mg_prefix *protected_covered(const struct mg_daemon *d, const struct mg_prefix *p)
{
	for (size_t i = 0; i < d->cfg.protected_nets.n; i++)
		if (mg_prefix_contains(p, &d->cfg.protected_nets.v[i]))
			return &d->cfg.protected_nets.v[i];
	return NULL;
}

static json_t *op_add(struct mg_daemon *d, struct mg_import_session *s, json_t *req, uint64_t mono)
{
	json_t *pre = json_object_get(req, "prefixes"), *lines = json_object_get(req, "lines"), *x;
	char msg[160], buf[MG_ADDRSTRLEN];
	size_t i, n = json_array_size(pre);

	if (s->committed)
		return mg_ctl_error("import %016llx is committed already", (unsigned long long)s->id);
	if (!json_is_array(pre) || (lines && (!json_is_array(lines) || json_array_size(lines) != n)))
		return mg_ctl_error("import add needs \"prefixes\" (an array of strings) and \"lines\" beside it");
	if (s->n + n > feed_capacity(d)) {
		json_t *r = mg_ctl_error("more than %zu prefixes: the imported lists may fill 3/4 of the blocklist "
					 "(map_sizes.policy %u); nothing of this import is applied",
					 feed_capacity(d), d->run.max_policy);
		session_end(s);
		return r;
	}
	if (s->n + n > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->n + n)
			cap *= 2;
		struct mg_prefix *v = realloc(s->v, cap * sizeof(*v));
		if (!v) {
			session_end(s);
			return mg_ctl_error("out of memory; nothing of this import is applied");
		}
		s->v = v;
		s->cap = cap;
	}
	json_array_foreach(pre, i, x) {
		const char *text = json_string_value(x);
		json_int_t line = lines ? json_integer_value(json_array_get(lines, i)) : (json_int_t)(s->n + 1);
		struct mg_prefix p;
		unsigned col = 0, min;
		json_t *r = NULL;
		const struct mg_prefix *own;
		char obuf[MG_ADDRSTRLEN];
		if (!text || mg_cidr_parse_line(text, strlen(text), &p, &col, msg, sizeof(msg)) != 1)
			r = mg_ctl_error("line %lld: %s", (long long)line, text ? msg : "not a string");
		else if (mg_config_prefix_too_wide(&d->cfg, &p, &min))
			r = mg_ctl_error("line %lld: %s is wider than /%u, the limit for %s (limits.min_prefix_%s in the "
					 "config file); nothing of this import is applied", (long long)line,
					 mg_prefix_str(&p, buf, sizeof(buf)), min, mg_prefix_is_v4(&p) ? "IPv4" : "IPv6",
					 mg_prefix_is_v4(&p) ? "v4" : "v6");
		else if ((own = protected_covered(d, &p)))
			r = mg_ctl_error("line %lld: %s covers the protected network %s whole: a list may not block one's "
					 "own network (remove the line); nothing of this import is applied", (long long)line,
					 mg_prefix_str(&p, buf, sizeof(buf)), mg_prefix_str(own, obuf, sizeof(obuf)));
		if (r) {
			session_end(s);
			return r;
		}
		s->v[s->n++] = p;
	}
	s->last_ns = mono;
	return json_pack("{s:b,s:I}", "ok", 1, "staged", (json_int_t)s->n);
}

static json_t *progress(struct mg_daemon *d, const struct mg_import_session *s)
{
	uint64_t applied = mg_engine_feed_applied(&d->eng);
	uint64_t total = s->ticket - s->start, done = applied >= s->ticket ? total : applied - s->start;
	char err[512], what[64];

	/* In force, but the file could not be written: the operator must know (as for mtaguardctl block). */
	snprintf(what, sizeof(what), "import %s", s->origin);
	if (done == total && mg_engine_feeds_unsaved(&d->eng, what, err, sizeof(err)))
		return mg_ctl_error("%s", err);
	/* save_ms: the last write of the lists (when done, this import's), a pause of the loop worth knowing. */
	return json_pack("{s:b,s:s,s:I,s:I,s:b,s:f,s:f,s:f}", "ok", 1, "origin", s->origin, "applied", (json_int_t)done,
			 "to_apply", (json_int_t)total, "done", done == total, "save_ms",
			 (double)d->eng.feeds_save_ns / 1e6, "step_max_ms", (double)d->eng.feed_step_max_ns / 1e6,
			 "slice_max_ms", (double)d->feed_slice_max_ns / 1e6);
}

static json_t *op_commit(struct mg_daemon *d, struct mg_import_session *s, uint64_t mono)
{
	struct mg_feed_change ch;
	char err[512];
	uint64_t now = mg_daemon_timeline(mono), wall = mg_mono_to_wall_ns(mono), t0 = mg_mono_ns();

	if (s->committed)
		return progress(d, s);
	size_t listed = s->n;
	s->n = mg_prefix_sort_unique(s->v, s->n);
	const struct mg_feed_origin *o = mg_feeds_find(&d->eng.feeds, s->origin);
	size_t after = mg_feeds_total(&d->eng.feeds) - (o && s->sync ? o->n : 0) + s->n;
	if (after > feed_capacity(d)) {
		session_end(s);
		return mg_ctl_error("the imported lists would hold more than %zu prefixes (3/4 of map_sizes.policy %u); "
				    "nothing of this import is applied", feed_capacity(d), d->run.max_policy);
	}
	s->start = d->eng.feed_queued; /* what is queued before this import */
	d->feed_slice_max_ns = 0;
	int e = mg_engine_import(&d->eng, s->origin, s->action, s->v, s->n, s->ttl_ns, s->sync, now, wall, &ch,
				 &s->ticket, err, sizeof(err));
	free(s->v);
	s->v = NULL;
	s->cap = 0;
	if (e) {
		session_end(s);
		return mg_ctl_error("%s; nothing of this import is applied", err);
	}
	s->committed = true;
	s->last_ns = mono;
	json_t *r = progress(d, s);
	json_object_set_new(r, "listed", json_integer((json_int_t)listed));
	json_object_set_new(r, "unique", json_integer((json_int_t)s->n));
	json_object_set_new(r, "added", json_integer((json_int_t)ch.added));
	json_object_set_new(r, "kept", json_integer((json_int_t)ch.kept));
	json_object_set_new(r, "removed", json_integer((json_int_t)ch.removed));
	json_object_set_new(r, "total", json_integer((json_int_t)ch.total));
	json_object_set_new(r, "commit_ms", json_real((double)(mg_mono_ns() - t0) / 1e6));
	return r;
}

static json_t *op_drop(struct mg_daemon *d, json_t *req, uint64_t mono)
{
	const char *origin = json_string_value(json_object_get(req, "origin"));
	char err[512];
	uint64_t ticket;

	if (!origin)
		return mg_ctl_error("import drop needs \"origin\"");
	if (mg_engine_feed_drop(&d->eng, origin, mg_daemon_timeline(mono), mg_mono_to_wall_ns(mono), &ticket, err,
				sizeof(err)))
		return mg_ctl_error("%s", err);
	return ok();
}

json_t *mg_daemon_import(struct mg_daemon *d, json_t *req)
{
	const char *op = json_string_value(json_object_get(req, "op"));
	uint64_t mono = mg_mono_ns();
	struct mg_import_session *s;

	if (op && !strcmp(op, "begin"))
		return op_begin(d, req, mono);
	if (op && !strcmp(op, "drop"))
		return op_drop(d, req, mono);
	if (!op || (strcmp(op, "add") && strcmp(op, "commit") && strcmp(op, "status") && strcmp(op, "abort")))
		return mg_ctl_error("import: op is begin, add, commit, status, abort or drop");
	if (!(s = session(d, req)))
		return mg_ctl_error("no import session '%s' (ended, timed out after %llus idle, or never begun)",
				    json_string_value(json_object_get(req, "import")) ?: "",
				    (unsigned long long)(MG_IMPORT_IDLE_NS / MG_NSEC_PER_SEC));
	if (!strcmp(op, "add"))
		return op_add(d, s, req, mono);
	if (!strcmp(op, "commit"))
		return op_commit(d, s, mono);
	if (!strcmp(op, "status")) {
		s->last_ns = mono;
		return s->committed ? progress(d, s) : json_pack("{s:b,s:I}", "ok", 1, "staged", (json_int_t)s->n);
	}
	session_end(s); /* abort */
	return ok();
}

/*
 * Export, streamed (mg_ctl_stream): the same answer as below, rendered
 * EXPORT_PER_PIECE prefixes at a time as the client reads, from a copy of
 * the list taken when the request came (a later import changes nothing of
 * this answer). 100 000 prefixes are about 6 MB of JSON: built in one go,
 * they would hold the loop for the time of building it.
 */
#define EXPORT_PER_PIECE 4096

struct export_stream {
	struct mg_feed_item *v;
	size_t n, i;
	char head[256];
	bool started, done;
};

static char *export_next(void *ctx, size_t *len)
{
	struct export_stream *x = ctx;
	size_t end = x->i + EXPORT_PER_PIECE < x->n ? x->i + EXPORT_PER_PIECE : x->n;
	size_t cap = sizeof(x->head) + (end - x->i) * (MG_ADDRSTRLEN + 64) + 8, at = 0;
	char *buf, p[MG_ADDRSTRLEN], t[40];

	*len = 0;
	if (x->done || !(buf = malloc(cap)))
		return NULL;
	if (!x->started)
		at += (size_t)snprintf(buf + at, cap - at, "%s", x->head);
	for (; x->i < end; x->i++) {
		const struct mg_feed_item *it = &x->v[x->i];
		mg_prefix_str(&it->prefix, p, sizeof(p));
		if (it->expires == MG_TIME_NEVER)
			at += (size_t)snprintf(buf + at, cap - at, "%s{\"prefix\":\"%s\",\"expires\":null}",
					       x->i ? "," : "", p);
		else
			at += (size_t)snprintf(buf + at, cap - at, "%s{\"prefix\":\"%s\",\"expires\":\"%s\"}",
					       x->i ? "," : "", p, mg_iso_time(it->expires, t, sizeof(t)));
	}
	if (x->i == x->n) {
		at += (size_t)snprintf(buf + at, cap - at, "]}\n");
		x->done = true;
	}
	x->started = true;
	*len = at;
	return buf;
}

static void export_free(void *ctx)
{
	struct export_stream *x = ctx;

	free(x->v);
	free(x);
}

json_t *mg_daemon_export_stream(struct mg_daemon *d, json_t *req, struct mg_ctl_stream *st)
{
	const char *origin = json_string_value(json_object_get(req, "origin"));
	const struct mg_feed_origin *o = mg_feeds_find(&d->eng.feeds, origin);
	struct export_stream *x;
	char t[40];

	if (!o)
		return mg_ctl_error("no imported list from origin '%s'", origin ? origin : "");
	if (!(x = calloc(1, sizeof(*x))) || !(x->v = malloc((o->n + 1) * sizeof(*x->v)))) {
		free(x);
		return mg_ctl_error("out of memory");
	}
	memcpy(x->v, o->v, o->n * sizeof(*x->v));
	x->n = o->n;
	/* The name is [A-Za-z0-9._-] (mg_feed_name_ok): nothing to escape. */
	snprintf(x->head, sizeof(x->head),
		 "{\"ok\":true,\"origin\":\"%s\",\"action\":\"%s\",\"updated\":\"%s\",\"count\":%zu,\"prefixes\":[",
		 o->name, mg_action_name(o->action), mg_iso_time(o->updated, t, sizeof(t)), o->n);
	*st = (struct mg_ctl_stream){ .ctx = x, .next = export_next, .free = export_free };
	return NULL;
}

json_t *mg_daemon_export(struct mg_daemon *d, json_t *req)
{
	const char *origin = json_string_value(json_object_get(req, "origin"));
	const struct mg_feed_origin *o = mg_feeds_find(&d->eng.feeds, origin);
	char buf[MG_ADDRSTRLEN], t[40];

	if (!o)
		return mg_ctl_error("no imported list from origin '%s'", origin ? origin : "");
	json_t *arr = json_array();
	for (size_t i = 0; i < o->n; i++) {
		const struct mg_feed_item *it = &o->v[i];
		json_array_append_new(arr, json_pack("{s:s,s:o}", "prefix", mg_prefix_str(&it->prefix, buf, sizeof(buf)),
						     "expires", it->expires == MG_TIME_NEVER ? json_null()
						     : json_string(mg_iso_time(it->expires, t, sizeof(t)))));
	}
	return json_pack("{s:b,s:s,s:s,s:s,s:I,s:o}", "ok", 1, "origin", o->name, "action", mg_action_name(o->action),
			 "updated", mg_iso_time(o->updated, t, sizeof(t)), "count", (json_int_t)o->n, "prefixes", arr);
}

json_t *mg_daemon_feeds_json(struct mg_daemon *d)
{
	json_t *arr = json_array();
	char t[40];

	for (size_t i = 0; i < d->eng.feeds.n; i++) {
		const struct mg_feed_origin *o = &d->eng.feeds.o[i];
		json_array_append_new(arr, json_pack("{s:s,s:s,s:I,s:s}", "origin", o->name, "action",
						     mg_action_name(o->action), "prefixes", (json_int_t)o->n, "updated",
						     mg_iso_time(o->updated, t, sizeof(t))));
	}
	return arr;
}

bool mg_daemon_feed_work(struct mg_daemon *d, uint64_t mono)
{
	/* Sessions left idle (a client that died mid-import): their staging is freed. */
	for (int i = 0; i < MG_IMPORT_SESSIONS; i++)
		if (d->imports[i].id && mono - d->imports[i].last_ns > MG_IMPORT_IDLE_NS)
			session_end(&d->imports[i]);
	size_t left;
	do {
		uint64_t now = mg_mono_ns();
		left = mg_engine_feed_step(&d->eng, MG_FEED_STEP, mg_daemon_timeline(now), mg_mono_to_wall_ns(now));
	} while (left && mg_mono_ns() - mono < MG_FEED_SLICE_NS);
	if (mg_mono_ns() - mono > d->feed_slice_max_ns)
		d->feed_slice_max_ns = mg_mono_ns() - mono;
	return left > 0;
}
