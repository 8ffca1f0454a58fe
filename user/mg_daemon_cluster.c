// SPDX-License-Identifier: GPL-2.0-only
/*
 * mg_daemon_cluster.c - mtaguardd among other nodes: what it holds goes into
 * the shared bucket, what the others hold comes into its engine.
 *
 * Out: the rules this node decided (the analyzer's verdicts, the operator's
 * blocks and allows, as cluster.publish says) are reconciled with what it
 * last wrote, at every scan and right after a verdict: a new or changed rule
 * is written, one no longer in force is deleted. The ledger is the one
 * truth, so there is no separate bookkeeping to drift from it, and a
 * republish (after a reconnection, or writes that failed) is the same
 * reconciliation from an empty slate.
 * In: entries the link received go to mg_engine_cluster_apply, a bounded
 * number per loop turn, so a resync of a big bucket never stalls the loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "mg_clock.h"
#include "mg_cluster.h"
#include "mg_daemon.h"
#include "mg_metrics.h"
#include "mg_names.h"

#define TAKE_PER_TURN 1024

int mg_daemon_cluster_start(struct mg_daemon *d, char *err, size_t errlen)
{
	const char *servers[MG_CONFIG_MAX_CLUSTER_SERVERS];
	struct mg_config *c = &d->cfg;

	if (!c->n_cluster_servers)
		return 0;
	for (size_t i = 0; i < c->n_cluster_servers; i++)
		servers[i] = c->cluster_servers[i];
	struct mg_cluster_opts o = {
		.servers = servers,
		.n_servers = c->n_cluster_servers,
		.node = c->cluster_node,
		.bucket = c->cluster_bucket,
		.credentials = c->cluster_credentials[0] ? c->cluster_credentials : NULL,
		.tls_ca = c->cluster_tls_ca[0] ? c->cluster_tls_ca : NULL,
		.events_stream = c->cluster_events_stream[0] ? c->cluster_events_stream : NULL,
		.events_max_age_ns = c->cluster_events_max_age_ns,
	};
	int e = mg_cluster_start(&o, &d->cluster, err, errlen);
	if (e)
		return e;
	d->cluster_published = json_object();
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = mg_cluster_fd(d->cluster) };
	if (!d->cluster_published || epoll_ctl(d->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev)) {
		snprintf(err, errlen, "cluster: %s", strerror(errno ? errno : ENOMEM));
		return -EIO;
	}
	char first[256];
	mg_eventlog_notice(&d->log, "cluster", "cluster: node %s, bucket %s, %zu server(s) from %s on; this node goes on "
			   "alone while none answers", c->cluster_node, c->cluster_bucket, c->n_cluster_servers,
			   mg_cluster_url_public(c->cluster_servers[0], first, sizeof(first)));
	return 0;
}

void mg_daemon_cluster_stop(struct mg_daemon *d)
{
	mg_cluster_stop(d->cluster);
	d->cluster = NULL;
	json_decref(d->cluster_published);
	d->cluster_published = NULL;
}

/* ---- out: the ledger's rules of this node, reconciled with what was written ---------------- */

struct want_ctx {
	struct mg_daemon *d;
	json_t *want;   /* key -> {"sig": what identifies the content, "kind", "prefix", ...} */
	uint64_t now;
	/*
	 * A key could not be added (out of memory): the set is not all this
	 * node holds, so nothing is deleted on its word this time.
	 */
	bool incomplete;
};

static void want_add(struct want_ctx *w, const char *key, json_t *v)
{
	if (!v || json_object_set_new(w->want, key, v))
		w->incomplete = true;
}

static const enum mg_owner kind_owner[MG_CL_KIND_MAX] = {
	[MG_CL_VERDICT] = MG_OWNER_VERDICT,
	[MG_CL_BLOCK] = MG_OWNER_OPERATOR_BLOCK,
	[MG_CL_ALLOW] = MG_OWNER_OPERATOR_ALLOW,
	[MG_CL_SERVER] = MG_OWNER_LEARNED_SERVER,
	[MG_CL_OUTBREAK] = MG_OWNER_MAX, /* not a ledger owner: from outbreak detection */
};

static void want_one(const struct mg_rule_entry *re, void *arg)
{
	struct want_ctx *w = arg;
	unsigned publish = w->d->cfg.cluster_publish;

	for (int k = 0; k < MG_CL_KIND_MAX; k++) {
		if (kind_owner[k] == MG_OWNER_MAX)
			continue;
		const struct mg_claim *cl = &re->claims[kind_owner[k]];
		if (!(publish & (1u << k)) || !cl->present || (cl->expires != MG_TIME_NEVER && cl->expires <= w->now))
			continue;
		struct mg_cl_entry e = { .kind = (enum mg_cl_kind)k, .prefix = re->prefix,
					 .action = mg_cl_kind_blocks((enum mg_cl_kind)k) ? cl->action : 0 };
		snprintf(e.node, sizeof(e.node), "%s", w->d->cfg.cluster_node);
		char key[MG_CL_KEY_MAX], sig[64];
		if (mg_cl_key(&e, key, sizeof(key)))
			continue;
		snprintf(sig, sizeof(sig), "%u/%llu", e.action, (unsigned long long)cl->expires);
		want_add(w, key, json_pack("{s:s,s:i,s:I}", "sig", sig, "kind", k, "expires", (json_int_t)cl->expires));
	}
}

/*
 * This node's outbreaks that count in its threat level. Their entries last
 * two decay periods and are written again every period (the period is in
 * what identifies the content): a node that goes away leaves nothing behind
 * for long.
 */
static void want_outbreak(const struct mg_ob_view *v, void *arg)
{
	struct want_ctx *w = arg;
	struct mg_daemon *d = w->d;
	uint64_t decay = d->eng.ob_cfg.decay_ns ? d->eng.ob_cfg.decay_ns : 1800 * MG_NSEC_PER_SEC;
	char key[MG_CL_KEY_MAX], sig[96], text[64];

	if (v->decision != MG_OB_COUNTED && v->decision != MG_OB_CONTAINED)
		return;
	struct mg_cl_entry e = { .kind = MG_CL_OUTBREAK, .sig = v->sig, .level = (uint8_t)(v->level > 5 ? 5 : v->level),
				 .members = v->members };
	if (!e.level)
		return;
	snprintf(e.node, sizeof(e.node), "%s", d->cfg.cluster_node);
	if (mg_cl_key(&e, key, sizeof(key)))
		return;
	snprintf(sig, sizeof(sig), "%u/%u/%llu", e.level, e.members, (unsigned long long)(w->now / decay));
	want_add(w, key, json_pack("{s:s,s:i,s:I,s:i,s:I,s:s}", "sig", sig, "kind", MG_CL_OUTBREAK, "expires",
				   (json_int_t)(w->now + 2 * decay), "level", e.level, "members", (json_int_t)e.members,
				   "text", mg_sig_str(&v->sig, text, sizeof(text))));
}

/* The entry for key as this node holds it now, ready to write. */
static void entry_for(struct mg_daemon *d, const char *key, json_t *w, uint64_t now, uint64_t wall,
		      struct mg_cl_entry *e)
{
	char err[8];
	uint64_t expires = (uint64_t)json_integer_value(json_object_get(w, "expires"));
	struct mg_an_profile_view v;

	mg_cl_parse_key(key, e, err, sizeof(err));
	snprintf(e->node, sizeof(e->node), "%s", d->cfg.cluster_node);
	if (e->kind == MG_CL_OUTBREAK) {
		e->level = (uint8_t)json_integer_value(json_object_get(w, "level"));
		e->members = (uint32_t)json_integer_value(json_object_get(w, "members"));
		e->expires_wall = wall + (expires > now ? expires - now : 0);
		e->at_wall = wall;
		snprintf(e->why, sizeof(e->why), "outbreak %s, level %u, %u members", json_string_value(json_object_get(w, "text")),
			 e->level, e->members);
		return;
	}
	struct mg_rule_entry re;
	if (mg_ruleset_find(d->eng.rules, &e->prefix, &re))
		e->action = mg_cl_kind_blocks(e->kind) ? re.claims[kind_owner[e->kind]].action : 0;
	e->expires_wall = expires == MG_TIME_NEVER ? MG_CL_NO_EXPIRY : wall + (expires > now ? expires - now : 0);
	e->at_wall = wall;
	if (e->kind == MG_CL_VERDICT && mg_an_get(d->eng.an, e->prefix.addr, &v))
		snprintf(e->why, sizeof(e->why), "%s score %.1f", v.ev.rule, v.score);
	else if (e->kind == MG_CL_SERVER)
		snprintf(e->why, sizeof(e->why), "learned: steady direct-to-MX sending over the learning period");
	else if (e->kind != MG_CL_VERDICT) {
		const struct mg_oprule *r = mg_engine_oprule(&d->eng, &e->prefix,
							     e->kind == MG_CL_ALLOW ? MG_RULE_ALLOW : MG_RULE_BLOCK);
		snprintf(e->why, sizeof(e->why), "operator%s%.100s", r && r->comment[0] ? ": " : "", r ? r->comment : "");
	}
}

/* The link's ups and downs, in the log with the length of each gap: the time this node was on its own. */
static void watch_link(struct mg_daemon *d, uint64_t mono)
{
	struct mg_cluster_status st;

	mg_cluster_status(d->cluster, &st);
	/*
	 * Never connected yet, and the first attempt failed (a server's
	 * certificate from another CA, a wrong password, nothing listening):
	 * said once, with libnats's reason, since no change of state would say it.
	 */
	if (!st.connected && !d->cluster_was_up && !d->cluster_ever_up && st.last_error[0] && !d->cluster_said_unreachable) {
		d->cluster_said_unreachable = true;
		mg_eventlog_warning(&d->log, "cluster", "cluster: cannot reach a NATS server (%s); this node goes on alone, "
				    "and tries again every few seconds", st.last_error);
	}
	if (st.connected == d->cluster_was_up)
		return;
	d->cluster_ever_up |= st.connected;
	d->cluster_was_up = st.connected;
	if (!st.connected) {
		d->cluster_down = true;
		d->cluster_down_at = mono;
		mg_eventlog_warning(&d->log, "cluster", "cluster: no NATS server answers (%s); this node goes on alone, "
				    "with what it holds", st.last_error[0] ? st.last_error : "disconnected");
	} else if (d->cluster_down) {
		uint64_t gap = mono - d->cluster_down_at;
		d->cluster_gaps++;
		d->cluster_gap_ns += gap;
		d->cluster_down = false;
		mg_eventlog_notice(&d->log, "cluster", "cluster: connected to %s again after %.1f s on its own; reading "
				   "what is in force and writing this node's rules again", st.server, gap / 1e9);
	} else {
		mg_eventlog_notice(&d->log, "cluster", "cluster: connected to %s", st.server);
	}
}

/*
 * A delete of this node's that did not reach the bucket: marked as written
 * but unsure, as a republish marks everything, so the reconciliation below
 * deletes it again if this node still does not hold it (or writes it, if
 * it holds it again).
 */
static void redo_delete(const char *key, void *arg)
{
	json_t *published = arg;

	if (!json_object_get(published, key))
		json_object_set_new(published, key, json_pack("{s:s}", "sig", ""));
}

void mg_daemon_cluster_reconcile(struct mg_daemon *d, uint64_t mono)
{
	if (!d->cluster)
		return;
	watch_link(d, mono);
	uint64_t now = mg_daemon_timeline(mono), wall = mg_mono_to_wall_ns(mono);
	struct want_ctx w = { .d = d, .want = json_object(), .now = now };
	const char *key;
	json_t *v, *tmp;

	if (!w.want)
		return;
	/*
	 * After a reconnection (or writes that failed): everything written
	 * again, and everything this node wrote but no longer holds deleted
	 * again (a delete may have been lost), so what was written is only
	 * marked as unsure, never forgotten.
	 */
	if (mg_cluster_want_republish(d->cluster)) {
		json_object_foreach(d->cluster_published, key, v)
			json_object_set_new(d->cluster_published, key, json_pack("{s:s}", "sig", ""));
		mg_cluster_take_failed_deletes(d->cluster, redo_delete, d->cluster_published);
	}
	mg_ruleset_foreach(d->eng.rules, want_one, &w);
	if (d->cfg.cluster_publish & (1u << MG_CL_OUTBREAK))
		mg_ob_foreach(d->eng.ob, want_outbreak, &w);
	json_object_foreach(w.want, key, v) {
		json_t *had = json_object_get(d->cluster_published, key);
		if (had && json_equal(json_object_get(had, "sig"), json_object_get(v, "sig")))
			continue;
		struct mg_cl_entry e;
		entry_for(d, key, v, now, wall, &e);
		mg_cluster_put(d->cluster, &e);
		json_object_set(d->cluster_published, key, v);
	}
	json_object_foreach_safe(d->cluster_published, tmp, key, v) {
		if (w.incomplete)
			break;
		if (json_object_get(w.want, key))
			continue;
		struct mg_cl_entry e;
		char err[8];
		if (!mg_cl_parse_key(key, &e, err, sizeof(err)))
			mg_cluster_del(d->cluster, &e);
		json_object_del(d->cluster_published, key);
	}
	json_decref(w.want);
	d->cluster_dirty = w.incomplete; /* again at the next turn, deletes included */
}

/* ---- in: received entries into the engine ------------------------------------------------- */

/*
 * From the origin's write (its wall clock, in the entry) to the rule written
 * here, now: the lag an operator sees between two edges (their clocks kept
 * by NTP). Entries written before the last minute are a resync, not news:
 * not counted.
 */
static void note_propagation(struct mg_daemon *d, const struct mg_cl_entry *e)
{
	uint64_t wall = mg_mono_to_wall_ns(mg_mono_ns());

	if (e->at_wall > wall || wall - e->at_wall > 60 * MG_NSEC_PER_SEC)
		return;
	d->propagation_us[d->propagation_next] = (uint32_t)((wall - e->at_wall) / 1000);
	d->propagation_next = (d->propagation_next + 1) % MG_DAEMON_PROPAGATION_KEPT;
	if (d->n_propagation < MG_DAEMON_PROPAGATION_KEPT)
		d->n_propagation++;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The kept propagation times as {"n", "p50_ms", "p90_ms", "max_ms"}. */
static json_t *propagation_json(const struct mg_daemon *d)
{
	uint32_t v[MG_DAEMON_PROPAGATION_KEPT];
	uint32_t n = d->n_propagation;

	if (!n)
		return json_pack("{s:i}", "n", 0);
	memcpy(v, d->propagation_us, n * sizeof(v[0]));
	qsort(v, n, sizeof(v[0]), cmp_u32);
	return json_pack("{s:i,s:f,s:f,s:f}", "n", (int)n, "p50_ms", v[n / 2] / 1e3, "p90_ms", v[n * 9 / 10] / 1e3,
			 "max_ms", v[n - 1] / 1e3);
}

/*
 * One of this node's own entries, as the bucket holds it: if this node no
 * longer holds the rule (it ended before a restart, or the node crashed, or
 * its delete was lost), delete it now. The bucket heals itself this way at
 * every resync of the watch; a delete that failed while the link stayed up
 * (no resync to come) is made again at the republish its failure asks for
 * (redo_delete).
 */
static void own_entry(struct mg_daemon *d, const struct mg_cl_entry *e, uint64_t now)
{
	struct mg_rule_entry re;

	if (e->kind == MG_CL_OUTBREAK)
		return; /* they run out on their own within two decay periods */
	if (mg_ruleset_find(d->eng.rules, &e->prefix, &re)) {
		const struct mg_claim *cl = &re.claims[kind_owner[e->kind]];
		if (cl->present && (cl->expires == MG_TIME_NEVER || cl->expires > now) &&
		    (d->cfg.cluster_publish & (1u << e->kind)))
			return;
	}
	char key[MG_CL_KEY_MAX];
	if (!mg_cl_key(e, key, sizeof(key)))
		json_object_del(d->cluster_published, key);
	mg_cluster_del(d->cluster, e);
}

bool mg_daemon_cluster_event(struct mg_daemon *d, int fd)
{
	static struct mg_cl_rx rx[TAKE_PER_TURN];
	char buf[MG_ADDRSTRLEN];
	bool more = false;

	if (!d->cluster || fd != mg_cluster_fd(d->cluster))
		return false;
	watch_link(d, mg_mono_ns());
	size_t n = mg_cluster_take(d->cluster, rx, TAKE_PER_TURN, &more);
	uint64_t mono = mg_mono_ns(), now = mg_daemon_timeline(mono), wall = mg_mono_to_wall_ns(mono);
	for (size_t i = 0; i < n; i++) {
		if (rx[i].bad) {
			d->cluster_outcomes[MG_CL_OUTCOME_MAX]++;
			if (mg_log_gate_pass(&d->cluster_complaints, mono, 60 * MG_NSEC_PER_SEC)) {
				mg_eventlog_warning(&d->log, "cluster", "cluster: an entry that cannot be used, ignored: %s "
						    "(one line a minute at most)", rx[i].err);
			}
			continue;
		}
		enum mg_cl_outcome o = mg_engine_cluster_apply(&d->eng, &rx[i].e, rx[i].deleted, now, wall);
		d->cluster_outcomes[o]++;
		if (o == MG_CL_OWN && !rx[i].deleted)
			own_entry(d, &rx[i].e, now);
		if (o == MG_CL_TAKEN)
			note_propagation(d, &rx[i].e);
		if (o == MG_CL_TAKEN && rx[i].e.kind == MG_CL_OUTBREAK)
			mg_eventlog_notice(&d->log, "cluster", "cluster: %s from %s; threat level here %u", rx[i].e.why,
					   rx[i].e.node, d->eng.threat_level);
		else if (o == MG_CL_TAKEN && mg_cl_kind_blocks(rx[i].e.kind))
			mg_eventlog_notice(&d->log, NULL, "cluster: %s %s from %s (%s)", mg_cl_kind_name(rx[i].e.kind),
					   mg_prefix_str(&rx[i].e.prefix, buf, sizeof(buf)), rx[i].e.node, rx[i].e.why);
		else if (o == MG_CL_BREAKER && mg_log_gate_pass(&d->cluster_complaints, mono, 60 * MG_NSEC_PER_SEC)) {
			mg_eventlog_warning(&d->log, "cluster", "cluster: more than %u fresh verdicts a minute from other "
					    "nodes: %s from %s refused (cluster.max_accept_per_minute)",
					    d->cfg.cluster_max_accept_per_min, mg_prefix_str(&rx[i].e.prefix, buf, sizeof(buf)),
					    rx[i].e.node);
		} else if (o == MG_CL_PROTECTED && mg_log_gate_pass(&d->cluster_complaints, mono, 60 * MG_NSEC_PER_SEC)) {
			mg_eventlog_warning(&d->log, "cluster", "cluster: block %s from %s refused: it covers a protected "
					    "network of this node whole (one line a minute at most)",
					    mg_prefix_str(&rx[i].e.prefix, buf, sizeof(buf)), rx[i].e.node);
		}
	}
	d->cluster_more = more;
	return true;
}

json_t *mg_daemon_cluster_status(struct mg_daemon *d)
{
	struct mg_cluster_status st;
	size_t by[MG_CL_KIND_MAX] = { 0 };

	if (!d->cluster)
		return json_null();
	mg_cluster_status(d->cluster, &st);
	if (d->eng.clrecv)
		mg_clrecv_count(d->eng.clrecv, by);
	uint64_t wall = mg_mono_to_wall_ns(mg_mono_ns());
	json_t *out = json_object();
	for (int o = 0; o < MG_CL_OUTCOME_MAX; o++)
		json_object_set_new(out, mg_cl_outcome_name((enum mg_cl_outcome)o), json_integer((json_int_t)d->cluster_outcomes[o]));
	json_object_set_new(out, "unreadable", json_integer((json_int_t)d->cluster_outcomes[MG_CL_OUTCOME_MAX]));
	json_t *o = json_pack("{s:s,s:s,s:b,s:b,s:s,s:I,s:I,s:I,s:I,s:f,s:f,s:f,s:o,s:{s:I,s:I,s:I,s:I,s:I},s:I,s:s,s:o}",
			 "node", d->cfg.cluster_node, "bucket", d->cfg.cluster_bucket, "connected", st.connected,
			 "synced", st.synced, "server", st.server, "connects", (json_int_t)st.connects, "sent",
			 (json_int_t)st.sent, "send_errors", (json_int_t)st.send_errors, "received",
			 (json_int_t)st.received, "lag_ms", st.last_lag_ns / 1e6, "max_lag_ms", st.max_lag_ns / 1e6,
			 "down_for_s", st.down_since_wall && wall > st.down_since_wall ? (wall - st.down_since_wall) / 1e9 : 0.0,
			 "outcomes", out, "held_from_others", "verdicts", (json_int_t)by[MG_CL_VERDICT], "blocks",
			 (json_int_t)by[MG_CL_BLOCK], "allows", (json_int_t)by[MG_CL_ALLOW], "mail_servers",
			 (json_int_t)by[MG_CL_SERVER], "outbreaks", (json_int_t)d->eng.n_cl_ob, "published",
			 (json_int_t)json_object_size(d->cluster_published), "last_error", st.last_error, "propagation",
			 propagation_json(d));
	json_object_set_new(o, "events_sent", json_integer((json_int_t)st.events_sent));
	json_object_set_new(o, "events_dropped", json_integer((json_int_t)st.events_dropped));
	json_object_set_new(o, "dropped_out", json_integer((json_int_t)st.dropped_out));
	json_object_set_new(o, "deletes_lost", json_integer((json_int_t)st.deletes_lost));
	return o;
}

void mg_daemon_cluster_metrics(struct mg_daemon *d, struct mg_metrics_in *m)
{
	struct mg_cluster_status st;

	if (!d->cluster)
		return;
	mg_cluster_status(d->cluster, &st);
	m->cluster_on = true;
	m->cluster_connected = st.connected;
	m->cluster_sent = st.sent;
	m->cluster_send_errors = st.send_errors;
	m->cluster_received = st.received;
	m->cluster_taken = d->cluster_outcomes[MG_CL_TAKEN];
	for (int o = MG_CL_OWN + 1; o <= MG_CL_OUTCOME_MAX; o++)
		m->cluster_refused += d->cluster_outcomes[o];
	m->cluster_lag_seconds = st.last_lag_ns / 1e9;
	m->cluster_gap_seconds = (d->cluster_gap_ns + (d->cluster_down ? mg_mono_ns() - d->cluster_down_at : 0)) / 1e9;
}
