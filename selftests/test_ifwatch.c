// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_ifwatch.c - link messages as the daemon's interface watch reads them
 * (mg_ifwatch.c): a device made, renamed and deleted is reported with its
 * index and name, and a read with nothing waiting returns at once.
 *
 * The devices are made in a network namespace of the test's own (unshare),
 * so nothing outside sees them; the namespace goes with the process. Needs
 * root (CAP_NET_ADMIN); without it the tests skip and say why, and with
 * MG_NO_SKIP=1 (CI, which runs as root) they fail instead.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mg_ifwatch.h"

#define DEV "mgw0"
#define PEER "mgw1"
#define RENAMED "mgw9"

/* What the watch reported: the messages' indexes and names, in order. */
struct seen {
	unsigned ifindex[64];
	char name[64][IFNAMSIZ];
	size_t n;
};

static void note(unsigned ifindex, const char *name, void *arg)
{
	struct seen *s = arg;

	if (s->n == 64)
		return;
	s->ifindex[s->n] = ifindex;
	snprintf(s->name[s->n], IFNAMSIZ, "%s", name);
	s->n++;
}

/* Whether s holds a message of this index under this name. */
static bool saw(const struct seen *s, unsigned ifindex, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->ifindex[i] == ifindex && !strcmp(s->name[i], name))
			return true;
	return false;
}

/* Read what the watch has, waiting up to a second for the first of it. */
static void read_some(struct mg_ifwatch *w, struct seen *s)
{
	struct pollfd p = { .fd = mg_ifwatch_fd(w), .events = POLLIN };

	memset(s, 0, sizeof(*s));
	assert_int_equal(poll(&p, 1, 1000), 1);
	assert_int_equal(mg_ifwatch_read(w, note, s), 0);
}

static void run(const char *cmd)
{
	if (system(cmd) != 0)
		fail_msg("%s failed", cmd);
}

static bool own_netns; /* the group runs in a network namespace of its own */
static char why_not[128];

static int netns_own(void **state)
{
	(void)state;
	const char *ns = getenv("MG_NO_SKIP");

	if (unshare(CLONE_NEWNET) == 0) {
		own_netns = true;
		return 0;
	}
	snprintf(why_not, sizeof(why_not), "no network namespace of its own (unshare: %s; needs CAP_SYS_ADMIN)",
		 strerror(errno));
	if (ns && !strcmp(ns, "1")) {
		fprintf(stderr, "%s, and MG_NO_SKIP=1\n", why_not);
		return -1;
	}
	return 0; /* the tests skip, one by one, and say why */
}

static void skip_unless_own_netns(void)
{
	if (!own_netns) {
		print_message("skipped: %s\n", why_not);
		skip();
	}
}

/* A device made, renamed, deleted: each reported with its index, under its name at the time. */
static void test_made_renamed_deleted(void **state)
{
	(void)state;
	struct seen s;
	int err = 0;

	skip_unless_own_netns();
	struct mg_ifwatch *w = mg_ifwatch_open(&err);
	assert_non_null(w);

	run("ip link add " DEV " type veth peer name " PEER);
	unsigned idx = if_nametoindex(DEV);
	assert_true(idx > 0);
	read_some(w, &s);
	assert_true(saw(&s, idx, DEV));

	run("ip link set " DEV " name " RENAMED);
	read_some(w, &s);
	assert_true(saw(&s, idx, RENAMED)); /* the old name is gone: the daemon knows the device by its index */

	run("ip link del " RENAMED);
	read_some(w, &s);
	assert_true(saw(&s, idx, RENAMED));
	mg_ifwatch_close(w);
}

/* Nothing waiting: the read returns at once, and says nothing was lost. */
static void test_nothing_waiting(void **state)
{
	(void)state;
	struct seen s = { 0 };
	int err = 0;

	skip_unless_own_netns();
	struct mg_ifwatch *w = mg_ifwatch_open(&err);
	assert_non_null(w);
	assert_int_equal(mg_ifwatch_read(w, note, &s), 0);
	assert_int_equal(s.n, 0);
	mg_ifwatch_close(w);
	mg_ifwatch_close(NULL);
}

/*
 * More messages than a call reads (MG_IFWATCH_READS_MAX reads): the rest
 * waits for the next call, none lost, so a storm of link messages holds
 * the loop no longer than a bounded read.
 */
static void test_storm_read_in_turns(void **state)
{
	(void)state;
	struct seen s = { 0 };
	int err = 0;
	char cmd[128];
	enum { DEVS = 24 };

	skip_unless_own_netns();
	struct mg_ifwatch *w = mg_ifwatch_open(&err);
	assert_non_null(w);
	for (int i = 0; i < DEVS; i++) {
		snprintf(cmd, sizeof(cmd), "ip link add mgs%d type dummy 2>/dev/null || ip link add mgs%d type veth", i, i);
		run(cmd);
	}
	size_t calls = 0, total = 0;
	for (; calls < 10; calls++) {
		memset(&s, 0, sizeof(s));
		assert_int_equal(mg_ifwatch_read(w, note, &s), 0);
		if (!s.n)
			break;
		total += s.n;
	}
	assert_true(total >= DEVS);
	assert_true(calls >= 2); /* more than one read's worth: the first call stopped at its bound */
	for (int i = 0; i < DEVS; i++) {
		snprintf(cmd, sizeof(cmd), "ip link del mgs%d", i);
		run(cmd);
	}
	mg_ifwatch_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_made_renamed_deleted),
		cmocka_unit_test(test_nothing_waiting),
		cmocka_unit_test(test_storm_read_in_turns),
	};
	return cmocka_run_group_tests(tests, netns_own, NULL);
}
