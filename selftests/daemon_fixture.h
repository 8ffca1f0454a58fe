/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * daemon_fixture.h - a daemon (struct mg_daemon) for the unit tests of what
 * it does itself (test_daemon_ctl, test_daemon_hooks): its default
 * configuration, a private directory, and its event log in that directory
 * (events.jsonl), the readable log kept in memory for the test to read.
 * A test's own fixture holds one, with what else that test needs.
 */
#ifndef MG_DAEMON_FIXTURE_H
#define MG_DAEMON_FIXTURE_H

#include <stddef.h>
#include <stdio.h>

#include "mg_daemon.h"

struct daemon_fixture {
	struct mg_daemon d;
	char dir[64];
	char *human;      /* what the readable log said (open_memstream's buffer) */
	size_t human_len;
	FILE *human_f;
};

/*
 * The directory (made from dir_template, e.g. "/tmp/mg-ctl-XXXXXX"), the
 * daemon with its default configuration, and its event log: 0, or -1 (for a
 * cmocka setup to return).
 */
int daemon_fixture_open(struct daemon_fixture *df, const char *dir_template);
/* The log closed, the configuration freed, the directory removed: 0, or -1 if it was not. */
int daemon_fixture_close(struct daemon_fixture *df);
/* What the readable log said so far; "" for nothing. */
const char *human_log(struct daemon_fixture *df);

#endif
