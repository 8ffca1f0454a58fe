// SPDX-License-Identifier: GPL-2.0-only
/*
 * mg_daemon_qctl.c - the operator's quarantine commands on the control
 * socket: list, release and delete held mail, by queue ID or by an
 * outbreak's signature.
 *
 * Each runs Postfix's tools and clamdscan as jobs (mg_qwork.h) and answers
 * later (mg_ctlsock_answer): a release may wait 15 s for a hung clamd per
 * message, and the loop must go on serving Postfix's policy requests, the
 * ring buffer, other operators and the watchdog meanwhile. The list is taken
 * first (it forgets messages no longer held), then the chosen messages are
 * handled one after the other; the answer says what became of each.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_clock.h"
#include "mg_daemon.h"

/*
 * How long the answer may take: under the client's default timeout, so the
 * operator hears why. A release of many messages may take longer; then it
 * goes on, each outcome logged, and the operator is told so.
 */
#define QCTL_ANSWER_NS MG_CTL_LATER_MAX_NS

enum qctl_op { QCTL_LIST, QCTL_RELEASE, QCTL_DELETE, QCTL_OP_MAX };

static const char *const qctl_op_names[QCTL_OP_MAX] = {
	[QCTL_LIST] = "list",
	[QCTL_RELEASE] = "release",
	[QCTL_DELETE] = "delete",
};

/* One operator request on its way. */
struct qctl {
	struct mg_daemon *d;
	struct mg_ctl_ticket ticket;
	enum qctl_op op;
	char id[32];           /* by queue ID, or */
	char sig[64];          /* by signature ("fp:…") */
	json_t *todo;          /* the chosen queue IDs */
	size_t next;           /* the one under way, in todo */
	json_t *done;          /* {"queue_id", "scan"} or {"queue_id", "error"} each */
	int failed;
	char first_err[256];
};

static void answer(struct qctl *c, json_t *resp)
{
	mg_ctlsock_answer(&c->d->ctl, c->ticket, resp, mg_mono_ns());
	json_decref(c->todo);
	json_decref(c->done);
	free(c);
}

/* Every chosen message handled (or the daemon is stopping): what became of each. */
static void answer_done(struct qctl *c)
{
	json_t *o = json_pack("{s:b,s:O}", "ok", c->failed == 0, "done", c->done);

	/* The reason itself, as a client shows "error": one message's, or the first of several. */
	if (c->failed == 1)
		json_object_set_new(o, "error", json_string(c->first_err));
	else if (c->failed)
		json_object_set_new(o, "error",
				    json_sprintf("%d messages not handled; the first: %s", c->failed, c->first_err));
	answer(c, o);
}

static void note_outcome(struct qctl *c, const char *qid, int rc, const char *scan, const char *err)
{
	json_array_append_new(c->done, rc ? json_pack("{s:s,s:s}", "queue_id", qid, "error", err)
					  : json_pack("{s:s,s:s}", "queue_id", qid, "scan",
						      c->op == QCTL_RELEASE ? scan : "-"));
	if (rc && !c->failed)
		snprintf(c->first_err, sizeof(c->first_err), "%s", err);
	c->failed += rc != 0;
	mg_eventlog_notice(&c->d->log, "operator", "operator quarantine %s %s%s%s", qctl_op_names[c->op], qid,
			   rc ? ": " : "", rc ? err : "");
}

static void step_done(struct mg_qop_result *r, void *arg);

/* Start on the chosen messages from c->next on; those that end at once are noted here. */
static void go_on(struct qctl *c)
{
	struct mg_daemon *d = c->d;

	while (c->next < json_array_size(c->todo)) {
		const char *qid = json_string_value(json_array_get(c->todo, c->next));
		if (!d->qwork_on || d->q_stopping) {
			note_outcome(c, qid, -ECANCELED, "", "not done: the daemon is stopping");
			c->next++;
			continue;
		}
		struct mg_qop_result now = { 0 };
		int r = c->op == QCTL_RELEASE ? mg_qwork_release(&d->qwork, qid, step_done, c, &now)
					      : mg_qwork_delete(&d->qwork, qid, step_done, c, &now);
		if (r == 0)
			return; /* step_done goes on */
		note_outcome(c, qid, now.rc, now.scan, now.text);
		json_decref(now.held);
		c->next++;
	}
	answer_done(c);
}

static void step_done(struct mg_qop_result *r, void *arg)
{
	struct qctl *c = arg;

	note_outcome(c, json_string_value(json_array_get(c->todo, c->next)), r->rc, r->scan, r->text);
	c->next++;
	go_on(c);
}

/* The list is in: answered as it is, or the messages it names chosen and handled. */
static void listed(struct qctl *c, int rc, json_t *held, const char *err)
{
	json_t *m;
	size_t i;

	if (rc || !held) {
		answer(c, mg_ctl_error("%s", err && *err ? err : "postqueue -j failed"));
		return;
	}
	if (c->op == QCTL_LIST) {
		answer(c, json_pack("{s:b,s:O}", "ok", 1, "held", held));
		return;
	}
	json_array_foreach(held, i, m) {
		const char *qid = json_string_value(json_object_get(m, "queue_id"));
		const char *msig = json_string_value(json_object_get(m, "signature"));
		if (qid && (c->id[0] ? !strcmp(qid, c->id) : msig && !strcmp(c->sig, msig)))
			json_array_append_new(c->todo, json_string(qid));
	}
	if (!json_array_size(c->todo)) {
		answer(c, mg_ctl_error("no held message %s %s", c->id[0] ? "with queue ID" : "of signature",
				       c->id[0] ? c->id : c->sig));
		return;
	}
	go_on(c);
}

static void list_done(struct mg_qop_result *r, void *arg)
{
	listed(arg, r->rc, r->held, r->text);
}

/* {"cmd":"quarantine","op":"list|release|delete","id":"…"} or {"op":"release","signature":"fp:…"} */
json_t *mg_daemon_quarantine(struct mg_daemon *d, json_t *req, struct mg_ctl_stream *stream)
{
	const char *op = json_string_value(json_object_get(req, "op"));
	const char *id = json_string_value(json_object_get(req, "id"));
	const char *sig = json_string_value(json_object_get(req, "signature"));
	enum qctl_op k;

	if (!d->quarantine_ready || !d->qwork_on)
		return mg_ctl_error("no quarantine: the policy service is off (quarantine.policy_listen)");
	if (!op)
		return mg_ctl_error("quarantine list|release ID|delete ID|release --signature SIG");
	for (k = 0; k < QCTL_OP_MAX && strcmp(op, qctl_op_names[k]); k++)
		;
	if (k == QCTL_OP_MAX)
		return mg_ctl_error("quarantine list|release|delete, not '%s'", op);
	if (k != QCTL_LIST && !(id && *id) && !(sig && *sig))
		return mg_ctl_error("quarantine %s needs a queue ID or a signature", op);
	if ((id && strlen(id) >= sizeof(((struct qctl *)0)->id)) || (sig && strlen(sig) >= sizeof(((struct qctl *)0)->sig)))
		return mg_ctl_error("no held message %s %s", id ? "with queue ID" : "of signature", id ? id : sig);
	if (!stream)
		return mg_ctl_error("quarantine commands answer later: not from here");

	struct qctl *c = calloc(1, sizeof(*c));
	if (!c)
		return mg_ctl_error("out of memory");
	c->d = d;
	c->ticket = stream->ticket;
	c->op = k;
	snprintf(c->id, sizeof(c->id), "%s", id ? id : "");
	snprintf(c->sig, sizeof(c->sig), "%s", sig && !(id && *id) ? sig : "");
	c->todo = json_array();
	c->done = json_array();
	/* From here on the answer goes through mg_ctlsock_answer, even one known at once. */
	stream->later_ns = QCTL_ANSWER_NS;
	struct mg_qop_result now = { 0 };
	int r = mg_qwork_list(&d->qwork, mg_mono_to_wall_ns(mg_mono_ns()), list_done, c, &now);
	if (r != 0) { /* ended at once: mg_ctlsock_answer takes an answer given while the handler runs */
		listed(c, now.rc, now.held, now.text);
		json_decref(now.held);
	}
	return NULL;
}
