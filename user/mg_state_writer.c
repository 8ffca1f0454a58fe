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

static void *writer_main(void *arg)
{
	struct mg_state_writer *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->has_next && !w->stopping)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->has_next) /* stopping, and nothing waits */
			break;
		struct mg_state_job job = w->next;
		w->has_next = false;
		w->busy = true;
		pthread_mutex_unlock(&w->mu);

		uint64_t t0 = mg_mono_ns();
		int err = mg_state_write(job.path, job.buf, job.len);
		uint64_t took = mg_mono_ns() - t0;
		free(job.buf);

		pthread_mutex_lock(&w->mu);
		w->busy = false;
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
		snprintf(o->path, sizeof(o->path), "%s", job.path);
		o->err = err;
		o->took_ns = took;
		uint64_t one = 1;
		if (write(w->efd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow at one a save; nothing else can fail here */
		}
		pthread_cond_broadcast(&w->cv); /* a stop may wait for this write */
		if (w->stopping)
			break;
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

int mg_state_writer_submit(struct mg_state_writer *w, const char *path, uint8_t *buf, size_t len)
{
	if (!w->running || strlen(path) >= sizeof(w->next.path)) {
		free(buf);
		return w->running ? -ENAMETOOLONG : -ESRCH;
	}
	pthread_mutex_lock(&w->mu);
	if (w->has_next) {
		free(w->next.buf);
		w->st.replaced++;
	}
	snprintf(w->next.path, sizeof(w->next.path), "%s", path);
	w->next.buf = buf;
	w->next.len = len;
	w->has_next = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
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
	bool b = w->busy || w->has_next;
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
	if (w->has_next) { /* older than what the caller is about to write itself */
		free(w->next.buf);
		w->has_next = false;
		w->st.replaced++;
	}
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL); /* a write under way ends first */
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	close(w->efd);
	w->efd = -1;
	w->running = false;
}
