// SPDX-License-Identifier: GPL-2.0-only
/* mg_state_writer.c - the state file written beside the daemon's loop (see mg_state_writer.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "mg_clock.h"
#include "mg_state_writer.h"
#include "mg_statefile.h"

#define DONE_MAX (sizeof(((struct mg_state_writer *)0)->done) / sizeof(((struct mg_state_writer *)0)->done[0]))

static void wake_loop(struct mg_state_writer *w)
{
	uint64_t one = 1;

	if (write(w->efd, &one, sizeof(one)) < 0) {
		/* the counter cannot overflow at one a piece; nothing else can fail here */
	}
}

static void job_free(struct mg_state_job *job)
{
	if (!job)
		return;
	for (unsigned i = 0; i < job->n; i++)
		free(job->q[(job->head + i) % MG_STATE_PIECES_MAX].buf);
	free(job);
}

/* Called locked: the job's pieces go to o as they come, until it is closed and drained, or aborted. */
static int write_pieces(struct mg_state_writer *w, struct mg_state_job *job, struct mg_state_out *o, int err)
{
	for (;;) {
		while (!job->n && !job->closed && !job->aborted)
			pthread_cond_wait(&w->cv, &w->mu);
		if (job->aborted || !job->n)
			return err;
		struct mg_state_piece p = job->q[job->head];
		bool was_full = job->n == MG_STATE_PIECES_MAX;
		job->head = (job->head + 1) % MG_STATE_PIECES_MAX;
		job->n--;
		pthread_mutex_unlock(&w->mu);
		/* After a failure the pieces are still taken (the caller goes on to its end), only not written. */
		if (!err)
			err = mg_state_out_put(o, p.buf, p.len);
		free(p.buf);
		if (was_full)
			wake_loop(w); /* the caller waits for room */
		pthread_mutex_lock(&w->mu);
	}
}

/* Called locked, with a write ended: its outcome kept for the loop. */
static void report(struct mg_state_writer *w, const struct mg_state_job *job, int err, uint64_t took)
{
	if (err)
		w->st.failed++;
	else
		w->st.written++;
	w->st.last_ns = took;
	if (w->ndone == DONE_MAX) { /* the loop has not looked for a while: the oldest outcome goes */
		memmove(&w->done[0], &w->done[1], (DONE_MAX - 1) * sizeof(w->done[0]));
		w->ndone--;
	}
	struct mg_state_outcome *o = &w->done[w->ndone++];
	snprintf(o->path, sizeof(o->path), "%s", job->path);
	o->err = err;
	o->took_ns = took;
	wake_loop(w);
}

static void *writer_main(void *arg)
{
	struct mg_state_writer *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->next && !w->stopping)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->next) /* stopping, and nothing waits */
			break;
		struct mg_state_job *job = w->next;
		w->next = NULL;
		w->cur = job;
		w->busy = true;
		pthread_mutex_unlock(&w->mu);

		uint64_t t0 = mg_mono_ns();
		struct mg_state_out *o = NULL;
		int err = mg_state_out_open(&o, job->path);
		pthread_mutex_lock(&w->mu);
		err = write_pieces(w, job, o, err);
		bool aborted = job->aborted;
		pthread_mutex_unlock(&w->mu);
		if (o && (aborted || err))
			mg_state_out_abort(o);
		else if (o)
			err = mg_state_out_commit(o);
		uint64_t took = mg_mono_ns() - t0;

		pthread_mutex_lock(&w->mu);
		w->cur = NULL;
		w->busy = false;
		if (aborted)
			w->st.replaced++;
		else
			report(w, job, err, took);
		job_free(job);
		pthread_cond_broadcast(&w->cv); /* a stop may wait for this write */
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int mg_state_writer_start(struct mg_state_writer *w)
{
	memset(w, 0, sizeof(*w));
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd < 0)
		return -errno;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	int e = pthread_create(&w->thread, NULL, writer_main, w);
	if (e) {
		close(w->efd);
		w->efd = -1;
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
		return -e;
	}
	w->running = true;
	return 0;
}

int mg_state_writer_open(struct mg_state_writer *w, const char *path)
{
	struct mg_state_job *job;

	if (!w->running)
		return -ESRCH;
	if (w->open)
		return -EBUSY;
	if (strlen(path) >= sizeof(job->path))
		return -ENAMETOOLONG;
	if (!(job = calloc(1, sizeof(*job))))
		return -ENOMEM;
	snprintf(job->path, sizeof(job->path), "%s", path);
	pthread_mutex_lock(&w->mu);
	if (w->next) { /* closed (the caller's own is never left open here), and not begun */
		job_free(w->next);
		w->st.replaced++;
	}
	w->next = w->open = job;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

int mg_state_writer_put(struct mg_state_writer *w, uint8_t *buf, size_t len)
{
	if (!w->running || !w->open) {
		free(buf);
		return w->running ? -EINVAL : -ESRCH;
	}
	pthread_mutex_lock(&w->mu);
	struct mg_state_job *job = w->open;
	int err = 0;
	if (job->n == MG_STATE_PIECES_MAX) {
		err = -EAGAIN;
	} else {
		job->q[(job->head + job->n) % MG_STATE_PIECES_MAX] = (struct mg_state_piece){ .buf = buf, .len = len };
		job->n++;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return err;
}

void mg_state_writer_close(struct mg_state_writer *w)
{
	if (!w->running || !w->open)
		return;
	pthread_mutex_lock(&w->mu);
	w->open->closed = true;
	w->open = NULL;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Called locked. */
static void abort_open(struct mg_state_writer *w)
{
	struct mg_state_job *job = w->open;

	if (!job)
		return;
	w->open = NULL;
	if (job == w->next) { /* not begun: nothing was written */
		w->next = NULL;
		job_free(job);
		w->st.replaced++;
	} else {
		job->aborted = true; /* the thread removes its temporary file */
		pthread_cond_broadcast(&w->cv);
	}
}

void mg_state_writer_abort(struct mg_state_writer *w)
{
	if (!w->running)
		return;
	pthread_mutex_lock(&w->mu);
	abort_open(w);
	pthread_mutex_unlock(&w->mu);
}

int mg_state_writer_fd(const struct mg_state_writer *w)
{
	return w->running ? w->efd : -1;
}

unsigned mg_state_writer_take(struct mg_state_writer *w, struct mg_state_outcome *out, unsigned max)
{
	uint64_t n;
	unsigned k = 0;

	if (!w->running)
		return 0;
	if (read(w->efd, &n, sizeof(n)) < 0) {
		/* EAGAIN: nothing new; the list below says the same */
	}
	pthread_mutex_lock(&w->mu);
	while (k < max && k < w->ndone) {
		out[k] = w->done[k];
		k++;
	}
	memmove(&w->done[0], &w->done[k], (w->ndone - k) * sizeof(w->done[0]));
	w->ndone -= k;
	pthread_mutex_unlock(&w->mu);
	return k;
}

bool mg_state_writer_busy(struct mg_state_writer *w)
{
	if (!w->running)
		return false;
	pthread_mutex_lock(&w->mu);
	bool b = w->busy || w->next;
	pthread_mutex_unlock(&w->mu);
	return b;
}

struct mg_state_writer_stats mg_state_writer_stats(struct mg_state_writer *w)
{
	struct mg_state_writer_stats s = { 0 };

	if (!w->running)
		return s;
	pthread_mutex_lock(&w->mu);
	s = w->st;
	s.writing = w->busy;
	pthread_mutex_unlock(&w->mu);
	return s;
}

void mg_state_writer_stop(struct mg_state_writer *w)
{
	if (!w->running)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	abort_open(w); /* the caller will not finish it: it is about to write a newer one itself */
	if (w->next) { /* older than what the caller is about to write itself */
		job_free(w->next);
		w->next = NULL;
		w->st.replaced++;
	}
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL); /* a closed write under way ends first */
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	close(w->efd);
	w->efd = -1;
	w->running = false;
}
