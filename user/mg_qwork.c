// SPDX-License-Identifier: GPL-2.0-only
/* mg_qwork.c - the quarantine's operations without waiting (see mg_qwork.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_clock.h"
#include "mg_qwork.h"

/* Which command an operation waits for. */
enum step {
	S_LIST,         /* postqueue -j */
	S_POSTCAT,      /* postcat -bhq ID: the message, for the scan */
	S_CLAMDSCAN,    /* clamdscan -, fed the message */
	S_HOLD_RELEASE, /* postsuper -H ID */
	S_DELIVER,      /* postqueue -i ID */
	S_DELETE,       /* postsuper -d ID */
	S_RELOAD,       /* clamdscan --reload */
};

struct qop {
	struct mg_qwork *w;
	enum step step;
	uint64_t now_wall;          /* LIST: the ages are counted to this */
	mg_qop_done_fn *done;
	void *arg;
	struct mg_qop_result *now;  /* while it is begun: an outcome at once goes here */
	bool ended;
	struct mg_qop_result res;
};

static void step_done(struct qop *op, int status, struct mg_job_result *res);

static void finish(struct qop *op)
{
	if (op->now) {
		*op->now = op->res; /* the held list with it */
		op->ended = true;
		return;
	}
	op->done(&op->res, op->arg);
	json_decref(op->res.held);
	free(op);
}

static void on_job(struct mg_job_result *res, void *arg)
{
	step_done(arg, res->status, res);
}

/* The next command; one that cannot start ends its step at once with why (-errno), as a failed run would. */
static void run(struct qop *op, enum step step, char *const *argv, void *in, size_t inlen, size_t out_max,
		bool with_stderr, int timeout_s)
{
	struct mg_job_spec s = { .argv = argv, .in = in, .inlen = inlen, .in_owned = true, .out_max = out_max,
				 .with_stderr = with_stderr, .timeout_ns = (uint64_t)timeout_s * MG_NSEC_PER_SEC };

	op->step = step;
	int e = mg_jobs_start(&op->w->jobs, &s, mg_mono_ns(), on_job, op);
	if (e)
		step_done(op, e, NULL);
}

static void run_tool(struct qop *op, enum step step, const char *tool, const char *a1, const char *a2, size_t out_max)
{
	struct mg_q_argv a;

	mg_q_tool_argv(op->w->q, tool, a1, a2, &a);
	run(op, step, a.argv, NULL, 0, out_max, false, MG_Q_TOOL_TIMEOUT_S);
}

/* The scan's verdict is in: remembered; a re-scan ends here, a release goes on if it may. */
static void scanned(struct qop *op, enum mg_scan_result r, const char *what)
{
	struct mg_quarantine *q = op->w->q;
	struct mg_qop_result *o = &op->res;

	mg_q_scan_record(q, o->id, r, what);
	if (o->kind == MG_QOP_RESCAN) {
		o->rc = mg_q_rescan_result(r);
		snprintf(o->text, sizeof(o->text), "%s", what);
		finish(op);
		return;
	}
	o->rc = mg_q_release_scanned(o->id, r, what, o->scan, sizeof(o->scan), o->text, sizeof(o->text));
	if (!o->rc)
		o->rc = mg_q_held_check(q, o->id, o->text, sizeof(o->text)); /* released or deleted by hand meanwhile */
	if (o->rc)
		finish(op);
	else
		run_tool(op, S_HOLD_RELEASE, "postsuper", "-H", o->id, 0);
}

static void step_done(struct qop *op, int status, struct mg_job_result *res)
{
	struct mg_quarantine *q = op->w->q;
	struct mg_qop_result *o = &op->res;
	char empty[1] = "", what[256];
	char *out = res && res->out ? res->out : empty;
	size_t got = res && res->out ? res->got : 0;

	switch (op->step) {
	case S_LIST:
		/* The runner dropped what passed MG_Q_LIST_MAX: the parse must not read the cut list as the whole. */
		o->held = mg_q_list_parse(q, status, out, res && res->truncated, op->now_wall, o->text, sizeof(o->text));
		o->rc = o->held ? 0 : -EIO;
		finish(op);
		break;
	case S_POSTCAT: {
		enum mg_scan_result r = mg_q_postcat_verdict(o->id, status, what, sizeof(what));
		if (r != MG_SCAN_CLEAN) {
			scanned(op, r, what);
			break;
		}
		/* The message goes to clamdscan as it is: the job takes postcat's output. */
		struct mg_clamav_argv a;
		mg_clamav_scan_argv(&q->clam, &a);
		char *msg = res ? res->out : NULL;
		if (res)
			res->out = NULL;
		run(op, S_CLAMDSCAN, a.argv, msg, msg ? got : 0, MG_CLAMAV_OUT_MAX, true, MG_CLAMAV_SCAN_TIMEOUT_S);
		break;
	}
	case S_CLAMDSCAN:
		scanned(op, mg_clamav_scan_verdict(&q->clam, status, out, got, what, sizeof(what)), what);
		break;
	case S_HOLD_RELEASE:
		o->rc = mg_q_tool_done(q, o->id, "postsuper -H", status, o->text, sizeof(o->text));
		if (o->rc)
			finish(op);
		else /* Released mail lands in the deferred queue; ask for delivery now, not at the next queue run. */
			run_tool(op, S_DELIVER, "postqueue", "-i", o->id, 0);
		break;
	case S_DELIVER:
		finish(op); /* released either way: a failed nudge leaves it to the next queue run */
		break;
	case S_DELETE:
		o->rc = mg_q_tool_done(q, o->id, "postsuper -d", status, o->text, sizeof(o->text));
		finish(op);
		break;
	case S_RELOAD:
		o->rc = mg_clamav_reload_verdict(status, out, got, o->text, sizeof(o->text));
		finish(op);
		break;
	}
}

static struct qop *op_new(struct mg_qwork *w, enum mg_qop_kind kind, const char *id, mg_qop_done_fn *done, void *arg,
			  struct mg_qop_result *now)
{
	struct qop *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	op->w = w;
	op->done = done;
	op->arg = arg;
	op->now = now;
	op->res.kind = kind;
	snprintf(op->res.id, sizeof(op->res.id), "%s", id ? id : "");
	return op;
}

/* After the first step was asked for: 1 if the operation ended at once (the outcome in *now), else 0. */
static int begun(struct qop *op)
{
	if (op->ended) {
		free(op);
		return 1;
	}
	op->now = NULL;
	return 0;
}

/* No memory for the operation: ended at once, saying so. */
static int no_memory(enum mg_qop_kind kind, const char *id, struct mg_qop_result *now)
{
	memset(now, 0, sizeof(*now));
	now->kind = kind;
	snprintf(now->id, sizeof(now->id), "%s", id ? id : "");
	now->rc = kind == MG_QOP_RESCAN || kind == MG_QOP_RELOAD ? -1 : -ENOMEM;
	snprintf(now->text, sizeof(now->text), "out of memory");
	return 1;
}

int mg_qwork_init(struct mg_qwork *w, struct mg_quarantine *q)
{
	w->q = q;
	return mg_jobs_init(&w->jobs);
}

int mg_qwork_list(struct mg_qwork *w, uint64_t now_wall, mg_qop_done_fn *done, void *arg, struct mg_qop_result *now)
{
	struct qop *op = op_new(w, MG_QOP_LIST, NULL, done, arg, now);

	if (!op)
		return no_memory(MG_QOP_LIST, NULL, now);
	op->now_wall = now_wall;
	run_tool(op, S_LIST, "postqueue", "-j", NULL, MG_Q_LIST_MAX);
	return begun(op);
}

int mg_qwork_rescan(struct mg_qwork *w, const char *queue_id, mg_qop_done_fn *done, void *arg, struct mg_qop_result *now)
{
	struct qop *op = op_new(w, MG_QOP_RESCAN, queue_id, done, arg, now);

	if (!op)
		return no_memory(MG_QOP_RESCAN, queue_id, now);
	op->res.rc = mg_q_rescan_check(w->q, queue_id, op->res.text, sizeof(op->res.text));
	if (op->res.rc)
		finish(op);
	else
		run_tool(op, S_POSTCAT, "postcat", "-bhq", queue_id, MG_Q_MESSAGE_MAX);
	return begun(op);
}

int mg_qwork_release(struct mg_qwork *w, const char *queue_id, mg_qop_done_fn *done, void *arg, struct mg_qop_result *now)
{
	struct qop *op = op_new(w, MG_QOP_RELEASE, queue_id, done, arg, now);

	if (!op)
		return no_memory(MG_QOP_RELEASE, queue_id, now);
	struct mg_qop_result *o = &op->res;
	o->rc = mg_q_release_check(w->q, queue_id, o->scan, sizeof(o->scan), o->text, sizeof(o->text));
	if (o->rc)
		finish(op);
	else if (mg_q_scans(w->q))
		run_tool(op, S_POSTCAT, "postcat", "-bhq", queue_id, MG_Q_MESSAGE_MAX);
	else
		run_tool(op, S_HOLD_RELEASE, "postsuper", "-H", queue_id, 0);
	return begun(op);
}

int mg_qwork_delete(struct mg_qwork *w, const char *queue_id, mg_qop_done_fn *done, void *arg, struct mg_qop_result *now)
{
	struct qop *op = op_new(w, MG_QOP_DELETE, queue_id, done, arg, now);

	if (!op)
		return no_memory(MG_QOP_DELETE, queue_id, now);
	op->res.rc = mg_q_held_check(w->q, queue_id, op->res.text, sizeof(op->res.text));
	if (op->res.rc)
		finish(op);
	else
		run_tool(op, S_DELETE, "postsuper", "-d", queue_id, 0);
	return begun(op);
}

int mg_qwork_reload(struct mg_qwork *w, mg_qop_done_fn *done, void *arg, struct mg_qop_result *now)
{
	struct qop *op = op_new(w, MG_QOP_RELOAD, NULL, done, arg, now);
	struct mg_clamav_argv a;

	if (!op)
		return no_memory(MG_QOP_RELOAD, NULL, now);
	mg_clamav_reload_argv(&w->q->clam, &a);
	run(op, S_RELOAD, a.argv, NULL, 0, MG_CLAMAV_OUT_MAX, true, MG_CLAMAV_RELOAD_TIMEOUT_S);
	return begun(op);
}

int mg_qwork_fd(const struct mg_qwork *w)
{
	return mg_jobs_fd(&w->jobs);
}

void mg_qwork_work(struct mg_qwork *w, uint64_t mono)
{
	mg_jobs_work(&w->jobs, mono);
}

uint64_t mg_qwork_next_deadline(const struct mg_qwork *w)
{
	return mg_jobs_next_deadline(&w->jobs);
}

void mg_qwork_stop(struct mg_qwork *w, uint64_t grace_ns)
{
	mg_jobs_stop(&w->jobs, grace_ns);
}
