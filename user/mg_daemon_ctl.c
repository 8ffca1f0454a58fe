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
#include "mg_daemon.h"
#include "mg_policy.h"
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
	json_object_set_new(o, "activity", json_pack("{s:I,s:I,s:I}", "submission_syns", (json_int_t)v->submission_syns,
						     "other_syns", (json_int_t)v->other_syns, "serves_smtp",
						     (json_int_t)v->serves_smtp));
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

struct rule_count {
	size_t blocks;
	uint64_t now;
};

static int count_active(const struct mg_prefix *p, const struct mg_rule *r, void *arg)
{
	struct rule_count *c = arg;
	(void)p;
	if (!r->expires_ns || r->expires_ns > c->now)
		c->blocks++;
	return 0;
}

static json_t *cmd_status(struct mg_daemon *d)
{
	struct mg_global_stats st;
	size_t by_role[MG_ROLE_MAX] = { 0 };
	struct rule_count rc = { .now = mg_mono_ns() };
	json_t *o = ok(), *ifs = json_array(), *roles = json_object();
	bool mon = false;

	for (size_t i = 0; i < d->cfg.n_ifaces; i++) {
		static const char *const modes[] = { "auto", "native", "generic" };
		json_array_append_new(ifs, json_pack("{s:s,s:s}", "name", d->cfg.ifaces[i].name, "mode",
						     modes[d->cfg.ifaces[i].mode]));
	}
	json_object_set_new(o, "interfaces", ifs);
	mg_get_monitor(d->h.settings_fd, &mon);
	json_object_set_new(o, "monitor", json_boolean(mon));
	json_object_set_new(o, "pin_dir", json_string(d->cfg.pin_dir));
	json_object_set_new(o, "uptime_s", json_integer((json_int_t)((rc.now - d->started_ns) / MG_NSEC_PER_SEC)));
	if (mg_stats_read(d->h.stats_fd, &st) == 0)
		json_object_set_new(o, "kernel", mg_stats_json(&st));
	size_t total = mg_an_count(d->an, by_role);
	for (int r = 0; r < MG_ROLE_MAX; r++)
		json_object_set_new(roles, mg_role_name(r), json_integer((json_int_t)by_role[r]));
	json_object_set_new(o, "sources", json_integer((json_int_t)total));
	json_object_set_new(o, "sources_by_role", roles);
	mg_policy_foreach(d->h.block_fd, count_active, &rc);
	json_object_set_new(o, "verdicts_active", json_integer((json_int_t)rc.blocks));
	json_object_set_new(o, "verdicts_issued", json_integer((json_int_t)d->verdicts_issued));
	json_object_set_new(o, "threat_level", json_integer(d->threat_level));
	json_object_set_new(o, "outbreaks", mg_daemon_outbreaks_json(d, rc.now));
	json_object_set_new(o, "alerts_issued", json_integer((json_int_t)d->alerts_issued));
	json_object_set_new(o, "scan_ms", json_real((double)d->scan_duration_ns / 1e6));
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
	uint64_t now = mg_mono_ns(), wall = mg_mono_to_wall_ns(now);
	json_t *o = ok(), *arr = json_array();

	if (limit <= 0)
		limit = 20;
	mg_an_foreach(d->an, collect_view, &c);
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
	uint64_t now = mg_mono_ns(), wall = mg_mono_to_wall_ns(now);
	json_t *o = ok(), *by[MG_ROLE_MAX];

	for (int r = 0; r < MG_ROLE_MAX; r++)
		by[r] = json_array();
	mg_an_foreach(d->an, collect_view, &c);
	for (size_t i = 0; i < c.n; i++)
		if (c.v[i].role < MG_ROLE_MAX)
			json_array_append_new(by[c.v[i].role], view_json(&c.v[i], now, wall));
	free(c.v);
	for (int r = 0; r < MG_ROLE_MAX; r++)
		json_object_set_new(o, mg_role_name(r), by[r]);
	return o;
}

/* ---- one source ---------------------------------------------------------------- */

static json_t *cmd_show(struct mg_daemon *d, json_t *req)
{
	const char *addr = str_arg(req, "addr");
	uint8_t a[16], key[16];
	struct mg_an_profile_view v;
	struct mg_src_stats s;
	const char *table;
	uint64_t now = mg_mono_ns(), wall = mg_mono_to_wall_ns(now);

	if (!addr || mg_addr_parse(addr, a))
		return mg_ctl_error("show needs an address, got '%s'", addr ? addr : "");
	bool known = mg_an_get(d->an, a, &v);
	json_t *o = known ? view_json(&v, now, wall) : json_object();
	json_object_set_new(o, "ok", json_true());
	json_object_set_new(o, "addr", json_string(addr));
	json_object_set_new(o, "known", json_boolean(known));

	memcpy(key, a, 16);
	if (!mg_addr_is_v4(key))
		mg_addr_mask(key, d->cfg.tunables.v6_src_prefix);
	if (mg_source_read(d->h.servers_fd, d->h.sources_fd, key, &s, &table) == 0)
		json_object_set_new(o, "kernel", mg_source_json(key, &s, table));

	/* The rule the kernel would apply, if any. */
	struct mg_lpm_key k = { .prefixlen = 128 };
	struct mg_rule r;
	memcpy(k.addr, a, 16);
	const char *why;
	if (bpf_map_lookup_elem(d->h.allow_fd, &k, &r) == 0)
		why = "allowlisted: never dropped, never blocked";
	else if (bpf_map_lookup_elem(d->h.block_fd, &k, &r) == 0 && (!r.expires_ns || r.expires_ns > now)) {
		json_object_set_new(o, "rule", json_pack("{s:s,s:I,s:I}", "action",
							 r.action == MG_ACT_DROP_ALL ? "all" : "smtp", "hits",
							 (json_int_t)r.hits, "expires_in_s",
							 r.expires_ns ? (json_int_t)((r.expires_ns - now) / MG_NSEC_PER_SEC) : -1));
		why = known && v.role == MG_ROLE_BLOCKED ? "blocked by a verdict of the analyzer (see evidence)"
							 : "blocked by a rule (operator or verdict)";
	} else if (known && (v.role == MG_ROLE_MAIL_SERVER || v.configured_server))
		why = "a mail server: never blocked for volume";
	else if (known && v.role == MG_ROLE_SUSPECT)
		why = "suspect: scored above the alert threshold, below the block threshold";
	else if (known)
		why = "not blocked: score below the threshold";
	else
		why = "never seen sending SMTP";
	json_object_set_new(o, "why", json_string(why));
	return o;
}

/* ---- operator rules --------------------------------------------------------------- */

static json_t *cmd_rule(struct mg_daemon *d, const char *cmd, json_t *req)
{
	const char *prefix = str_arg(req, "prefix"), *dur = str_arg(req, "duration");
	const char *action = str_arg(req, "action"), *comment = str_arg(req, "comment");
	bool blocking = !strcmp(cmd, "block"), allowing = !strcmp(cmd, "allow");
	struct mg_prefix p;
	uint64_t ttl_ns = 0;
	int e;

	if (!prefix || mg_prefix_parse(prefix, &p))
		return mg_ctl_error("%s needs an address or prefix, got '%s'", cmd, prefix ? prefix : "");
	if (dur && !blocking && !allowing)
		return mg_ctl_error("%s takes no duration", cmd);
	if (dur && mg_parse_duration(dur, &ttl_ns))
		return mg_ctl_error("bad duration '%s' (e.g. 90s, 10m, 1h, 7d)", dur);
	if (action && (!blocking || (strcmp(action, "all") && strcmp(action, "smtp"))))
		return mg_ctl_error(blocking ? "action is smtp or all, got '%s'" : "only block takes an action", action);
	if (comment && strlen(comment) > MG_OPRULE_COMMENT_MAX)
		return mg_ctl_error("comment longer than %d bytes", MG_OPRULE_COMMENT_MAX);
	uint8_t act = action && !strcmp(action, "all") ? MG_ACT_DROP_ALL : MG_ACT_DROP_SMTP;
	uint64_t now = mg_mono_ns(), wall = mg_mono_to_wall_ns(now);
	struct mg_oprule r = { .prefix = p, .action = act, .created_ns = wall };
	if (comment)
		snprintf(r.comment, sizeof(r.comment), "%s", comment);

	if (blocking && !dur)
		ttl_ns = d->cfg.an.block_ns; /* operator blocks expire too, unless asked for 0 */
	r.expires_ns = ttl_ns ? wall + ttl_ns : 0;

	if (blocking) {
		r.kind = MG_OPRULE_BLOCK;
		e = mg_policy_block(d->h.block_fd, &p, act, ttl_ns / MG_NSEC_PER_SEC);
		if (!e)
			e = mg_oprules_set(&d->oprules, &r);
	} else if (!strcmp(cmd, "unblock")) {
		e = mg_policy_remove(d->h.block_fd, &p);
		bool had = mg_oprules_remove(&d->oprules, &p, MG_OPRULE_BLOCK);
		/* The analyzer's verdict ends too, or the next tick would write it again. */
		if ((mg_an_pardon(d->an, &p, now) || had) && e == -ENOENT)
			e = 0;
	} else if (allowing) {
		r.kind = MG_OPRULE_ALLOW;
		mg_an_add_allow(d->an, &p);
		e = mg_policy_allow(d->h.allow_fd, &p);
		if (!e)
			e = mg_oprules_set(&d->oprules, &r);
		/*
		 * End the verdicts it covers now, not at the next tick: a
		 * disallow right after must find the source unblocked, and
		 * the unblock line is logged with the allow.
		 */
		if (!e)
			mg_daemon_scan(d, mg_mono_ns());
	} else {
		mg_an_remove_allow(d->an, &p);
		e = mg_policy_remove(d->h.allow_fd, &p);
		mg_oprules_remove(&d->oprules, &p, MG_OPRULE_ALLOW);
	}
	if (e == -ENOENT)
		return mg_ctl_error("no %s rule for exactly %s", strcmp(cmd, "disallow") ? "block" : "allow", prefix);
	if (e)
		return mg_ctl_error("%s %s: %s", cmd, prefix, strerror(-e));
	mg_daemon_oprules_save(d);
	char until[40] = "";
	if (r.expires_ns)
		snprintf(until, sizeof(until), " for %llus", (unsigned long long)(ttl_ns / MG_NSEC_PER_SEC));
	mg_eventlog_notice(&d->log, "operator", "operator %s %s%s%s%s", cmd, prefix, until, comment ? ": " : "",
			   comment ? comment : "");
	return ok();
}

/* The operator's note on a rule, if the rule is the operator's. */
static void add_oprule_json(json_t *o, const struct mg_oprule *r)
{
	char buf[40];

	json_object_set_new(o, "by", json_string("operator"));
	if (!r)
		return;
	json_object_set_new(o, "created", json_string(mg_iso_time(r->created_ns, buf, sizeof(buf))));
	json_object_set_new(o, "comment", json_string(r->comment));
}

struct verdicts_ctx {
	struct mg_daemon *d;
	json_t *arr;
	uint64_t now, wall;
};

static int verdict_json(const struct mg_prefix *p, const struct mg_rule *r, void *arg)
{
	struct verdicts_ctx *c = arg;
	char buf[MG_ADDRSTRLEN];
	struct mg_an_profile_view v;

	if (r->expires_ns && r->expires_ns <= c->now)
		return 0;
	json_t *o = json_object();
	json_object_set_new(o, "source", json_string(mg_prefix_str(p, buf, sizeof(buf))));
	json_object_set_new(o, "action", json_string(r->action == MG_ACT_DROP_ALL ? "all" : "smtp"));
	json_object_set_new(o, "hits", json_integer((json_int_t)r->hits));
	if (r->expires_ns)
		json_object_set_new(o, "expires", json_string(mg_iso_time(c->wall + (r->expires_ns - c->now), buf,
									 sizeof(buf))));
	else
		json_object_set_new(o, "expires", json_null());
	if (mg_an_get(c->d->an, p->addr, &v) && v.role == MG_ROLE_BLOCKED) {
		json_object_set_new(o, "by", json_string("analyzer"));
		json_object_set_new(o, "offences", json_integer(v.offences));
		json_object_set_new(o, "evidence", mg_evidence_json(&v.ev, c->now, c->wall));
	} else {
		add_oprule_json(o, mg_oprules_find(&c->d->oprules, p, MG_OPRULE_BLOCK));
	}
	json_array_append_new(c->arr, o);
	return 0;
}

/* Every allow rule in the kernel, and where it comes from. */
static int allow_json(const struct mg_prefix *p, const struct mg_rule *r, void *arg)
{
	struct verdicts_ctx *c = arg;
	const struct mg_oprule *op = mg_oprules_find(&c->d->oprules, p, MG_OPRULE_ALLOW);
	char buf[MG_ADDRSTRLEN];
	json_t *o = json_object();

	json_object_set_new(o, "source", json_string(mg_prefix_str(p, buf, sizeof(buf))));
	json_object_set_new(o, "hits", json_integer((json_int_t)r->hits));
	if (op) {
		json_object_set_new(o, "expires", op->expires_ns ? json_string(mg_iso_time(op->expires_ns, buf, sizeof(buf)))
								 : json_null());
		add_oprule_json(o, op);
	} else {
		json_object_set_new(o, "expires", json_null());
		json_object_set_new(o, "by", json_string(mg_prefix_list_has(&c->d->cfg.mail_servers, p) ? "config:mail_servers"
							  : mg_prefix_list_has(&c->d->cfg.allowlist, p)  ? "config:allowlist"
											     : "unknown"));
	}
	json_array_append_new(c->arr, o);
	return 0;
}

/* Every rule of one trie, each as `visit` describes it, under `key` in the answer. */
static json_t *list_rules(struct mg_daemon *d, int fd, mg_policy_visit_fn visit, const char *key)
{
	struct verdicts_ctx c = { .d = d, .arr = json_array(), .now = mg_mono_ns() };
	json_t *o = ok();

	c.wall = mg_mono_to_wall_ns(c.now);
	mg_policy_foreach(fd, visit, &c);
	json_object_set_new(o, key, c.arr);
	return o;
}

static json_t *cmd_monitor(struct mg_daemon *d, json_t *req)
{
	const char *state = str_arg(req, "state");

	if (!state || (strcmp(state, "on") && strcmp(state, "off")))
		return mg_ctl_error("monitor on|off");
	bool on = !strcmp(state, "on");
	d->cfg.an.monitor = on;
	mg_an_set_config(d->an, &d->cfg.an);
	mg_set_monitor(d->h.settings_fd, on);
	mg_eventlog_notice(&d->log, "operator", "monitor mode %s", state);
	return ok();
}

json_t *mg_daemon_control(json_t *req, void *arg)
{
	struct mg_daemon *d = arg;
	const char *cmd = str_arg(req, "cmd");

	if (!strcmp(cmd, "status"))
		return cmd_status(d);
	if (!strcmp(cmd, "top"))
		return cmd_top(d, req);
	if (!strcmp(cmd, "roles"))
		return cmd_roles(d);
	if (!strcmp(cmd, "show"))
		return cmd_show(d, req);
	if (!strcmp(cmd, "verdicts"))
		return list_rules(d, d->h.block_fd, verdict_json, "verdicts");
	if (!strcmp(cmd, "allowlist"))
		return list_rules(d, d->h.allow_fd, allow_json, "allowlist");
	if (!strcmp(cmd, "monitor"))
		return cmd_monitor(d, req);
	if (!strcmp(cmd, "outbreaks")) {
		json_t *o = ok();
		json_object_set_new(o, "threat_level", json_integer(d->threat_level));
		json_object_set_new(o, "outbreaks", mg_daemon_outbreaks_json(d, mg_mono_ns()));
		return o;
	}
	if (!strcmp(cmd, "except"))
		return mg_daemon_except(d, req);
	if (!strcmp(cmd, "quarantine"))
		return mg_daemon_quarantine(d, req);
	if (!strcmp(cmd, "block") || !strcmp(cmd, "unblock") || !strcmp(cmd, "allow") || !strcmp(cmd, "disallow"))
		return cmd_rule(d, cmd, req);
	return mg_ctl_error("unknown command '%s'", cmd);
}
