// SPDX-License-Identifier: GPL-2.0-only
/*
 * mg_daemon_ctl.c - mtaguardd's answers on the control socket. Every answer
 * is a JSON object; mtaguardctl turns it into tables, or prints it with --json.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "mg_addr.h"
#include "mg_clock.h"
#include "mg_cover.h"
#include "mg_daemon.h"
#include "mg_names.h"
#include "mg_procstat.h"
#include "mg_rule_filter.h"
#include "mg_rulemaps.h"
#include "mg_stats.h"

static const char *str_arg(json_t *req, const char *key)
{
	json_t *v = json_object_get(req, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *ok(void)
{
	return json_pack("{s:b}", "ok", 1);
}

static json_t *view_json(const struct mg_an_profile_view *v, uint64_t now, uint64_t wall)
{
	char buf[MG_ADDRSTRLEN];
	json_t *o = json_object();

	json_object_set_new(o, "source", json_string(mg_prefix_str(&v->prefix, buf, sizeof(buf))));
	json_object_set_new(o, "role", json_string(mg_role_name(v->role)));
	json_object_set_new(o, "score", json_real(v->score));
	json_object_set_new(o, "configured_mail_server", json_boolean(v->configured_server));
	json_object_set_new(o, "allowlisted", json_boolean(v->allowlisted));
	json_object_set_new(o, "offences", json_integer(v->offences));
	if (v->first_seen_ns)
		json_object_set_new(o, "first_seen", json_string(mg_iso_time(wall - (now - v->first_seen_ns), buf, sizeof(buf))));
	if (v->last_seen_ns)
		json_object_set_new(o, "last_seen", json_string(mg_iso_time(wall - (now - v->last_seen_ns), buf, sizeof(buf))));
	if (v->blocked_until_ns > now)
		json_object_set_new(o, "blocked_until",
				    json_string(mg_iso_time(wall + (v->blocked_until_ns - now), buf, sizeof(buf))));
	json_object_set_new(o, "evidence", mg_evidence_json(&v->ev, now, wall));
	json_t *act = json_pack("{s:I,s:I,s:I}", "submission_syns", (json_int_t)v->submission_syns, "other_syns",
				(json_int_t)v->other_syns, "serves_smtp", (json_int_t)v->serves_smtp);
	if (v->has_activity)
		json_object_set_new(act, "protected", mg_act_json(&v->activity, !mg_prefix_is_v4(&v->prefix)));
	json_object_set_new(o, "activity", act);
	if (v->activity_only)
		json_object_set_new(o, "profile", json_false());
	json_t *hist = json_array();
	for (unsigned i = 0; i < v->n_history; i++)
		json_array_append_new(hist, json_pack("{s:s,s:s,s:s}", "time",
						      mg_iso_time(wall - (now - v->history[i].at_ns), buf, sizeof(buf)),
						      "from", mg_role_name(v->history[i].from), "to",
						      mg_role_name(v->history[i].to)));
	json_object_set_new(o, "history", hist);
	return o;
}

/* ---- status ---------------------------------------------------------------- */

/*
 * With a cluster: the threat level this node's own outbreaks carry, the one
 * other nodes' carry here (capped), and those outbreaks.
 */
static void add_elsewhere(struct mg_daemon *d, json_t *o, uint64_t now)
{
	char sig[64];

	if (!d->cluster)
		return;
	json_t *arr = json_array();
	for (size_t i = 0; i < d->eng.n_cl_ob; i++) {
		const struct mg_cl_outbreak *x = &d->eng.cl_ob[i];
		if (x->expires <= now)
			continue;
		json_array_append_new(arr, json_pack("{s:s,s:s,s:i,s:I}", "node", x->node, "signature",
						     mg_sig_str(&x->sig, sig, sizeof(sig)), "level", x->level, "members",
						     (json_int_t)x->members));
	}
	json_object_set_new(o, "threat_level_here", json_integer(d->eng.local_threat));
	json_object_set_new(o, "threat_level_elsewhere", json_integer(d->eng.cl_threat));
	json_object_set_new(o, "threat_level_elsewhere_max", json_integer(MG_CL_THREAT_MAX));
	json_object_set_new(o, "outbreaks_elsewhere", arr);
}

struct in_force {
	uint64_t now;
	size_t n;
};

static void count_in_force(const struct mg_rule_entry *r, void *arg)
{
	struct in_force *c = arg;

	c->n += mg_rule_block_in_force(r->written, c->now);
}

size_t mg_daemon_blocks_in_force(struct mg_daemon *d)
{
	struct in_force c = { .now = mg_daemon_timeline(mg_mono_ns()) };

	mg_ruleset_foreach(d->eng.rules, count_in_force, &c);
	return c.n;
}

static json_t *outbreaks_json(struct mg_daemon *d, uint64_t now, uint64_t wall);

static json_t *cmd_status(struct mg_daemon *d)
{
	struct mg_global_stats st;
	size_t by_role[MG_ROLE_MAX] = { 0 };
	uint64_t mono = mg_mono_ns(), now = mg_daemon_timeline(mono), wall = mg_mono_to_wall_ns(mono);
	json_t *o = ok(), *ifs = json_array(), *roles = json_object();
	bool mon = false;

	/* What is attached, not what the file says since a reload. */
	for (size_t i = 0; i < d->run.n_ifaces; i++) {
		/* "mode" as configured; "attached" as the kernel reports it (what "auto" became), or null. */
		enum mg_xdp_mode m;
		int e = mg_xdp_attached(d->run.ifaces[i].name, d->h.prog_fd, &m);
		/* "ifindex": the device attached to last; "reattached": devices of that name made anew since start. */
		json_array_append_new(ifs, json_pack("{s:s,s:s,s:o,s:b,s:I,s:I}", "name", d->run.ifaces[i].name, "mode",
						     mg_xdp_mode_name(d->run.ifaces[i].mode), "attached",
						     e ? json_null() : json_string(mg_xdp_mode_name(m)), "uplink",
						     (int)d->run.ifaces[i].uplink, "ifindex", (json_int_t)d->ifw[i].ifindex,
						     "reattached", (json_int_t)d->ifw[i].reattached));
	}
	json_object_set_new(o, "interfaces", ifs);
	mg_get_monitor(d->h.settings_fd, &mon);
	json_object_set_new(o, "monitor", json_boolean(mon));
	json_object_set_new(o, "handshake", json_string(mg_handshake_name(d->run.tunables.handshake)));
	json_object_set_new(o, "pin_dir", json_string(d->run.pin_dir));
	json_object_set_new(o, "pending_restart", d->pending_restart[0] ? json_string(d->pending_restart) : json_null());
	json_object_set_new(o, "uptime_s", json_integer((json_int_t)((mono - d->started_ns) / MG_NSEC_PER_SEC)));
	if (mg_stats_read(d->h.stats_fd, &st) == 0)
		json_object_set_new(o, "kernel", mg_stats_json(&st));
	size_t total = mg_an_count(d->eng.an, by_role);
	total += mg_an_count_activity_only(d->eng.an, by_role); /* protected hosts known by their activity alone */
	for (int r = 0; r < MG_ROLE_MAX; r++)
		json_object_set_new(roles, mg_role_name(r), json_integer((json_int_t)by_role[r]));
	json_object_set_new(o, "sources", json_integer((json_int_t)total));
	json_object_set_new(o, "sources_by_role", roles);
	/* The daemon's own memory (the profiles are most of it) and descriptors; absent when /proc cannot be read. */
	struct mg_procstat ps;
	if (!mg_procstat_read(&ps))
		json_object_set_new(o, "process",
				    json_pack("{s:I,s:I,s:I,s:I,s:f}", "resident_bytes", (json_int_t)ps.resident_bytes,
					      "virtual_bytes", (json_int_t)ps.virtual_bytes, "open_fds",
					      (json_int_t)ps.open_fds, "max_fds", (json_int_t)ps.max_fds, "cpu_s",
					      ps.cpu_seconds));
	json_object_set_new(o, "verdicts_active", json_integer((json_int_t)mg_daemon_blocks_in_force(d)));
	json_object_set_new(o, "verdicts_issued", json_integer((json_int_t)d->eng.verdicts_issued));
	json_object_set_new(o, "threat_level", json_integer(d->eng.threat_level));
	add_elsewhere(d, o, now);
	/* 0: every source is taken as one of ours (outside MTAs delivering to us count as our new senders). */
	json_object_set_new(o, "protected_networks", json_integer((json_int_t)d->eng.n_protected));
	json_object_set_new(o, "outbreaks", outbreaks_json(d, now, wall));
	json_object_set_new(o, "alerts_issued", json_integer((json_int_t)d->eng.alerts_issued));
	json_object_set_new(o, "rule_write_failures", json_integer((json_int_t)d->eng.write_failures));
	json_object_set_new(o, "rule_read_failures", json_integer((json_int_t)d->sink.adopt_failed));
	json_object_set_new(o, "feed_expiries_deferred", json_integer((json_int_t)d->eng.feed_expiry_deferred));
	json_object_set_new(o, "scan_ms", json_real((double)d->scan_duration_ns / 1e6));
	/* The state file: serialized in the loop (serialize_ms), compressed and written beside it (write_ms). */
	struct mg_state_writer_stats ss = mg_state_writer_stats(&d->saver);
	/* waiting: the writer has no room for the next piece; last_saved_s: the last whole save's age, null if none. */
	json_t *age = d->save_ok_wall_ns && wall >= d->save_ok_wall_ns
			      ? json_integer((json_int_t)((wall - d->save_ok_wall_ns) / MG_NSEC_PER_SEC))
			      : json_null();
	json_object_set_new(o, "state_save",
			    json_pack("{s:b,s:b,s:f,s:f,s:f,s:I,s:b,s:I,s:I,s:I,s:o,s:s?}", "under_way", d->eng.saving,
				      "waiting", mg_engine_save_waiting(&d->eng), "serialize_ms",
				      (double)d->eng.save_serialize_ns / 1e6, "slice_max_ms",
				      (double)d->eng.save_slice_max_ns / 1e6, "write_ms", (double)ss.last_ns / 1e6, "bytes",
				      (json_int_t)d->eng.save_bytes, "beside_loop", d->saver.running, "written",
				      (json_int_t)ss.written, "failed", (json_int_t)ss.failed, "replaced",
				      (json_int_t)ss.replaced, "last_saved_s", age, "error",
				      d->save_err ? strerror(-d->save_err) : NULL));
	json_object_set_new(o, "policy_service", mg_daemon_policy_status(d));
	json_object_set_new(o, "quarantine_work", mg_daemon_qauto_status(d));
	json_object_set_new(o, "cluster", mg_daemon_cluster_status(d));
	json_object_set_new(o, "bgp", mg_daemon_bgp_status(d));
	json_object_set_new(o, "verify", mg_daemon_verify_status(d));
	json_object_set_new(o, "feeds", mg_daemon_feeds_json(d));
	return o;
}

/* ---- lists of profiles --------------------------------------------------------- */

struct collect {
	struct mg_an_profile_view *v;
	size_t n, cap;
};

static int collect_view(const struct mg_an_profile_view *v, void *arg)
{
	struct collect *c = arg;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		void *nv = realloc(c->v, cap * sizeof(*c->v));
		if (!nv)
			return 1;
		c->v = nv;
		c->cap = cap;
	}
	c->v[c->n++] = *v;
	return 0;
}

static int busier(const void *a, const void *b)
{
	const struct mg_an_profile_view *x = a, *y = b;
	uint64_t bx = (uint64_t)x->ev.syn_mx_per_min * 4 + x->ev.sessions + x->ev.distinct_mx;
	uint64_t by = (uint64_t)y->ev.syn_mx_per_min * 4 + y->ev.sessions + y->ev.distinct_mx;
	return bx < by ? 1 : bx > by ? -1 : 0;
}

static json_t *cmd_top(struct mg_daemon *d, json_t *req)
{
	struct collect c = { 0 };
	json_int_t limit = json_integer_value(json_object_get(req, "limit"));
	uint64_t mono = mg_mono_ns(), now = mg_daemon_timeline(mono), wall = mg_mono_to_wall_ns(mono);
	json_t *o = ok(), *arr = json_array();

	if (limit <= 0)
		limit = 20;
	mg_an_foreach(d->eng.an, collect_view, &c);
	if (c.n) /* c.v is NULL when nothing was collected */
		qsort(c.v, c.n, sizeof(*c.v), busier);
	for (size_t i = 0; i < c.n && (json_int_t)i < limit; i++)
		json_array_append_new(arr, view_json(&c.v[i], now, wall));
	free(c.v);
	json_object_set_new(o, "sources", arr);
	return o;
}

static json_t *cmd_roles(struct mg_daemon *d)
{
	struct collect c = { 0 };
	uint64_t mono = mg_mono_ns(), now = mg_daemon_timeline(mono), wall = mg_mono_to_wall_ns(mono);
	json_t *o = ok(), *by[MG_ROLE_MAX];

	for (int r = 0; r < MG_ROLE_MAX; r++)
		by[r] = json_array();
	mg_an_foreach(d->eng.an, collect_view, &c);
	/* Every active protected host, also those that never spoke SMTP: their activity records say what they are. */
	mg_an_foreach_activity_only(d->eng.an, collect_view, &c);
	for (size_t i = 0; i < c.n; i++)
		if (c.v[i].role < MG_ROLE_MAX)
			json_array_append_new(by[c.v[i].role], view_json(&c.v[i], now, wall));
	free(c.v);
	for (int r = 0; r < MG_ROLE_MAX; r++)
		json_object_set_new(o, mg_role_name(r), by[r]);
	return o;
}

/*
 * roles, streamed (mg_ctl_stream): the same answer as cmd_roles, rendered a
 * piece at a time as the client reads. What is kept meanwhile is the list of
 * profile keys grouped by role when the request came (17 bytes a profile,
 * not a rendered answer of about 600 bytes a profile); each profile is
 * looked up again when its piece is rendered, and one that has gone since is
 * left out (or that got a profile since, for a host listed by its activity
 * record alone: it is then listed with its profile by the next request).
 */
#define ROLES_PER_PIECE 256

struct roles_entry {
	uint8_t key[16];
	uint8_t role;
	bool activity_only; /* a protected host known by its activity record alone (no profile) */
};

struct roles_stream {
	struct mg_daemon *d;
	struct roles_entry *e; /* grouped by role, in enum order */
	size_t n, i;
	int group;             /* the role whose array is open; -1 before the first */
	bool first_in_group, done;
	uint64_t now, wall;
};

struct roles_collect {
	struct roles_entry *e;
	size_t n, cap;
	bool activity_only; /* what the foreach in progress lists */
};

static int collect_key(const struct mg_an_profile_view *v, void *arg)
{
	struct roles_collect *c = arg;

	if (v->role >= MG_ROLE_MAX)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 1024;
		void *ne = realloc(c->e, cap * sizeof(*c->e));
		if (!ne)
			return 1;
		c->e = ne;
		c->cap = cap;
	}
	memcpy(c->e[c->n].key, v->prefix.addr, 16);
	c->e[c->n].role = (uint8_t)v->role;
	c->e[c->n].activity_only = c->activity_only;
	c->n++;
	return 0;
}

/* Append text to a growing piece; false when out of memory. */
static bool piece_add(char **buf, size_t *len, size_t *cap, const char *text, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t nc = (*cap ? *cap : 4096);
		while (nc < *len + n + 1)
			nc *= 2;
		char *nb = realloc(*buf, nc);
		if (!nb)
			return false;
		*buf = nb;
		*cap = nc;
	}
	memcpy(*buf + *len, text, n);
	*len += n;
	(*buf)[*len] = '\0';
	return true;
}

static char *roles_next(void *ctx, size_t *len)
{
	struct roles_stream *rs = ctx;
	char *buf = NULL, head[64];
	size_t cap = 0, rendered = 0;
	bool okay = true;

	*len = 0;
	if (rs->done)
		return NULL;
	if (rs->group < 0)
		okay = piece_add(&buf, len, &cap, "{\"ok\":true", 10);
	while (okay && rendered < ROLES_PER_PIECE && !rs->done) {
		if (rs->group < 0 || rs->i == rs->n || rs->e[rs->i].role != rs->group) {
			/* The open role's profiles are all out: close its array, open the next. */
			if (rs->group >= 0)
				okay = piece_add(&buf, len, &cap, "]", 1);
			if (++rs->group >= MG_ROLE_MAX) {
				okay = okay && piece_add(&buf, len, &cap, "}\n", 2);
				rs->done = true;
				break;
			}
			int n = snprintf(head, sizeof(head), ",\"%s\":[", mg_role_name(rs->group));
			okay = okay && piece_add(&buf, len, &cap, head, (size_t)n);
			rs->first_in_group = true;
			continue;
		}
		struct mg_an_profile_view v;
		const struct roles_entry *re = &rs->e[rs->i];
		bool found = re->activity_only ? mg_an_get_activity_only(rs->d->eng.an, re->key, &v)
					       : mg_an_get(rs->d->eng.an, re->key, &v);
		rs->i++;
		if (!found)
			continue;
		json_t *j = view_json(&v, rs->now, rs->wall);
		char *text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		json_decref(j);
		okay = text && (rs->first_in_group || piece_add(&buf, len, &cap, ",", 1)) &&
		       piece_add(&buf, len, &cap, text, strlen(text));
		free(text);
		rs->first_in_group = false;
		rendered++;
	}
	if (!okay) {
		/* Out of memory mid-answer: the client gets a cut answer, which mtaguardctl reports as such. */
		free(buf);
		rs->done = true;
		return NULL;
	}
	return buf;
}

static void roles_free(void *ctx)
{
	struct roles_stream *rs = ctx;

	free(rs->e);
	free(rs);
}

static json_t *roles_stream(struct mg_daemon *d, struct mg_ctl_stream *st)
{
	struct roles_collect c = { 0 };
	struct roles_stream *rs = calloc(1, sizeof(*rs));
	uint64_t mono = mg_mono_ns();

	if (!rs)
		return mg_ctl_error("out of memory");
	mg_an_foreach(d->eng.an, collect_key, &c);
	/* Every active protected host, also those that never spoke SMTP: their activity records say what they are. */
	c.activity_only = true;
	mg_an_foreach_activity_only(d->eng.an, collect_key, &c);
	/* Grouped by role, in enum order, each group in the analyzer's order: a stable counting sort. */
	struct roles_entry *sorted = malloc((c.n ? c.n : 1) * sizeof(*sorted));
	if (!sorted) {
		free(c.e);
		free(rs);
		return mg_ctl_error("out of memory");
	}
	size_t at = 0;
	for (int r = 0; r < MG_ROLE_MAX; r++)
		for (size_t i = 0; i < c.n; i++)
			if (c.e[i].role == r)
				sorted[at++] = c.e[i];
	free(c.e);
	*rs = (struct roles_stream){ .d = d, .e = sorted, .n = at, .group = -1, .now = mg_daemon_timeline(mono),
				     .wall = mg_mono_to_wall_ns(mono) };
	*st = (struct mg_ctl_stream){ .ctx = rs, .next = roles_next, .free = roles_free };
	return NULL;
}

/* ---- one source ---------------------------------------------------------------- */

static void add_oprule_json(json_t *o, const struct mg_oprule *r);

static json_t *cmd_show(struct mg_daemon *d, json_t *req)
{
	const char *addr = str_arg(req, "addr");
	uint8_t a[16], key[16];
	struct mg_an_profile_view v;
	struct mg_src_stats s;
	struct mg_prefix asked;
	const char *table;
	uint64_t mono = mg_mono_ns(), now = mg_daemon_timeline(mono), wall = mg_mono_to_wall_ns(mono);

	/* An address, or a profile as `verdicts` prints it ("2001:db8:1:2::/64"). */
	if (!addr || mg_prefix_parse(addr, &asked))
		return mg_ctl_error("show needs an address or a profile's prefix, got '%s'", addr ? addr : "");
	memcpy(a, asked.addr, 16);
	/* The profile that holds the address, or the whole prefix asked for: not one inside it. */
	bool known = mg_an_get(d->eng.an, a, &v) && v.prefix.prefixlen <= asked.prefixlen;
	/* A protected host that never spoke SMTP has no profile, but its activity record tells its role. */
	bool by_activity = !known && mg_an_get_activity_only(d->eng.an, a, &v);
	json_t *o = known || by_activity ? view_json(&v, now, wall) : json_object();
	json_object_set_new(o, "ok", json_true());
	json_object_set_new(o, "addr", json_string(addr));
	json_object_set_new(o, "known", json_boolean(known));

	memcpy(key, a, 16);
	if (!mg_addr_is_v4(key))
		mg_addr_mask(key, mg_v6_key_len(d->run.tunables.v6_src_prefix, d->run.tunables.v6_nets,
						 d->run.tunables.n_v6_nets, a));
	if (mg_source_read(d->h.servers_fd, d->h.sources_fd, key, &s, &table) == 0)
		json_object_set_new(o, "kernel", mg_source_json(key, &s, table));

	/* The rule the kernel would apply, if any (kernel times: coarse CLOCK_MONOTONIC). */
	struct mg_rule r;
	struct mg_prefix rp;
	const char *why;
	struct mg_rule_entry re;
	if (mg_rulemap_find(&d->h.rules, true, a, mono, &rp, &r) == 0) {
		/* Which allow, whose, and the operator's note on it. */
		const char *by = mg_ruleset_find(d->eng.rules, &rp, &re) && re.written->allow
				 ? mg_owner_name(re.written->allow_by) : "unknown";
		char pb[MG_ADDRSTRLEN];
		json_t *al = json_pack("{s:s,s:s}", "prefix", mg_prefix_str(&rp, pb, sizeof(pb)), "by", by);
		const struct mg_oprule *op = mg_engine_oprule(&d->eng, &rp, MG_RULE_ALLOW);
		if (op && !strcmp(by, "operator"))
			add_oprule_json(al, op);
		json_object_set_new(o, "allow", al);
		why = "allowlisted: never dropped, never blocked";
	} else if (mg_rulemap_find(&d->h.rules, false, a, mono, &rp, &r) == 0) {
		const char *by = mg_ruleset_find(d->eng.rules, &rp, &re) && re.written->block
				 ? mg_owner_name(re.written->block_by) : "unknown";
		char pb[MG_ADDRSTRLEN];
		json_t *rj = json_pack("{s:s,s:s,s:s,s:I,s:I}", "prefix", mg_prefix_str(&rp, pb, sizeof(pb)), "action",
				       mg_action_name(r.action), "by", by, "hits", (json_int_t)r.hits, "expires_in_s",
				       r.expires_ns ? (json_int_t)((r.expires_ns - mono) / MG_NSEC_PER_SEC) : -1);
		/* The operator's block that covers the address: its note, when it was set, when it ends. */
		const struct mg_oprule *op = mg_engine_oprule(&d->eng, &rp, MG_RULE_BLOCK);
		if (op && !strcmp(by, "operator")) {
			add_oprule_json(rj, op);
			json_object_set_new(rj, "expires", op->expires_ns ? json_string(mg_iso_time(op->expires_ns, pb, sizeof(pb)))
									  : json_null());
		}
		json_object_set_new(o, "rule", rj);
		why = !strcmp(by, "analyzer") ? "blocked by a verdict of the analyzer (see evidence)"
		    : !strcmp(by, "operator") ? "blocked by the operator (mtaguardctl block)"
		    : !strcmp(by, "feed")     ? "blocked by an imported list (see origins)"
					      : "blocked by a rule no record accounts for (pinned)";
		if (!strcmp(by, "feed")) {
			char origins[256];
			mg_feeds_origins_of(&d->eng.feeds, &rp, origins, sizeof(origins));
			json_object_set_new(o, "origins", json_string(origins));
		}
	} else if (known && (v.role == MG_ROLE_MAIL_SERVER || v.configured_server))
		why = "a mail server: never blocked for volume";
	else if (known && v.role == MG_ROLE_SUSPECT && v.ev.verified && v.ev.verify.forged)
		why = "suspect: a forged identity (see evidence.verification); a verdict if it goes on sending with it";
	else if (known && v.role == MG_ROLE_SUSPECT && v.ev.helo_absurd != MG_ABSURD_NONE)
		why = "suspect: its HELO names no mail host (see evidence.helo_absurd); never blocked for that alone";
	else if (known && v.role == MG_ROLE_SUSPECT)
		why = "suspect: scored above the alert threshold, below the block threshold";
	else if (known)
		why = "not blocked: score below the threshold";
	else if (by_activity)
		why = v.role == MG_ROLE_END_HOST ? "a protected end host (its activity record shows ordinary use); never seen "
						   "sending SMTP"
						 : "a protected address seen on the wire; never seen sending SMTP";
	else
		why = "never seen sending SMTP";
	json_object_set_new(o, "why", json_string(why));
	return o;
}

/* ---- operator rules --------------------------------------------------------------- */

/*
 * A block, allow or exception wider than limits.min_prefix_v4/v6 needs the
 * request's "force"; NULL if p may go ahead, else the refusal. Allowing a
 * whole family is named for what it is: enforcement off.
 */
static json_t *too_wide(const struct mg_daemon *d, const char *what, const struct mg_prefix *p, bool allowing,
			bool force)
{
	char buf[MG_ADDRSTRLEN];
	unsigned min;
	bool v4 = mg_prefix_is_v4(p);

	if (force || !mg_config_prefix_too_wide(&d->cfg, p, &min))
		return NULL;
	mg_prefix_str(p, buf, sizeof(buf));
	if (allowing && mg_prefix_family_len(p) == 0)
		return mg_ctl_error("%s %s is every %ssource: nothing would be enforced against any of them; to stop "
				    "enforcing, use 'monitor on'; repeat with --force if you mean it",
				    what, buf, v4 ? "IPv4 " : "");
	return mg_ctl_error("%s %s is wider than /%u, the limit for %s (limits.min_prefix_%s in the config file); "
			    "repeat with --force if you mean it", what, buf, min, v4 ? "IPv4" : "IPv6", v4 ? "v4" : "v6");
}

/* Past the limits by force: a warning naming who asked (the client's word: the socket is root's). */
static void log_forced(struct mg_daemon *d, const char *what, const struct mg_prefix *p, json_t *req)
{
	char buf[MG_ADDRSTRLEN];
	unsigned min;
	const char *who = str_arg(req, "user");

	if (!mg_config_prefix_too_wide(&d->cfg, p, &min))
		return;
	mg_eventlog_warning(&d->log, "operator-forced", "operator %s %s forced past the limit /%u (limits.min_prefix_%s)%s; "
			    "requested by %s", what, mg_prefix_str(p, buf, sizeof(buf)), min,
			    mg_prefix_is_v4(p) ? "v4" : "v6", mg_prefix_family_len(p) == 0 ? ", every source of the family" : "",
			    who ? who : "an unnamed client");
}

static bool claim_live(const struct mg_claim *c, uint64_t now)
{
	return c->present && (c->expires == MG_TIME_NEVER || c->expires > now);
}

struct cover_ctx {
	struct mg_cover *c;
	uint64_t now;
};

/* A ledger entry's mail server or allow, if it holds one: named by the owner that holds it. */
static void cover_entry(const struct mg_rule_entry *e, void *arg)
{
	static const enum mg_owner servers[] = { MG_OWNER_CONFIG_SERVER, MG_OWNER_LEARNED_SERVER, MG_OWNER_CLUSTER_SERVER };
	static const enum mg_owner allows[] = { MG_OWNER_OPERATOR_ALLOW, MG_OWNER_CONFIG_ALLOW, MG_OWNER_CLUSTER_ALLOW,
						MG_OWNER_PINNED_ALLOW };
	struct cover_ctx *c = arg;

	for (size_t i = 0; i < sizeof(servers) / sizeof(servers[0]); i++)
		if (claim_live(&e->claims[servers[i]], c->now)) {
			mg_cover_add(c->c, MG_COVER_MAIL_SERVER, &e->prefix, mg_owner_name(servers[i]));
			return;
		}
	for (size_t i = 0; i < sizeof(allows) / sizeof(allows[0]); i++)
		if (claim_live(&e->claims[allows[i]], c->now)) {
			mg_cover_add(c->c, MG_COVER_ALLOW, &e->prefix, mg_owner_name(allows[i]));
			return;
		}
}

/*
 * What a block of p would reach that should not be blocked: protected
 * networks it covers whole, mail servers and allows it covers or lies inside
 * (the ledger knows every one, whoever set it). Into buf, "" if nothing.
 */
static const char *block_reaches(struct mg_daemon *d, const struct mg_prefix *p, uint64_t now, char *buf, size_t len)
{
	struct mg_cover c;
	struct cover_ctx cc = { .c = &c, .now = now };

	mg_cover_init(&c, p);
	for (size_t i = 0; i < d->cfg.protected_nets.n; i++)
		mg_cover_add(&c, MG_COVER_PROTECTED, &d->cfg.protected_nets.v[i], NULL);
	mg_ruleset_foreach(d->eng.rules, cover_entry, &cc);
	return mg_cover_str(&c, buf, len);
}

/* What was done, for the client to say (every client gets the same account). */
static json_t *rule_done(struct mg_daemon *d, const char *cmd, const struct mg_prefix *p, uint64_t wall)
{
	char buf[MG_ADDRSTRLEN];
	json_t *o = json_pack("{s:b,s:s,s:s}", "ok", 1, "done", cmd, "prefix", mg_prefix_str(p, buf, sizeof(buf)));
	uint8_t kind = !strcmp(cmd, "block") ? MG_RULE_BLOCK : MG_RULE_ALLOW;
	const struct mg_oprule *r = !strcmp(cmd, "block") || !strcmp(cmd, "allow") ? mg_engine_oprule(&d->eng, p, kind) : NULL;

	if (!r)
		return o;
	if (kind == MG_RULE_BLOCK)
		json_object_set_new(o, "action", json_string(mg_action_name(r->action)));
	json_object_set_new(o, "expires", r->expires_ns ? json_string(mg_iso_time(r->expires_ns, buf, sizeof(buf))) : json_null());
	json_object_set_new(o, "expires_in_s", json_integer(r->expires_ns > wall ? (json_int_t)((r->expires_ns - wall) / MG_NSEC_PER_SEC)
										  : r->expires_ns ? 0 : -1));
	if (r->comment[0])
		json_object_set_new(o, "comment", json_string(r->comment));
	return o;
}

static json_t *cmd_rule(struct mg_daemon *d, const char *cmd, json_t *req)
{
	const char *prefix = str_arg(req, "prefix"), *dur = str_arg(req, "duration");
	const char *action = str_arg(req, "action"), *comment = str_arg(req, "comment");
	bool blocking = !strcmp(cmd, "block"), allowing = !strcmp(cmd, "allow");
	bool force = json_is_true(json_object_get(req, "force"));
	uint64_t mono = mg_mono_ns(), now = mg_daemon_timeline(mono), wall = mg_mono_to_wall_ns(mono);
	struct mg_prefix p;
	uint64_t ttl_ns = 0;
	uint8_t act = MG_ACT_DROP_SMTP;
	char err[256], max[32];
	json_t *refused;
	int e;

	/* Host bits below the length are refused for every client, not cleared: the one host was meant, or the network. */
	e = prefix ? mg_prefix_parse_exact(prefix, &p, err, sizeof(err)) : -EINVAL;
	if (e == -EDOM)
		return mg_ctl_error("%s", err);
	if (e)
		return mg_ctl_error("%s needs an address or prefix, got '%s'", cmd, prefix ? prefix : "");
	if (dur && !blocking && !allowing)
		return mg_ctl_error("%s takes no duration", cmd);
	e = dur ? mg_parse_rule_duration(dur, &ttl_ns) : 0;
	if (e == -ERANGE)
		return mg_ctl_error("duration '%s' out of range: from 1s to %s, or 0 for until removed", dur,
				    mg_duration_str(MG_DURATION_MAX_NS, max, sizeof(max)));
	if (e)
		return mg_ctl_error("bad duration '%s' (e.g. 90s, 10m, 1h, 7d; 0 = until removed)", dur);
	if (action && (!blocking || mg_action_parse(action, &act)))
		return mg_ctl_error(blocking ? "action is smtp or all, got '%s'" : "only block takes an action", action);
	if (comment && strlen(comment) > MG_OPRULE_COMMENT_MAX)
		return mg_ctl_error("comment longer than %d bytes", MG_OPRULE_COMMENT_MAX);
	if (blocking && !dur)
		ttl_ns = d->eng.default_block_ns; /* operator blocks expire too, unless asked for 0 */
	if ((blocking || allowing) && (refused = too_wide(d, cmd, &p, allowing, force)))
		return refused;
	char reaches[768] = "";
	if (blocking && *block_reaches(d, &p, now, reaches, sizeof(reaches)) && !force)
		return mg_ctl_error("block %s %s; repeat with --force if you mean it", prefix, reaches);

	if (blocking)
		e = mg_engine_block(&d->eng, &p, act, ttl_ns, comment, now, wall, err, sizeof(err));
	else if (allowing)
		e = mg_engine_allow(&d->eng, &p, ttl_ns, comment, now, wall, err, sizeof(err));
	else if (!strcmp(cmd, "unblock"))
		e = mg_engine_unblock(&d->eng, &p, now, wall, err, sizeof(err));
	else
		e = mg_engine_disallow(&d->eng, &p, now, wall, err, sizeof(err));
	/* The other nodes hear of it now, not at the next scan (also when the rules file could not be written). */
	d->cluster_dirty = true;
	if (e)
		return mg_ctl_error("%s", err);
	if (blocking || allowing)
		log_forced(d, cmd, &p, req);
	if (reaches[0]) {
		const char *who = str_arg(req, "user");
		char buf[MG_ADDRSTRLEN];
		mg_eventlog_warning(&d->log, "operator-forced", "operator block %s forced: it %s; requested by %s",
				    mg_prefix_str(&p, buf, sizeof(buf)), reaches, who ? who : "an unnamed client");
	}
	json_t *done = rule_done(d, cmd, &p, wall);
	if (reaches[0])
		json_object_set_new(done, "forced_over", json_string(reaches));
	return done;
}

/* ---- listings of the ledger ------------------------------------------------------- */

struct list_ctx {
	struct mg_daemon *d;
	json_t *arr;
	uint64_t mono, now, wall;
	size_t feed_blocks;             /* imported lists' blocks in force and not listed */
	const struct mg_rule_filter *filter; /* verdicts --by/--origin/--source; NULL: every block */
	size_t total, shown;            /* blocks in force; rows listed */
};

/* Imported lists' blocks listed at most, when a filter picks them (a list can hold 100 000). */
#define VERDICTS_FEED_ROWS_MAX 1000

/* The operator's note on a rule, if the rule is the operator's. */
static void add_oprule_json(json_t *o, const struct mg_oprule *r)
{
	char buf[40];

	if (!r)
		return;
	json_object_set_new(o, "created", json_string(mg_iso_time(r->created_ns, buf, sizeof(buf))));
	json_object_set_new(o, "comment", json_string(r->comment));
}

static json_int_t kernel_hits(int fd4, int fd, const struct mg_prefix *p)
{
	struct mg_rule r;
	return mg_rulemap_get(fd4, fd, p, &r) == 0 ? (json_int_t)r.hits : 0;
}

/* Every block in force, whose it is, and why. */
static void verdict_json(const struct mg_rule_entry *e, void *arg)
{
	struct list_ctx *c = arg;
	const struct mg_rule_want *w = e->written;
	char buf[MG_ADDRSTRLEN];
	struct mg_an_profile_view v;

	if (!mg_rule_block_in_force(w, c->now))
		return;
	c->total++;
	bool filtering = c->filter && mg_rule_filter_any(c->filter), feed = w->block_by == MG_OWNER_FEED;
	/*
	 * An imported list's blocks are counted by origin (status, export list
	 * them): 100 000 rows help nobody here, unless a filter picks a few.
	 */
	if (feed && !filtering) {
		c->feed_blocks++;
		return;
	}
	/* Where it came from: the nodes that sent it, the lists that hold it, else this node. */
	char origins[512] = "";
	if (feed)
		mg_feeds_origins_of(&c->d->eng.feeds, &e->prefix, origins, sizeof(origins));
	else if (w->block_by == MG_OWNER_CLUSTER_BLOCK && c->d->eng.clrecv)
		mg_clrecv_origins(c->d->eng.clrecv, &e->prefix, origins, sizeof(origins));
	else if (w->block_by == MG_OWNER_BGP_BLOCK && c->d->eng.bgprecv)
		mg_clrecv_nodes(c->d->eng.bgprecv, &e->prefix, origins, sizeof(origins)); /* the peers */
	else
		snprintf(origins, sizeof(origins), "%s", c->d->eng.cl_node);
	if (filtering && !mg_rule_filter_match(c->filter, &e->prefix, mg_owner_name(w->block_by), origins))
		return;
	if (feed && c->shown >= VERDICTS_FEED_ROWS_MAX) {
		c->feed_blocks++;
		return;
	}
	c->shown++;
	json_t *o = json_object();
	json_object_set_new(o, "source", json_string(mg_prefix_str(&e->prefix, buf, sizeof(buf))));
	json_object_set_new(o, "action", json_string(mg_action_name(w->action)));
	json_object_set_new(o, "hits", json_integer(kernel_hits(c->d->h.block4_fd, c->d->h.block_fd, &e->prefix)));
	json_object_set_new(o, "expires", w->block_expires == MG_TIME_NEVER ? json_null()
					  : json_string(mg_iso_time(c->wall + (w->block_expires - c->now), buf, sizeof(buf))));
	json_object_set_new(o, "by", json_string(mg_owner_name(w->block_by)));
	if (w->block_by == MG_OWNER_VERDICT && mg_an_get(c->d->eng.an, e->prefix.addr, &v)) {
		json_object_set_new(o, "offences", json_integer(v.offences));
		json_object_set_new(o, "evidence", mg_evidence_json(&v.ev, c->now, c->wall));
	} else if (w->block_by == MG_OWNER_OPERATOR_BLOCK) {
		add_oprule_json(o, mg_engine_oprule(&c->d->eng, &e->prefix, MG_RULE_BLOCK));
	} else if (w->block_by == MG_OWNER_CLUSTER_BLOCK && c->d->eng.clrecv) {
		/* The origin nodes, each with what its rule is there. */
		json_object_set_new(o, "origin", json_string(origins));
	} else if (w->block_by == MG_OWNER_BGP_BLOCK && c->d->eng.bgprecv) {
		/* The BGP peers that announce it, "198.18.100.2, 198.18.101.2". */
		json_object_set_new(o, "peer", json_string(origins));
	} else if (feed) {
		json_object_set_new(o, "origins", json_string(origins));
	}
	json_array_append_new(c->arr, o);
}

/* Every allow rule in the kernel, and whose it is. */
static void allow_json(const struct mg_rule_entry *e, void *arg)
{
	struct list_ctx *c = arg;
	const struct mg_rule_want *w = e->written;
	const struct mg_oprule *op;
	char buf[MG_ADDRSTRLEN];

	if (!w->allow)
		return;
	json_t *o = json_object();
	json_object_set_new(o, "source", json_string(mg_prefix_str(&e->prefix, buf, sizeof(buf))));
	json_object_set_new(o, "hits", json_integer(kernel_hits(c->d->h.allow4_fd, c->d->h.allow_fd, &e->prefix)));
	op = w->allow_by == MG_OWNER_OPERATOR_ALLOW ? mg_engine_oprule(&c->d->eng, &e->prefix, MG_RULE_ALLOW) : NULL;
	json_object_set_new(o, "expires", op && op->expires_ns ? json_string(mg_iso_time(op->expires_ns, buf, sizeof(buf)))
							      : json_null());
	json_object_set_new(o, "by", json_string(mg_owner_name(w->allow_by)));
	add_oprule_json(o, op);
	json_array_append_new(c->arr, o);
}

static json_t *list_rules(struct mg_daemon *d, void (*visit)(const struct mg_rule_entry *, void *), const char *key,
			  json_t *req)
{
	struct list_ctx c = { .d = d, .mono = mg_mono_ns() };
	struct mg_rule_filter f;
	char err[256];
	json_t *o;

	if (visit == verdict_json) {
		if (mg_rule_filter_parse(&f, str_arg(req, "by"), str_arg(req, "origin"), str_arg(req, "source"), err,
					 sizeof(err)))
			return mg_ctl_error("%s", err);
		c.filter = &f;
	}
	o = ok();
	c.arr = json_array();

	c.now = mg_daemon_timeline(c.mono);
	c.wall = mg_mono_to_wall_ns(c.mono);
	mg_ruleset_foreach(d->eng.rules, visit, &c);
	json_object_set_new(o, key, c.arr);
	if (visit == verdict_json) {
		json_object_set_new(o, "total", json_integer((json_int_t)c.total));
		json_object_set_new(o, "shown", json_integer((json_int_t)c.shown));
		json_object_set_new(o, "feed_blocks", json_integer((json_int_t)c.feed_blocks));
		json_object_set_new(o, "feeds", mg_daemon_feeds_json(d));
	}
	return o;
}

/*
 * {"cmd":"blocks","generation":G,"feeds":false}: every block the kernel
 * holds, compactly, for programs that follow them (mtaguard-flowspec): the
 * prefix, action, whose, and milliseconds left (-1: none); never the routes
 * received over BGP (owner "bgp"), which would go back out. When the ledger
 * wrote nothing since generation G, only {"unchanged":true} (a follower can
 * ask often, cheaply; it ends routes at their expiry by itself). Imported
 * lists' blocks only with "feeds": true.
 */
struct blocks_ctx {
	json_t *arr;
	uint64_t now;
	bool feeds;
	bool failed; /* a block could not be listed (out of memory) */
};

static void block_brief(const struct mg_rule_entry *e, void *arg)
{
	struct blocks_ctx *c = arg;
	const struct mg_rule_want *w = e->written;
	char buf[MG_ADDRSTRLEN];

	/* A route received over BGP is never announced again from here: that would loop between edges. */
	if (!mg_rule_block_in_force(w, c->now) || (w->block_by == MG_OWNER_FEED && !c->feeds) ||
	    w->block_by == MG_OWNER_BGP_BLOCK)
		return;
	if (json_array_append_new(c->arr, json_pack("{s:s,s:s,s:s,s:I}", "prefix",
						    mg_prefix_str(&e->prefix, buf, sizeof(buf)), "action",
						    mg_action_name(w->action), "by", mg_owner_name(w->block_by),
						    "expires_in_ms", w->block_expires == MG_TIME_NEVER ? (json_int_t)-1
						    : (json_int_t)((w->block_expires - c->now) / 1000000))))
		c->failed = true;
}

static json_t *cmd_blocks(struct mg_daemon *d, json_t *req)
{
	uint64_t gen = mg_ruleset_generation(d->eng.rules);
	json_t *g = json_object_get(req, "generation");
	struct blocks_ctx c = { .now = mg_daemon_timeline(mg_mono_ns()), .feeds = json_is_true(json_object_get(req, "feeds")) };

	/*
	 * The generation is a string, compared for equality only; it names this
	 * run of the daemon too: a restarted daemon counts from 0 again, and the
	 * same count must not pass for the same rules.
	 */
	char gs[48];
	snprintf(gs, sizeof(gs), "%llx.%llu", (unsigned long long)d->started_ns, (unsigned long long)gen);
	if (json_is_string(g) && !strcmp(json_string_value(g), gs))
		return json_pack("{s:b,s:s,s:b}", "ok", 1, "generation", gs, "unchanged", 1);
	c.arr = json_array();
	if (c.arr)
		mg_ruleset_foreach(d->eng.rules, block_brief, &c);
	/*
	 * Never a list with blocks left out: a follower takes the answer as
	 * every block there is, and would withdraw the routes of those missing.
	 */
	if (!c.arr || c.failed) {
		json_decref(c.arr);
		return mg_ctl_error("out of memory listing the blocks; ask again");
	}
	return json_pack("{s:b,s:s,s:o}", "ok", 1, "generation", gs, "blocks", c.arr);
}

/* ---- outbreaks -------------------------------------------------------------------- */

struct ob_json_ctx {
	struct mg_daemon *d;
	json_t *arr;
	uint64_t now, wall;
};

static void one_outbreak(const struct mg_ob_view *v, void *arg)
{
	struct ob_json_ctx *c = arg;
	struct mg_outbreak_sig ks;
	char sig[64], t[40];
	json_t *members = json_array();

	for (uint32_t i = 0; i < v->n_list; i++)
		json_array_append_new(members, mg_ob_member_json(&v->list[i], c->now, c->wall));
	json_t *o = json_pack("{s:s,s:i,s:I,s:I,s:s,s:o}", "signature", mg_sig_str(&v->sig, sig, sizeof(sig)), "level",
			      (int)v->level, "members", (json_int_t)v->members, "proven_members", (json_int_t)v->proven, "since",
			      mg_iso_time(c->wall - (c->now - v->since_ns), t, sizeof(t)), "member_list", members);
	mg_ob_decision_json(o, &v->sig, v->direction, v->decision, v->specificity, &v->with);
	/* Decided and in force: outbreak.contain false keeps every fingerprint out of the kernel. */
	json_object_set_new(o, "contained", json_boolean(v->sig.kind == MG_SIG_FP && v->decision == MG_OB_CONTAINED &&
							c->d->eng.contain));
	if (v->sig.kind == MG_SIG_FP && bpf_map_lookup_elem(c->d->h.outbreaks_fd, &v->sig.value, &ks) == 0)
		json_object_set_new(o, "syns_dropped", json_integer((json_int_t)ks.drops));
	json_array_append_new(c->arr, o);
}

static json_t *outbreaks_json(struct mg_daemon *d, uint64_t now, uint64_t wall)
{
	struct ob_json_ctx c = { .d = d, .arr = json_array(), .now = now, .wall = wall };

	mg_ob_foreach(d->eng.ob, one_outbreak, &c);
	return c.arr;
}

/* {"cmd":"except","op":"add|remove|list","what":"fp:1a2b3c4d" or a prefix} */
static json_t *cmd_except(struct mg_daemon *d, json_t *req)
{
	const char *op = str_arg(req, "op"), *what = str_arg(req, "what");
	uint64_t mono = mg_mono_ns();
	struct mg_prefix p;
	json_t *refused;
	char err[256];

	if (op && !strcmp(op, "list"))
		return json_pack("{s:b,s:o}", "ok", 1, "exceptions", mg_engine_exceptions_json(&d->eng));
	if (!op || (strcmp(op, "add") && strcmp(op, "remove")) || !what)
		return mg_ctl_error("except add|remove SIGNATURE|PREFIX, or except list");
	/* An exempted prefix is allowed past outbreak handling: the same limits as an allow. */
	bool adding_prefix = !strcmp(op, "add") && mg_prefix_parse(what, &p) == 0;
	if (adding_prefix && (refused = too_wide(d, "except add", &p, true, json_is_true(json_object_get(req, "force")))))
		return refused;
	if (mg_engine_except(&d->eng, !strcmp(op, "add"), what, mg_daemon_timeline(mono), mg_mono_to_wall_ns(mono), err,
			     sizeof(err)))
		return mg_ctl_error("%s", err);
	if (adding_prefix)
		log_forced(d, "except add", &p, req);
	/* What the exception is kept as: a HELO given by its text is its hash. */
	struct mg_signature sig;
	char canon[MG_ADDRSTRLEN];
	if (mg_sig_parse(what, &sig) == 0)
		mg_sig_str(&sig, canon, sizeof(canon));
	else if (mg_prefix_parse(what, &p) == 0)
		mg_prefix_str(&p, canon, sizeof(canon));
	else
		snprintf(canon, sizeof(canon), "%s", what);
	return json_pack("{s:b,s:s,s:s,s:s}", "ok", 1, "done", "except", "op", op, "what", canon);
}

static json_t *cmd_monitor(struct mg_daemon *d, json_t *req)
{
	const char *state = str_arg(req, "state");
	uint64_t mono = mg_mono_ns();

	bool on = false;

	/* No state asked for: the state it is in (the kernel's setting, which is what counts). */
	if (!state) {
		mg_get_monitor(d->h.settings_fd, &on);
		return json_pack("{s:b,s:b}", "ok", 1, "monitor", on);
	}
	if (strcmp(state, "on") && strcmp(state, "off"))
		return mg_ctl_error("monitor on|off, or monitor alone for the state it is in; got '%s'", state);
	on = !strcmp(state, "on");
	mg_engine_set_monitor(&d->eng, on, mg_daemon_timeline(mono), mg_mono_to_wall_ns(mono));
	return json_pack("{s:b,s:s,s:b}", "ok", 1, "done", "monitor", "monitor", on);
}

json_t *mg_daemon_control(json_t *req, void *arg, struct mg_ctl_stream *stream)
{
	struct mg_daemon *d = arg;
	const char *cmd = str_arg(req, "cmd");

	if (!cmd)
		return mg_ctl_error("a request needs \"cmd\"");
	if (!strcmp(cmd, "status"))
		return cmd_status(d);
	if (!strcmp(cmd, "top"))
		return cmd_top(d, req);
	if (!strcmp(cmd, "roles"))
		return stream ? roles_stream(d, stream) : cmd_roles(d);
	if (!strcmp(cmd, "show"))
		return cmd_show(d, req);
	if (!strcmp(cmd, "verdicts"))
		return list_rules(d, verdict_json, "verdicts", req);
	if (!strcmp(cmd, "allowlist"))
		return list_rules(d, allow_json, "allowlist", req);
	if (!strcmp(cmd, "monitor"))
		return cmd_monitor(d, req);
	if (!strcmp(cmd, "outbreaks")) {
		uint64_t mono = mg_mono_ns();
		json_t *o = ok();
		json_object_set_new(o, "threat_level", json_integer(d->eng.threat_level));
		add_elsewhere(d, o, mg_daemon_timeline(mono));
		json_object_set_new(o, "outbreaks", outbreaks_json(d, mg_daemon_timeline(mono), mg_mono_to_wall_ns(mono)));
		return o;
	}
	if (!strcmp(cmd, "except"))
		return cmd_except(d, req);
	if (!strcmp(cmd, "quarantine"))
		return mg_daemon_quarantine(d, req, stream);
	if (!strcmp(cmd, "blocks"))
		return cmd_blocks(d, req);
	if (!strcmp(cmd, "import"))
		return mg_daemon_import(d, req);
	if (!strcmp(cmd, "bgp"))
		return mg_daemon_bgp(d, req);
	if (!strcmp(cmd, "export"))
		return stream ? mg_daemon_export_stream(d, req, stream) : mg_daemon_export(d, req);
	if (!strcmp(cmd, "block") || !strcmp(cmd, "unblock") || !strcmp(cmd, "allow") || !strcmp(cmd, "disallow"))
		return cmd_rule(d, cmd, req);
	return mg_ctl_error("unknown command '%s'", cmd);
}
