/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * mg_state_writer.h - the state file written beside the daemon's loop.
 *
 * The analyzer's state is serialized in the loop (a consistent picture),
 * but compressing, writing and fsyncing it is the slow part (a second for a
 * million profiles, many for ten million) and needs nothing of the loop:
 * a thread does it with mg_state_write(), one file at a time, so Postfix's
 * policy requests, the ring buffer, the control socket and the watchdog are
 * served meanwhile. A save handed over while an older one waits replaces
 * it (only the newest picture matters); the one being written finishes.
 * Each outcome is reported through an eventfd the loop polls.
 */
#ifndef MG_STATE_WRITER_H
#define MG_STATE_WRITER_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mg_state_job {
	char path[PATH_MAX];
	uint8_t *buf; /* malloc'd; the writer frees it */
	size_t len;
};

struct mg_state_writer_stats {
	uint64_t written, failed, replaced; /* replaced: saves dropped for a newer one before they began */
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
	int efd;                 /* eventfd: readable when outcomes wait */
	bool running, stopping;
	bool has_next, busy;
	struct mg_state_job next;
	struct mg_state_outcome done[4]; /* ended writes not yet taken (the oldest dropped beyond) */
	unsigned ndone;
	struct mg_state_writer_stats st;
};

/* Start the thread. 0 or -errno. */
int mg_state_writer_start(struct mg_state_writer *w);
/* Hand over a save (buf is the writer's from here, even on failure). 0 or -errno. */
int mg_state_writer_submit(struct mg_state_writer *w, const char *path, uint8_t *buf, size_t len);
/* The eventfd to poll for outcomes (-1 when not running). */
int mg_state_writer_fd(const struct mg_state_writer *w);
/* Up to max ended writes into out; returns how many. Clears the eventfd. */
unsigned mg_state_writer_take(struct mg_state_writer *w, struct mg_state_outcome *out, unsigned max);
/* Is a write under way or waiting? */
bool mg_state_writer_busy(struct mg_state_writer *w);
struct mg_state_writer_stats mg_state_writer_stats(struct mg_state_writer *w);
/*
 * Stop: the write under way finishes (so nothing older lands after what the
 * caller writes next), a waiting one is dropped, the thread joined.
 */
void mg_state_writer_stop(struct mg_state_writer *w);

#endif
