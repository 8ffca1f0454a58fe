// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_jobs.c - the job runner (mg_jobs.h) driven from a test loop that
 * serves another descriptor at the same time, as the daemon's loop serves
 * Postfix: stand-in commands that answer, sleep past their timeout, flood
 * their output, exit non-zero, or are given a large input, all at once; the
 * loop goes on serving while they run. No timing assertions beyond generous
 * bounds.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "mg_clock.h"
#include "mg_jobs.h"

#define SEC MG_NSEC_PER_SEC
#define BIG_INPUT (4u << 20)

struct outcome {
	bool done;
	int status;
	char out[128];
	size_t got;
	bool truncated;
	uint64_t at; /* CLOCK_MONOTONIC when it ended */
};

static void note(struct mg_job_result *r, void *arg)
{
	struct outcome *o = arg;

	o->done = true;
	o->status = r->status;
	o->got = r->got;
	o->truncated = r->truncated;
	o->at = mg_mono_ns();
	snprintf(o->out, sizeof(o->out), "%s", r->out ? r->out : "");
}

static void start(struct mg_jobs *r, char *const *argv, const void *in, size_t inlen, bool in_owned, size_t out_max,
		  uint64_t timeout_ns, struct outcome *o)
{
	struct mg_job_spec s = { .argv = argv, .in = in, .inlen = inlen, .in_owned = in_owned, .out_max = out_max,
				 .with_stderr = true, .timeout_ns = timeout_ns };

	memset(o, 0, sizeof(*o));
	assert_int_equal(mg_jobs_start(r, &s, mg_mono_ns(), note, o), 0);
}

/*
 * A loop like the daemon's: one epoll set with the runner's descriptor and
 * a socket whose peer sends a ping every turn; each ping is answered. Runs
 * until every job ended or `limit` passed; returns the pings answered while
 * a job still ran, and the longest mg_jobs_work() call.
 */
static unsigned loop(struct mg_jobs *r, uint64_t limit, uint64_t *longest_work)
{
	int sv[2], ep = epoll_create1(EPOLL_CLOEXEC);
	unsigned served = 0;
	uint64_t end = mg_mono_ns() + limit;

	assert_true(ep >= 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = mg_jobs_fd(r) };
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev), 0);
	ev.data.fd = sv[0];
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev), 0);
	*longest_work = 0;
	while (mg_jobs_running(r) && mg_mono_ns() < end) {
		struct epoll_event got[4];
		assert_int_equal(write(sv[1], "p", 1), 1); /* the other client asks */
		int n = epoll_wait(ep, got, 4, 50);
		for (int i = 0; i < n; i++) {
			if (got[i].data.fd == sv[0]) {
				char c;
				while (read(sv[0], &c, 1) == 1)
					served += write(sv[0], "a", 1) == 1;
				continue;
			}
			uint64_t t0 = mg_mono_ns();
			mg_jobs_work(r, t0);
			if (mg_mono_ns() - t0 > *longest_work)
				*longest_work = mg_mono_ns() - t0;
		}
		mg_jobs_work(r, mg_mono_ns()); /* the deadlines, as the daemon's loop does every turn */
		char sink[256];
		while (read(sv[1], sink, sizeof(sink)) > 0)
			;
	}
	close(sv[0]);
	close(sv[1]);
	close(ep);
	return served;
}

static bool gone(pid_t pid)
{
	/* Killed with its group: ESRCH once init has reaped it (a bounded wait, no timing asserted). */
	for (int i = 0; i < 200; i++) {
		if (kill(pid, 0) < 0 && errno == ESRCH)
			return true;
		usleep(10000);
	}
	return false;
}

static void test_five_at_once_while_the_loop_serves(void **state)
{
	struct mg_jobs r;
	struct outcome answer, sleeper, flood, failing, large;
	char *cat[] = { "/bin/cat", NULL };
	/* The sleeper's shell says its child's pid, then waits: the kill must reach the child too. */
	char *sleep_past[] = { "/bin/sh", "-c", "sleep 60 & echo $!; wait", NULL };
	char *flooder[] = { "/usr/bin/head", "-c", "8000000", "/dev/zero", NULL };
	char *fail[] = { "/bin/sh", "-c", "echo 'ERROR: no such thing' >&2; exit 3", NULL };
	char *count[] = { "/usr/bin/wc", "-c", NULL };
	uint64_t longest;

	(void)state;
	assert_int_equal(mg_jobs_init(&r), 0);
	start(&r, cat, "hello", 5, false, 64, 20 * SEC, &answer);
	start(&r, sleep_past, NULL, 0, false, 64, 1 * SEC, &sleeper);
	start(&r, flooder, NULL, 0, false, 4096, 20 * SEC, &flood);
	start(&r, fail, NULL, 0, false, 64, 20 * SEC, &failing);
	char *big = malloc(BIG_INPUT);
	assert_non_null(big);
	memset(big, 'x', BIG_INPUT);
	start(&r, count, big, BIG_INPUT, true, 64, 20 * SEC, &large); /* the runner's to free */
	assert_int_equal(mg_jobs_running(&r), 5);
	uint64_t began = mg_mono_ns();

	unsigned served = loop(&r, 30 * SEC, &longest);

	assert_int_equal(mg_jobs_running(&r), 0);
	assert_true(answer.done && sleeper.done && flood.done && failing.done && large.done);
	/* It answers. */
	assert_int_equal(answer.status, 0);
	assert_string_equal(answer.out, "hello");
	/* It sleeps past its timeout: killed, with its child (the whole group). */
	assert_int_equal(sleeper.status, -ETIMEDOUT);
	pid_t child = (pid_t)atoi(sleeper.out);
	assert_true(child > 1);
	assert_true(gone(child));
	/* Generous: killed at its 1 s deadline, not after the 60 s sleep. */
	assert_true(sleeper.at - began < 10 * SEC);
	/* It floods: 4096 bytes kept, the rest read and dropped, and it ends normally. */
	assert_int_equal(flood.status, 0);
	assert_int_equal(flood.got, 4096);
	assert_true(flood.truncated);
	/* It fails: the status and what it said on standard error. */
	assert_int_equal(failing.status, 3);
	assert_string_equal(failing.out, "ERROR: no such thing\n");
	/* A large input: all of it given, while the output was read. */
	assert_int_equal(large.status, 0);
	assert_int_equal(atoi(large.out), BIG_INPUT);
	/* The other client was answered all along, and no call of the runner's held the loop for long. */
	assert_true(served >= 5);
	assert_true(longest < 1 * SEC);
	mg_jobs_stop(&r, 0);
}

/* A job not startable: said at once, and an owned input freed (the sanitizer's leak check sees it). */
static void test_not_started(void **state)
{
	struct mg_jobs r;
	struct outcome o;
	char *none[] = { "/nonexistent/tool", NULL };
	struct mg_job_spec s = { .argv = none, .in = strdup("x"), .inlen = 1, .in_owned = true, .timeout_ns = SEC };

	(void)state;
	assert_int_equal(mg_jobs_init(&r), 0);
	assert_int_equal(mg_jobs_start(&r, &s, mg_mono_ns(), note, &o), -ENOENT);
	assert_int_equal(mg_jobs_running(&r), 0);
	mg_jobs_stop(&r, 0);
}

/* Every slot taken: -EBUSY, not a wait. */
static void test_bounded(void **state)
{
	struct mg_jobs r;
	struct outcome o[MG_JOBS_MAX + 1];
	char *slow[] = { "/usr/bin/sleep", "60", NULL };
	struct mg_job_spec s = { .argv = slow, .timeout_ns = 60 * SEC };

	(void)state;
	assert_int_equal(mg_jobs_init(&r), 0);
	for (int i = 0; i < MG_JOBS_MAX; i++)
		start(&r, slow, NULL, 0, false, 0, 60 * SEC, &o[i]);
	assert_int_equal(mg_jobs_start(&r, &s, mg_mono_ns(), note, &o[MG_JOBS_MAX]), -EBUSY);
	assert_true(mg_jobs_next_deadline(&r) != MG_JOBS_NO_DEADLINE);
	/* At the end: a short grace, then killed, each called back with -ECANCELED; no new job meanwhile. */
	mg_jobs_stop(&r, SEC / 10);
	for (int i = 0; i < MG_JOBS_MAX; i++) {
		assert_true(o[i].done);
		assert_int_equal(o[i].status, -ECANCELED);
	}
}

/* A callback may start the next command (a chain: postcat, then clamdscan), in the slot just freed. */
struct chain {
	struct mg_jobs *r;
	struct outcome second;
	int first_status;
};

static void first_done(struct mg_job_result *res, void *arg)
{
	struct chain *c = arg;
	char *cat[] = { "/bin/cat", NULL };
	struct mg_job_spec s = { .argv = cat, .in = res->out, .inlen = res->got, .in_owned = true, .out_max = 64,
				 .timeout_ns = 10 * SEC };

	c->first_status = res->status;
	res->out = NULL; /* taken: the next job's input */
	assert_int_equal(mg_jobs_start(c->r, &s, mg_mono_ns(), note, &c->second), 0);
}

static void test_chain(void **state)
{
	struct mg_jobs r;
	struct chain c = { .r = &r, .first_status = -1 };
	char *echo[] = { "/bin/sh", "-c", "printf 'passed on'", NULL };
	struct mg_job_spec s = { .argv = echo, .out_max = 64, .timeout_ns = 10 * SEC };
	uint64_t longest;

	(void)state;
	assert_int_equal(mg_jobs_init(&r), 0);
	assert_int_equal(mg_jobs_start(&r, &s, mg_mono_ns(), first_done, &c), 0);
	loop(&r, 20 * SEC, &longest);
	assert_int_equal(c.first_status, 0);
	assert_true(c.second.done);
	assert_string_equal(c.second.out, "passed on");
	mg_jobs_stop(&r, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_five_at_once_while_the_loop_serves),
		cmocka_unit_test(test_not_started),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_chain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
