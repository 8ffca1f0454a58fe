// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_state_writer.c - the state file written beside the loop: a save
 * handed over is written whole and reads back; a newer save replaces one
 * still waiting, never the one under way; a failure is reported with its
 * cause; a stop lets the write under way finish and drops the waiting one,
 * so nothing older lands after the caller's own last save. A save handed
 * over piece by piece is written as it comes, holds at most
 * MG_STATE_PIECES_MAX pieces waiting (then -EAGAIN, and the eventfd says
 * when there is room), and one given up, or still open at a stop, leaves
 * the old file and no temporary.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <cmocka.h>

#include "dir_entries.h"

#include "mg_state_writer.h"
#include "mg_statefile.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mg-statew-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* n bytes that do not compress (a compressor takes a while over them), seeded. */
static uint8_t *noise(size_t n, uint32_t seed)
{
	uint8_t *b = malloc(n);

	assert_non_null(b);
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1664525u + 1013904223u;
		b[i] = (uint8_t)(seed >> 24);
	}
	return b;
}

/* A whole file handed over at once, as one piece (buf is the writer's from here, even on failure). */
static int submit(struct mg_state_writer *w, const char *path, uint8_t *buf, size_t len)
{
	int err = mg_state_writer_open(w, path);

	if (err) {
		free(buf);
		return err;
	}
	err = mg_state_writer_put(w, buf, len); /* a new file has room */
	if (!err)
		mg_state_writer_close(w);
	return err;
}

/* Wait for the writer's outcomes until `want` are taken (5 s at most). */
static unsigned take_all(struct mg_state_writer *w, struct mg_state_outcome *o, unsigned want)
{
	unsigned got = 0;

	for (int i = 0; i < 500 && got < want; i++) {
		struct pollfd p = { .fd = mg_state_writer_fd(w), .events = POLLIN };
		poll(&p, 1, 10);
		got += mg_state_writer_take(w, o + got, want - got);
	}
	return got;
}

static void assert_file_holds(const char *path, const uint8_t *want, size_t len)
{
	uint8_t *data;
	size_t got;

	assert_int_equal(mg_state_read(path, &data, &got), 0);
	assert_int_equal(got, len);
	assert_memory_equal(data, want, len);
	free(data);
}

static void test_written_whole(void **state)
{
	struct mg_state_writer w;
	struct mg_state_outcome o[4];
	char path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/state.gz", dir);
	assert_int_equal(mg_state_writer_start(&w), 0);
	uint8_t *want = noise(100000, 1), *buf = malloc(100000);
	memcpy(buf, want, 100000);
	assert_int_equal(submit(&w, path, buf, 100000), 0);
	assert_int_equal(take_all(&w, o, 1), 1);
	assert_int_equal(o[0].err, 0);
	assert_string_equal(o[0].path, path);
	assert_false(mg_state_writer_busy(&w));
	assert_file_holds(path, want, 100000);
	struct mg_state_writer_stats st = mg_state_writer_stats(&w);
	assert_int_equal(st.written, 1);
	assert_int_equal(st.failed, 0);
	mg_state_writer_stop(&w);
	/* Stopped: a save handed over now is refused, and its buffer freed all the same. */
	assert_int_equal(submit(&w, path, malloc(16), 16), -ESRCH);
	assert_int_equal(mg_state_writer_fd(&w), -1);
	free(want);
}

static void test_newer_replaces_waiting(void **state)
{
	struct mg_state_writer w;
	struct mg_state_outcome o[4];
	char path[128];
	const size_t big = 16u << 20, small = 4096;

	(void)state;
	snprintf(path, sizeof(path), "%s/state.gz", dir);
	assert_int_equal(mg_state_writer_start(&w), 0);
	/* A: 16 MB of noise keeps the writer busy while B and C are handed over. */
	assert_int_equal(submit(&w, path, noise(big, 2), big), 0);
	while (!mg_state_writer_stats(&w).writing)
		usleep(100);
	assert_int_equal(submit(&w, path, noise(small, 3), small), 0);
	uint8_t *c = noise(small, 4), *cbuf = malloc(small);
	memcpy(cbuf, c, small);
	assert_int_equal(submit(&w, path, cbuf, small), 0);
	assert_int_equal(take_all(&w, o, 2), 2);
	assert_int_equal(o[0].err, 0);
	assert_int_equal(o[1].err, 0);
	struct mg_state_writer_stats st = mg_state_writer_stats(&w);
	assert_int_equal(st.written, 2);
	assert_int_equal(st.replaced, 1);
	assert_file_holds(path, c, small); /* the newest picture, whole */
	mg_state_writer_stop(&w);
	free(c);
}

static void test_failure_reported(void **state)
{
	struct mg_state_writer w;
	struct mg_state_outcome o[4];
	char path[160];

	(void)state;
	snprintf(path, sizeof(path), "%s/no-such-dir/state.gz", dir);
	assert_int_equal(mg_state_writer_start(&w), 0);
	assert_int_equal(submit(&w, path, noise(64, 5), 64), 0);
	assert_int_equal(take_all(&w, o, 1), 1);
	assert_int_equal(o[0].err, -ENOENT);
	assert_int_equal(mg_state_writer_stats(&w).failed, 1);
	mg_state_writer_stop(&w);
}

static void test_stop_finishes_under_way(void **state)
{
	struct mg_state_writer w;
	char path[128];
	const size_t big = 16u << 20;

	(void)state;
	snprintf(path, sizeof(path), "%s/state.gz", dir);
	assert_int_equal(mg_state_writer_start(&w), 0);
	uint8_t *a = noise(big, 6), *abuf = malloc(big);
	memcpy(abuf, a, big);
	assert_int_equal(submit(&w, path, abuf, big), 0);
	while (!mg_state_writer_stats(&w).writing)
		usleep(100);
	assert_int_equal(submit(&w, path, noise(64, 7), 64), 0);
	mg_state_writer_stop(&w);
	/* A was under way: it ended whole; B was waiting: dropped, so the caller's own save comes last. */
	assert_file_holds(path, a, big);
	free(a);
}

/* Pieces of the open file that wait for the thread (the writer's own fields, read as it does, locked). */
static unsigned waiting_pieces(struct mg_state_writer *w)
{
	pthread_mutex_lock(&w->mu);
	unsigned n = w->open ? w->open->n : 0;
	pthread_mutex_unlock(&w->mu);
	return n;
}

/* A copy of len bytes of src, for the writer to take. */
static uint8_t *dup_of(const uint8_t *src, size_t len)
{
	uint8_t *b = malloc(len);

	assert_non_null(b);
	memcpy(b, src, len);
	return b;
}

/*
 * Pieces put while the thread is busy with a big first one: MG_STATE_PIECES_MAX
 * wait, the next is refused with -EAGAIN (and stays the caller's), the
 * eventfd wakes the caller once there is room; the file is the pieces joined.
 */
static void test_streamed_in_pieces(void **state)
{
	struct mg_state_writer w;
	struct mg_state_outcome o[4];
	char path[128];
	const size_t big = 16u << 20, small = 1000;
	const size_t total = big + (MG_STATE_PIECES_MAX + 1) * small;

	(void)state;
	snprintf(path, sizeof(path), "%s/state.gz", dir);
	assert_int_equal(mg_state_writer_start(&w), 0);
	uint8_t *want = noise(total, 8);
	assert_int_equal(mg_state_writer_open(&w, path), 0);
	assert_int_equal(mg_state_writer_open(&w, path), -EBUSY); /* one open at a time */
	assert_int_equal(mg_state_writer_put(&w, dup_of(want, big), big), 0);
	/* The big piece is taken off the queue as its write begins: then the queue is empty. */
	while (waiting_pieces(&w))
		usleep(100);
	size_t off = big;
	for (int i = 0; i < MG_STATE_PIECES_MAX; i++, off += small)
		assert_int_equal(mg_state_writer_put(&w, dup_of(want + off, small), small), 0);
	uint8_t *last = dup_of(want + off, small);
	assert_int_equal(mg_state_writer_put(&w, last, small), -EAGAIN);
	struct pollfd p = { .fd = mg_state_writer_fd(&w), .events = POLLIN };
	assert_int_equal(poll(&p, 1, 10000), 1);
	assert_int_equal(mg_state_writer_take(&w, o, 4), 0); /* room, not an outcome */
	assert_int_equal(mg_state_writer_put(&w, last, small), 0);
	mg_state_writer_close(&w);
	assert_int_equal(take_all(&w, o, 1), 1);
	assert_int_equal(o[0].err, 0);
	assert_file_holds(path, want, total);
	assert_int_equal(dir_entries(dir), 1);
	mg_state_writer_stop(&w);
	free(want);
}

/* Given up (before its write began, or during it), or still open at a stop: the old file, no temporary, no outcome. */
static void test_given_up_keeps_old(void **state)
{
	struct mg_state_writer w;
	struct mg_state_outcome o[4];
	char path[128];
	const size_t big = 16u << 20;

	(void)state;
	snprintf(path, sizeof(path), "%s/state.gz", dir);
	assert_int_equal(mg_state_writer_start(&w), 0);
	uint8_t *old = noise(5000, 9);
	assert_int_equal(submit(&w, path, dup_of(old, 5000), 5000), 0);
	assert_int_equal(take_all(&w, o, 1), 1);

	assert_int_equal(mg_state_writer_open(&w, path), 0);
	assert_int_equal(mg_state_writer_put(&w, noise(big, 10), big), 0);
	while (!mg_state_writer_stats(&w).writing)
		usleep(100);
	mg_state_writer_abort(&w);
	while (mg_state_writer_busy(&w))
		usleep(1000);
	assert_int_equal(mg_state_writer_take(&w, o, 4), 0);
	assert_int_equal(mg_state_writer_stats(&w).replaced, 1);
	assert_file_holds(path, old, 5000);
	assert_int_equal(dir_entries(dir), 1);
	/* A put with nothing open is refused, its buffer freed. */
	assert_int_equal(mg_state_writer_put(&w, malloc(8), 8), -EINVAL);

	assert_int_equal(mg_state_writer_open(&w, path), 0);
	assert_int_equal(mg_state_writer_put(&w, noise(big, 11), big), 0);
	mg_state_writer_stop(&w);
	assert_file_holds(path, old, 5000);
	assert_int_equal(dir_entries(dir), 1);
	free(old);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_written_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_replaces_waiting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_finishes_under_way, setup, teardown),
		cmocka_unit_test_setup_teardown(test_streamed_in_pieces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_given_up_keeps_old, setup, teardown),
	};
	return cmocka_run_group_tests_name("state_writer", tests, NULL, NULL);
}
