// SPDX-License-Identifier: GPL-2.0-only
/*
 * mg_daemon_bgp.c - FlowSpec routes received from BGP peers, handed over by
 * mtaguard-flowspec --accept, into the engine as the owner "bgp":
 *
 *   {"cmd":"bgp","ttl_ms":300000,"routes":[
 *     {"peer":"198.18.100.2","prefix":"198.18.7.7/32","action":"smtp"},
 *     {"peer":"198.18.100.2","prefix":"198.18.7.8/32","withdraw":true}]}
 *   -> {"ok":true,"outcomes":["taken","removed"]}
 *
 * The helper parses ExaBGP's JSON and keeps what each peer announces; the
 * daemon only applies the receipt rules (mg_engine_bgp_apply) and says what
 * became of each route. A route lives ttl_ms unless announced again: the
 * helper refreshes what it holds, so a helper or session that is gone
 * leaves nothing behind for longer than that.
 */
#include <string.h>

#include "mg_cidr_list.h"
#include "mg_clock.h"
#include "mg_daemon.h"
#include "mg_metrics.h"
#include "mg_names.h"

#define BGP_ROUTES_PER_REQUEST 1024
#define BGP_TTL_MIN_MS 1000ull
#define BGP_TTL_MAX_MS (7ull * 86400 * 1000)

/* A peer as the helper names it (its address): printable, no spaces or quotes, to be logged as is. */
static bool peer_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (!n || n >= MG_CL_NODE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~' || s[i] == '"' || s[i] == '\\')
			return false;
	return true;
}

/* Refusals are logged once a minute at most: a peer announcing the world must not flood the log too. */
static void complain(struct mg_daemon *d, uint64_t mono, const char *peer, const struct mg_prefix *p,
		     enum mg_cl_outcome o)
{
	char buf[MG_ADDRSTRLEN];

	if (!mg_log_gate_pass(&d->bgp_complaints, mono, 60 * MG_NSEC_PER_SEC))
		return;
	if (o == MG_CL_BREAKER)
		mg_eventlog_warning(&d->log, "bgp", "bgp: more than %u new FlowSpec routes a minute: %s from %s refused "
				    "(bgp.max_accept_per_minute; one line a minute at most)",
				    d->cfg.bgp_max_accept_per_min, mg_prefix_str(p, buf, sizeof(buf)), peer);
	else
		mg_eventlog_warning(&d->log, "bgp", "bgp: FlowSpec route %s from %s refused: %s (one line a minute at most)",
				    mg_prefix_str(p, buf, sizeof(buf)), peer, mg_cl_outcome_name(o));
}

json_t *mg_daemon_bgp(struct mg_daemon *d, json_t *req)
{
	json_t *routes = json_object_get(req, "routes"), *r;
	json_int_t ttl_ms = json_integer_value(json_object_get(req, "ttl_ms"));
	uint64_t mono = mg_mono_ns(), now = mg_daemon_timeline(mono), wall = mg_mono_to_wall_ns(mono);
	char buf[MG_ADDRSTRLEN];
	size_t i;

	if (!json_is_array(routes) || json_array_size(routes) > BGP_ROUTES_PER_REQUEST)
		return mg_ctl_error("bgp needs \"routes\", an array of at most %d", BGP_ROUTES_PER_REQUEST);
	if (ttl_ms < (json_int_t)BGP_TTL_MIN_MS || ttl_ms > (json_int_t)BGP_TTL_MAX_MS)
		return mg_ctl_error("bgp needs \"ttl_ms\", %llu to %llu", BGP_TTL_MIN_MS, BGP_TTL_MAX_MS);
	d->bgp_seen = true;
	d->bgp_last_request = mono;
	json_t *out = json_array();
	json_array_foreach(routes, i, r) {
		const char *peer = json_string_value(json_object_get(r, "peer"));
		const char *pfx = json_string_value(json_object_get(r, "prefix"));
		bool withdraw = json_is_true(json_object_get(r, "withdraw"));
		struct mg_prefix p;
		uint8_t action = MG_ACT_DROP_SMTP;
		unsigned col;
		if (!peer_ok(peer) || !pfx || mg_cidr_parse_line(pfx, strlen(pfx), &p, &col, NULL, 0) != 1 ||
		    (!withdraw && mg_action_parse(json_string_value(json_object_get(r, "action")), &action)) ||
		    (action != MG_ACT_DROP_SMTP && action != MG_ACT_DROP_ALL)) {
			d->bgp_outcomes[MG_CL_OUTCOME_MAX]++;
			json_array_append_new(out, json_string("unusable"));
			continue;
		}
		bool had = d->eng.bgprecv && mg_clrecv_has(d->eng.bgprecv, MG_CL_BLOCK, peer, &p);
		enum mg_cl_outcome o = mg_engine_bgp_apply(&d->eng, peer, &p, action, (uint64_t)ttl_ms * 1000000, withdraw,
							   now, wall);
		/* A refresh of a route held is counted apart: "taken" counts routes new here. */
		if (o == MG_CL_TAKEN && had)
			d->bgp_refreshed++;
		else
			d->bgp_outcomes[o]++;
		json_array_append_new(out, json_string(o == MG_CL_TAKEN && had ? "refreshed" : mg_cl_outcome_name(o)));
		if (o == MG_CL_TAKEN && !had)
			mg_eventlog_notice(&d->log, NULL, "bgp: FlowSpec discard %s (%s) from %s taken",
					   mg_prefix_str(&p, buf, sizeof(buf)), mg_action_name(action), peer);
		else if (o == MG_CL_REMOVED && had)
			mg_eventlog_notice(&d->log, NULL, "bgp: FlowSpec route %s withdrawn by %s",
					   mg_prefix_str(&p, buf, sizeof(buf)), peer);
		else if (o != MG_CL_TAKEN && o != MG_CL_REMOVED)
			complain(d, mono, peer, &p, o);
	}
	return json_pack("{s:b,s:o}", "ok", 1, "outcomes", out);
}

json_t *mg_daemon_bgp_status(struct mg_daemon *d)
{
	uint64_t mono = mg_mono_ns();
	json_t *out = json_object();

	for (int o = 0; o < MG_CL_OUTCOME_MAX; o++)
		if (o == MG_CL_TAKEN || o == MG_CL_REMOVED || o == MG_CL_TOO_WIDE || o == MG_CL_BREAKER || o == MG_CL_FULL ||
		    o == MG_CL_PROTECTED)
			json_object_set_new(out, mg_cl_outcome_name((enum mg_cl_outcome)o),
					    json_integer((json_int_t)d->bgp_outcomes[o]));
	json_object_set_new(out, "unusable", json_integer((json_int_t)d->bgp_outcomes[MG_CL_OUTCOME_MAX]));
	json_object_set_new(out, "refreshed", json_integer((json_int_t)d->bgp_refreshed));
	return json_pack("{s:I,s:I,s:o,s:o}", "routes_held",
			 (json_int_t)(d->eng.bgprecv ? mg_clrecv_count(d->eng.bgprecv, NULL) : 0), "ended",
			 (json_int_t)d->eng.bgp_removed, "outcomes", out, "last_request_s_ago",
			 d->bgp_seen ? json_real((double)(mono - d->bgp_last_request) / 1e9) : json_null());
}

void mg_daemon_bgp_metrics(struct mg_daemon *d, struct mg_metrics_in *m)
{
	m->bgp_on = d->bgp_seen;
	m->bgp_routes = d->eng.bgprecv ? mg_clrecv_count(d->eng.bgprecv, NULL) : 0;
	m->bgp_taken = d->bgp_outcomes[MG_CL_TAKEN];
	m->bgp_refused = d->bgp_outcomes[MG_CL_TOO_WIDE] + d->bgp_outcomes[MG_CL_BREAKER] + d->bgp_outcomes[MG_CL_FULL] +
			 d->bgp_outcomes[MG_CL_PROTECTED] + d->bgp_outcomes[MG_CL_OUTCOME_MAX];
}
