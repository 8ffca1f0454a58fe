// SPDX-License-Identifier: GPL-2.0-only
/* mg_eventlog.c - JSON lines for machines, readable lines for people (see mg_eventlog.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "mg_addr.h"
#include "mg_clock.h"
#include "mg_eventlog.h"
#include "mg_log.h"
#include "mg_names.h"
#include "mg_outbreak.h"

/* Open l->path for appending (made if missing) as the JSON stream, and note which file it is. */
static int open_json(struct mg_eventlog *l)
{
	struct stat st;
	FILE *f = fopen(l->path, "ae"); /* O_CLOEXEC: not held open by every hook and job the daemon runs */

	if (!f)
		return -errno;
	if (fstat(fileno(f), &st)) {
		int err = -errno;
		fclose(f);
		return err;
	}
	setvbuf(f, NULL, _IOLBF, 0);
	l->json = f;
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	return 0;
}

int mg_eventlog_open(struct mg_eventlog *l, const char *path, FILE *human)
{
	memset(l, 0, sizeof(*l));
	l->human = human;
	l->human_journal = human && mg_log_fd_is_journal(fileno(human));
	if (!path || !strcmp(path, "-")) {
		l->json = stdout;
		l->json_journal = mg_log_fd_is_journal(fileno(stdout));
		return 0;
	}
	if (!(l->path = strdup(path)))
		return -ENOMEM;
	int err = open_json(l);
	if (err) {
		free(l->path);
		l->path = NULL;
		return err;
	}
	l->own_json = true;
	return 0;
}

void mg_eventlog_close(struct mg_eventlog *l)
{
	if (l->own_json && l->json)
		fclose(l->json);
	free(l->path);
	memset(l, 0, sizeof(*l));
}

int mg_eventlog_follow(struct mg_eventlog *l, bool force)
{
	struct stat st;

	if (!l->own_json)
		return 0;
	if (!force && !stat(l->path, &st) && st.st_dev == l->dev && st.st_ino == l->ino)
		return 0;
	FILE *old = l->json;
	dev_t dev = l->dev;
	ino_t ino = l->ino;
	int err = open_json(l);
	if (err)
		return err; /* l->json is still the file open */
	fclose(old);
	return l->dev != dev || l->ino != ino;
}

const char *mg_iso_time(uint64_t wall_ns, char *buf, size_t len)
{
	time_t t = (time_t)(wall_ns / MG_NSEC_PER_SEC);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static uint64_t to_wall(uint64_t mono, uint64_t now_mono, uint64_t now_wall)
{
	return mono > now_mono ? now_wall + (mono - now_mono) : now_wall - (now_mono - mono);
}

/* One JSON line; at debug priority in the journal (the readable line is the event there). */
static void json_line(struct mg_eventlog *l, const char *line)
{
	fprintf(l->json, "%s%s\n", l->json_journal ? "<7>" : "", line);
	fflush(l->json);
}

/* "<N>" before a readable line that goes to the journal, else "". */
static const char *prio(const struct mg_eventlog *l, int p)
{
	static const char *const text[] = { "<0>", "<1>", "<2>", "<3>", "<4>", "<5>", "<6>", "<7>" };

	return l->human_journal && p >= 0 && p <= 7 ? text[p] : "";
}

static const char *kind_name(enum mg_an_action_kind k)
{
	switch (k) {
	case MG_AN_BLOCK: return "verdict";
	case MG_AN_UNBLOCK: return "expiry";
	case MG_AN_ALERT: return "alert";
	case MG_AN_PROMOTE: return "role";
	}
	return "?";
}


/* The explanation line of the checks: "spf=fail domain=dhl.com, ptr=..., helo=... (dynamic, not FCrDNS)". */
void mg_verify_line(const struct mg_an_evidence *ev, char *buf, size_t len)
{
	bool dynamic = mg_helo_dynamic_pool(ev->helo, strlen(ev->helo)) != MG_POOL_NONE;

	mg_verify_explain(&ev->verify, ev->helo, dynamic, buf, len);
}

json_t *mg_verify_json(const struct mg_an_evidence *ev)
{
	const struct mg_verify_summary *s = &ev->verify;
	char buf[512];
	json_t *o = json_object(), *checks = json_object();

	for (int i = 0; i < MG_CHK_MAX; i++)
		json_object_set_new(checks, mg_check_name((enum mg_check)i),
				    json_string(mg_check_result_name((enum mg_check_result)s->res[i])));
	json_object_set_new(o, "checks", checks);
	json_object_set_new(o, "address", json_string(mg_addr_str(s->public_addr, buf, sizeof(buf))));
	json_object_set_new(o, "ptr", s->ptr[0] ? json_string(s->ptr) : json_null());
	json_object_set_new(o, "mail_from_domain", s->mail_domain[0] ? json_string(s->mail_domain) : json_null());
	json_object_set_new(o, "provider", s->provider[0] ? json_string(s->provider) : json_null());
	json_object_set_new(o, "forged", s->forged ? json_string(mg_forgery_name(s->forged)) : json_null());
	json_object_set_new(o, "forged_sessions", json_integer(ev->forged_sessions));
	json_object_set_new(o, "score", json_real(round(ev->verify_score * 10) / 10));
	json_object_set_new(o, "dns", json_boolean(s->dns));
	mg_verify_line(ev, buf, sizeof(buf));
	json_object_set_new(o, "explanation", json_string(buf));
	return o;
}

json_t *mg_evidence_json(const struct mg_an_evidence *ev, uint64_t now_mono, uint64_t now_wall)
{
	char buf[64];
	json_t *o = json_object();

	json_object_set_new(o, "rule", json_string(ev->rule));
	json_object_set_new(o, "score", json_real(ev->score));
	json_object_set_new(o, "distinct_mx", json_integer(ev->distinct_mx));
	json_object_set_new(o, "syn_mx_per_min", json_integer(ev->syn_mx_per_min));
	json_object_set_new(o, "sessions", json_integer(ev->sessions));
	json_object_set_new(o, "rcpts", json_integer(ev->rcpts));
	json_object_set_new(o, "replies", json_pack("{s:i,s:i,s:i}", "2xx", ev->replies_2xx, "4xx",
						      ev->replies_4xx, "5xx", ev->replies_5xx));
	json_object_set_new(o, "helo", json_string(ev->helo));
	/* The text may have been let go (detection.helo_texts): the hash and the shape say what it was. */
	json_object_set_new(o, "helo_text_kept", json_boolean(!ev->helo_text_dropped));
	snprintf(buf, sizeof(buf), "%08x", ev->helo_hash);
	json_object_set_new(o, "helo_hash", json_string(buf));
	mg_helo_shape_names(ev->helo_shape, buf, sizeof(buf));
	json_object_set_new(o, "helo_shape", json_string(buf));
	json_object_set_new(o, "distinct_helos", json_integer(ev->distinct_helos));
	/* Why the HELO names no real mail host ("dynamic-pool"), null when it is not absurd. */
	json_object_set_new(o, "helo_absurd", ev->helo_absurd != MG_ABSURD_NONE
						      ? json_string(mg_helo_absurd_name(ev->helo_absurd))
						      : json_null());
	/* The longer memory, decayed: one decimal says enough. */
	json_object_set_new(o, "long_mx", json_real(round(ev->long_mx * 10) / 10));
	json_object_set_new(o, "long_sessions", json_real(round(ev->long_sessions * 10) / 10));
	if (ev->first_evidence_ns)
		json_object_set_new(o, "first_evidence",
				    json_string(mg_iso_time(to_wall(ev->first_evidence_ns, now_mono, now_wall), buf,
							    sizeof(buf))));
	else
		json_object_set_new(o, "first_evidence", json_null());
	json_object_set_new(o, "mac", json_string(mg_mac_str(ev->mac, buf, sizeof(buf))));
	json_object_set_new(o, "vlan", json_integer(ev->vlan_outer));
	json_object_set_new(o, "vlan_inner", json_integer(ev->vlan_inner));
	json_object_set_new(o, "role_before", json_string(mg_role_name(ev->role_before)));
	/* A verdict on a prefix concerns every host in it: name the ones seen, most recent first. */
	if (ev->hosts.n) {
		json_t *arr = json_array();
		for (unsigned i = 0; i < ev->hosts.n && i < MG_AN_HOSTS; i++) {
			const struct mg_an_host *h = &ev->hosts.host[i];
			char addr[MG_ADDRSTRLEN], first[32], last[32];
			json_array_append_new(
				arr, json_pack("{s:s,s:s,s:i,s:I,s:s,s:s}", "addr", mg_addr_str(h->addr, addr, sizeof(addr)),
					       "mac", mg_mac_str(h->mac, buf, sizeof(buf)), "vlan", h->vlan_outer, "sessions",
					       (json_int_t)h->sessions, "first_seen",
					       mg_iso_time(to_wall(h->first_seen_ns, now_mono, now_wall), first, sizeof(first)),
					       "last_seen",
					       mg_iso_time(to_wall(h->last_seen_ns, now_mono, now_wall), last, sizeof(last))));
		}
		json_object_set_new(o, "hosts", arr);
		json_object_set_new(o, "hosts_more", json_integer(ev->hosts.more));
	}
	json_object_set_new(o, "verification", ev->verified ? mg_verify_json(ev) : json_null());
	return o;
}

json_t *mg_action_json(const struct mg_an_action *a, uint64_t now_mono, uint64_t now_wall)
{
	char buf[MG_ADDRSTRLEN];
	json_t *o = json_object();

	json_object_set_new(o, "time", json_string(mg_iso_time(now_wall, buf, sizeof(buf))));
	json_object_set_new(o, "event", json_string(kind_name(a->kind)));
	json_object_set_new(o, "source", json_string(mg_prefix_str(&a->prefix, buf, sizeof(buf))));
	if (a->kind == MG_AN_BLOCK || (a->kind == MG_AN_ALERT && a->would_block)) {
		json_object_set_new(o, "action", json_string(mg_action_verdict_name(a->block_action)));
		json_object_set_new(o, "would_block", json_boolean(a->would_block));
		json_object_set_new(o, "offence", json_integer(a->offence));
		if (a->expires_ns) {
			json_object_set_new(o, "expires",
					    json_string(mg_iso_time(to_wall(a->expires_ns, now_mono, now_wall), buf,
								    sizeof(buf))));
			json_object_set_new(o, "duration_s",
					    json_integer((json_int_t)((a->expires_ns - now_mono) / MG_NSEC_PER_SEC)));
		}
	}
	json_object_set_new(o, "evidence", mg_evidence_json(&a->ev, now_mono, now_wall));
	return o;
}

/* The hosts seen in a prefix, one line: whom the verdict on it concerns. */
static void human_hosts(FILE *f, const char *prefix, const struct mg_an_hosts *hs)
{
	if (!hs->n)
		return;
	fprintf(f, "mtaguardd:   hosts seen in %s:", prefix);
	for (unsigned i = 0; i < hs->n && i < MG_AN_HOSTS; i++) {
		char addr[MG_ADDRSTRLEN], mac[32];
		fprintf(f, "%s %s (MAC %s, VLAN %u, %u sessions)", i ? "," : "", mg_addr_str(hs->host[i].addr, addr, sizeof(addr)),
			mg_mac_str(hs->host[i].mac, mac, sizeof(mac)), hs->host[i].vlan_outer, hs->host[i].sessions);
	}
	if (hs->more)
		fprintf(f, " and %u more", hs->more);
	fputc('\n', f);
}

void mg_eventlog_action(struct mg_eventlog *l, const struct mg_an_action *a, uint64_t now_mono, uint64_t now_wall)
{
	json_t *o = mg_action_json(a, now_mono, now_wall);
	char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	char src[MG_ADDRSTRLEN], mac[32], shape[64], helo[4 * MG_HELO_ARG_MAX + 1], hdesc[sizeof(helo) + 32];

	if (line && l->json)
		json_line(l, line);
	free(line);
	json_decref(o);
	if (!l->human)
		return;
	mg_prefix_str(&a->prefix, src, sizeof(src));
	mg_mac_str(a->ev.mac, mac, sizeof(mac));
	mg_helo_shape_names(a->ev.helo_shape, shape, sizeof(shape));
	/* The HELO name is the peer's to choose, control bytes and all. */
	mg_escape_line(a->ev.helo, helo, sizeof(helo));
	if (a->ev.helo_text_dropped)
		snprintf(hdesc, sizeof(hdesc), "text not kept (hash %08x)", a->ev.helo_hash);
	else
		snprintf(hdesc, sizeof(hdesc), "\"%s\"", helo);
	switch (a->kind) {
	case MG_AN_BLOCK:
	case MG_AN_ALERT:
		fprintf(l->human,
			"%smtaguardd: %s %s (%s, MAC %s, VLAN %u): %s, score %.1f: %u MX hosts and %u SYNs/min to port 25, "
			"%u sessions, %u RCPT, HELO %s (%s)%s\n",
			prio(l, a->kind == MG_AN_BLOCK ? MG_EV_WARNING : MG_EV_NOTICE), a->kind == MG_AN_BLOCK ? "BLOCK" : (a->would_block ? "WOULD BLOCK" : "ALERT"), src,
			mg_role_name(a->ev.role_before), mac, a->ev.vlan_outer, a->ev.rule, a->ev.score,
			a->ev.distinct_mx, a->ev.syn_mx_per_min, a->ev.sessions, a->ev.rcpts, hdesc, shape,
			a->kind == MG_AN_BLOCK ? "" : " (not enforced)");
		if (a->ev.verified) {
			char line[512], esc[600];
			mg_verify_line(&a->ev, line, sizeof(line));
			mg_escape_line(line, esc, sizeof(esc)); /* names from the peer and from DNS: control bytes escaped */
			fprintf(l->human, "mtaguardd:   checks: %s\n", esc);
		}
		if (a->kind == MG_AN_BLOCK)
			fprintf(l->human, "%smtaguardd:   offence %u, %s blocked for %llus\n", prio(l, MG_EV_WARNING), a->offence,
				a->block_action == MG_ACT_DROP_ALL ? "all traffic" : "SMTP",
				(unsigned long long)((a->expires_ns > now_mono ? a->expires_ns - now_mono : 0) / MG_NSEC_PER_SEC));
		human_hosts(l->human, src, &a->ev.hosts);
		break;
	case MG_AN_UNBLOCK:
		fprintf(l->human, "%smtaguardd: block on %s ended: %s\n", prio(l, MG_EV_INFO), src, a->ev.rule);
		break;
	case MG_AN_PROMOTE:
		fprintf(l->human, "%smtaguardd: %s learned as a mail server\n", prio(l, MG_EV_INFO), src);
		break;
	}
}

/* Escape s into buf; `ascii`: bytes above 0x7f too, for text that is not valid UTF-8. */
static const char *escape(const char *s, char *buf, size_t len, bool ascii)
{
	size_t o = 0;

	if (!len)
		return buf;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char e[5];
		if (c == '\n' || c == '\r' || c == '\t' || c == '\\')
			snprintf(e, sizeof(e), "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : '\\');
		else if (c < 0x20 || c == 0x7f || (ascii && c > 0x7f))
			snprintf(e, sizeof(e), "\\x%02x", c);
		else
			e[0] = (char)c, e[1] = '\0';
		size_t n = strlen(e);
		if (o + n >= len)
			break;
		memcpy(buf + o, e, n);
		o += n;
	}
	buf[o] = '\0';
	return buf;
}

const char *mg_escape_line(const char *s, char *buf, size_t len)
{
	return escape(s, buf, len, false);
}

static void log_notice(struct mg_eventlog *l, int p, const char *level, const char *kind, const char *msg)
{
	char when[32], safe[4096];

	if (l->json && kind) {
		mg_iso_time(mg_mono_to_wall_ns(mg_mono_ns()), when, sizeof(when));
		json_t *o = json_pack("{s:s,s:s,s:s}", "time", when, "event", kind, "message", msg);
		/* jansson takes only UTF-8: a message that is not is kept, escaped, rather than lost. */
		if (!o)
			o = json_pack("{s:s,s:s,s:s}", "time", when, "event", kind, "message",
				      escape(msg, safe, sizeof(safe), true));
		if (o && level)
			json_object_set_new(o, "level", json_string(level));
		char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		if (line)
			json_line(l, line);
		free(line);
		json_decref(o);
	}
	if (l->human)
		fprintf(l->human, "%smtaguardd: %s%s%s\n", prio(l, p), level ? level : "", level ? ": " : "",
			mg_escape_line(msg, safe, sizeof(safe)));
}

void mg_eventlog_notice(struct mg_eventlog *l, const char *kind, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_notice(l, MG_EV_NOTICE, NULL, kind, msg);
}

void mg_eventlog_notice_at(struct mg_eventlog *l, int p, const char *kind, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_notice(l, p, NULL, kind, msg);
}

void mg_eventlog_warning(struct mg_eventlog *l, const char *kind, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_notice(l, MG_EV_WARNING, "warning", kind, msg);
}

void mg_eventlog_json(struct mg_eventlog *l, json_t *o)
{
	char *line;

	if (!l->json)
		return;
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (line)
		json_line(l, line);
	free(line);
}

json_t *mg_ob_member_json(const struct mg_ob_member *m, uint64_t now_mono, uint64_t now_wall)
{
	char a[MG_ADDRSTRLEN], mac[32], t[40];

	return json_pack("{s:s,s:s,s:i,s:i,s:s}", "source", mg_prefix_str(&m->src, a, sizeof(a)), "mac",
			 mg_mac_str(m->mac, mac, sizeof(mac)), "vlan", m->vlan_outer, "vlan_inner", m->vlan_inner,
			 "joined", mg_iso_time(to_wall(m->joined_ns, now_mono, now_wall), t, sizeof(t)));
}

json_t *mg_ob_action_json(const struct mg_ob_action *a, bool contained, uint64_t now_mono, uint64_t now_wall)
{
	char sig[64], when[40];
	const char *kind = a->kind == MG_OB_DECLARE ? "outbreak" : a->kind == MG_OB_JOIN ? "outbreak-member"
			 : a->kind == MG_OB_LEVEL ? "outbreak-level" : a->kind == MG_OB_DECIDE ? "outbreak-decision"
			 : "outbreak-end";
	json_t *o = json_pack("{s:s,s:s,s:s,s:i,s:i,s:I,s:I,s:b}", "time", mg_iso_time(now_wall, when, sizeof(when)),
			      "event", kind, "signature", mg_sig_str(&a->sig, sig, sizeof(sig)), "level", (int)a->level,
			      "threat_level", (int)a->threat_level, "members", (json_int_t)a->members,
			      "proven_members", (json_int_t)a->proven, "contained_in_kernel", contained);

	if (a->kind == MG_OB_DECLARE) {
		json_t *arr = json_array();
		for (uint32_t k = 0; k < a->n_list; k++)
			json_array_append_new(arr, mg_ob_member_json(&a->list[k], now_mono, now_wall));
		json_object_set_new(o, "member_list", arr);
	} else if (a->kind == MG_OB_JOIN && a->member) {
		json_object_set_new(o, "member", mg_ob_member_json(a->member, now_mono, now_wall));
	} else if (a->kind == MG_OB_END) {
		json_object_set_new(o, "reason", json_string(a->exempted ? "exempted" : "quiet"));
	}
	if (a->kind != MG_OB_END)
		mg_ob_decision_json(o, &a->sig, a->direction, a->decision, a->specificity, &a->with);
	return o;
}

void mg_ob_decision_json(json_t *o, const struct mg_signature *sig, int direction, int decision, unsigned specificity,
			 const struct mg_signature *with)
{
	char buf[400];

	json_object_set_new(o, "direction", json_string(mg_ob_direction_name((enum mg_ob_direction)direction)));
	json_object_set_new(o, "specificity", json_integer(specificity));
	json_object_set_new(o, "decision", json_string(mg_ob_decision_name((enum mg_ob_decision)decision)));
	if (with->kind)
		json_object_set_new(o, "with", json_string(mg_sig_str(with, buf, sizeof(buf))));
	json_object_set_new(o, "why", json_string(mg_ob_explain(sig, (enum mg_ob_direction)direction,
								 (enum mg_ob_decision)decision, specificity, with, buf,
								 sizeof(buf))));
}
