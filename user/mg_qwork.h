/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_qwork.h - the quarantine's operations (mg_quarantine.h) without
 * waiting: list, scan again, release, delete, and clamd's reload, each a
 * chain of Postfix's tools and clamdscan run as jobs (mg_jobs.h). The
 * records change only when an answer is in, in the caller's thread, and
 * each step looks its message up again by queue ID: an operator may have
 * released or deleted it meanwhile.
 *
 * A start either begins the operation (0: done is called later, once) or
 * ends it at once (1: the outcome in *now, done never called), e.g. a
 * message that is not ours, or convicted before.
 */
#ifndef MG_QWORK_H
#define MG_QWORK_H

#include <stdint.h>
#include <jansson.h>

#include "mg_jobs.h"
#include "mg_quarantine.h"

enum mg_qop_kind { MG_QOP_LIST, MG_QOP_RESCAN, MG_QOP_RELEASE, MG_QOP_DELETE, MG_QOP_RELOAD };

struct mg_qop_result {
	enum mg_qop_kind kind;
	char id[32];
	/*
	 * As the waited-for function would return: LIST 0 or -EIO; RESCAN 1
	 * infected, 0 clean, -1 not scanned; RELEASE and DELETE 0 or -errno;
	 * RELOAD 0 or -1.
	 */
	int rc;
	char scan[128];  /* RELEASE: what the scan did ("clean", "not scanned", ...) */
	char text[256];  /* RESCAN: the verdict or why none; otherwise the error */
	json_t *held;    /* LIST: as mg_q_list(); the callback may take it (set NULL), else it is freed */
};
typedef void mg_qop_done_fn(struct mg_qop_result *r, void *arg);

struct mg_qwork {
	struct mg_quarantine *q;
	struct mg_jobs jobs;
};

int mg_qwork_init(struct mg_qwork *w, struct mg_quarantine *q);
/*
 * Each: 0 begun (done is called later, once), or 1 ended at once (the
 * outcome in *now, whose held list is then the caller's; done not called).
 */
int mg_qwork_list(struct mg_qwork *w, uint64_t now_wall, mg_qop_done_fn *done, void *arg, struct mg_qop_result *now);
int mg_qwork_rescan(struct mg_qwork *w, const char *queue_id, mg_qop_done_fn *done, void *arg, struct mg_qop_result *now);
int mg_qwork_release(struct mg_qwork *w, const char *queue_id, mg_qop_done_fn *done, void *arg, struct mg_qop_result *now);
int mg_qwork_delete(struct mg_qwork *w, const char *queue_id, mg_qop_done_fn *done, void *arg, struct mg_qop_result *now);
int mg_qwork_reload(struct mg_qwork *w, mg_qop_done_fn *done, void *arg, struct mg_qop_result *now);
/* The runner's descriptor, its work when readable, its next deadline: see mg_jobs.h. */
int mg_qwork_fd(const struct mg_qwork *w);
void mg_qwork_work(struct mg_qwork *w, uint64_t mono);
uint64_t mg_qwork_next_deadline(const struct mg_qwork *w);
/* At the end: running steps get grace_ns to finish, the rest are killed; every begun operation is called back. */
void mg_qwork_stop(struct mg_qwork *w, uint64_t grace_ns);

#endif
