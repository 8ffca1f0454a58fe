/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ctl_fail.h - how mtaguardctl reports what went wrong on its side (a usage
 * error, no daemon to talk to, a refusal): one line on stderr, or with
 * --json one object on stdout, {"ok":false,"error":"...","exit":N}, that a
 * script reads like any answer. The exit status is the same either way.
 */
#ifndef CTL_FAIL_H
#define CTL_FAIL_H

#include <stdbool.h>

/* --json given: failures are JSON objects on stdout from now on. */
void ctl_fail_json(bool on);
bool ctl_fail_is_json(void);
/* Report msg (printf-style) and return code, the exit status to give. */
int ctl_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * The end of an answer printed: standard output flushed, and rc returned, or
 * 6 with why when what was printed did not all get out (a full disk, a
 * closed pipe under a redirect): a cut answer must not exit as a whole one.
 */
int ctl_stdout_done(int rc);

#endif
