/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_state_writer.h - the state file written beside the daemon's loop.
 *
 * The analyzer's state is serialized in the loop, in slices (a profile is
 * saved as it is when its slice reaches it), but compressing, writing and
 * fsyncing it is the slow part (a second for a million profiles, many for
 * ten million) and needs nothing of the loop: a thread does it, one file at
 * a time, so Postfix's policy requests, the ring buffer, the control socket
 * and the watchdog are served meanwhile.
 *
 * A file is handed over as a stream of pieces (open, put, close), written
 * as they come (mg_state_out): the loop never holds more than
 * MG_STATE_PIECES_MAX pieces that wait, never the whole state (7.5 GB for
 * ten million profiles speaking SMTP). When they are all waiting, put says
 * -EAGAIN and the caller serializes no further until the thread made room
 * (the eventfd tells it). A file opened while an older one waits, closed
 * but not yet begun, replaces it (only the newest picture matters); the
 * one being written finishes. Each outcome is reported through the
 * eventfd the loop polls.
 */
#ifndef MG_STATE_WRITER_H
#define MG_STATE_WRITER_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MG_STATE_PIECES_MAX 4

/* One file handed over, piece by piece. */
struct mg_state_job {
	char path[PATH_MAX];
	struct mg_state_piece {
		uint8_t *buf; /* malloc'd; the writer frees it */
		size_t len;
	} q[MG_STATE_PIECES_MAX];
	unsigned head, n;   /* the pieces waiting to be written, oldest at head */
	bool closed;        /* every piece was put: commit once they are written */
	bool aborted;       /* given up: the old file stays */
};

struct mg_state_writer_stats {
	uint64_t written, failed, replaced; /* replaced: saves dropped (for a newer one, or given up) before they ended */
	uint64_t last_ns;                   /* how long the last write took (compress, write, fsync, rename) */
	bool writing;                       /* a write is under way now */
};

/* What mg_state_writer_take reports of one ended write. */
struct mg_state_outcome {
	char path[PATH_MAX];
	int err;         /* 0 or -errno, as mg_state_write */
	uint64_t took_ns;
};

struct mg_state_writer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int efd;                 /* eventfd: readable when outcomes wait, or room was made */
	bool running, stopping;
	bool busy;               /* the thread is writing cur */
	struct mg_state_job *next;  /* handed over, not begun */
	struct mg_state_job *cur;   /* being written */
	struct mg_state_job *open;  /* the one the caller puts into (next or cur), until it closes or aborts it */
	struct mg_state_outcome done[4]; /* ended writes not yet taken (the oldest dropped beyond) */
	unsigned ndone;
	struct mg_state_writer_stats st;
};

/* Start the thread. 0 or -errno. */
int mg_state_writer_start(struct mg_state_writer *w);
/*
 * A file to be handed over piece by piece: 0, -EBUSY while the caller's
 * last one is still open, -ENAMETOOLONG, -ENOMEM, or -ESRCH when not
 * running. A file handed over before and not yet begun is dropped for it.
 */
int mg_state_writer_open(struct mg_state_writer *w, const char *path);
/* A piece of the open file: 0, or -EAGAIN (no room now: buf stays the caller's); any other error frees buf. */
int mg_state_writer_put(struct mg_state_writer *w, uint8_t *buf, size_t len);
/* Every piece was put: the file is committed once they are written, its outcome reported. */
void mg_state_writer_close(struct mg_state_writer *w);
/* Give the open file up: its pieces are dropped, the old file stays, no outcome is reported. */
void mg_state_writer_abort(struct mg_state_writer *w);
/* The eventfd to poll for outcomes and room (-1 when not running). */
int mg_state_writer_fd(const struct mg_state_writer *w);
/* Up to max ended writes into out; returns how many. Clears the eventfd. */
unsigned mg_state_writer_take(struct mg_state_writer *w, struct mg_state_outcome *out, unsigned max);
/* Is a write under way or waiting? */
bool mg_state_writer_busy(struct mg_state_writer *w);
struct mg_state_writer_stats mg_state_writer_stats(struct mg_state_writer *w);
/*
 * Stop: a closed write under way finishes (so nothing older lands after
 * what the caller writes next), one still open is given up, a waiting one
 * dropped, the thread joined.
 */
void mg_state_writer_stop(struct mg_state_writer *w);

#endif
